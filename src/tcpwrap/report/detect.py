"""Findings: the remote hosts that behave like the paper's cracker, with score and evidence.

What it does: `Detector.feed(event)` is called once per event in time order; `findings()` then
returns the findings, highest score first. Kinds (thresholds in `Thresholds`):

* burst   — one remote host makes >= burst_count connections within burst_window seconds;
* spread  — one remote host, or several hosts of one remote domain, reach >= spread_hosts local
            hosts within spread_window seconds ("spreading his probes");
* night   — >= night_min connections in the night hours from a remote host never seen by day;
* rare-service — connections to a service almost no-one uses: on the watch list (systat: "no-one
            else used the systat service"), or, with enough data, used by at most
            rare_max_clients remote hosts and by at most rare_share of all connections;
* retry   — >= retry_min refused connections from one remote host to one service of one local
            host at a regular period; the period is estimated (the paper's tftp: 77 s);
* spoof   — "host name/address mismatch" warnings, per remote address.

Hazards: memory is bounded by the number of remote hosts (and services and local hosts), never
by the number of events: per-host windows are fixed-size deques, evidence lists stop at
`Thresholds.evidence`, interval lists at `_MAX_INTERVALS`. Nothing here raises on any event.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from statistics import median

from tcpwrap.report.model import REFUSED, SPOOF, TWIST, Event, Finding

_MAX_INTERVALS = 512
_MAX_SERVICES = 64
_MAX_NAMES = 16
_RECENT = 16


@dataclass(frozen=True, slots=True)
class Thresholds:
    burst_count: int = 3
    burst_window: float = 300.0
    spread_hosts: int = 3
    spread_window: float = 3600.0
    night_start: int = 22  # night is [night_start, night_end) in wall-clock hours, wrapping
    night_end: int = 6
    night_min: int = 2
    rare_watch: tuple[str, ...] = ("systat", "netstat")
    rare_max_clients: int = 2
    rare_share: float = 0.01
    rare_min_total: int = 500
    retry_min: int = 4
    retry_tolerance: float = 0.1
    retry_max_gap: float = 3600.0
    spoof_min: int = 1
    evidence: int = 20

    def is_night(self, hour: int) -> bool:
        if self.night_start <= self.night_end:
            return self.night_start <= hour < self.night_end
        return hour >= self.night_start or hour < self.night_end


class _Part:
    """The events behind one (future) finding: count, first/last, hosts, services, evidence."""

    __slots__ = ("count", "evidence", "first", "last", "locals", "services")

    def __init__(self) -> None:
        self.count = 0
        self.first: Event | None = None
        self.last: Event | None = None
        self.locals: dict[str, None] = {}
        self.services: dict[str, None] = {}
        self.evidence: list[Event] = []

    def add(self, e: Event, cap: int) -> None:
        self.count += 1
        if self.first is None:
            self.first = e
        self.last = e
        self.locals[e.local] = None
        if len(self.services) < _MAX_SERVICES:
            self.services[e.service] = None
        if len(self.evidence) < cap:
            self.evidence.append(e)

    def finding(self, kind: str, remote: str, score: float, why: str,
                period: float | None = None) -> Finding:
        assert self.first is not None and self.last is not None
        return Finding(
            kind=kind,
            remote=remote,
            local_hosts=sorted(self.locals),
            services=sorted(self.services),
            first=self.first,
            last=self.last,
            count=self.count,
            score=round(min(score, 10.0), 2),
            evidence=[e.text for e in self.evidence],
            period_s=period,
            why=why,
        )


class _Remote:
    """Everything kept about one remote host."""

    __slots__ = ("burst", "burst_max", "burst_run", "day_seen", "domain", "locals", "name",
                 "night", "recent", "spread", "spread_max")

    def __init__(self, name: str, burst_count: int) -> None:
        self.name = name
        self.domain = remote_domain(name)
        self.recent: deque[Event] = deque(maxlen=max(_RECENT, burst_count))
        self.burst_run = 0
        self.burst_max = 0
        self.burst: _Part | None = None
        self.locals: dict[str, float] = {}
        self.spread: _Part | None = None
        self.spread_max = 0
        self.day_seen = False
        self.night: _Part | None = None


class _Domain:
    __slots__ = ("locals", "part", "remotes_max")

    def __init__(self) -> None:
        self.locals: dict[str, tuple[float, str]] = {}  # local host -> (last time, remote key)
        self.part: _Part | None = None
        self.remotes_max = 0


class _Service:
    __slots__ = ("clients", "count", "per_remote")

    def __init__(self) -> None:
        self.count = 0
        self.clients: dict[str, None] = {}  # distinct remote keys, capped
        self.per_remote: dict[str, _Part] | None = {}


class _Retry:
    __slots__ = ("intervals", "last_ts", "part")

    def __init__(self) -> None:
        self.last_ts: float | None = None
        self.intervals: list[float] = []
        self.part = _Part()


def remote_domain(name: str) -> str | None:
    """`guzzle.Stanford.EDU` → `stanford.edu`; `192.0.2.7` → `192.0.2.0/24`; else None."""
    n = name.lower().rstrip(".")
    parts = n.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:3]) + ".0/24"
    if len(parts) < 3 or ":" in n:
        return None
    return ".".join(parts[-2:])


class Detector:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.t = thresholds or Thresholds()
        self.remotes: dict[str, _Remote] = {}
        self.domains: dict[str, _Domain] = {}
        self.services: dict[str, _Service] = {}
        self.retries: dict[tuple[str, str, str], _Retry] = {}
        self.spoofs: dict[str, tuple[_Part, dict[str, None]]] = {}
        self.connections = 0
        self.local_hosts: dict[str, None] = {}

    # -- streaming ----------------------------------------------------------------------------
    def feed(self, e: Event) -> None:
        t = self.t
        cap = t.evidence
        key = e.remote.lower()
        if e.kind == SPOOF:
            entry = self.spoofs.get(key)
            if entry is None:
                entry = self.spoofs[key] = (_Part(), {})
            entry[0].add(e, cap)
            self.local_hosts[e.local] = None
            return
        if not key:
            return
        self.connections += 1
        if e.local not in self.local_hosts:
            self.local_hosts[e.local] = None
        r = self.remotes.get(key)
        if r is None:
            r = self.remotes[key] = _Remote(e.remote, t.burst_count)
        ts = e.ts
        recent = r.recent
        recent.append(e)

        # burst: the last burst_count events of this host fit in burst_window
        n = t.burst_count
        if len(recent) >= n and ts - recent[-n].ts <= t.burst_window:
            if r.burst is None:
                r.burst = _Part()
            if r.burst_run == 0:
                r.burst_run = n
                for i in range(-n, 0):
                    r.burst.add(recent[i], cap)
            else:
                r.burst_run += 1
                r.burst.add(e, cap)
            if r.burst_run > r.burst_max:
                r.burst_max = r.burst_run
        else:
            r.burst_run = 0

        # spread: distinct local hosts within spread_window
        loc = r.locals
        if e.local in loc or len(loc) < 256:
            loc[e.local] = ts
        if len(loc) >= t.spread_hosts:
            self._spread(r, e, cap)
        if r.domain is not None:
            self._domain_spread(r.domain, key, e, cap)

        # night: activity in the night hours from hosts never seen in the day
        if t.is_night(e.hour):
            if not r.day_seen:
                if r.night is None:
                    r.night = _Part()
                r.night.add(e, cap)
        elif not r.day_seen:
            r.day_seen = True
            r.night = None

        # rare services
        s = self.services.get(e.service)
        if s is None:
            s = self.services[e.service] = _Service()
        s.count += 1
        if key not in s.clients and len(s.clients) <= t.rare_max_clients:
            s.clients[key] = None
        per = s.per_remote
        if per is not None:
            if len(s.clients) > t.rare_max_clients and e.service not in t.rare_watch:
                s.per_remote = None  # popular: cannot be rare any more
            else:
                part = per.get(key)
                if part is None:
                    part = per[key] = _Part()
                part.add(e, cap)

        # retry: refusals per (remote, local, service)
        if e.kind == REFUSED or e.kind == TWIST:
            rk = (key, e.local, e.service)
            rt = self.retries.get(rk)
            if rt is None:
                rt = self.retries[rk] = _Retry()
            if rt.last_ts is not None and len(rt.intervals) < _MAX_INTERVALS:
                rt.intervals.append(ts - rt.last_ts)
            rt.last_ts = ts
            rt.part.add(e, cap)

    def _spread(self, r: _Remote, e: Event, cap: int) -> None:
        t = self.t
        horizon = e.ts - t.spread_window
        hosts = [h for h, when in r.locals.items() if when >= horizon]
        if len(hosts) < t.spread_hosts:
            return
        if r.spread is None:
            r.spread = _Part()
            for old in r.recent:
                if old is not e and old.ts >= horizon and old.local in hosts:
                    r.spread.add(old, cap)
        r.spread.add(e, cap)
        r.spread_max = max(r.spread_max, len(hosts))

    def _domain_spread(self, domain: str, key: str, e: Event, cap: int) -> None:
        t = self.t
        d = self.domains.get(domain)
        if d is None:
            d = self.domains[domain] = _Domain()
        if e.local in d.locals or len(d.locals) < 256:
            d.locals[e.local] = (e.ts, key)
        if len(d.locals) < t.spread_hosts:
            return
        horizon = e.ts - t.spread_window
        recent = [(h, rk) for h, (when, rk) in d.locals.items() if when >= horizon]
        if len(recent) < t.spread_hosts:
            return
        remotes = {rk for _, rk in recent}
        if len(remotes) < 2:
            return  # one host: that is the host-level spread
        if d.part is None:
            d.part = _Part()
        d.part.add(e, cap)
        d.remotes_max = max(d.remotes_max, len(remotes))

    # -- results ------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        t = self.t
        out: list[Finding] = []
        for r in self.remotes.values():
            if r.burst is not None:
                out.append(r.burst.finding(
                    "burst", r.name, 2.0 * r.burst_max / t.burst_count,
                    f"{r.burst_max} connections within {_dur(t.burst_window)} "
                    f"({r.burst.count} in bursts)"))
            if r.spread is not None:
                out.append(r.spread.finding(
                    "spread", r.name, 1.5 * r.spread_max / t.spread_hosts,
                    f"reached {r.spread_max} local hosts within {_dur(t.spread_window)}"))
            if r.night is not None and r.night.count >= t.night_min:
                out.append(r.night.finding(
                    "night", r.name, 1.0 + math.log2(r.night.count),
                    f"{r.night.count} connections between {t.night_start:02d}:00 and "
                    f"{t.night_end:02d}:00, none by day"))
        for name, d in self.domains.items():
            if d.part is not None:
                out.append(d.part.finding(
                    "spread", name, 1.5 * len(d.part.locals) / t.spread_hosts,
                    f"{d.remotes_max} hosts of {name} reached {len(d.part.locals)} local hosts "
                    f"within {_dur(t.spread_window)}"))
        out.extend(self._rare())
        out.extend(self._retry())
        for addr, (part, _names) in self.spoofs.items():
            if part.count >= t.spoof_min:
                out.append(part.finding(
                    "spoof", addr, 2.0 + math.log2(part.count),
                    f"{part.count} host name/address mismatch warnings"))
        out.sort(key=lambda f: (-f.score, f.first.ts, f.kind, f.remote))
        return out

    def rare_services(self) -> dict[str, str]:
        """Service → why it counts as rare."""
        t = self.t
        total = self.connections
        rare: dict[str, str] = {}
        for name, s in self.services.items():
            if name in t.rare_watch:
                rare[name] = "on the watch list"
            elif (
                total >= t.rare_min_total
                and len(s.clients) <= t.rare_max_clients
                and s.count <= t.rare_share * total
            ):
                rare[name] = (f"used by {len(s.clients)} remote host(s), "
                              f"{s.count} of {total} connections")
        return rare

    def _rare(self) -> list[Finding]:
        rare = self.rare_services()
        by_remote: dict[str, list[tuple[str, _Part]]] = {}
        for name in rare:
            per = self.services[name].per_remote
            for key, part in (per or {}).items():
                by_remote.setdefault(key, []).append((name, part))
        out = []
        for key, parts in by_remote.items():
            merged = _Part()
            for _, part in parts:
                for e in part.evidence:
                    merged.add(e, self.t.evidence)
                merged.count += part.count - len(part.evidence)
                for h in part.locals:
                    merged.locals[h] = None
                if part.first is not None and (merged.first is None
                                               or part.first.ts < merged.first.ts):
                    merged.first = part.first
                if part.last is not None and (merged.last is None
                                              or part.last.ts > merged.last.ts):
                    merged.last = part.last
            merged.evidence.sort(key=lambda e: (e.ts, e.src, e.lineno))
            names = sorted(n for n, _ in parts)
            remote = self.remotes[key].name if key in self.remotes else key
            out.append(merged.finding(
                "rare-service", remote, 1.5 * len(names),
                "; ".join(f"{n}: {rare[n]}" for n in names)))
        return out

    def _retry(self) -> list[Finding]:
        t = self.t
        out = []
        for (key, _local, service), rt in self.retries.items():
            if rt.part.count < t.retry_min:
                continue
            gaps = [g for g in rt.intervals if 0 < g <= t.retry_max_gap]
            if len(gaps) < t.retry_min - 1:
                continue
            mid = median(gaps)
            if mid < 1.0:
                continue
            tol = max(1.0, t.retry_tolerance * mid)
            good = [g for g in gaps if abs(g - mid) <= tol]
            if len(good) < t.retry_min - 1 or len(good) < 0.6 * len(gaps):
                continue
            period = round(sum(good) / len(good), 1)
            remote = self.remotes[key].name if key in self.remotes else key
            out.append(rt.part.finding(
                "retry", remote, 1.0 + 0.5 * len(good),
                f"{rt.part.count} refused {service} connections, one every {period:g} s",
                period=period))
        return out


def _dur(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(slots=True)
class Suspect:
    """One remote host (or domain/address) with all its findings; score is their sum."""

    remote: str
    score: float
    findings: list[Finding]


def rank(findings: list[Finding]) -> list[Suspect]:
    """Group findings by remote (case-insensitive), highest total score first."""
    groups: dict[str, Suspect] = {}
    for f in findings:
        s = groups.get(f.remote.lower())
        if s is None:
            s = groups[f.remote.lower()] = Suspect(f.remote, 0.0, [])
        s.findings.append(f)
        s.score = round(s.score + f.score, 2)
    return sorted(groups.values(), key=lambda s: (-s.score, s.findings[0].first.ts, s.remote))
