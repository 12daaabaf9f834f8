"""Table text -> every logical line with its physical extent, for `tcpwrap check` (pure).

What it does: reads a table like `tables.read_lines` (same joining, same 2047-byte buffer
accounting, same numbering by the last physical line) but does not stop at a bad line: every
over-long line, NUL byte and missing final newline is returned as a `CheckLine` with its
problem, and reading goes on after it, as tcpdchk does. Each line also knows its first
physical line, so a finding can point at the line the admin has to edit.

Hazards: none (pure, bounded by the input). Errors: none raised.
"""

from __future__ import annotations

from tcpwrap._record import record as dataclass
from tcpwrap.policy.tables import LINE_LIMIT

TOO_LONG = "too long"
NO_NEWLINE = "no newline"
NUL = "nul"


@dataclass(frozen=True, slots=True)
class CheckLine:
    text: str  # the joined text (trailing newline included when there is one)
    first: int  # first physical line
    last: int  # last physical line (tcpd's line number for this logical line)
    problem: str | None = None  # TOO_LONG, NO_NEWLINE or NUL: tcpd stops reading here
    length: int = 0  # bytes of the joined line (newline included)
    pieces: tuple[str, ...] = ()  # the physical pieces, continuation backslash-newlines removed

    @property
    def comment(self) -> bool:
        return self.text.startswith("#")

    @property
    def blank(self) -> bool:
        return not self.text.strip(" \t\r\n")


def check_lines(data: bytes | str) -> list[CheckLine]:
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    out: list[CheckLine] = []
    pos, size, number = 0, len(text), 0
    while pos < size:
        first = number + 1
        pieces: list[str] = []
        used = 0
        length = 0
        problem: str | None = None
        while pos < size:
            end = text.find("\n", pos)
            piece_end = size if end < 0 else end + 1
            piece = text[pos:piece_end]
            pos = piece_end
            number += 1
            length += len(piece)
            if problem is None and len(piece) > LINE_LIMIT - used:
                problem = TOO_LONG
            if problem is None and "\x00" in piece:
                problem = NUL
            if not piece.endswith("\n"):
                pieces.append(piece)
                if problem is None:
                    problem = NO_NEWLINE
                break
            if len(piece) >= 2 and piece[-2] == "\\":
                pieces.append(piece[:-2])
                used += len(piece) - 2
                length -= 2
                continue
            pieces.append(piece)
            break
        else:
            if "".join(pieces) and problem is None:
                problem = NO_NEWLINE  # EOF inside a continuation
        out.append(CheckLine("".join(pieces), first, number, problem, length, tuple(pieces)))
    return out
