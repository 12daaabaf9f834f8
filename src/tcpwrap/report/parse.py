"""One log line → one `Event` (or nothing): the formats tcpd, xinetd, inetd, the classic daemons
and tcpwrap write, in the envelopes syslogd, collectors and journald store them in.

What it does: `SourceParser.events(lines)` turns the lines of one input source into Events.
Envelopes: classic syslog (RFC 3164 as syslogd writes files: the paper's
`May 21 14:06:53 tuegate: systatd: connect from monk.rutgers.edu`, today's
`Nov 27 01:02:03 host in.fingerd[123]: connect from a.b (1.2.3.4)`, the day also unpadded
`Sep 4 ...`), Solaris's `[ID 317013 daemon.notice]` tag before the message, a cluster
collector's prefix (`- 1131566503 2005.11.09 node Nov 9 12:01:43 src@node prog: ...`), stamps
with year and zone (`2005 Jun 17 07:07:00 EDT host prog: ...`), ISO-8601 stamps, RFC 5424,
`journalctl -o json` and tcpwrap's JSON lines (`tcpwrap.proto.logrecord`).
Messages: tcpd's `connect from`, `refused connect from`, `twist ... to ...` and the
`host name/address mismatch` warning (docs/wrapper.md); postfix's `name[addr]`;
xinetd's `START:`/`FAIL:`/`libwrap refused connection`/`EXIT:` (joined into one record per
connection, see `_Open`); inetd's `svc from addr` and its `-t` trace `svc[pid] from addr port`;
the classic daemons' own lines (`ftpd: connection from ADDR (NAME) at <date>`, rshd/rlogind
`Connection from ADDR on illegal port` (a refusal), `Connect(ion) from ...` of rexecd, klogind
and the like). A well-formed line with some other message counts as "other" (by program), as do
syslogd's own lines (restart, `-- MARK --`, `last message repeated N times`) and blank lines; a
line in no known envelope counts as unparsed, grouped by shape.

Hazards: the input is hostile. Nothing here raises on any input: every failure becomes "other" or
"unparsed" in `Stats`. The hot path is the classic `connect from` line: a substring pre-check
selects one anchored regular expression, time stamps are cached per minute, and service names
per program name; keep it that way when changing it (see benchmarks/report_bench.py). xinetd
records are held back until their connection is complete (at most `_HOLD` seconds of log time
and `_MAX_HELD` events): events of one source still come out in line order.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

from tcpwrap.proto.logrecord import ConnectionRecord, LogRecordError
from tcpwrap.report.model import CONNECT, NOT_A_HOST, REFUSED, SPOOF, TWIST, Event, Stats
from tcpwrap.report.sources import MONTHS, ReportError, YearInference, Zone, parse_zone

_STAMP = r"[A-Z][a-z][a-z] [ 0-3]\d [0-2]\d:[0-5]\d:[0-6]\d"
_TAIL = r" ([^\s:\[\]]+):? ([^\s\[\]:]+)(?:\[(\d{1,10})\])?: "
# The hot path: classic stamp, host, program[pid], tcpd's (refused) connect from: the
# plain form is _STAMP + _TAIL + _CONN. Its runs of characters are written possessive (`++`):
# what a run takes is never given back, as giving back could not make the rest match (each
# run stops at the character the next part needs); the same matches, ~10 % faster. Not on
# groups (`?+`): CPython 3.11.2 then reports a wrong end() for a failed optional group.
_CONN = r"(refused )?connect from (\S+)(?: \(([^()\s]*)\))?"
_CLASSIC_CONN = re.compile(
    _STAMP + r" ([^\s:\[\]]++):? ([^\s\[\]:]++)(?:\[(\d{1,10}+)\])?: "
    r"(refused )?connect from (\S++)(?: \(([^()\s]*+)\))?"
).match
_CLASSIC = re.compile(_STAMP + _TAIL + r"(.*)", re.S).match
# a classic stamp and a host, then no program tag: syslogd's own lines ("-- MARK --",
# "last message repeated 3 times", "syslogd 1.4.1: restart.")
_CLASSIC_UNTAGGED = re.compile(_STAMP + r" ([^\s:\[\]]+):? (.*)", re.S).match
_SYSLOGD_OWN = re.compile(
    r"(?:last message repeated \d+ times?|message repeated \d+ times?|-- MARK --"
    r"|exiting on signal \d+|(?:r?syslogd|syslog-ng)\b)").match
_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*)" + _TAIL + r"(.*)", re.S).match
_RFC5424 = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) "
    r'(-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (.*))?',
    re.S,
).match
# `- 1131566503 2005.11.09 node Nov 9 12:01:43 src@node prog[pid]: ...` (cluster archives)
_COLLECTOR = re.compile(r"\S{1,40} \d{9,11} (\d{4})\.(\d\d)\.(\d\d) (\S+) (.*)", re.S).match
# `2005 Jun 17 07:07:00 EDT host prog[pid]: ...`
_YEAR_STAMP = re.compile(
    r"(\d{4}) ([A-Z][a-z][a-z]) +(\d{1,2}) ([0-2]\d):([0-5]\d):([0-6]\d) "
    r"([A-Za-z]{1,5}|[+-]\d\d:?\d\d)" + _TAIL + r"(.*)", re.S).match
_SOLARIS_ID = re.compile(r"\[ID \d{1,10} [a-z0-9]{1,10}\.[a-z]{1,10}\] ?").match

_MSG_CONN = re.compile(_CONN).match
_MSG_TWIST = re.compile(r"twist (\S+) to ").match
_MSG_MISMATCH = re.compile(r"host name/address mismatch: (\S+) != (\S+)").search
# The classic daemons' own lines: ftpd's "connection from ADDR (NAME) at <date>", rshd's and
# rlogind's "Connection from ADDR on illegal port", "Connect from ..." of rexecd, klogind, ...
_DAEMON_CONN = re.compile(
    r"[Cc]onnect(?:ion)? from ([\w.:%@\-]{1,255}(?:\[[0-9A-Fa-f.:]{1,64}\])?)"
    r"(?: \(([\w.:%\-]{0,255})\))?(?: port \d{1,5})?"
    r"( on illegal port| on \S+ port \d{1,5})?"
    r"(?: at \w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}))?\s*$").match
_POSTFIX = re.compile(r"(.*)\[([0-9A-Fa-f.:]{1,64})\]").fullmatch
_XINETD_START = re.compile(r"START: (\S+) (?:pid=(\d{1,10}) )?.*?from=(\S+)").match
_XINETD_FAIL = re.compile(r"FAIL: (\S+) .*?from=(\S+)").match
_XINETD_LIBWRAP = re.compile(r"libwrap refused connection to (\S+) .*?from (\S+)").match
_XINETD_EXIT = re.compile(
    r"EXIT: (\S+) (?:.*?)pid=(\d{1,10})(?: duration=(\d{1,10})\(sec\))?").match
_INETD = re.compile(r"([^\s\[\]]+)(?:\[(\d{1,10})\])? from (\S+)(?: \d{1,5})?$").match

_BAD = (0.0, 0, -1)  # cached result for a time stamp that names no real minute

# Zone abbreviations of `YEAR Mon DD HH:MM:SS ZONE` stamps that mean one offset; any other
# abbreviation is read in the source's zone.
_ABBREV = {"UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
           "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "MET": 1,
           "MEST": 2, "EET": 2, "EEST": 3, "WET": 0, "WEST": 1, "BST": 1, "JST": 9}

_HOLD = 120.0  # seconds of log time an xinetd record waits for the rest of its connection
_MAX_HELD = 4096  # events held back behind an incomplete xinetd record, at most

# (kind, client, addr) from a message, or None for "not a connection record"
Parsed = tuple[str, str, str | None]


def service_name(program: str) -> str:
    """`in.fingerd` → `finger`, `systatd` → `systat`, `/usr/sbin/in.tftpd` → `tftp`."""
    name = program.rsplit("/", 1)[-1].lower()
    name = name.removeprefix("in.")
    if len(name) > 3 and name.endswith("d"):
        name = name[:-1]
    return name or "?"


def _unmap(addr: str) -> str:
    """`::ffff:192.0.2.1` → `192.0.2.1` (the same IPv4 host, seen through an IPv6 socket)."""
    if addr[:7].lower() == "::ffff:" and "." in addr:
        return addr[7:]
    return addr


def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _client(client: str, addr: str | None) -> tuple[str, str | None]:
    """(name or address, address) from what a message names: postfix's `name[addr]` gives
    the address; `unknown` with an address is that address."""
    if client[-1:] == "]":
        m = _POSTFIX(client)
        if m is not None:
            name, addr = m.group(1), m.group(2)
            client = name if name and name.lower() not in NOT_A_HOST else addr
    if addr is not None:
        addr = _unmap(addr).lower()
        if not addr or addr in NOT_A_HOST:
            addr = None
    if addr is None and is_address(_unmap(client)):
        addr = _unmap(client).lower()
    if client.lower() in NOT_A_HOST and addr is not None:
        client = addr
    return _unmap(client), addr


def tcpd_message(msg: str) -> Parsed | None:
    """Parse what tcpd (or libwrap) logs; None if it is not a record we use."""
    m = _MSG_CONN(msg)
    if m is not None:
        refused, client, addr = m.groups()
        return (REFUSED if refused else CONNECT), client, addr
    if msg.startswith("twist "):
        t = _MSG_TWIST(msg)
        if t is not None:
            return TWIST, t.group(1), None
        return None
    if msg.startswith("warning: "):
        w = _MSG_MISMATCH(msg)
        if w is not None:
            return SPOOF, w.group(1), w.group(1)
    return None


def daemon_message(msg: str) -> tuple[str, str, str | None, tuple[str, ...] | None] | None:
    """(kind, client, addr, (mon, day, hh, mm, ss, year) or None) of a classic daemon's own
    connection line; the date is ftpd's `at Fri Jun 17 07:07:00 2005`."""
    m = _DAEMON_CONN(msg)
    if m is None:
        return None
    first, second, tail, *date = m.groups()
    kind = REFUSED if tail == " on illegal port" else CONNECT
    client, addr = first, None
    if second is not None:
        # tcpd writes NAME (ADDR), ftpd ADDR (NAME); an empty name is "()"
        if is_address(_unmap(first)):
            addr, client = first, second or first
        else:
            addr = second or None
    return kind, client, addr, (tuple(date) if date[0] is not None else None)


