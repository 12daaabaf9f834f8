"""Table text -> logical lines, exactly as Debian's xgets()/table_match() read them.

What it does: joins backslash-newline continuations (deleting both characters, inserting
nothing), numbers each logical line by its last physical line, drops comments (`#` in column 1
of the joined line) and blank lines, and stops at the first line that does not end in a newline
within the 2047-byte buffer (over-long, or the last line of a file without a final newline).
That stop is an ERROR for the table scan (fail-closed in hosts.deny).

`first_line` continues the numbering of an earlier part (an append to a table that ended with
a complete line: policy/compile.py). Text without backslash-newlines, NULs or over-long lines
(nearly every table) takes a fast path that splits at newlines in one go; it gives exactly the
slow path's result (a property test compares them).

Hazards: table files are admin-written but may be huge or malformed; every size is bounded by
the line buffer and nothing here raises. Bytes are decoded as Latin-1 so every byte survives
1:1 (the original compares bytes, in the C locale).
Errors: none raised; problems are returned as `LineProblem` values with their line numbers.
"""

from __future__ import annotations

from tcpwrap._record import record

# BUFLEN 2048 with a NUL: a logical line plus its newline must fit in 2047 bytes.
LINE_LIMIT = 2047
_BLANK = " \t\r\n"


@record(frozen=True, slots=True)
class LogicalLine:
    """One joined line, including its trailing newline, numbered by its last physical line."""

    text: str
    line: int


@record(frozen=True, slots=True)
class LineProblem:
    """The line that stops a table: no newline within the buffer (Debian: ERROR)."""

    line: int  # number of the last complete physical line read (0 if the first is bad)
    physical: int  # 1-based physical line where the bad data starts (for `check`)
    reason: str  # "too long" or "no newline"


@record(frozen=True, slots=True)
class TableText:
    """The usable lines of a table and, if any, the problem that ends it."""

    lines: tuple[LogicalLine, ...]
    stop: LineProblem | None
    physical: int = 0  # complete physical lines read (the last line number, with first_line)


def read_lines(data: bytes | str, first_line: int = 0) -> TableText:
    """Split a table's content into logical lines the way hosts_access reads them.

    `first_line`: the number of physical lines before `data` (line numbers continue).
    """
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    if "\\\n" not in text and "\x00" not in text:
        fast = _plain_lines(text, first_line)
        if fast is not None:
            return fast
    return _read_lines(text, first_line)


def _plain_lines(text: str, first_line: int) -> TableText | None:
    """read_lines() for text without continuations or NULs; None if a line is too long."""
    pieces = text.split("\n")
    tail = pieces.pop()  # what follows the last newline ("" when the text ends with one)
    if len(tail) > LINE_LIMIT or (pieces and max(map(len, pieces)) >= LINE_LIMIT):
        return None  # a line (with its newline) does not fit the buffer: the exact path says how
    lines: list[LogicalLine] = []
    append = lines.append
    number = first_line
    for piece in pieces:
        number += 1
        if piece[:1] == "#" or not piece.strip(_BLANK):
            continue
        append(LogicalLine(piece + "\n", number))
    stop = LineProblem(number, number + 1, "no newline") if tail else None
    return TableText(tuple(lines), stop, number)


def _read_lines(text: str, first_line: int = 0) -> TableText:
    """The reference reader: one physical line at a time, exactly as xgets() reads."""
    lines: list[LogicalLine] = []
    pos, size = 0, len(text)
    count = first_line  # physical lines consumed (tcpd_context.line)
    while pos < size:
        pieces: list[str] = []
        used = 0
        start_physical = count + 1
        while True:
            if pos >= size:  # EOF inside a continuation, or a last line without newline
                joined = "".join(pieces)
                if joined:
                    problem = LineProblem(count, start_physical, "no newline")
                    return TableText(tuple(lines), problem, count)
                return TableText(tuple(lines), None, count)
            end = text.find("\n", pos)
            piece_end = size if end < 0 else end + 1
            room = LINE_LIMIT - used
            if piece_end - pos > room:
                problem = LineProblem(count, start_physical, "too long")
                return TableText(tuple(lines), problem, count)
            piece = text[pos:piece_end]
            pos = piece_end
            if "\x00" in piece:
                # fgets() keeps reading past a NUL, strlen() does not: the newline is lost.
                problem = LineProblem(count, start_physical, "no newline")
                return TableText(tuple(lines), problem, count)
            if not piece.endswith("\n"):
                pieces.append(piece)
                used += len(piece)
                continue  # EOF next
            count += 1
            if len(piece) >= 2 and piece[-2] == "\\":
                pieces.append(piece[:-2])
                used += len(piece) - 2
                continue
            pieces.append(piece)
            break
        joined = "".join(pieces)
        if joined.startswith("#") or not joined.strip(_BLANK):
            continue
        lines.append(LogicalLine(joined, count))
    return TableText(tuple(lines), None, count)
