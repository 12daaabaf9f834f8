"""Table text -> logical lines, exactly as Debian's xgets()/table_match() read them.

What it does: reads the table as xgets() does (docs/rules.md): fgets() into a 2048-byte buffer,
backslash-newline continuations joined (both characters deleted, nothing inserted), and
`strlen()` of what fgets() read, so a NUL byte ends the text of its piece: the rest of that
piece, newline included, is lost and the next piece is read onto the kept text (one logical
line from two physical ones, counted once). Each logical line carries tcpd's line number
(`line`: newlines xgets() saw, what every tcpd/tcpdchk/tcpdmatch message says) and its last
physical line (`physical`: what an editor shows; the two differ after a NUL-hidden newline).
Comments (`#` in column 1 of the joined line) and blank lines are dropped. Reading stops at the
first line that does not end in a newline within the buffer (over-long, or the last line of a
file without a final newline): an ERROR for the table scan (fail-closed in hosts.deny). Every
piece that held NUL bytes is reported as a `NulPiece` for `tcpwrap check` (tcpd says nothing).

`first_line`/`first_physical` continue the numbering of an earlier part (an append to a table
that ended with a complete line: policy/compile.py). Text without backslash-newlines, NULs or
over-long lines (nearly every table) takes a fast path that splits at newlines in one go; it
gives exactly the slow path's result (a property test compares them).

Hazards: table files are admin-written but may be huge or malformed (NUL runs from a crash
during an append); every size is bounded by the line buffer and nothing here raises. Bytes are
decoded as Latin-1 so every byte survives 1:1 (the original compares bytes, in the C locale).
Errors: none raised; problems are returned as `LineProblem` values with their line numbers.
"""

from __future__ import annotations

from tcpwrap._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

# BUFLEN 2048 with a NUL: a logical line plus its newline must fit in 2047 bytes.
LINE_LIMIT = 2047
_BLANK = " \t\r\n"


@record(frozen=True, slots=True)
class LogicalLine:
    """One joined line, including its trailing newline.

    `line` is tcpd's number for it (newlines seen so far, NUL-hidden ones not counted);
    `physical` its last physical line (the same unless a NUL hid a newline before it).
    """

    text: str
    line: int
    physical: int


@record(frozen=True, slots=True)
class LineProblem:
    """The line that stops a table: no newline within the buffer (Debian: ERROR)."""

    line: int  # tcpd's number: complete lines read before it (0 if the first is bad)
    physical: int  # 1-based physical line where the bad data starts (for `check`)
    reason: str  # "too long" or "no newline"


@record(frozen=True, slots=True)
class NulPiece:
    """A piece of a physical line that held NUL bytes: what tcpd kept of it and where it went.

    tcpd keeps `kept` (the text before the first NUL), drops the rest of the piece with its
    newline, and reads the next physical line onto the kept text: the logical line `joined`,
    numbered `line` by tcpd ("" and the last line number when the table ends first).
    """

    physical: int  # the physical line holding the NUL bytes
    kept: str
    line: int
    joined: str
    lost: str = ""  # the text after the NUL bytes, NULs and newline removed (tcpd ignores it)


@record(frozen=True, slots=True)
class TableText:
    """The usable lines of a table and, if any, the problem that ends it."""

    lines: tuple[LogicalLine, ...]
    stop: LineProblem | None
    line_count: int = 0  # tcpd's line counter at the end: where the numbering of an append goes on
    physical: int = 0  # newlines read (physical lines, with first_physical)
    nuls: tuple[NulPiece, ...] = ()


def read_lines(
    data: bytes | str, first_line: int = 0, first_physical: int | None = None
) -> TableText:
    """Split a table's content into logical lines the way hosts_access reads them.

    `first_line`: tcpd's line count before `data` (line numbers continue); `first_physical`:
    the physical lines before it (default: `first_line`).
    """
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if first_physical is None:
        first_physical = first_line
    if "\\\n" not in text and "\x00" not in text:
        fast = _plain_lines(text, first_line, first_physical)
        if fast is not None:
            return fast
    return _read_lines(text, first_line, first_physical)


def _plain_lines(text: str, first_line: int, first_physical: int) -> TableText | None:
    """read_lines() for text without continuations or NULs; None if a line is too long."""
    pieces = text.split("\n")
    tail = pieces.pop()  # what follows the last newline ("" when the text ends with one)
    if len(tail) >= LINE_LIMIT or (pieces and max(map(len, pieces)) >= LINE_LIMIT):
        return None  # a line (with its newline) does not fit the buffer: the exact path says how
    lines: list[LogicalLine] = []
    append = lines.append
    number = first_line
    shift = first_physical - first_line
    for piece in pieces:
        number += 1
        if piece[:1] == "#" or not piece.strip(_BLANK):
            continue
        append(LogicalLine(piece + "\n", number, number + shift))
    physical = number + shift
    stop = LineProblem(number, physical + 1, "no newline") if tail else None
    return TableText(tuple(lines), stop, number, physical)


