"""The event stream of `tcpwrap check`: findings, listing lines and verbose records, in order.

What it does: defines `Listing` (one line of tcpdchk's `-v` listing, for stdout), `Event` (a
`Listing` or an `errors.Diagnostic`: warnings and errors with file:line, and the `option:` /
`command:` records of the dry run as `Kind.DEBUG`) and `Report`, the cursor every check
writes through: it remembers the file and line being checked (tcpd's number for it, and the
physical line an editor shows), so a check only says what it found. `warn`/`error` are what
tcpdchk says too; `extra_warn`/`extra_error` are our own findings, which `--debian` mode (say
exactly what tcpdchk says) drops.

Hazards: none (pure). Errors: none raised.
"""

from __future__ import annotations

from typing import TypeGuard

from tcpwrap._record import record
from tcpwrap.errors import Diagnostic, Kind, Origin


@record(frozen=True, slots=True)
class Listing:
    """One line of tcpdchk's `-v` listing (stdout)."""

    text: str


Event = Diagnostic | Listing


def finding(
    kind: Kind,
    message: str,
    file: str | None = None,
    line: int | None = None,
    physical: int | None = None,
) -> Diagnostic:
    """A check finding about `file` (and `line`, tcpd's number, when there is one;
    `physical`: the physical line, when it differs)."""
    if file is not None and line is not None:
        return Diagnostic(kind, message, Origin(file, line, physical))
    return Diagnostic(kind, message, None, file)


def is_problem(event: Event) -> TypeGuard[Diagnostic]:
    """A warning or an error (what `--json` lists), as opposed to listing and debug records."""
    return isinstance(event, Diagnostic) and event.kind in (Kind.WARNING, Kind.ERROR)


class Report:
    """The events of one check run, and where in which file the checks are."""

    def __init__(self, *, verbose: bool, debian: bool = False) -> None:
        self.verbose = verbose
        self.debian = debian  # only what tcpdchk says
        self.events: list[Event] = []
        self.file: str | None = None
        self.line: int | None = None
        self.physical: int | None = None

    def at(self, file: str | None, line: int | None, physical: int | None = None) -> None:
        """Where the next findings are: `line` is tcpd's number (what tcpdchk says),
        `physical` the line an editor shows (default: the same)."""
        self.file, self.line = file, line
        self.physical = line if physical is None else physical

    def warn(self, message: str) -> None:
        """A warning tcpdchk gives too (its wording)."""
        self.events.append(finding(Kind.WARNING, message, self.file, self.line, self.physical))

    def error(self, message: str) -> None:
        """An error tcpd/tcpdchk reports too (its wording)."""
        self.events.append(finding(Kind.ERROR, message, self.file, self.line, self.physical))

    def extra_warn(self, message: str) -> None:
        """A warning of ours, beyond tcpdchk (not in --debian mode)."""
        if not self.debian:
            self.warn(message)

    def extra_error(self, message: str) -> None:
        """An error of ours, beyond tcpdchk (not in --debian mode)."""
        if not self.debian:
            self.error(message)

    def listing(self, text: str) -> None:
        if self.verbose:
            self.events.append(Listing(text))

    def debug(self, text: str) -> None:
        if self.verbose:
            self.events.append(Diagnostic(Kind.DEBUG, text))
