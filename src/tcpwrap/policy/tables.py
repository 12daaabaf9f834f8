"""Table text -> logical lines, exactly as Debian's xgets()/table_match() read them.

What it does: joins backslash-newline continuations (deleting both characters, inserting
nothing), numbers each logical line by its last physical line, drops comments (`#` in column 1
of the joined line) and blank lines, and stops at the first line that does not end in a newline
within the 2047-byte buffer (over-long, or the last line of a file without a final newline).
That stop is an ERROR for the table scan (fail-closed in hosts.deny).

Hazards: table files are admin-written but may be huge or malformed; every size is bounded by
the line buffer and nothing here raises. Bytes are decoded as Latin-1 so every byte survives
1:1 (the original compares bytes, in the C locale).
Errors: none raised; problems are returned as `LineProblem` values with their line numbers.
"""

from __future__ import annotations

from tcpwrap._record import record as dataclass

# BUFLEN 2048 with a NUL: a logical line plus its newline must fit in 2047 bytes.
LINE_LIMIT = 2047
_BLANK = " \t\r\n"


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One joined line, including its trailing newline, numbered by its last physical line."""

    text: str
    line: int


@dataclass(frozen=True, slots=True)
class LineProblem:
    """The line that stops a table: no newline within the buffer (Debian: ERROR)."""

    line: int  # number of the last complete physical line read (0 if the first is bad)
    physical: int  # 1-based physical line where the bad data starts (for `check`)
    reason: str  # "too long" or "no newline"


@dataclass(frozen=True, slots=True)
class TableText:
    """The usable lines of a table and, if any, the problem that ends it."""

    lines: tuple[LogicalLine, ...]
    stop: LineProblem | None


def read_lines(data: bytes | str) -> TableText:
    """Split a table's content into logical lines the way hosts_access reads them."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    lines: list[LogicalLine] = []
    pos, size = 0, len(text)
    count = 0  # physical lines consumed (tcpd_context.line)
    while pos < size:
        pieces: list[str] = []
        used = 0
        start_physical = count + 1
        while True:
            if pos >= size:  # EOF inside a continuation, or a last line without newline
                joined = "".join(pieces)
                if joined:
                    return TableText(tuple(lines), LineProblem(count, start_physical, "no newline"))
                return TableText(tuple(lines), None)
            end = text.find("\n", pos)
            piece_end = size if end < 0 else end + 1
            room = LINE_LIMIT - used
            if piece_end - pos > room:
                return TableText(tuple(lines), LineProblem(count, start_physical, "too long"))
            piece = text[pos:piece_end]
            pos = piece_end
            if "\x00" in piece:
                # fgets() keeps reading past a NUL, strlen() does not: the newline is lost.
                return TableText(tuple(lines), LineProblem(count, start_physical, "no newline"))
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
    return TableText(tuple(lines), None)
