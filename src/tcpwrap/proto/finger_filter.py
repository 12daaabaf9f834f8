"""safe_finger's output filter: make a hostile finger server's answer safe to mail or print.

What it does: `FingerFilter` turns the raw bytes of a finger reply into text that cannot carry
terminal escapes or mailer commands (docs/finger.md), byte-identical to Debian's safe_finger:
every non-empty output line starts with a space; `\\n` is copied; printable ASCII and the C
blanks (space, \\t, \\r, \\v, \\f) are copied, with `\\` doubled; any other byte becomes `\\ooo`
(three octal digits); a line that already holds 128 characters (the leading space and escapes
included) is continued with `\\` + newline before the next character; after 100000 input
bytes the filter stops and writes `\\n\\n Input truncated to 100000 bytes...\\n`.

Hazards: the input is attacker-controlled and unbounded; the filter consumes at most 100000
bytes (plus the one byte that reveals there is more) and keeps O(1) state. An empty input
line stays empty (no leading space), as in the original, since it can carry nothing.

Errors: none; every byte sequence is valid input.
"""

from __future__ import annotations

INPUT_LIMIT = 100_000
LINE_LIMIT = 128
TRAILER = b"\n\n Input truncated to %d bytes...\n" % INPUT_LIMIT


def _escape(byte: int) -> bytes:
    if byte == 0x5C:  # backslash
        return b"\\\\"
    if 0x20 <= byte < 0x7F or byte in b"\t\r\v\f":
        return bytes((byte,))
    return b"\\%03o" % byte


_ESCAPES: tuple[bytes, ...] = tuple(_escape(b) for b in range(256))


class FingerFilter:
    """Incremental filter: `feed()` chunks as they arrive, `done` says when to stop reading."""

    def __init__(self) -> None:
        self.consumed = 0  # input bytes accepted (at most INPUT_LIMIT)
        self.done = False  # the limit was exceeded: read no more
        self._column = 0  # characters on the current output line

    def feed(self, data: bytes) -> bytes:
        """Filter the next chunk; once `done`, further input is ignored."""
        if self.done or not data:
            return b""
        room = INPUT_LIMIT - self.consumed
        over = len(data) > room
        chunk = data[:room]
        self.consumed += len(chunk)
        out = bytearray()
        column = self._column
        for byte in chunk:
            if byte == 0x0A:
                out.append(byte)
                column = 0
                continue
            if column >= LINE_LIMIT:
                out += b"\\\n"
                column = 0
            if column == 0:
                out.append(0x20)
                column = 1
            piece = _ESCAPES[byte]
            out += piece
            column += len(piece)
        self._column = column
        if over:
            self.done = True
            out += TRAILER
        return bytes(out)


def filter_output(data: bytes) -> bytes:
    """The whole filtered text for a complete finger reply."""
    return FingerFilter().feed(data)
