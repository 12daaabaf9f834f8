"""The event stream of `tcpwrap check`: findings, listing lines and verbose records, in order.

What it does: defines `Listing` (one line of tcpdchk's `-v` listing, for stdout), `Event` (a
`Listing` or an `errors.Diagnostic`: warnings and errors with file:line, and the `option:` /
`command:` records of the dry run as `Kind.DEBUG`) and `Report`, the cursor every check
writes through: it remembers the file and line being checked, so a check only says what it
found.

Hazards: none (pure). Errors: none raised.
"""

from __future__ import annotations

from typing import TypeGuard

from tcpwrap._record import record as dataclass
from tcpwrap.errors import Diagnostic, Kind, Origin


@dataclass(frozen=True, slots=True)
class Listing:
    """One line of tcpdchk's `-v` listing (stdout)."""

    text: str


Event = Diagnostic | Listing


def finding(
    kind: Kind, message: str, file: str | None = None, line: int | None = None
) -> Diagnostic:
    """A check finding about `file` (and `line`, when there is one)."""
    if file is not None and line is not None:
        return Diagnostic(kind, message, Origin(file, line))
    return Diagnostic(kind, message, None, file)


def is_problem(event: Event) -> TypeGuard[Diagnostic]:
    """A warning or an error (what `--json` lists), as opposed to listing and debug records."""
    return isinstance(event, Diagnostic) and event.kind in (Kind.WARNING, Kind.ERROR)


class Report:
    """The events of one check run, and where in which file the checks are."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.events: list[Event] = []
        self.file: str | None = None
        self.line: int | None = None

    def at(self, file: str | None, line: int | None) -> None:
        self.file, self.line = file, line

    def warn(self, message: str) -> None:
        self.events.append(finding(Kind.WARNING, message, self.file, self.line))

    def error(self, message: str) -> None:
        self.events.append(finding(Kind.ERROR, message, self.file, self.line))

    def listing(self, text: str) -> None:
        if self.verbose:
            self.events.append(Listing(text))

    def debug(self, text: str) -> None:
        if self.verbose:
            self.events.append(Diagnostic(Kind.DEBUG, text))
