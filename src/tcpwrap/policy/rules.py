"""One table -> rules; two tables -> a Policy (the unit a decision is made against).

What it does: splits each logical line into daemon list, client list and third field at the
first and second `:` outside brackets, compiles the lists into patterns and the third field into
option steps (options language, Debian's default) or keeps it as a shell command (the paper's
classic language). Defines the compiled shapes: Rule, Table (its rules and their index) and
Policy. Whole tables are compiled and indexed in one place, policy/compile.py (`compile_table`,
`compile_policy`), so a Table is complete when it exists. This module imports index.py only
for the type of a Table's index; index.py does not import this one.

Hazards: a table may hold 100,000 lines; compiling is linear and done once per file version.
Errors: none raised for table content: problems become diagnostics with file:line, exactly
where the original would have reported them.
"""

from __future__ import annotations

import enum

from tcpwrap._record import field, record
from tcpwrap.errors import Diagnostic, Origin
from tcpwrap.policy.cstr import split_at
from tcpwrap.policy.options import OptionStep, compile_options
from tcpwrap.policy.patterns import PatternList, compile_client_list, compile_daemon_list
from tcpwrap.policy.tables import LineProblem, NulPiece

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from tcpwrap.policy.index import TableIndex


class Language(enum.Enum):
    """What the third field of a rule means."""

    OPTIONS = "options"  # hosts_options(5): Debian's build, the default
    CLASSIC = "classic"  # the paper's language: a shell command run on match


@record(frozen=True, slots=True)
class Rule:
    origin: Origin
    daemons: PatternList
    clients: PatternList
    third: str | None  # the raw third field, trailing newline included
    options: tuple[OptionStep, ...] | None  # parsed third field (options language)
    text: str  # the logical line, for listings


@record(frozen=True, slots=True)
class TableSource:
    """A table as read by a driver: its path and content, or why it could not be read."""

    path: str
    data: bytes | None  # None: absent (ENOENT) or unreadable (see error)
    error: str | None = None  # strerror text when it exists but cannot be read


@record(frozen=True, slots=True)
class Table:
    path: str
    rules: tuple[Rule, ...]
    notes: tuple[tuple[int, Diagnostic], ...]  # (line, warning) for skipped lines, in order
    stop: LineProblem | None
    open_error: str | None
    index: TableIndex = field(repr=False, compare=False)  # built with the table (compile.py)
    line_count: int = 0  # tcpd's line count at the end: where the numbering of an append goes on
    physical: int = 0  # physical lines read (more than line_count after NUL-hidden newlines)
    # Pieces of lines that held NUL bytes (tcpd joins their text with the next line and says
    # nothing; `tcpwrap check` reports them).
    nuls: tuple[NulPiece, ...] = ()

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


def match_denies(rule: Rule, deny_table: bool) -> bool:
    """Whether a match of `rule` makes the verdict stricter: it denies (its table's verdict,
    unless an `allow`/`deny` option says otherwise). What `MatchContext.restrictive` starts
    from for each rule."""
    for step in rule.options or ():
        if step.name == "allow":
            return False
        if step.name == "deny":
            return True
    return deny_table


@record(frozen=True, slots=True)
class Policy:
    """The two tables a decision is made against."""

    allow: Table
    deny: Table
    language: Language = Language.OPTIONS
    # What policy/quick.py derives per daemon name, made on first use (the tables never
    # change, so neither does this).
    plans: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
