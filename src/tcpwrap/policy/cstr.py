"""C-library string semantics the rule language inherits, reproduced exactly.

What it does: ASCII-only case folding (tcpd runs in the C locale), the bracket-aware `split_at`
of Debian's IPv6 patch, `isspace`, sscanf-style integer parsing ("%d%c" / "%u%c" / "%o%c" must
convert exactly one item), and `inet_addr`/`dot_quad_addr` for the IPv4 forms tcp_wrappers
accepts (hex, octal, trailing blanks).

Hazards: none (pure). These functions decide verdicts, so they follow glibc's behaviour to the
letter, including its overflow truncation; the differential tests against libwrap check them.
"""

from __future__ import annotations

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}

# C isspace() in the C locale.
C_SPACE = " \t\n\v\f\r"
INADDR_NONE = 0xFFFFFFFF


def c_string(text: str) -> str:
    """What C sees of a string: everything before its first NUL."""
    cut = text.find("\x00")
    return text if cut < 0 else text[:cut]


def c_bytes(text: str) -> bytes:
    """The bytes tcpd would write for `text`: table text (decoded as Latin-1, one character
    per byte) as the very bytes it was read from; characters above U+00FF, which only Python's
    own decoding makes (a name from the resolver, decoded as UTF-8), as UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return b"".join(
            c.encode("latin-1") if c <= "\xff" else c.encode("utf-8", "surrogateescape")
            for c in text
        )


def fold(text: str) -> str:
    """Lower-case ASCII letters only (strcasecmp in the C locale)."""
    if text.isascii():
        return text.lower()
    return text.translate(_ASCII_LOWER)


def str_eq(a: str, b: str) -> bool:
    """strcasecmp(a, b) == 0."""
    return a == b or fold(a) == fold(b)


def split_at(text: str, delimiter: str) -> tuple[str, str] | None:
    """Cut `text` at the first `delimiter` outside [brackets] (Debian's split_at).

    The bracket counter may go negative; a delimiter counts only when it is exactly zero.
    Returns (before, after) or None when there is no such delimiter.
    """
    if "[" not in text and "]" not in text:
        at = text.find(delimiter)
        return None if at < 0 else (text[:at], text[at + 1 :])
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0 and ch == delimiter:
            return text[:i], text[i + 1 :]
    return None


def chop(text: str) -> str:
    """chop_string(): strip C isspace() characters at both ends."""
    return text.strip(C_SPACE)


_DIGITS = "0123456789"


def _scan_integer(text: str, base: int) -> int | None:
    """The number sscanf("%<conv>%c") accepts when it converts exactly one item.

    Leading blanks and one sign are allowed; any character after the digits makes the scan
    convert two items (rejected). Returns the value as strtol/strtoul would (unbounded here;
    callers wrap to the C type).
    """
    s = text.lstrip(C_SPACE)
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    digits = _DIGITS[:base] if base <= 10 else None
    # s.strip(digits) is empty exactly when every character is a digit (and far cheaper than
    # a per-character test: this runs for every daemon-list token of every table line)
    if not s or digits is None or s.strip(digits):
        return None
    return sign * int(s, base)


def scan_int(text: str) -> int | None:
    """sscanf(text, "%d%c", &v, &junk) == 1, with glibc's long saturation and int wrap."""
    value = _scan_integer(text, 10)
    if value is None:
        return None
    value = max(-(2**63), min(2**63 - 1, value))
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _wrap_unsigned(value: int) -> int:
    # strtoul: a negative number is negated in unsigned long; saturates at ULONG_MAX.
    if value >= 2**64 or value <= -(2**64):
        value = 2**64 - 1
    value &= 2**64 - 1
    return value & 0xFFFFFFFF


def scan_uint(text: str) -> int | None:
    """sscanf(text, "%u%c", &v, &junk) == 1, value as an unsigned int."""
    value = _scan_integer(text, 10)
    return None if value is None else _wrap_unsigned(value)


def scan_octal(text: str) -> int | None:
    """sscanf(text, "%o%c", &v, &junk) == 1, value as an unsigned int."""
    value = _scan_integer(text, 8)
    return None if value is None else _wrap_unsigned(value)


def inet_addr(text: str) -> int:
    """glibc inet_addr(): the address as a host-order int, or INADDR_NONE on failure."""
    parts: list[int] = []
    i, n = 0, len(text)
    val = 0
    while True:
        if i >= n or text[i] not in _DIGITS:
            return INADDR_NONE
        val, base = 0, 10
        if text[i] == "0":
            i += 1
            if i < n and text[i] in "xX":
                base = 16
                i += 1
                # glibc: "0x" needs at least one hex digit ("255.0.255.0x" is invalid)
                if i >= n or text[i] not in "0123456789abcdefABCDEF":
                    return INADDR_NONE
            else:
                base = 8
        while i < n:
            ch = text[i]
            if ch in _DIGITS:
                if base == 8 and ch in "89":
                    return INADDR_NONE
                val = val * base + (ord(ch) - 48)
            elif base == 16 and ch in "abcdefABCDEF":
                val = (val << 4) | (ord(ch.lower()) - 87)
            else:
                break
            if val > 0xFFFFFFFF:
                return INADDR_NONE
            i += 1
        if i < n and text[i] == ".":
            if len(parts) > 2 or val > 0xFF:
                return INADDR_NONE
            parts.append(val)
            i += 1
            continue
        break
    if i < n and text[i] not in C_SPACE:
        return INADDR_NONE
    count = len(parts) + 1
    limits = {1: 0xFFFFFFFF, 2: 0xFFFFFF, 3: 0xFFFF, 4: 0xFF}
    if val > limits[count]:
        return INADDR_NONE
    for shift, part in zip((24, 16, 8), parts, strict=False):
        val |= part << shift
    return val


def dot_quad_addr(text: str) -> int:
    """tcp_wrappers' dot_quad_addr(): exactly four runs of non-dots, then inet_addr()."""
    parts = text.split(".")
    if len(parts) == 4:
        # Fast path for plain dotted decimal (no octal/hex forms, no blanks): the common case
        # on every decision against a network pattern.
        a, b, c, d = parts
        if (
            a.isdigit() and b.isdigit() and c.isdigit() and d.isdigit()
            and text.isascii() and len(text) <= 15
            and (a[0] != "0" or a == "0") and (b[0] != "0" or b == "0")
            and (c[0] != "0" or c == "0") and (d[0] != "0" or d == "0")
        ):  # fmt: skip
            ia, ib, ic, id_ = int(a), int(b), int(c), int(d)
            if ia > 255 or ib > 255 or ic > 255 or id_ > 255:
                return INADDR_NONE
            return (ia << 24) | (ib << 16) | (ic << 8) | id_
    runs = 0
    in_run = False
    for ch in text:
        if ch == ".":
            in_run = False
        elif not in_run:
            in_run = True
            runs += 1
    return inet_addr(text) if runs == 4 else INADDR_NONE


_INADDR_CHARS = "0123456789./"


def not_inaddr(token: str) -> bool:
    """NOT_INADDR(): the token has a character other than digits, dots and slashes."""
    # strip() leaves something exactly when some character is outside the set (and costs a
    # fraction of frozenset.issuperset(str), which builds a set from the string first)
    return bool(token.strip(_INADDR_CHARS))


_MAPPED = "::ffff:"


def strip_mapped(address: str) -> str:
    """Turn "::ffff:a.b.c.d" (any case) into "a.b.c.d", as string_match() does first."""
    if ":" not in address:  # the common case, on every index look-up
        return address
    if (
        len(address) > 7
        and address[:7].lower() == _MAPPED
        and dot_quad_addr(address[7:]) != INADDR_NONE
    ):
        return address[7:]
    return address
