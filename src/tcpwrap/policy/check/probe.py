"""What `tcpwrap check` is given: the tables, the options, and a `Probe` of the system.

What it does: defines `TableInput` (a table's path as shown, its content, its role),
`CheckOptions` (tcpdchk's -a/-v, the option language, the pid shown in `option:` records, a
progress callback for big tables),
`HostCheck` (what a DNS check of a host pattern found) and the `Probe` protocol through which
the pure checks ask DNS, NSS netgroups, pattern files and the inetd service table.

Hazards: none here; the driver (tools/check.py) implements the Probe and bounds its lookups.
Errors: none raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tcpwrap._record import record
from tcpwrap.policy.environment import Environment
from tcpwrap.policy.rules import Language, TableSource


@record(frozen=True, slots=True)
class HostCheck:
    """What tcpdchk's DNS check of one host pattern found."""

    count: int  # number of addresses (0: not found)
    warnings: tuple[str, ...] = ()


class PatternLines(list[list[str]]):
    """What `Probe.pattern_file` gives for a file it read: the tokens of each line, and
    `cut_at` when the file was longer than the reader's limit (only the whole tokens of its
    first `cut_at` bytes are here; tcpwrap fails closed on the rest, see docs/compat.md 6)."""

    cut_at: int | None = None


class Probe(Protocol):
    """The facts the checks need from the system."""

    @property
    def inetd_file(self) -> str: ...  # as shown in messages; "(null)" when there is none

    @property
    def env(self) -> Environment: ...

    def dns(self, host: str) -> HostCheck | None: ...  # None: DNS checks are disabled

    def prefetch(self, hosts: Sequence[str]) -> None:
        """A hint: `dns` will soon be asked about these hosts, in this order (a probe may
        look them up ahead, in parallel; the answers `dns` gives must not change)."""
        ...

    def netgroup_empty(self, group: str) -> bool: ...

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        """Tokens per line (a `PatternLines` says where a long file was cut); None when absent
        (ENOENT); strerror text on other errors."""
        ...

    def daemon_status(self, daemon: str) -> str | None: ...  # "yes"/"no"/"maybe"/None


@record(frozen=True, slots=True)
class TableInput:
    path: str  # as shown in messages
    source: TableSource
    role: str  # "allow" or "deny"
    explicit: bool = False  # named on the command line (a missing file is worth a warning)


@record(frozen=True, slots=True)
class CheckOptions:
    language: Language = Language.OPTIONS
    implicit_allow: bool = False  # -a
    verbose: bool = False  # -v
    pid: int = 0
    debian: bool = False  # say only what tcpdchk says, as tcpdchk says it (--debian)
    # Called as progress(table path, lines checked, lines in the table) every PROGRESS_EVERY
    # lines and once at the end of each table (the driver shows it on a terminal).
    progress: Callable[[str, int, int], None] | None = None


PROGRESS_EVERY = 8192
