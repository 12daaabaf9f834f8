"""Which events to look at: time range, remote host or domain, local host, service, verdict.

What it does: `Query` holds the filters and `Query.match(event)` says whether an event passes.
Remote patterns follow hosts_access habits: `.domain` matches names ending in it, `192.0.2.`
matches addresses starting with it, anything else matches the name or address exactly; all
case-insensitive. `parse_time` reads the --since/--until values.

Hazards: none; pure. Bad option values raise `ReportError` before any input is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from tcpwrap.report.model import VERDICT_OF_KIND, Event
from tcpwrap.report.parse import service_name
from tcpwrap.report.sources import ReportError

VERDICTS = ("granted", "denied", "twisted")


@dataclass(slots=True)
class Query:
    since: float | None = None
    until: float | None = None
    remotes: tuple[str, ...] = ()
    locals: frozenset[str] = field(default_factory=frozenset)
    services: frozenset[str] = field(default_factory=frozenset)
    verdicts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        since: float | None = None,
        until: float | None = None,
        remotes: list[str] | None = None,
        locals_: list[str] | None = None,
        services: list[str] | None = None,
        verdicts: list[str] | None = None,
    ) -> Query:
        for v in verdicts or []:
            if v not in VERDICTS:
                raise ReportError(f"bad verdict {v!r}: use one of {', '.join(VERDICTS)}")
        return cls(
            since=since,
            until=until,
            remotes=tuple(r.lower() for r in remotes or []),
            locals=frozenset(h.lower() for h in locals_ or []),
            services=frozenset(service_name(s) for s in services or []),
            verdicts=frozenset(verdicts or []),
        )

    @property
    def empty(self) -> bool:
        return not (
            self.since is not None
            or self.until is not None
            or self.remotes
            or self.locals
            or self.services
            or self.verdicts
        )

    def match(self, e: Event) -> bool:
        if self.since is not None and e.ts < self.since:
            return False
        if self.until is not None and e.ts > self.until:
            return False
        if self.locals and e.local.lower() not in self.locals:
            return False
        if self.services and e.service not in self.services:
            return False
        if self.verdicts and VERDICT_OF_KIND.get(e.kind) not in self.verdicts:
            return False
        return not self.remotes or any(remote_matches(p, e) for p in self.remotes)


def remote_matches(pattern: str, e: Event) -> bool:
    """`pattern` is lower-case already."""
    name = e.remote.lower()
    addr = (e.addr or "").lower()
    if pattern.startswith("."):
        return name.endswith(pattern) or name == pattern[1:]
    if pattern.endswith("."):
        return name.startswith(pattern) or addr.startswith(pattern)
    return pattern in (name, addr)


def parse_time(text: str, default_tz: tzinfo | None = None) -> float:
    """ISO-8601 date or date-time; without an offset it is read in `default_tz` (None: local)."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"bad time {text!r}: use ISO-8601, e.g. 2026-11-27T01:00") from None
    if dt.tzinfo is None and default_tz is not None:
        dt = dt.replace(tzinfo=default_tz)
    return dt.timestamp()


