"""The RFC 931 / RFC 1413 (ident) wire format: the request we send, the reply line we accept.

What it does: `build_request` renders `<client port>,<server port>\\r\\n`; `frame_reply` decides
when the bytes read so far hold the one reply line (the way tcpd's fgets did); `parse_reply`
reads that line with the semantics of tcpd's `sscanf("%u , %u : USERID :%*[^:]:%255s")`
(docs/ident.md) and returns the user name, or None for "unknown".

Hazards: every byte comes from the client's machine and is hostile. Sizes are bounded here
(511-byte line, 255-character scan, 127-character result); the user name can still hold shell
metacharacters, colons and control characters, so callers must sanitise it before any shell or
log sees it. Deliberate deviations from the C original, all narrowing what is accepted:
a port field must denote exactly the port we sent (C's `%u` also accepted `-` signs and values
that wrap around 2**32); the user token also stops at characters Python treats as whitespace
or line breaks (U+001C..U+001F, U+0085, U+00A0, ...), not only at C's " \\t\\n\\v\\f\\r".

Errors: a malformed or mismatched reply is an answer (None), never an exception. Only
programmer errors (ports outside 0..65535) raise `IdentError`.
"""

from __future__ import annotations

from tcpwrap.errors import TcpwrapError

IDENT_PORT = 113
MAX_LINE = 511  # tcpd reads with fgets into a 512-byte buffer
MAX_SCAN = 255  # the %255s conversion
MAX_USER = 127  # the result is copied into a STRING_LENGTH (128) buffer

_C_SPACE = frozenset(" \t\n\v\f\r")  # isspace() in the C locale
_DIGITS = frozenset("0123456789")


class IdentError(TcpwrapError):
    """A programming error in the use of the ident protocol helpers."""


def _check_port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise IdentError(f"not a TCP port: {port!r}")
    return port


def build_request(client_port: int, server_port: int) -> bytes:
    """The query for the connection (client port, server port): decimal, no blanks, CRLF."""
    return f"{_check_port(client_port)},{_check_port(server_port)}\r\n".encode("ascii")


def frame_reply(data: bytes) -> bytes | None:
    """The reply line contained in `data` (bytes read so far, before EOF), or None if not yet.

    A line is complete at its first newline, or after MAX_LINE bytes without one (fgets stops
    there without having seen EOF, so tcpd parsed those bytes). If the peer closes before
    either happens, there is no line at all: the caller must treat that as "unknown".
    """
    head = data[:MAX_LINE]
    end = head.find(b"\n")
    if end >= 0:
        return head[: end + 1]
    if len(head) >= MAX_LINE:
        return head
    return None


class _Scanner:
    """A cursor over one reply line with the few scanf directives the format needs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _C_SPACE:
            self.pos += 1

    def literal(self, word: str) -> bool:
        if self.text.startswith(word, self.pos):
            self.pos += len(word)
            return True
        return False

    def unsigned(self) -> int | None:
        """`%u`, restricted to what can equal a port: blanks, optional '+', ASCII digits."""
        self.skip_space()
        self.literal("+")
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _DIGITS:
            self.pos += 1
        digits = self.text[start : self.pos].lstrip("0")
        if self.pos == start:
            return None
        if len(digits) > 5:  # cannot be a port; avoid huge int conversions
            return -1
        return int(digits or "0")

    def not_colons(self) -> bool:
        """`%*[^:]`: at least one character that is not a colon."""
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] != ":":
            self.pos += 1
        return self.pos > start

    def token(self, limit: int) -> str:
        """`%<limit>s`: skip blanks, then up to `limit` non-blank characters."""
        self.skip_space()
        start = self.pos
        end = min(len(self.text), start + limit)
        while self.pos < end and not _is_space(self.text[self.pos]):
            self.pos += 1
        return self.text[start : self.pos]


def _is_space(char: str) -> bool:
    return char in _C_SPACE or char.isspace()


def parse_reply(line: bytes | str, client_port: int, server_port: int) -> str | None:
    """The user name in one ident reply line, or None ("unknown").

    `line` is what `frame_reply` returned (bytes are decoded as Latin-1, one character per
    byte). The ports are the ones the request carried. Accepted:
    `<client port> , <server port> : USERID : <os, 1+ chars> :<user>[ anything]`, with blanks
    optional around `,` and `:`. The result is the first blank-delimited token after the third
    colon, at most 127 characters; colons inside it are kept.
    """
    _check_port(client_port)
    _check_port(server_port)
    text = line.decode("latin-1") if isinstance(line, bytes) else line
    text = text[:MAX_LINE]
    nul = text.find("\0")  # C string functions stop at the first NUL
    if nul >= 0:
        text = text[:nul]
    scan = _Scanner(text)
    remote = scan.unsigned()
    scan.skip_space()
    if remote is None or not scan.literal(","):
        return None
    local = scan.unsigned()
    scan.skip_space()
    if local is None or not scan.literal(":"):
        return None
    scan.skip_space()
    if not scan.literal("USERID"):
        return None
    scan.skip_space()
    if not scan.literal(":") or not scan.not_colons() or not scan.literal(":"):
        return None
    user = scan.token(MAX_SCAN)
    if not user or remote != client_port or local != server_port:
        return None
    return user[:MAX_USER]
