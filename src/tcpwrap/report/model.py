"""The values that flow through the report pipeline.

What it does: `Event` is one connection-relevant log record, normalised from whatever format it
came in; `Finding` is one suspicious pattern with its evidence; `Stats` counts what was read.
`Event` is a NamedTuple on purpose: a million of them are built per run, and tuple construction
is the cheapest record Python offers.

Hazards: every string here comes from a log file and is hostile: renderers must escape it.
`Event.text` is the raw line, already capped in length by the reader. No errors are raised here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

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


def verdict(event: Event) -> str | None:
    return VERDICT_OF_KIND.get(event.kind)


def remote_key(event: Event) -> str:
    """The identity used to group a remote host: lower-cased name or address."""
    return event.remote.lower()


@dataclass(slots=True)
class Stats:
    """What was read, per run. `examples` holds a few unparsed lines (capped)."""

    lines: int = 0
    events: int = 0
    other: int = 0  # well-formed log lines that are not connection records
    unparsed: int = 0
    duplicates: int = 0
    examples: list[tuple[str, int, str]] = field(default_factory=list)  # (source, line, text)
    problems: list[str] = field(default_factory=list)  # unreadable or truncated inputs
    local_hosts: set[str] = field(default_factory=set)
    max_examples: int = 5

    def unparsed_line(self, source: str, lineno: int, text: str) -> None:
        self.unparsed += 1
        if len(self.examples) < self.max_examples:
            self.examples.append((source, lineno, text[:200]))


@dataclass(slots=True)
class Finding:
    kind: str  # burst, spread, night, rare-service, retry, spoof
    remote: str  # a remote host, a remote domain (spread) or an address (spoof)
    local_hosts: list[str]
    services: list[str]
    first: Event
    last: Event
    count: int
    score: float
    evidence: list[str]
    period_s: float | None = None  # retry only
    why: str = ""  # one line for people
