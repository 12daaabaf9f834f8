"""Compiling tables: source text -> complete, indexed Tables and Policies, and cheap appends.

What it does: `compile_table(source)` reads the logical lines (tables.py), parses each into a
Rule (rules.py) or a `missing ":" separator` note, and indexes the rules (index.py), so a Table
is complete when it is built. `extend_table(table, old, new)` handles an append (DenyHosts,
fail2ban): when the new content starts with the old content and the old content ended cleanly
(empty, or its last line complete: a newline that is not a backslash continuation, and no
`stop` problem), only the new logical lines are read (line numbers continue), parsed, and filed
into a copy-on-write copy of the index (index.extend_index); the old Table stays valid for
decisions still using it. The result equals `compile_table(new)`: rules, notes, stop and index
(tests compare them, and the verdicts, origins and diagnostics they give).

Hazards: tables may hold 100,000 lines. A full compile is linear but takes about a second at
that size, so long-lived callers run it aside (drivers/tables.py). An append costs the parse of
the appended part plus the copies of the old rule and note tuples and of the touched index
dictionaries (a few ms at 100,000 lines).
Errors: none raised for table content: problems become diagnostics with file:line.
"""

from __future__ import annotations

from tcpwrap.errors import Diagnostic, Origin, warning
from tcpwrap.policy.index import build_index, extend_index
from tcpwrap.policy.rules import Language, Policy, Rule, Table, TableSource, parse_rule
from tcpwrap.policy.tables import LogicalLine, read_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


def _parse(
    path: str, lines: Iterable[LogicalLine], language: Language
) -> tuple[list[Rule], list[tuple[int, Diagnostic]]]:
    rules: list[Rule] = []
    notes: list[tuple[int, Diagnostic]] = []
    for logical in lines:
        origin = Origin(path, logical.line, logical.physical)
        rule = parse_rule(logical.text, origin, language)
        if rule is None:
            notes.append((logical.line, warning('missing ":" separator', origin)))
        else:
            rules.append(rule)
    return rules, notes


def table_of(path: str, rules: tuple[Rule, ...]) -> Table:
    """A complete Table of rules parsed elsewhere (policy.check tries rules one at a time)."""
    return Table(path, rules, (), None, None, build_index(rules))


def compile_table(source: TableSource, language: Language = Language.OPTIONS) -> Table:
    """Read, parse and index one table (missing = empty, as in tcpd)."""
    if source.data is None:
        return Table(source.path, (), (), None, source.error, build_index(()))
    text = read_lines(source.data)
    rules, notes = _parse(source.path, text.lines, language)
    index = build_index(rules)
    return Table(
        source.path,
        tuple(rules),
        tuple(notes),
        text.stop,
        None,
        index,
        text.line_count,
        text.physical,
        text.nuls,
    )


def ends_cleanly(data: bytes) -> bool:
    """Whether text appended to `data` starts a new physical and logical line.

    Not when the last line holds a NUL: its newline is hidden, so the appended line would be
    read onto it (the NUL's report then names that line, not the end of the file).
    """
    if not data:
        return True
    if not data.endswith(b"\n") or data.endswith(b"\\\n"):
        return False
    return b"\x00" not in data[data.rfind(b"\n", 0, len(data) - 1) + 1 :]


def extend_table(
    table: Table, old: TableSource, new: TableSource, language: Language = Language.OPTIONS
) -> Table | None:
    """`table` (compiled from `old` in `language`) updated to `new` if `new` is an append.

    Returns None when it is not (the caller compiles `new` in full); `table` itself when the
    content is the same.
    """
    if new == old:
        return table
    before, after = old.data, new.data
    if (
        before is None
        or after is None
        or table.stop is not None
        or table.open_error is not None
        or old.path != new.path
        or not ends_cleanly(before)
        or not after.startswith(before)
    ):
        return None
    # The old part ends with a complete line: numbering goes on after its last one.
    text = read_lines(after[len(before) :], table.line_count, table.physical)
    added, notes = _parse(table.path, text.lines, language)
    rules = table.rules + tuple(added)
    index = extend_index(table.index, rules, len(table.rules))
    notes_all = table.notes + tuple(notes)
    nuls = table.nuls + text.nuls
    return Table(
        table.path, rules, notes_all, text.stop, None, index, text.line_count, text.physical, nuls
    )


def compile_policy(
    allow: TableSource, deny: TableSource, language: Language = Language.OPTIONS
) -> Policy:
    return Policy(compile_table(allow, language), compile_table(deny, language), language)
