"""Findings: the remote hosts that behave like the paper's cracker, with score and evidence.

What it does: `Detector.feed(event)` is called once per event in time order; `findings()` then
returns the findings, highest score first.
A remote host is its address (its name when no address was logged); the names seen for it
are kept. Kinds (thresholds in `Thresholds`):

* burst   — one remote host makes >= burst_count connections within burst_window seconds;
            each burst is a finding of its own (the largest _MAX_BURSTS per host);
* spread  — one remote host, or several hosts of one remote domain, reach >= spread_hosts local
            hosts within spread_window seconds ("spreading his probes");
* night   — >= night_min connections in the night hours from a remote host never seen by day;
* rare-service — connections to a service almost no-one uses: on the watch list (systat: "no-one
            else used the systat service"), or, with enough data, used by at most
            rare_max_clients remote hosts and by at most rare_share of all connections;
* retry   — >= retry_min refused connections from one remote host to one service of one local
            host at a regular period; the period is estimated (the paper's tftp: 77 s);
* spoof   — "host name/address mismatch" warnings, per remote address;
* persistent — a host that keeps coming back: >= persist_days days, >= persist_visits visits,
            scored by visits, days, hours of the day and the share refused (see _persistent).

Scores are logarithmic and uncapped; a burst or night finding among many hosts must stand out
from what ordinary hosts there do (`_bar`), so a busy public server stays quiet.

Hazards: memory is bounded by the number of remote hosts (and services and local hosts), never
by the number of events: per-host windows are fixed-size rings (times in one array of
doubles per host, see `_Remote`), evidence lists stop at `Thresholds.evidence`, interval lists
at `_MAX_INTERVALS`. Nothing here raises on any event. The hot path is `feed`: its cost is
memory (cache misses on 20,000 hosts' records), see benchmarks/README.md.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from statistics import median

from tcpwrap.report.model import CONNECT, NOT_A_HOST, SPOOF, Event, Finding, Moment, Sighting

_MAX_INTERVALS = 512
_MAX_NAMES = 8  # names kept per remote address
_MAX_BURSTS = 20  # burst findings per remote host (the last one takes the rest)
_VISIT_GAP = 1800.0  # seconds of quiet that end a visit
_POPULATION = 50  # remote hosts needed before "stands out from the others" applies
_COMMON = 0.02  # what more than this share of hosts do is ordinary here
_MAX_ALIASES = 1_000_000  # name -> address pairs kept (a line is ~100 bytes: 1M is a lot)
_MAX_SERVICES = 64
_NIGHT_EVIDENCE = 8


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
    persist_days: int = 3
    persist_visits: int = 6
    persist_score: float = 3.0
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
        self.first: Moment | None = None
        self.last: Moment | None = None
        self.locals: dict[str, None] = {}
        self.services: dict[str, None] = {}
        self.evidence: list[tuple[float, str]] = []  # (time, raw line)

    def add(self, e: Moment, cap: int) -> None:
        self.count += 1
        if self.first is None:
            self.first = e
        self.last = e
        self.locals[e.local] = None
        services = self.services
        if len(services) < _MAX_SERVICES:
            services[e.service] = None
        evidence = self.evidence
        if len(evidence) < cap:
            evidence.append((e.ts, e.text))

    def finding(self, kind: str, remote: str, score: float, why: str,
                period: float | None = None, names: list[str] | None = None) -> Finding:
        assert self.first is not None and self.last is not None
        return Finding(
            kind=kind,
            remote=remote,
            local_hosts=sorted(self.locals),
            services=sorted(self.services),
            first=self.first,
            last=self.last,
            count=self.count,
            score=round(score, 2),
            evidence=[text for _, text in self.evidence],
            period_s=period,
            why=why,
            names=names or [],
        )


_NEVER = -1e300  # "no time yet" in the time arrays
# _Remote._times: the last event's time, the last visit's day ((ts + off) // 86400), the hours
# of day seen (bit h set for hour h), the counts of connections, visits and days; then the
# ring's times from _RING on, then per local host
_LAST, _DAY, _HOURS, _COUNT, _VISITS, _DAYS, _RING = range(7)
_HOUR_BIT = tuple(float(1 << h) for h in range(24))


class _Domain:
    """One remote domain: when, and by which of its hosts, each local host was last reached."""

    __slots__ = ("crowded", "members", "part", "remotes_max", "seen", "who")

    def __init__(self, nlocal: int) -> None:
        self.seen = array("d", [_NEVER]) * nlocal  # local host index -> last time reached
        self.who: list[_Remote | None] = [None] * nlocal  # ... and by which remote host
        self.members: list[_Remote] = []  # its remote hosts (capped at _MAX_MEMBERS)
        self.crowded = False  # more than _MAX_MEMBERS: not followed any more
        self.part: _Part | None = None
        self.remotes_max = 0


class _Remote:
    """Everything kept about one remote host; compact, because the hot path touches it.

    One array of doubles holds the time of the last event, the day of the last visit, the
    hours of day seen (a bit mask; a double holds it exactly), the counts of events, visits
    and days (exact in a double too), the times of the last `ring` events and then, per local
    host index (Detector.local_index), when this host was last there: no float or int objects
    to chase (each a cache miss of its own), one buffer to read. Per event only a few cache
    lines are read: memory, not arithmetic, is the cost.

    The ring keeps what a finding needs of its events (a Sighting's fields), not the events:
    an Event kept for hours is freed long after it was made, with its time, line number,
    pid, name and address, each a cache miss, and the memory it leaves is cold when reused
    (the whole run was ~10 % slower for it, benchmarks/README.md). A ring of one or two (the
    default) keeps its raw lines and the parser's shared offset, local host and service
    objects in slots _line0 .. _svc1: no new object per event. A longer one keeps Sightings.
    """

    # What `feed` reads for every event is named with a leading underscore: CPython lays
    # slots out in the order of their names, so these come first and share the object's
    # first cache lines instead of being spread over all four (3-6 % of the run at 20k hosts,
    # benchmarks/README.md).
    __slots__ = ("_burst_run", "_day_seen", "_domain", "_last_name", "_line0", "_line1",
                 "_local0", "_local1", "_nlocals", "_off0", "_off1", "_pos", "_svc0", "_svc1",
                 "_times", "burst", "bursts", "events", "first_event", "name", "names",
                 "nbursts", "night", "refused", "ring_n", "spread", "spread_max")

    def __init__(self, name: str, ring: int, domain: _Domain | None, nlocal: int) -> None:
        self.name = name  # the address when one was logged, else the name
        self.names: dict[str, None] = {}  # names logged for it (capped), address included
        self._last_name = ""  # the name of its last event (most repeat it)
        self._domain = domain
        self.ring_n = ring
        self._times = array("d", [_NEVER, -1.0, 0.0, 0.0, 0.0, 0.0]) + array(
            "d", [_NEVER]) * (ring + nlocal)
        # ring slots 0 and 1 (the raw line is None while a slot is empty) ...
        self._line0: str | None = None
        self._off0 = 0
        self._local0 = ""
        self._svc0 = ""
        self._line1: str | None = None
        self._off1 = 0
        self._local1 = ""
        self._svc1 = ""
        # ... or all of them, in a ring longer than 2
        self.events: list[Sighting | None] | None = [None] * ring if ring > 2 else None
        self._pos = 0  # the oldest slot of the ring
        self._burst_run = 0
        self.burst: _Part | None = None  # the current (or last) burst
        self.bursts: list[_Part] | None = None  # the largest _MAX_BURSTS bursts
        self.nbursts = 0
        # persistence: volume, distinct days and hours, visits and the gaps between them
        self.first_event: Sighting | None = None
        self.refused = 0
        self._nlocals = 0
        self.spread: _Part | None = None
        self.spread_max = 0
        self._day_seen = False
        self.night: _Part | None = None

    def put(self, pos: int, seen: Sighting) -> None:
        """Store `seen` in slot `pos` of a ring longer than 2."""
        assert self.events is not None
        self.events[pos] = seen

    def ring(self) -> list[Sighting]:
        """The last events, oldest first."""
        n = self.ring_n
        slots = self.events
        if slots is None:
            t = self._times
            slots = [None if self._line0 is None else
                     Sighting(t[_RING], self._off0, self._local0, self._svc0, self._line0),
                     None if self._line1 is None else
                     Sighting(t[_RING + 1], self._off1, self._local1, self._svc1, self._line1)]
        out = [slots[(self._pos + i) % n] for i in range(n)]
        return [e for e in out if e is not None]

    def seen(self) -> array[float]:
        """Last time per local host index."""
        return self._times[_RING + self.ring_n :]

    @property
    def last_ts(self) -> float:
        """The time of the last event."""
        return self._times[_LAST]

    @property
    def hod(self) -> int:
        """The wall-clock hours of day seen, a bit mask."""
        return int(self._times[_HOURS])

    @property
    def count(self) -> int:
        """Connections."""
        return int(self._times[_COUNT])

    @property
    def sessions(self) -> int:
        """Visits: connections more than _VISIT_GAP apart start a new one."""
        return int(self._times[_VISITS])

    @property
    def days(self) -> int:
        """Distinct days with a visit."""
        return int(self._times[_DAYS])

    def aliases(self) -> list[str]:
        """The names logged for this host, its address left out."""
        return [n for n in self.names if n != self.name]


class _Service:
    __slots__ = ("clients", "count", "per_remote")

    def __init__(self) -> None:
        self.count = 0
        self.clients: dict[str, None] = {}  # distinct remote keys, capped
        self.per_remote: dict[str, _Part] | None = {}


class _Retry:
    """Refusals of one (remote host, local host, service): light, as most are one-offs
    (kept to the end: Sightings, not Events)."""

    __slots__ = ("count", "evidence", "first", "intervals", "last")

    def __init__(self, e: Sighting) -> None:
        self.count = 1
        self.first = e
        self.last = e
        self.intervals: list[float] | None = None
        self.evidence: list[Sighting] = [e]

    def add(self, e: Sighting, cap: int) -> None:
        if self.intervals is None:
            self.intervals = []
        if len(self.intervals) < _MAX_INTERVALS:
            self.intervals.append(e.ts - self.last.ts)
        self.count += 1
        self.last = e
        if len(self.evidence) < cap:
            self.evidence.append(e)


def remote_domain(name: str) -> str | None:
    """`guzzle.Stanford.EDU` → `stanford.edu`; `192.0.2.7` → `192.0.2.0/24`; else None."""
    n = name.lower().rstrip(".")
    parts = n.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return ".".join(parts[:3]) + ".0/24"
    if len(parts) < 3 or ":" in n:
        return None
    return ".".join(parts[-2:])


_MAX_MEMBERS = 1024  # a domain with more remote hosts is not followed for domain spread
_MAX_LOCALS = 4096  # local hosts tracked (a site, not the internet)


class Detector:
    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.t = thresholds or Thresholds()
        self.remotes: dict[str, _Remote] = {}
        self.domains: dict[str, _Domain] = {}
        self.services: dict[str, _Service] = {}
        self.retries: dict[tuple[str, str, str], _Retry] = {}
        self.spoofs: dict[str, _Part] = {}
        self.anonymous = 0  # connections of an unknown peer
        self.aliases: dict[str, str] = {}  # name -> the address it was logged with
        self.local_hosts: dict[str, None] = {}
        self.local_index: dict[str, int] = {}  # local host -> small integer
        self.local_names: list[str] = []
        self._night = tuple(self.t.is_night(h) for h in range(24))
        self._ring = max(self.t.burst_count - 1, 1)

    @property
    def connections(self) -> int:
        """Connection records fed (mismatch warnings are no connections)."""
        return self.anonymous + sum(r.count for r in self.remotes.values())

    # -- streaming ----------------------------------------------------------------------------
    def feed(self, e: Event) -> None:
        """Take one event (in time order). The hot path: keep it lean (see the benchmark)."""
        ts, _src, _line, off, hour, local, service, _pid, kind, name, addr, _u, text, _d, _du = e
        li = self.local_index.get(local)
        if li is None:
            li = self._new_local(local)
        # a host is its address; its name only when no address was logged
        if addr is not None:
            key = addr  # the parsers give addresses in lower case
        else:  # a name only: the address it was logged with before, if any
            key = name.lower()
            key = self.aliases.get(key, key)
        if kind == SPOOF:
            self._spoof(key, e)
            return
        r = self.remotes.get(key)
        if r is None:
            if addr is None and key in NOT_A_HOST:
                self.anonymous += 1  # tcpd could not get the peer: no host to follow
                return
            r = self._new_remote(key, e)
        if name != r._last_name:
            self._name(r, name, addr, key)
        t = self.t

        # persistence: how often, on how many days and hours of the day, a host comes back
        times = r._times
        times[_COUNT] += 1.0
        bit = _HOUR_BIT[hour]
        hours = times[_HOURS]
        if hours % (bit + bit) < bit:  # a new hour of the day
            times[_HOURS] = hours + bit
        if ts - times[_LAST] > _VISIT_GAP:  # a new visit
            times[_VISITS] += 1.0
            day = (ts + off) // 86400
            if day != times[_DAY]:
                times[_DAY] = day
                times[_DAYS] += 1.0
        times[_LAST] = ts

        # burst: this event and the ring's burst_count - 1 before it fit in burst_window
        pos = r._pos
        if ts - times[_RING + pos] <= t.burst_window:
            self._burst(r, e)
        elif r._burst_run:
            r._burst_run = 0
        times[_RING + pos] = ts
        n = self._ring  # every remote host's ring has this length
        if n > 2:
            r.put(pos, Sighting(ts, off, local, service, text))
        elif pos == 0:  # the objects the event shares with others, but for its line
            r._line0 = text
            r._off0 = off
            r._local0 = local
            r._svc0 = service
        else:
            r._line1 = text
            r._off1 = off
            r._local1 = local
            r._svc1 = service
        r._pos = pos + 1 if pos + 1 < n else 0

        # spread: checked only when a local host (re)enters this host's window
        slot = _RING + n + li
        try:
            last = times[slot]
        except IndexError:  # a local host newer than this remote host's array
            times.extend(array("d", [_NEVER]) * (_RING + n + len(self.local_names)
                                                 - len(times)))
            last = times[slot]
        times[slot] = ts
        if ts - last > t.spread_window:
            if last == _NEVER:
                r._nlocals += 1
            if r._nlocals >= t.spread_hosts:
                self._spread(r, e)
        d = r._domain
        if d is not None:
            try:
                last = d.seen[li]
            except IndexError:  # a local host newer than the domain's arrays
                self._domain_event(d, r, li, e)
            else:
                d.seen[li] = ts
                d.who[li] = r
                if ts - last > t.spread_window:  # a local host enters the domain's window
                    self._domain_spread(d, r, e)

        # night: activity in the night hours from hosts never seen in the day
        if not r._day_seen:
            if self._night[hour]:
                night = r.night
                if night is None:
                    night = r.night = _Part()
                # every host met at night holds this until seen by day: keep it small
                if night.count < _NIGHT_EVIDENCE:
                    night.add(e, min(t.evidence, _NIGHT_EVIDENCE))
                else:  # evidence full: count, last, where
                    night.count += 1
                    night.last = e
                    night.locals[local] = None
                    if len(night.services) < _MAX_SERVICES:
                        night.services[service] = None
            else:
                r._day_seen = True
                r.night = None

        # rare services
        s = self.services.get(service)
        if s is None:
            s = self.services[service] = _Service()
        s.count += 1
        if s.per_remote is not None:
            self._rare_event(s, key, e)

        # retry: refusals per (remote, local, service)
        if kind != CONNECT:  # REFUSED or TWIST (SPOOF returned above)
            r.refused += 1
            self._refused(key, e)

    def _new_local(self, local: str) -> int:
        if len(self.local_names) >= _MAX_LOCALS:
            return 0  # absurdly many: lump the rest together
        li = self.local_index[local] = len(self.local_names)
        self.local_names.append(local)
        self.local_hosts[local] = None
        return li

    def _new_remote(self, key: str, e: Event) -> _Remote:
        name = e.addr or e.remote
        # the domain of the name when one was logged, else of the address
        dname = remote_domain(e.remote) or remote_domain(name)
        domain = None
        n = len(self.local_names)
        if dname is not None:
            domain = self.domains.get(dname)
            if domain is None:
                domain = self.domains[dname] = _Domain(n)
        r = self.remotes[key] = _Remote(name, self._ring, domain, n)
        r.first_event = Sighting(e.ts, e.off, e.local, e.service, e.text)
        if domain is not None:
            if domain.crowded:
                r._domain = None
            elif len(domain.members) < _MAX_MEMBERS:
                domain.members.append(r)
            else:  # too big to be "a few hosts fanning out": no longer followed
                domain.crowded = True
                for m in domain.members:
                    m._domain = None
                domain.members = []
                r._domain = None
        return r

    def _name(self, r: _Remote, name: str, addr: str | None, key: str) -> None:
        """`r` logged under a name other than the last one: keep it (and where it points)."""
        r._last_name = name
        names = r.names
        if name not in names and len(names) < _MAX_NAMES:
            names[name] = None
            if addr is not None and len(self.aliases) < _MAX_ALIASES:
                self.aliases[name.lower()] = key

    def _spoof(self, key: str, e: Event) -> None:
        part = self.spoofs.get(key)
        if part is None:
            part = self.spoofs[key] = _Part()
        part.add(e, self.t.evidence)

    def _burst(self, r: _Remote, e: Event) -> None:
        """`e` is in a burst: it starts one (with the ring's events) or goes on with one.
        Each burst is a part of its own; the _MAX_BURSTS largest are kept (`_settle`)."""
        cap = self.t.evidence
        if r._burst_run == 0:
            _settle(r)
            r.burst = _Part()
            r.nbursts += 1
            before = r.ring()
            r._burst_run = len(before) + 1
            for old in before:
                r.burst.add(old, cap)
        else:
            r._burst_run += 1
        assert r.burst is not None
        r.burst.add(e, cap)

    def _reached(self, seen: array[float], horizon: float) -> list[str]:
        names = self.local_names
        return [names[i] for i, when in enumerate(seen) if when >= horizon]

    def _spread(self, r: _Remote, e: Event) -> None:
        t = self.t
        cap = t.evidence
        horizon = e.ts - t.spread_window
        reached = self._reached(r.seen(), horizon)
        if len(reached) < t.spread_hosts:
            return
        part = r.spread
        if part is None:
            part = r.spread = _Part()
            for old in r.ring()[:-1]:  # the last one is `e`, fed just now
                if old.ts >= horizon:
                    part.add(old, cap)
        part.add(e, cap)
        part.locals.update(dict.fromkeys(reached))
        r.spread_max = max(r.spread_max, len(reached))

    def _domain_event(self, d: _Domain, r: _Remote, li: int, e: Event) -> None:
        ts = e.ts
        seen = d.seen
        if li >= len(seen):
            grow = len(self.local_names) - len(seen)
            seen.extend(array("d", [_NEVER]) * grow)
            d.who.extend([None] * grow)
        last = seen[li]
        seen[li] = ts
        if d.who[li] is not r:
            d.who[li] = r
        if ts - last > self.t.spread_window:
            self._domain_spread(d, r, e)

    def _domain_spread(self, d: _Domain, r: _Remote, e: Event) -> None:
        """Domain-level spread: a few hosts of one domain fanning out over many local hosts.

        Called when a local host enters the domain's window. It needs >= spread_hosts local
        hosts reached, by at least two hosts of the domain but by fewer hosts than local hosts
        (someone visited more than one), and no more active hosts of the domain in the window
        than local hosts reached: a busy domain whose ordinary clients each use their own
        local host is not "a few hosts fanning out". A domain of more than _MAX_MEMBERS
        remote hosts (an ISP's customers) is not followed at all.
        """
        t = self.t
        cap = t.evidence
        horizon = e.ts - t.spread_window
        hits = [i for i, when in enumerate(d.seen) if when >= horizon]
        if len(hits) < t.spread_hosts:
            return
        spreaders = {id(d.who[i]): d.who[i] for i in hits}
        if not 2 <= len(spreaders) < len(hits):
            return  # one host is a host-level spread; one host per local host is ordinary
        active = sum(1 for m in d.members if m.last_ts >= horizon)
        if active > len(hits):
            return
        part = d.part
        if part is None:
            part = d.part = _Part()
            # the ring of `r`, the host fed just now, ends with `e`
            earlier = [old for who in spreaders.values() if who is not None
                       for old in (who.ring()[:-1] if who is r else who.ring())
                       if old.ts >= horizon]
            for old in sorted(earlier):
                part.add(old, cap)
        part.add(e, cap)
        part.locals.update(dict.fromkeys(self.local_names[i] for i in hits))
        d.remotes_max = max(d.remotes_max, len(spreaders))

    def _rare_event(self, s: _Service, key: str, e: Event) -> None:
        t = self.t
        per = s.per_remote
        assert per is not None
        if key not in s.clients:
            s.clients[key] = None
            if len(s.clients) > t.rare_max_clients and e.service not in t.rare_watch:
                s.per_remote = None  # popular: it cannot be rare any more
                return
        part = per.get(key)
        if part is None:
            part = per[key] = _Part()
        part.add(e, t.evidence)

    def _refused(self, key: str, e: Event) -> None:
        rk = (key, e.local, e.service)
        rt = self.retries.get(rk)
        seen = Sighting(e.ts, e.off, e.local, e.service, e.text)
        if rt is None:
            self.retries[rk] = _Retry(seen)
        else:
            rt.add(seen, self.t.evidence)

    # -- results ------------------------------------------------------------------------------
    def findings(self) -> list[Finding]:
        """Every finding, highest score first.

        Scores grow with the logarithm of what was seen (no cap: a flood of 10,000 outranks
        one of 20, and neither drowns everything else). Where there are enough remote hosts
        to compare (_POPULATION), a burst or night finding must also stand out from them: on
        a busy public server many ordinary clients make three connections in five minutes,
        or come only at night (from other zones), so the bar is raised above what most hosts
        do, and the reason says so.
        """
        t = self.t
        out: list[Finding] = []
        for r in self.remotes.values():
            _settle(r)
        # bursts are compared with the other hosts' bursts on the same service (that of a
        # burst's first connection): on an FTP server reconnecting clients are ordinary, ten
        # fingers in a minute are not
        largest: dict[str, list[int]] = {}
        for r in self.remotes.values():
            mine: dict[str, int] = {}
            for b in r.bursts or ():
                if b.first is not None:
                    mine[b.first.service] = max(mine.get(b.first.service, 0), b.count)
            for service, n in mine.items():
                largest.setdefault(service, []).append(n)
        bars = {service: self._bar(counts, len(self.remotes), t.burst_count)
                for service, counts in largest.items()}
        nights: dict[str, list[int]] = {}  # the same for night-only hosts, per service
        for r in self.remotes.values():
            if r.night is not None and r.night.first is not None:
                nights.setdefault(r.night.first.service, []).append(r.night.count)
        night_bars = {service: self._bar(counts, len(self.remotes), t.night_min)
                      for service, counts in nights.items()}
        for r in self.remotes.values():
            for b in r.bursts or ():
                if b.first is None or b.last is None:
                    continue
                burst_bar, burst_note = bars[b.first.service]
                if b.count >= burst_bar:
                    span = b.last.ts - b.first.ts
                    out.append(b.finding(
                        "burst", r.name, 2.0 * (1.0 + math.log2(b.count / t.burst_count)),
                        f"{b.count} connections in {_dur(round(span))} (>= {t.burst_count} "
                        f"within {_dur(t.burst_window)}; {r.nbursts} burst"
                        f"{'s' if r.nbursts > 1 else ''} in all){burst_note}",
                        names=r.aliases()))
            if r.spread is not None:
                out.append(r.spread.finding(
                    "spread", r.name, _spread_score(r.spread_max, t.spread_hosts),
                    f"reached {r.spread_max} local hosts within {_dur(t.spread_window)}",
                    names=r.aliases()))
            night_bar, night_note = (night_bars[r.night.first.service]
                                     if r.night is not None and r.night.first is not None
                                     else (t.night_min, ""))
            if r.night is not None and r.night.count >= night_bar:
                out.append(r.night.finding(
                    "night", r.name, 1.0 + math.log2(r.night.count),
                    f"{r.night.count} connections between {t.night_start:02d}:00 and "
                    f"{t.night_end:02d}:00, none by day{night_note}", names=r.aliases()))
        out.extend(self._persistent())
        for name, d in self.domains.items():
            if d.part is not None:
                out.append(d.part.finding(
                    "spread", name, _spread_score(len(d.part.locals), t.spread_hosts),
                    f"{d.remotes_max} hosts of {name} reached {len(d.part.locals)} local hosts "
                    f"within {_dur(t.spread_window)}"))
        out.extend(self._rare())
        out.extend(self._retry())
        for addr, part in self.spoofs.items():
            if part.count >= t.spoof_min:
                out.append(part.finding(
                    "spoof", addr, 2.0 + math.log2(part.count),
                    f"{part.count} host name/address mismatch warnings"))
        out.sort(key=lambda f: (-f.score, f.first.ts, f.kind, f.remote))
        return out

    def _bar(self, values: list[int], hosts: int, floor: int) -> tuple[int, str]:
        """The count a host needs to stand out: `floor`; but among >= _POPULATION hosts,
        if more than _COMMON of them reach it (`values`: the counts of those that have any),
        twice what all but the busiest _COMMON reach; with the words saying so."""
        if hosts < _POPULATION or len(values) <= _COMMON * hosts:
            return floor, ""
        values = sorted(values)
        rank = int(hosts * (1 - _COMMON)) - (hosts - len(values))  # among the zeros' tail
        typical = values[max(0, min(len(values) - 1, rank))]
        if typical < floor:
            return floor, ""
        return 2 * typical, "; twice what the busiest 2% of hosts here do"

    def _persistent(self) -> list[Finding]:
        """Hosts that keep coming back: on >= persist_days days, in >= persist_visits visits.

        Score: log2(visits) weighted by how many days (days / (days + 3)), how round the
        clock (0.5 + hours of day / 24) and how refused (0.5 + 1.5 * refused share) it is: a
        refused host that returns every few hours for weeks scores high; a daily user, a
        mirror's cron job, low. Among >= 10 candidates a host must also score three times
        their median (and always >= persist_score) to be reported: ordinary regulars are
        not findings.
        """
        t = self.t
        cands: list[tuple[float, _Remote]] = []
        for r in self.remotes.values():
            if r.days < t.persist_days or r.sessions < t.persist_visits:
                continue
            hod = bin(r.hod).count("1")
            score = (math.log2(1 + r.sessions) * r.days / (r.days + 3) * (0.5 + hod / 24)
                     * (0.5 + 1.5 * r.refused / r.count))
            cands.append((score, r))
        if not cands:
            return []
        bar = t.persist_score
        if len(cands) >= 10:
            bar = max(bar, 3 * median(score for score, _ in cands))
        out = []
        for score, r in cands:
            if score < bar:
                continue
            part = _Part()
            if r.first_event is not None:
                part.add(r.first_event, t.evidence)
            ring = r.ring()
            # while no more events came than the ring holds, its oldest is the first one
            for e in ring[1:] if r.count <= r.ring_n else ring:
                part.add(e, t.evidence)
            part.count = r.count
            first_ts = r.first_event.ts if r.first_event is not None else r.last_ts
            cadence = (r.last_ts - first_ts) / max(1, r.sessions - 1)
            hod = bin(r.hod).count("1")
            out.append(part.finding(
                "persistent", r.name, score,
                f"back on {r.days} days, {r.sessions} visits at {hod} hours of the day, "
                f"about every {_dur(round(cadence))}; {r.refused}/{r.count} refused",
                names=r.aliases()))
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
                merged.evidence.extend(part.evidence)
                merged.count += part.count
                merged.locals.update(part.locals)
                merged.services.update(part.services)
                if part.first is not None and (merged.first is None
                                               or part.first.ts < merged.first.ts):
                    merged.first = part.first
                if part.last is not None and (merged.last is None
                                              or part.last.ts > merged.last.ts):
                    merged.last = part.last
            merged.evidence.sort(key=lambda item: item[0])
            del merged.evidence[self.t.evidence :]
            names = sorted(n for n, _ in parts)
            r = self.remotes.get(key)
            out.append(merged.finding(
                "rare-service", r.name if r else key, 1.5 * len(names),
                "; ".join(f"{n}: {rare[n]}" for n in names),
                names=r.aliases() if r else None))
        return out

    def _retry(self) -> list[Finding]:
        t = self.t
        out = []
        for (key, _local, service), rt in self.retries.items():
            if rt.count < t.retry_min or rt.intervals is None:
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
            r = self.remotes.get(key)
            part = _Part()
            for old in rt.evidence:
                part.add(old, t.evidence)
            part.count, part.last = rt.count, rt.last
            out.append(part.finding(
                "retry", r.name if r else key, 1.0 + 2.0 * math.log2(1 + len(good) / 3),
                f"{rt.count} refused {service} connections, one every {period:g} s",
                period=period, names=r.aliases() if r else None))
        return out


def _dur(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {seconds % 60:g} s"
    return f"{seconds:g} s"


@dataclass(slots=True)
class Suspect:
    """One remote host (or domain/address) with all its findings; score is their sum."""

    remote: str
    score: float
    findings: list[Finding]


def rank(findings: list[Finding]) -> list[Suspect]:
    """Group findings by remote (case-insensitive), highest total score first.

    A suspect's score sums, per kind of finding, the best one's score plus half a point per
    doubling of their number: ten bursts say more than one, but not ten times more.
    """
    groups: dict[str, Suspect] = {}
    for f in findings:
        s = groups.get(f.remote.lower())
        if s is None:
            s = groups[f.remote.lower()] = Suspect(f.remote, 0.0, [])
        s.findings.append(f)
    for s in groups.values():
        best: dict[str, float] = {}
        count: dict[str, int] = {}
        for f in s.findings:
            best[f.kind] = max(best.get(f.kind, 0.0), f.score)
            count[f.kind] = count.get(f.kind, 0) + 1
        s.score = round(sum(best[k] + 0.5 * math.log2(count[k]) for k in best), 2)
    return sorted(groups.values(), key=lambda s: (-s.score, s.findings[0].first.ts, s.remote))


def _settle(r: _Remote) -> None:
    """File the remote's finished burst among its largest _MAX_BURSTS."""
    b = r.burst
    if b is None:
        return
    bursts = r.bursts
    if bursts is not None and any(x is b for x in bursts):
        return  # filed already (findings() settles too, and the burst may go on)
    if bursts is None:
        r.bursts = [b]
    elif len(bursts) < _MAX_BURSTS:
        bursts.append(b)
    else:
        i = min(range(len(bursts)), key=lambda k: bursts[k].count)
        if b.count > bursts[i].count:
            bursts[i] = b


def _spread_score(reached: int, needed: int) -> float:
    return 1.5 * (1.0 + math.log2(reached / needed))
