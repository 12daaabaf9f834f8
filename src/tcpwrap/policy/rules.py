"""One table -> rules; two tables -> a Policy (the unit a decision is made against).

What it does: splits each logical line into daemon list, client list and third field at the
first and second `:` outside brackets, compiles the lists into patterns and the third field into
option steps (options language, Debian's default) or keeps it as a shell command (the paper's
classic language), and records the lines that are skipped for a missing `:`. The compiled
index (index.py) is built here too, so a Table is ready to decide with.

Hazards: a table may hold 100,000 lines; compiling is linear and done once per file version.
Errors: none raised for table content: problems become diagnostics with file:line, exactly
where the original would have reported them.
"""

from __future__ import annotations

import enum

from tcpwrap._record import field
from tcpwrap._record import record as dataclass
from tcpwrap.errors import Diagnostic, Origin, warning
from tcpwrap.policy.cstr import split_at
from tcpwrap.policy.options import OptionStep, compile_options
from tcpwrap.policy.patterns import PatternList, compile_client_list, compile_daemon_list
from tcpwrap.policy.tables import LineProblem, TableText, read_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from tcpwrap.policy.index import TableIndex


class Language(enum.Enum):
    """What the third field of a rule means."""

    OPTIONS = "options"  # hosts_options(5): Debian's build, the default
    CLASSIC = "classic"  # the paper's language: a shell command run on match


@dataclass(frozen=True, slots=True)
class Rule:
    origin: Origin
    daemons: PatternList
    clients: PatternList
    third: str | None  # the raw third field, trailing newline included
    options: tuple[OptionStep, ...] | None  # parsed third field (options language)
    text: str  # the logical line, for listings


@dataclass(frozen=True, slots=True)
class TableSource:
    """A table as read by a driver: its path and content, or why it could not be read."""

    path: str
    data: bytes | None  # None: absent (ENOENT) or unreadable (see error)
    error: str | None = None  # strerror text when it exists but cannot be read


@dataclass(frozen=True, slots=True)
class Table:
    path: str
    rules: tuple[Rule, ...]
    notes: tuple[tuple[int, Diagnostic], ...]  # (line, warning) for skipped lines, in order
    stop: LineProblem | None
    open_error: str | None
    index: TableIndex = field(repr=False, compare=False, default=None)  # set by compile_table

    @property
    def missing(self) -> bool:
        return not self.rules and self.stop is None and self.open_error is None and not self.notes


def parse_rule(line_text: str, origin: Origin, language: Language) -> Rule | None:
    """One logical line -> a Rule, or None when it has no ':' separator."""
    first = split_at(line_text, ":")
    if first is None:
        return None
    daemons_text, rest = first
    second = split_at(rest, ":")
    clients_text, third = (rest, None) if second is None else second
    options = compile_options(third) if third is not None and language is Language.OPTIONS else None
    return Rule(
        origin,
        compile_daemon_list(daemons_text),
        compile_client_list(clients_text),
        third,
        options,
        line_text.rstrip("\n"),
    )


def compile_table(source: TableSource, language: Language = Language.OPTIONS) -> Table:
    """Read, parse and index one table (missing = empty, as in tcpd)."""
    from tcpwrap.policy.index import build_index

    if source.data is None:
        table = Table(source.path, (), (), None, source.error)
        return _with_index(table, build_index)
    text: TableText = read_lines(source.data)
    rules: list[Rule] = []
    notes: list[tuple[int, Diagnostic]] = []
    for logical in text.lines:
        origin = Origin(source.path, logical.line)
        rule = parse_rule(logical.text, origin, language)
        if rule is None:
            notes.append((logical.line, warning('missing ":" separator', origin)))
        else:
            rules.append(rule)
    table = Table(source.path, tuple(rules), tuple(notes), text.stop, None)
    return _with_index(table, build_index)


def _with_index(table: Table, build: Callable[[Table], TableIndex]) -> Table:
    index = build(table)
    object.__setattr__(table, "index", index)
    return table


@dataclass(frozen=True, slots=True)
class Policy:
    """The two tables a decision is made against."""

    allow: Table
    deny: Table
    language: Language = Language.OPTIONS


def compile_policy(
    allow: TableSource, deny: TableSource, language: Language = Language.OPTIONS
) -> Policy:
    return Policy(compile_table(allow, language), compile_table(deny, language), language)
