"""The values that flow through the report pipeline.

What it does: `Event` is one connection-relevant log record, normalised from whatever format it
came in; `Sighting` is what a finding keeps of one (when, where, which service, the line);
`Finding` is one suspicious pattern with its evidence; `Stats` counts what was read.
`Event` is a NamedTuple on purpose: a million of them are built per run, and tuple construction
is the cheapest record Python offers.

Hazards: every string here comes from a log file and is hostile: renderers must escape it.
`Event.text` is the raw line, already capped in length by the reader. No errors are raised here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, cast

from tcpwrap.policy.facts import PARANOID, UNKNOWN

# Event.kind values
CONNECT = "connect"
REFUSED = "refused"
TWIST = "twist"
SPOOF = "spoof"  # a "host name/address mismatch" warning; Event.addr is the address

VERDICT_OF_KIND: dict[str, str | None] = {
    CONNECT: "granted",
    REFUSED: "denied",
    TWIST: "twisted",
    SPOOF: None,
}


class Event(NamedTuple):
    # (ts, src, lineno) come first and are unique per event: tuples order by them, so a merge
    # can compare events directly and never reaches the fields that may be None.
    ts: float  # seconds since the epoch (UTC)
    src: int  # index of the input source
    lineno: int  # 1-based line number within the source
    off: int  # UTC offset, seconds, of the wall clock the line was written in
    hour: int  # wall-clock hour of day (0-23) in that zone, for night/day
    local: str  # local host that logged it
    service: str  # normalised service name ("finger", "systat", ...)
    pid: int  # -1 when the log has none
    kind: str  # CONNECT, REFUSED, TWIST or SPOOF
    remote: str  # remote host name if logged, else its address
    addr: str | None  # remote address when logged
    user: str | None  # remote user when logged (user@host)
    text: str  # the raw line (capped), for evidence
    # the daemon name as logged (`in.telnetd`, xinetd's service id; path stripped), before
    # `service` normalised it: what a table's daemon list is matched against
    daemon: str = ""
    # seconds the connection lasted, when the log says (xinetd's EXIT record)
    duration: float | None = None


class Sighting(NamedTuple):
    """What a finding keeps of an event it may need long after: fewer objects than an Event
    (the detector keeps the last few of every remote host; see detect._Remote)."""

    ts: float
    off: int
    local: str
    service: str
    text: str


class Moment(Protocol):
    """An Event or a Sighting: what a finding's evidence is read from."""

    @property
    def ts(self) -> float: ...
    @property
    def off(self) -> int: ...
    @property
    def local(self) -> str: ...
    @property
    def service(self) -> str: ...
    @property
    def text(self) -> str: ...


def verdict(event: Event) -> str | None:
    return VERDICT_OF_KIND.get(event.kind)


# tcpd's words for "no usable name / no peer": never a host of their own
NOT_A_HOST = frozenset((UNKNOWN, PARANOID))


def remote_key(event: Event) -> str:
    """The identity used to group a remote host: its address when logged, else its name
    (lower-cased)."""
    return (event.addr or event.remote).lower()


_DIGITS = re.compile(r"\d+")
_MAX_SHAPES = 10_000
_MAX_PROGRAMS = 1_000


def shape(text: str) -> str:
    """The shape of an unparsed line: digit runs folded, so lines differing only in time
    stamps, pids and addresses count as one kind of line."""
    return _DIGITS.sub("#", text[:160])


@dataclass(slots=True)
class Stats:
    """What was read, per run.

    Unparsed lines are grouped by `shape()`; `examples` gives the most frequent shapes (one
    line each, first seen), `shapes()` the same with their counts. `programs` counts the
    programs of the "other" lines, so a file with no connection records can say whose lines
    it holds instead. All of it is bounded.
    """

    lines: int = 0
    events: int = 0
    other: int = 0  # well-formed log lines that are not connection records
    unparsed: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)  # unreadable or truncated inputs
    local_hosts: set[str] = field(default_factory=set)
    max_examples: int = 5
    # shape -> [count, source, line, text]
    by_shape: dict[str, list[object]] = field(default_factory=dict)
    programs: dict[str, int] = field(default_factory=dict)  # program of "other" lines
    zones: dict[str, str] = field(default_factory=dict)  # local host -> zone assumed

    def unparsed_line(self, source: str, lineno: int, text: str) -> None:
        self.unparsed += 1
        key = shape(text)
        seen = self.by_shape.get(key)
        if seen is not None:
            seen[0] = cast(int, seen[0]) + 1
        elif len(self.by_shape) < _MAX_SHAPES:
            self.by_shape[key] = [1, source, lineno, text[:200]]

    def other_line(self, program: str) -> None:
        self.other += 1
        n = self.programs.get(program)
        if n is not None:
            self.programs[program] = n + 1
        elif len(self.programs) < _MAX_PROGRAMS:
            self.programs[program] = 1

    def shapes(self) -> list[tuple[str, int, str, int]]:
        """(source, line, text, count) of the most frequent unparsed shapes, at most
        max_examples, most frequent first (first seen first among equals)."""
        top = sorted(self.by_shape.values(), key=lambda v: -cast(int, v[0]))
        return [(cast(str, s), cast(int, n), cast(str, t), cast(int, c))
                for c, s, n, t in top[: self.max_examples]]

    @property
    def examples(self) -> list[tuple[str, int, str]]:
        return [(s, n, t) for s, n, t, _ in self.shapes()]


@dataclass(slots=True)
class Finding:
    kind: str  # burst, spread, night, rare-service, retry, spoof, persistent
    remote: str  # a remote address (or name when none was logged), or a domain (spread)
    local_hosts: list[str]
    services: list[str]
    first: Moment  # the first and last connection: only their time and offset are shown
    last: Moment
    count: int
    score: float
    evidence: list[str]
    period_s: float | None = None  # retry only
    why: str = ""  # one line for people
    names: list[str] = field(default_factory=list)  # names logged for the remote address
