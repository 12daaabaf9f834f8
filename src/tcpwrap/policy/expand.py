"""`%` expansions and the shell allow-list (percent_x, docs/rules.md#-expansions).

What it does: expands `%a %A %c %d %h %H %n %N %p %r %R %s %u %%` in option values, banner
lines and classic shell commands. Every expanded value is filtered through the allow-list
(letters, digits and `! @ % - _ = + : , . /`); anything else, including every byte >= 0x80,
becomes `_`. Only the expanded values are filtered, never the literal text of the rule.

Hazards: this is the one place where network-controlled text (host names, ident users, even
addresses) flows toward `/bin/sh`. The allow-list is the security boundary: do not widen it.
The source of the values sanitises its stored copy in place, as tcpd does (docs/rules.md), so later
logs and matching see the sanitised value.
Errors: an output longer than the buffer raises `ExpansionTooLong` (tcpd: warn, sleep 5 s,
exit 0); an unknown letter is reported through the source's `warn` and expands to nothing.
"""

from __future__ import annotations

from tcpwrap.errors import TcpwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it

# (spelled out: importing `string` for two constants costs the wrapper's start-up time)
ALLOWED = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@%-_=+:,./"
)
_TRANSLATION = {c: "_" for c in range(256) if chr(c) not in ALLOWED}

OPTION_BUFFER = 8192  # BUFSIZ: options and shell commands
BANNER_BUFFER = 16384  # 2 * BUFSIZ: one banner line
LETTERS = frozenset("aAcdhHnNprRsu%")


class ExpansionTooLong(TcpwrapError):
    """percent_x() overflow: tcpd gives up on the connection without a verdict record."""

    def __init__(self, excerpt: str) -> None:
        super().__init__(f"percent_x: expansion too long: {excerpt}...")
        self.excerpt = excerpt


class ExpansionSource(Protocol):
    def expand_letter(self, letter: str) -> str:
        """The sanitised value of `%letter` (the source stores the sanitised copy back)."""
        ...

    def warn(self, message: str) -> None: ...


def sanitize(value: str) -> str:
    """Replace every character outside the shell allow-list by `_`."""
    if value.isascii() and ALLOWED.issuperset(value):
        return value
    out = value.translate(_TRANSLATION)
    # Characters above U+00FF cannot come from Latin-1 decoded bytes, but never let one pass.
    return "".join(c if c in ALLOWED else "_" for c in out) if not out.isascii() else out


def percent_x(text: str, source: ExpansionSource, buffer_size: int = OPTION_BUFFER) -> str:
    """Expand `text`; the result holds at most buffer_size - 2 characters."""
    if "%" not in text:
        if len(text) >= buffer_size - 1:
            raise ExpansionTooLong(text[:30])
        return text
    out: list[str] = []
    used = 0
    limit = buffer_size - 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "%" and i + 1 < n:
            letter = text[i + 1]
            i += 2
            if letter == "%":
                piece = "%"
            elif letter in LETTERS:
                piece = source.expand_letter(letter)
            else:
                source.warn(f"unrecognized %{letter}")
                piece = ""
        else:
            piece = ch
            i += 1
        if used + len(piece) >= limit:
            raise ExpansionTooLong("".join(out)[:30])
        out.append(piece)
        used += len(piece)
    return "".join(out)
