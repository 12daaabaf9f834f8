"""Table text -> every logical line with its physical extent, for `tcpwrap check` (pure).

What it does: reads a table with tcpd's own reader (`tables.xgets_lines`: same joining, same
2047-byte buffer accounting, NUL bytes read as xgets() reads them, tcpd's line numbers) but
does not stop at a bad line: every over-long line and missing final newline is returned as a
`CheckLine` with its problem, and reading goes on after it (at the next physical line), as
tcpdchk goes on. Each line also knows its first and last physical line, so a finding can point
at the line the admin has to edit, and the pieces of lines that held NUL bytes.

Hazards: none (pure, bounded by the input). Errors: none raised.
"""

from __future__ import annotations

from tcpwrap._record import record
from tcpwrap.policy.tables import LINE_LIMIT, NulPiece, xgets_lines

TOO_LONG = "too long"
NO_NEWLINE = "no newline"


@record(frozen=True, slots=True)
class CheckLine:
    text: str  # the joined text (trailing newline included when there is one)
    first: int  # first physical line
    last: int  # last physical line
    problem: str | None = None  # TOO_LONG or NO_NEWLINE: tcpd stops reading here
    length: int = 0  # bytes of the joined line (newline included)
    pieces: tuple[str, ...] = ()  # the physical pieces, continuation backslash-newlines removed
    line: int = 0  # tcpd's (and tcpdchk's) number for this line: NUL-hidden newlines not counted
    nuls: tuple[NulPiece, ...] = ()  # pieces of this line that held NUL bytes

    @property
    def comment(self) -> bool:
        return self.text.startswith("#")

    @property
    def blank(self) -> bool:
        return not self.text.strip(" \t\r\n")


def check_lines(data: bytes | str, *, resync: bool = True) -> list[CheckLine]:
    """Every line of a table. `resync`: after an over-long line, go on at the next physical
    line (ours); without it the rest of that line is read as a line of its own, as tcpdchk
    reads it (--debian)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if "\\\n" not in text and "\x00" not in text:
        plain = _plain_check_lines(text)
        if plain is not None:
            return plain
    return [
        CheckLine(
            raw.text, raw.first, raw.last, raw.problem, raw.length, raw.pieces, raw.line, raw.nuls
        )
        for raw in xgets_lines(text, resync=resync)
    ]


def plain_split(data: bytes | str) -> tuple[list[str], str] | None:
    """A table without continuations, NUL bytes or over-long lines (nearly every table, and
    every DenyHosts list) as its complete lines (without their newlines) and what follows the
    last newline; None for any other table (read it with check_lines)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if "\\\n" in text or "\x00" in text:
        return None
    pieces = text.split("\n")
    tail = pieces.pop()  # what follows the last newline ("" when the text ends with one)
    if len(tail) >= LINE_LIMIT or (pieces and max(map(len, pieces)) >= LINE_LIMIT):
        return None
    return pieces, tail


def _plain_check_lines(text: str) -> list[CheckLine] | None:
    """check_lines() for text without continuations or NULs: one split instead of one
    simulated fgets() per line, the same result (a property test compares them). None when
    a line is too long (the exact reader says how)."""
    split = plain_split(text)
    if split is None:
        return None
    pieces, tail = split
    out = [
        CheckLine(piece, number, number, None, len(piece), (piece,), number)
        for number, piece in enumerate((piece + "\n" for piece in pieces), 1)
    ]
    if tail:
        end = len(pieces)
        out.append(CheckLine(tail, end + 1, end + 1, NO_NEWLINE, len(tail), (tail,), end))
    return out