@record(frozen=True, slots=True)
class RawLine:
    """What one xgets() call returned, and where it came from (`xgets_lines`)."""

    text: str  # the joined text, trailing newline included when complete
    line: int  # tcpd's line counter after this call (its number for the line)
    first: int  # first physical line read
    last: int  # last physical line read
    problem: str | None  # None, "too long" or "no newline": tcpd's "missing newline ..."
    pieces: tuple[str, ...]  # the kept text of each physical line (continuations removed)
    length: int  # bytes consumed from the file (NUL tails included, continuations not)
    nuls: tuple[NulPiece, ...] = ()


def xgets_lines(
    text: str, first_line: int = 0, first_physical: int | None = None, *, resync: bool = False
) -> Iterator[RawLine]:
    """Every xgets() call on `text`, simulated one fgets() call at a time (docs/rules.md).

    tcpd stops at the first line with a problem; tcpdchk goes on. With `resync` the rest of
    an over-long physical line is skipped after it (tcpwrap check's reading: tcpdchk would
    read that rest as a line of its own).
    """
    physical = first_line if first_physical is None else first_physical
    pos, size = 0, len(text)
    count = first_line  # tcpd_context.line: newlines xgets() saw
    while pos < size:
        pieces: list[str] = []
        pending: list[tuple[int, str, str]] = []  # (physical line, kept, lost) of NUL pieces
        room = LINE_LIMIT + 1  # xgets()'s len: what is left of the 2048-byte buffer
        start = physical + 1
        length = 0
        ended = True  # the last piece ended its physical line
        complete = False
        while room > 1 and pos < size:
            # fgets(ptr, room): up to room - 1 bytes, or through the first newline
            limit = pos + room - 1
            newline = text.find("\n", pos, limit)
            end = newline + 1 if newline >= 0 else min(limit, size)
            piece = text[pos:end]
            pos = end
            length += len(piece)
            if newline >= 0:
                physical += 1
            nul = piece.find("\x00")
            if nul >= 0:  # strlen(): the text ends at the NUL, the newline is not seen
                lost = piece[nul:].replace("\x00", "").rstrip("\n")
                piece = piece[:nul]
                pending.append((physical if newline >= 0 else physical + 1, piece, lost))
            elif newline >= 0:
                count += 1
                if piece.endswith("\\\n"):
                    piece = piece[:-2]
                    length -= 2
                else:
                    complete = True
            if ended:
                pieces.append(piece)
            else:
                pieces[-1] += piece  # the same physical line, read in two fgets() calls
            ended = newline >= 0
            if complete:
                break
            room -= len(piece)
        joined = "".join(pieces)
        nuls = tuple(NulPiece(where, kept, count, joined, lost) for where, kept, lost in pending)
        last = physical if ended else physical + 1
        if complete:
            yield RawLine(joined, count, start, last, None, tuple(pieces), length, nuls)
            continue
        if not joined:  # xgets() returned NULL: the end of the file (what it read says nothing)
            yield RawLine("", count, start, last, None, (), length, nuls)
            return
        too_long = room <= 1
        if too_long and resync and not ended:
            newline = text.find("\n", pos)
            end = size if newline < 0 else newline + 1
            length += end - pos
            pos = end
            if newline >= 0:
                physical += 1
                count += 1
                last = physical
            else:
                last = physical + 1
        problem = "too long" if too_long else "no newline"
        yield RawLine(joined, count, start, last, problem, tuple(pieces), length, nuls)


def _read_lines(text: str, first_line: int = 0, first_physical: int | None = None) -> TableText:
    """The reference reader: tcpd's table_match() over xgets_lines()."""
    if first_physical is None:
        first_physical = first_line
    lines: list[LogicalLine] = []
    nuls: list[NulPiece] = []
    count = first_line
    for raw in xgets_lines(text, first_line, first_physical):
        nuls.extend(raw.nuls)
        count = raw.line
        if raw.problem is not None:
            stop = LineProblem(raw.line, raw.first, raw.problem)
            return TableText(tuple(lines), stop, raw.line, raw.first - 1, tuple(nuls))
        if raw.text[:1] != "#" and raw.text.strip(_BLANK):
            lines.append(LogicalLine(raw.text, raw.line, raw.last))
    physical = first_physical + text.count("\n")
    return TableText(tuple(lines), None, count, physical, tuple(nuls))
