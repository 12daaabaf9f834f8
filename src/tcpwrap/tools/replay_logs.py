"""The connection records of logs, as `tcpwrap replay` and `tcpwrap diff --logs` read them.

What it does: opens every log `tcpwrap report` reads (plain, .gz, `-` for stdin) with the
report's own readers and parsers (report.sources, report.parse, report.merge), and turns each
connection record into the fields a decision is made on, as the log recorded them:
`Logged(daemon, addr, name, user, old)`. A client logged as a numeric address gives the address
and no name (tcpd logs the address when it had no name); a client logged as a name without
`(address)` (the paper's format) gives the name and no address. `old` is the verdict the log
shows: `connect` = granted, `refused` = denied, `twist` = twist. Name/address mismatch warnings
are not connection records and are skipped.

Hazards: log text is hostile; fields are passed on only to the matcher and the (escaping)
renderers. Line length is bounded by the report's reader.
Errors: unreadable or truncated inputs are appended to `Stats.problems` (the caller exits 2);
nothing is raised for log content. A bad --year or --tz raises ReportError (report.inputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from tcpwrap._record import record
from tcpwrap.report.inputs import Inputs
from tcpwrap.report.merge import merge
from tcpwrap.report.model import CONNECT, NOT_A_HOST, REFUSED, TWIST, Event, Stats
from tcpwrap.tools.replaying import Outcome, is_address

OUTCOME_OF_KIND = {CONNECT: Outcome.GRANTED, REFUSED: Outcome.DENIED, TWIST: Outcome.TWIST}


@record(frozen=True, slots=True)
class Logged:
    """One connection record: the decision's fields as logged, and what the log says."""

    daemon: str
    addr: str | None  # None: not logged
    name: str | None  # None: not logged
    user: str | None  # None: not logged
    old: Outcome
    event: Event  # where and when (source, line, time, raw text)


Fields = tuple[str, str | None, str | None, str | None]  # daemon, addr, name, user


class Describe:
    """Event -> the decision's fields and the logged outcome (None: not a connection record).
    (No memo of its own: is_address rejects a name with one C call, and the callers memoise
    per event fields.)"""

    def __call__(self, event: Event) -> tuple[Fields, Outcome] | None:
        old = OUTCOME_OF_KIND.get(event.kind)
        if old is None:
            return None
        addr, name = self.client(event)
        return (event.daemon, addr, name, event.user), old

    def client(self, event: Event) -> tuple[str | None, str | None]:
        """(addr, name) as the log recorded them."""
        remote = event.remote
        addr = event.addr
        if addr == remote:
            return addr, None
        if is_address(remote):
            return addr or remote, None
        if remote.lower() in NOT_A_HOST:
            return addr, None
        return addr, remote


def logged_records(inputs: Inputs, stats: Stats, stack: ExitStack) -> Iterator[Logged]:
    """Every connection record of the inputs in time order (duplicates across sources
    dropped)."""
    describe = Describe()
    for event in events(inputs, stats, stack):
        described = describe(event)
        if described is not None:
            (daemon, addr, name, user), old = described
            yield Logged(daemon, addr, name, user, old, event)


def events(inputs: Inputs, stats: Stats, stack: ExitStack) -> Iterator[Event]:
    """Every event of the inputs (`Event.src` indexes `inputs.paths`) in time order, read as
    `tcpwrap report` reads them (report.inputs: readers, years, zones, parsers) and merged."""
    return merge(inputs.streams(stats, stack), stats)
