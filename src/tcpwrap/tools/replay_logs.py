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
nothing is raised for log content. A bad --year or --tz raises ReportError.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from datetime import datetime

from tcpwrap._record import record as dataclass
from tcpwrap.report.merge import merge
from tcpwrap.report.model import CONNECT, NOT_A_HOST, REFUSED, TWIST, Event, Stats
from tcpwrap.report.parse import SourceParser
from tcpwrap.report.rotation import first_years, rotation_order
from tcpwrap.report.sources import ReportError, YearInference, Zone, open_source, read_lines
from tcpwrap.tools.replaying import Outcome, is_address

OUTCOME_OF_KIND = {CONNECT: Outcome.GRANTED, REFUSED: Outcome.DENIED, TWIST: Outcome.TWIST}


@dataclass(frozen=True, slots=True)
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
    """Event -> the decision's fields and the logged outcome (None: not a connection record),
    memoising the address test per logged client."""

    def __init__(self) -> None:
        self._numeric: dict[str, bool] = {}

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
        numeric = self._numeric.get(remote)
        if numeric is None:
            if len(self._numeric) > 100_000:
                self._numeric.clear()
            numeric = self._numeric[remote] = is_address(remote)
        if numeric:
            return addr or remote, None
        if remote.lower() in NOT_A_HOST:
            return addr, None
        return addr, remote


def year_of(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 9999:
        raise ReportError(f"bad year {text!r}")
    return int(text)


def logged_records(
    paths: list[str], stats: Stats, stack: ExitStack, *, year: str | None, tz: str | None
) -> Iterator[Logged]:
    """Every connection record of `paths` in time order (duplicates across sources dropped)."""
    describe = Describe()
    for event in events(paths, stats, stack, year=year, tz=tz):
        described = describe(event)
        if described is not None:
            (daemon, addr, name, user), old = described
            yield Logged(daemon, addr, name, user, old, event)


def ordered(paths: list[str]) -> list[str]:
    """The logs in the order they are read (a rotated set oldest first, as report reads it):
    `Event.src` indexes this list."""
    return rotation_order(paths)


def events(
    paths: list[str], stats: Stats, stack: ExitStack, *, year: str | None, tz: str | None
) -> Iterator[Event]:
    """Every event of `paths` (in `ordered()` order) in time order, read as `tcpwrap report`
    reads them: its readers, its year inference (per rotated set when no --year is given),
    parsers and merge."""
    zone = Zone(tz or "local")
    first_year = year_of(year)
    planned: dict[str, int] = {}
    if first_year is None:
        mtimes: dict[str, float] = {}
        for path in paths:
            if path != "-":
                with suppress(OSError):  # reported when it is opened
                    mtimes[path] = os.stat(path).st_mtime
        planned = first_years(list(mtimes), mtimes, dict.fromkeys(mtimes, zone))
    streams: list[Iterator[Event]] = []
    for i, path in enumerate(paths):
        try:
            stream, ref = open_source(path)
        except OSError as exc:
            stats.problems.append(f"{path}: cannot open: {exc.strerror or exc}")
            continue
        if path != "-":
            stack.callback(stream.close)
        years = YearInference(
            datetime.fromtimestamp(ref, zone.tz), first_year or planned.get(path))
        lines = read_lines(stream, stats.problems, path)
        streams.append(SourceParser(i, path, years, zone, stats).events(lines))
    return merge(streams, stats)