def xinetd_message(msg: str) -> tuple[str, str, str] | None:
    """(kind, service, address) from xinetd's log_on_success/log_on_failure records."""
    m = _XINETD_START(msg)
    if m is not None:
        return CONNECT, m.group(1), m.group(3)
    m = _XINETD_FAIL(msg) or _XINETD_LIBWRAP(msg)
    if m is not None:
        return REFUSED, m.group(1), m.group(2)
    return None


class _Open:
    """One xinetd connection being assembled: START (pid=N, from the parent), then maybe
    `libwrap refused connection` and `FAIL: svc libwrap` (logged by the child, xinetd[N]),
    then `EXIT: svc pid=N duration=D` (the parent). Released as one Event when EXIT comes,
    or when the log has gone `_HOLD` seconds on."""

    __slots__ = ("closed", "event", "key", "kind", "service")

    def __init__(self, key: tuple[str, int], event: Event) -> None:
        self.key = key
        self.event = event
        self.kind = event.kind
        self.closed = False
        # xinetd's service id as START/FAIL named it: a refusal of another service from the
        # same pid (a reused pid) is another connection
        self.service = event.daemon


class SourceParser:
    """Parses the lines of one source; keeps that source's year, zone and caches.

    `host_zones` gives the zone of some local hosts' lines (`--tz HOST=ZONE`); the others are
    read in `zone`.
    """

    def __init__(
        self, src: int, name: str, years: YearInference, zone: Zone, stats: Stats,
        host_zones: dict[str, Zone] | None = None,
    ) -> None:
        self.src = src
        self.name = name
        self.years = years
        self.zone = zone
        self.stats = stats
        self.host_zones = host_zones or {}
        self._stamps: dict[str, tuple[float, int, int]] = {}
        self._zone_stamps: dict[int, dict[str, tuple[float, int, int]]] = {}
        self._programs: dict[str, tuple[str, str]] = {}  # program -> (service, daemon)
        self._hosts: dict[str, str] = {}  # one string object per local host name
        self._held: deque[Event | _Open] = deque()
        self._open: dict[tuple[str, int], _Open] = {}

    # -- the hot loop -------------------------------------------------------------------------
    def events(self, lines: Iterable[str | None]) -> Iterator[Event]:
        stats = self.stats
        src = self.src
        stamps = self._stamps
        programs = self._programs
        hosts = self._hosts
        host_zones = self.host_zones
        held = self._held
        classic_conn = _CLASSIC_CONN
        stamp_of = self._stamp
        slow = self._slow
        release = self._release
        new = tuple.__new__
        lineno = 0
        n_events = 0
        try:
            for line in lines:
                lineno += 1
                if line is None:
                    stats.unparsed_line(self.name, lineno, "(line too long)")
                    continue
                if "connect from " in line:
                    m = classic_conn(line)
                    if m is not None:
                        host, prog, pid, refused, client, addr = m.groups()
                        host = hosts.get(host) or self._host(host)
                        cached = None if host_zones and host in host_zones else stamps.get(
                            line[:12])
                        if cached is not None:
                            t = cached
                        elif host_zones and host in host_zones:
                            t = _BAD  # a host with a zone of its own: the slow path
                        else:
                            t = stamp_of(line)
                        if t[2] >= 0 and client[-1] != "]":
                            names = programs.get(prog)
                            if names is None:
                                names = self._program(prog)
                            user = None
                            if "@" in client:
                                user, _, client = client.rpartition("@")
                                if not client:
                                    client = addr or user
                            if client[:1] == ":":
                                client = _unmap(client)
                            if addr is not None and (":" in addr or addr == "unknown"):
                                addr = _unmap(addr).lower() if addr != "unknown" else None
                            elif addr is None and client[-1:].isdigit() and is_address(client):
                                addr = client
                            if client == "unknown" and addr is not None:
                                client = addr
                            event = new(Event, (
                                t[0] + int(line[13:15]),
                                src,
                                lineno,
                                t[1],
                                t[2],
                                host,
                                names[0],
                                int(pid) if pid else -1,
                                REFUSED if refused else CONNECT,
                                client,
                                addr,
                                user,
                                line,
                                names[1],
                                None,
                            ))
                            if held:
                                if not (pid and self._absorb(event)):
                                    held.append(event)
                                for out in release(event[0]):
                                    n_events += 1
                                    yield out
                            else:
                                n_events += 1
                                yield event
                            continue
                other = slow(line, lineno)
                if other is not None:
                    if not held:
                        n_events += 1
                        yield other
                        continue
                    if not (other.pid >= 0 and self._absorb(other)):
                        held.append(other)
                if held:
                    for out in release(self._now if other is None else other[0]):
                        n_events += 1
                        yield out
            for out in release(None):
                n_events += 1
                yield out
        finally:
            stats.lines += lineno
            stats.events += n_events

    # -- xinetd: one record per connection ----------------------------------------------------
    _now = 0.0  # time of the last xinetd record, for releasing held events

    def _release(self, now: float | None) -> list[Event]:
        """The held events that can go: everything before the first xinetd record still
        waiting for the rest of its connection (all of them when `now` is None: the end)."""
        held = self._held
        out: list[Event] = []
        while held:
            item = held[0]
            if type(item) is _Open:
                if (now is not None and not item.closed and now - item.event[0] <= _HOLD
                        and len(held) <= _MAX_HELD):
                    break
                if self._open.get(item.key) is item:
                    del self._open[item.key]
                e = item.event
                out.append(e if e.kind == item.kind else e._replace(kind=item.kind))
                held.popleft()
            else:
                out.append(held.popleft())  # type: ignore[arg-type]
        return out

    def _xinetd(self, ts: float, off: int, hour: int, host: str, pid: str | None, msg: str,
                line: str, lineno: int) -> Event | None:
        """Join xinetd's records of one connection (by local host, pid and time)."""
        self._now = ts
        m = _XINETD_START(msg)
        if m is not None:
            service, cpid, addr = m.groups()
            event = self._event(ts, off, hour, host, service, cpid, CONNECT, addr, addr, line,
                                lineno)
            if cpid is None:
                return event  # no pid logged: nothing to join it with
            self._hold((host, int(cpid)), event)
            return None
        m = _XINETD_FAIL(msg) or _XINETD_LIBWRAP(msg)
        if m is not None:
            service, addr = m.groups()
            key = (host, int(pid)) if pid and pid.isdigit() and len(pid) < 11 else None
            o = self._open.get(key) if key is not None else None
            if (o is not None and o.service == service and o.event.addr == _unmap(addr)
                    and ts - o.event[0] <= _HOLD):
                o.kind = REFUSED  # the child's refusal of the connection START announced
                return None
            event = self._event(ts, off, hour, host, service, pid, REFUSED, addr, addr, line,
                                lineno)
            if key is None:
                return event
            self._hold(key, event)
            return None
        m = _XINETD_EXIT(msg)
        if m is not None:
            o = self._open.get((host, int(m.group(2))))
            if o is not None and not o.closed:
                o.closed = True
                if m.group(3) is not None:
                    o.event = o.event._replace(duration=float(m.group(3)))
                return None
        self.stats.other_line("xinetd")
        return None

    def _absorb(self, event: Event) -> bool:
        """The wrapped daemon's own line of a connection xinetd announced (same local host,
        the pid xinetd gave, same address): it names the client; one record, not two."""
        o = self._open.get((event.local, event.pid))
        if o is None or o.closed or o.event.addr != event.addr or event.kind == SPOOF:
            return False
        o.event = o.event._replace(remote=event.remote, user=event.user, daemon=event.daemon,
                                   text=event.text)
        if event.kind != CONNECT:
            o.kind = event.kind
        return True

    def _hold(self, key: tuple[str, int], event: Event) -> None:
        o = _Open(key, event)
        old = self._open.get(key)
        if old is not None:
            old.closed = True  # pid reused: the old connection is over
        self._open[key] = o
        self._held.append(o)

    # -- helpers ------------------------------------------------------------------------------
    def _host(self, host: str) -> str:
        if len(self._hosts) > 10_000:
            self._hosts.clear()
        self._hosts[host] = host
        zones = self.stats.zones
        if host not in zones and len(zones) < 10_000:
            zone = self.host_zones.get(host, self.zone)
            zones[host] = zone.name
        return host

    def _program(self, prog: str) -> tuple[str, str]:
        if len(self._programs) > 10_000:
            self._programs.clear()
        names = self._programs[prog] = (service_name(prog), prog.rsplit("/", 1)[-1])
        return names

    def _stamp(self, line: str, zone: Zone | None = None) -> tuple[float, int, int]:
        """Epoch of the minute `Mon dd hh:mm` at the start of `line`, its offset and hour.

        An impossible date (Feb 30) gives _BAD, whose hour is -1.
        """
        if zone is None or zone is self.zone:
            zone, cache = self.zone, self._stamps
        else:
            cache = self._zone_stamps.setdefault(id(zone), {})
        key = line[:12]
        month = MONTHS.get(line[:3])
        result = _BAD
        if month is not None:
            try:
                day, hour, minute = int(line[4:6]), int(line[7:9]), int(line[10:12])
                year = self.years.year_for(month)
                base, off = zone.to_epoch(year, month, day, hour, minute)
                result = (base, off, hour)
            except (ValueError, OverflowError):
                result = _BAD
        if len(cache) > 50_000:
            cache.clear()
        cache[key] = result
        return result

    def _slow(self, line: str, lineno: int) -> Event | None:
        """Every format but the hot one. Counts "other"/"unparsed" itself."""
        first = line[:1]
        if first == "{":
            return self._json(line, lineno)
        if first == "<":
            return self._rfc5424(line, lineno)
        if not line.strip():
            self.stats.other_line("(blank)")
            return None
        if first.isdigit():
            return self._digit_first(line, lineno)
        if line[3:4] == " " and line[4:5].isdigit() and line[5:6] == " ":
            # a single-digit day written with one space: `Sep 4 16:05:09 host ...`
            return self._classic(line[:4] + " " + line[4:], line, lineno)
        if line[3:4] != " " or line[:3] not in MONTHS:
            m = _COLLECTOR(line)
            if m is not None:
                return self._collector(m, line, lineno)
        return self._classic(line, line, lineno)

    def _classic(self, padded: str, line: str, lineno: int,
                 year: int | None = None, node: str | None = None) -> Event | None:
        """A classic syslog line; `padded` has its day padded to two places, `line` is the
        raw text kept as evidence. `year` when the line (or its prefix) prints one."""
        m = _CLASSIC(padded)
        if m is None:
            u = _CLASSIC_UNTAGGED(padded)
            if u is not None and self._when(padded, u.group(1), year)[2] >= 0 and (
                    _SYSLOGD_OWN(u.group(2)) or not u.group(2).strip()):
                self.stats.other_line("syslogd")
                return None
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        host, prog, pid, msg = m.groups()
        if node is not None:
            host = node
        t = self._when(padded, host, year)
        if t[2] < 0:
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        return self._message(
            t[0] + int(padded[13:15]), t[1], t[2], host, prog, pid, msg, line, lineno
        )

    def _when(self, padded: str, host: str, year: int | None) -> tuple[float, int, int]:
        zone = self.host_zones.get(host) if self.host_zones else None
        if year is not None:
            month = MONTHS.get(padded[:3])
            if month is None:
                return _BAD
            try:
                self.years.observe(year, month)
                base, off = (zone or self.zone).to_epoch(
                    year, month, int(padded[4:6]), int(padded[7:9]), int(padded[10:12]))
            except (ValueError, OverflowError):
                return _BAD
            return base, off, int(padded[7:9])
        if zone is None:
            t = self._stamps.get(padded[:12])
            return t if t is not None else self._stamp(padded)
        return self._stamp(padded, zone)

    def _collector(self, m: re.Match[str], line: str, lineno: int) -> Event | None:
        """`- 1131566503 2005.11.09 node Nov 9 12:01:43 src@node prog: ...`: the collector's
        date gives the year, its node field the local host."""
        year, _month, _day, node, rest = m.groups()
        if rest[3:4] == " " and rest[4:5].isdigit() and rest[5:6] == " ":
            rest = rest[:4] + " " + rest[4:]
        return self._classic(rest, line, lineno, int(year), node)

    def _digit_first(self, line: str, lineno: int) -> Event | None:
        if line[4:5] == "-":
            m = _ISO(line)
            if m is not None:
                stamp, host, prog, pid, msg = m.groups()
                when = self._iso(stamp, host)
                if when is None:
                    self.stats.unparsed_line(self.name, lineno, line)
                    return None
                return self._message(*when, host, prog, pid, msg, line, lineno)
        y = _YEAR_STAMP(line)
        if y is not None:
            year, mon, day, hh, mm, ss, zname, host, prog, pid, msg = y.groups()
            month = MONTHS.get(mon)
            hours = _ABBREV.get(zname.upper())
            try:
                if month is None:
                    raise ValueError(mon)
                tz = (parse_zone(zname) if zname[0] in "+-" else
                      timezone(timedelta(hours=hours)) if hours is not None else None)
                if tz is not None:
                    dt = datetime(int(year), month, int(day), int(hh), int(mm), int(ss),
                                  tzinfo=tz)
                    delta = dt.utcoffset()
                    when = (dt.timestamp(), int(delta.total_seconds()) if delta else 0, int(hh))
                else:  # a zone name that means nothing sure: the source's (or host's) zone
                    zone = self.host_zones.get(host, self.zone)
                    base, off = zone.to_epoch(int(year), month, int(day), int(hh), int(mm))
                    when = (base + int(ss), off, int(hh))
            except (ValueError, OverflowError, ReportError):
                self.stats.unparsed_line(self.name, lineno, line)
                return None
            return self._message(*when, host, prog, pid, msg, line, lineno)
        self.stats.unparsed_line(self.name, lineno, line)
        return None

    def _iso(self, stamp: str, host: str | None = None) -> tuple[float, int, int] | None:
        try:
            dt = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        delta = dt.utcoffset()
        if delta is None:
            # No offset written: the wall clock is in this source's (or host's) zone.
            zone = self.host_zones.get(host, self.zone) if host is not None else self.zone
            try:
                ts, off = zone.to_epoch(dt.year, dt.month, dt.day, dt.hour, dt.minute)
            except (ValueError, OverflowError):
                return None
            return ts + dt.second + dt.microsecond / 1e6, off, dt.hour
        try:
            return dt.timestamp(), int(delta.total_seconds()), dt.hour
        except (ValueError, OverflowError):
            return None

    def _message(
        self,
        ts: float,
        off: int,
        hour: int,
        host: str,
        prog: str,
        pid: str | None,
        msg: str,
        line: str,
        lineno: int,
    ) -> Event | None:
        base = prog.rsplit("/", 1)[-1]
        if msg[:4] == "[ID ":
            s = _SOLARIS_ID(msg)
            if s is not None:
                msg = msg[s.end():]
        if base == "xinetd":
            return self._xinetd(ts, off, hour, host, pid, msg, line, lineno)
        if base == "inetd":
            i = _INETD(msg)
            if i is None:
                self.stats.other_line(base)
                return None
            return self._event(ts, off, hour, host, i.group(1), i.group(2), CONNECT,
                               i.group(3), i.group(3), line, lineno)
        parsed = tcpd_message(msg)
        if parsed is not None:
            kind, client, addr = parsed
            return self._event(ts, off, hour, host, prog, pid, kind, client, addr, line,
                               lineno)
        d = daemon_message(msg) if "onnect" in msg else None
        if d is not None:
            kind, client, addr, date = d
            if date is not None:
                # ftpd prints the year: trust it over the inferred one
                month = MONTHS.get(date[0])
                if month is not None:
                    try:
                        year = int(date[5])
                        self.years.observe(year, month)
                        base_ts, off = self.zone.to_epoch(year, month, int(date[1]),
                                                          int(date[2]), int(date[3]))
                        ts, hour = base_ts + int(date[4]), int(date[2])
                    except (ValueError, OverflowError):
                        pass
            return self._event(ts, off, hour, host, prog, pid, kind, client, addr, line,
                               lineno)
        self.stats.other_line(base[:40])
        return None

    def _event(
        self,
        ts: float,
        off: int,
        hour: int,
        host: str,
        prog: str,
        pid: str | int | None,
        kind: str,
        client: str,
        addr: str | None,
        line: str,
        lineno: int,
    ) -> Event:
        user = None
        if "@" in client:
            user, _, client = client.rpartition("@")
            if not client:
                client = addr or user
        if kind == SPOOF:  # the warning names the address
            client = addr = _unmap(client).lower()
        else:
            client, addr = _client(client, addr)
        service, daemon = self._programs.get(prog) or self._program(prog)
        if isinstance(pid, str):
            pid = int(pid) if pid.isdigit() and len(pid) < 11 else -1
        host = self._hosts.get(host) or self._host(host)
        if self.host_zones:
            zone = self.host_zones.get(host)
            if zone is not None:  # night is that host's night, whatever zone its stamp had
                off, hour = zone.offset_at(ts)
        return Event(
            ts,
            self.src,
            lineno,
            off,
            hour,
            host,
            service,
            -1 if pid is None else pid,
            kind,
            client,
            addr,
            user,
            line,
            daemon,
        )

    def _rfc5424(self, line: str, lineno: int) -> Event | None:
        m = _RFC5424(line)
        if m is None:
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        _pri, stamp, host, app, procid, _msgid, _sd, msg = m.groups()
        when = self._iso(stamp, host) if stamp != "-" else None
        if when is None:
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        msg = (msg or "").removeprefix("\ufeff")
        return self._message(*when, host, app, procid, msg, line, lineno)

    def _json(self, line: str, lineno: int) -> Event | None:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        if "__REALTIME_TIMESTAMP" in obj:
            return self._journal(obj, line, lineno)
        if "event" in obj and "time" in obj:
            return self._record(obj, line, lineno)
        self.stats.unparsed_line(self.name, lineno, line)
        return None

    def _journal(self, obj: dict[str, object], line: str, lineno: int) -> Event | None:
        """One entry of `journalctl -o json`."""
        raw_ts = obj.get("__REALTIME_TIMESTAMP")
        msg = obj.get("MESSAGE")
        if isinstance(msg, list) and len(msg) < 65536 and all(
            isinstance(b, int) and 0 <= b < 256 for b in msg
        ):
            msg = bytes(msg).decode("utf-8", "replace")
        host = obj.get("_HOSTNAME")
        ident = obj.get("SYSLOG_IDENTIFIER") or obj.get("_COMM")
        pid = obj.get("SYSLOG_PID") or obj.get("_PID")
        if not (
            isinstance(raw_ts, str)
            and raw_ts.isdigit()
            and len(raw_ts) < 20
            and isinstance(msg, str)
            and isinstance(host, str)
            and isinstance(ident, str)
        ):
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        ts = int(raw_ts) / 1e6
        off, hour = self.host_zones.get(host, self.zone).offset_at(ts)
        return self._message(
            ts, off, hour, host, ident, pid if isinstance(pid, str) else None, msg, line, lineno
        )

    def _record(self, obj: dict[str, object], line: str, lineno: int) -> Event | None:
        """One tcpwrap JSON log line."""
        try:
            rec = ConnectionRecord.from_dict(obj)
            ts = rec.time.timestamp()
        except (LogRecordError, ValueError, OverflowError):
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        delta = rec.time.utcoffset()
        off = int(delta.total_seconds()) if delta is not None else 0
        name = rec.client.name
        if name is not None and name.lower() in NOT_A_HOST:
            name = None  # tcpd's words for "no usable name", not a host
        client = name or rec.client.addr
        if rec.event == "warning":
            w = _MSG_MISMATCH(rec.message or "")
            if w is None:
                self.stats.other_line(rec.daemon[:40])
                return None
            kind, client, addr = SPOOF, w.group(1), w.group(1)
        elif rec.event == "error" or client is None:
            self.stats.other_line(rec.daemon[:40])
            return None
        else:
            # a serve trap-port hit is a refused probe of that port
            kind = {"connect": CONNECT, "refused": REFUSED, "twist": TWIST, "trap": REFUSED}[
                rec.event
            ]
            addr = rec.client.addr
        if rec.client.user and kind != SPOOF:
            client = f"{rec.client.user}@{client}"
        return self._event(ts, off, rec.time.hour, rec.host, rec.daemon, rec.pid, kind,
                           client, addr, line, lineno)
