"""One log line → one `Event` (or nothing): the formats tcpd, xinetd, inetd and tcpwrap write.

What it does: `SourceParser.events(lines)` turns the lines of one input source into Events.
Recognised envelopes: classic syslog (RFC 3164 as syslogd writes files, both the paper's
`May 21 14:06:53 tuegate: systatd: connect from monk.rutgers.edu` and today's
`Nov 27 01:02:03 host in.fingerd[123]: connect from a.b (1.2.3.4)`), the same with an ISO-8601
time stamp (rsyslog's high-precision format), RFC 5424, `journalctl -o json` and tcpwrap's own
JSON lines (`tcpwrap.proto.logrecord`). Recognised messages: tcpd's `connect from`, `refused
connect from`, `twist ... to ...` and the `host name/address mismatch` warning (docs/wrapper.md and
Appendix A); xinetd's `START:`/`FAIL:`/`libwrap refused connection`; inetd's `svc from addr`.
A well-formed line with some other message counts as "other"; a line in no known envelope counts
as unparsed, with a few examples kept.

Hazards: the input is hostile. Nothing here raises on any input: every failure becomes "other" or
"unparsed" in `Stats`. The hot path is the classic `connect from` line: a substring pre-check
selects one anchored regular expression, time stamps are cached per minute, and service names
per program name; keep it that way when changing it (see benchmarks/report_bench.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime

from tcpwrap.policy.facts import PARANOID, UNKNOWN
from tcpwrap.proto.logrecord import ConnectionRecord, LogRecordError
from tcpwrap.report.model import CONNECT, REFUSED, SPOOF, TWIST, Event, Stats
from tcpwrap.report.sources import MONTHS, YearInference, Zone

_STAMP = r"[A-Z][a-z][a-z] [ 0-3]\d [0-2]\d:[0-5]\d:[0-6]\d"
_TAIL = r" ([^\s:\[\]]+):? ([^\s\[\]:]+)(?:\[(\d{1,10})\])?: "
# The hot path: classic stamp, host, program[pid], tcpd's (refused) connect from.
_CLASSIC_CONN = re.compile(
    _STAMP + _TAIL + r"(refused )?connect from (\S+)(?: \(([^()\s]*)\))?"
).match
_CLASSIC = re.compile(_STAMP + _TAIL + r"(.*)", re.S).match
_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*)" + _TAIL + r"(.*)", re.S).match
_RFC5424 = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) "
    r'(-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)(?: (.*))?',
    re.S,
).match

_MSG_CONN = re.compile(r"(refused )?connect from (\S+)(?: \(([^()\s]*)\))?").match
_MSG_TWIST = re.compile(r"twist (\S+) to ").match
_MSG_MISMATCH = re.compile(r"host name/address mismatch: (\S+) != (\S+)").search
_XINETD_START = re.compile(r"START: (\S+) .*?from=(\S+)").match
_XINETD_FAIL = re.compile(r"FAIL: (\S+) \S+ from=(\S+)").match
_XINETD_LIBWRAP = re.compile(r"libwrap refused connection to (\S+) .*?from (\S+)").match
_INETD = re.compile(r"(\S+) from (\S+)$").match

_BAD = (0.0, 0, -1)  # cached result for a time stamp that names no real minute

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
    if addr.startswith("::ffff:") and "." in addr:
        return addr[7:]
    return addr


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


def xinetd_message(msg: str) -> tuple[str, str, str] | None:
    """(kind, service, address) from xinetd's log_on_success/log_on_failure records."""
    m = _XINETD_START(msg)
    if m is not None:
        return CONNECT, m.group(1), m.group(2)
    m = _XINETD_FAIL(msg) or _XINETD_LIBWRAP(msg)
    if m is not None:
        return REFUSED, m.group(1), m.group(2)
    return None


class SourceParser:
    """Parses the lines of one source; keeps that source's year, zone and caches."""

    def __init__(
        self, src: int, name: str, years: YearInference, zone: Zone, stats: Stats
    ) -> None:
        self.src = src
        self.name = name
        self.years = years
        self.zone = zone
        self.stats = stats
        self._stamps: dict[str, tuple[float, int, int]] = {}
        self._services: dict[str, str] = {}
        self._hosts: dict[str, str] = {}  # one string object per local host name

    # -- the hot loop -------------------------------------------------------------------------
    def events(self, lines: Iterable[str | None]) -> Iterator[Event]:
        stats = self.stats
        src = self.src
        stamps = self._stamps
        services = self._services
        hosts = self._hosts
        classic_conn = _CLASSIC_CONN
        stamp_of = self._stamp
        slow = self._slow
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
                        t = stamps.get(line[:12])
                        if t is None:
                            t = stamp_of(line)
                        if t[2] >= 0:
                            service = services.get(prog)
                            if service is None:
                                service = self._service(prog)
                            user = None
                            if "@" in client:
                                user, _, client = client.rpartition("@")
                                if not client:
                                    client = addr or user
                            if client[:1] == ":":
                                client = _unmap(client)
                            n_events += 1
                            yield new(Event, (
                                t[0] + int(line[13:15]),
                                src,
                                lineno,
                                t[1],
                                t[2],
                                host,
                                service,
                                int(pid) if pid else -1,
                                REFUSED if refused else CONNECT,
                                client,
                                addr if addr is None or addr[0] != ":" else _unmap(addr),
                                user,
                                line,
                            ))
                            continue
                event = slow(line, lineno)
                if event is not None:
                    n_events += 1
                    yield event
        finally:
            stats.lines += lineno
            stats.events += n_events

    # -- helpers ------------------------------------------------------------------------------
    def _host(self, host: str) -> str:
        if len(self._hosts) > 10_000:
            self._hosts.clear()
        self._hosts[host] = host
        return host

    def _service(self, prog: str) -> str:
        if len(self._services) > 10_000:
            self._services.clear()
        name = self._services[prog] = service_name(prog)
        return name

    def _stamp(self, line: str) -> tuple[float, int, int]:
        """Epoch of the minute `Mon dd hh:mm` at the start of `line`, its offset and hour.

        An impossible date (Feb 30) gives _BAD, whose hour is -1.
        """
        key = line[:12]
        month = MONTHS.get(line[:3])
        result = _BAD
        if month is not None:
            try:
                day, hour, minute = int(line[4:6]), int(line[7:9]), int(line[10:12])
                year = self.years.year_for(month)
                base, off = self.zone.to_epoch(year, month, day, hour, minute)
                result = (base, off, hour)
            except (ValueError, OverflowError):
                result = _BAD
        if len(self._stamps) > 50_000:
            self._stamps.clear()
        self._stamps[key] = result
        return result

    def _slow(self, line: str, lineno: int) -> Event | None:
        """Every format but the hot one. Counts "other"/"unparsed" itself."""
        first = line[:1]
        if first == "{":
            return self._json(line, lineno)
        if first == "<":
            return self._rfc5424(line, lineno)
        m = _CLASSIC(line)
        if m is not None:
            t = self._stamps.get(line[:12])
            if t is None:
                t = self._stamp(line)
            if t[2] < 0:
                self.stats.unparsed_line(self.name, lineno, line)
                return None
            host, prog, pid, msg = m.groups()
            return self._message(
                t[0] + int(line[13:15]), t[1], t[2], host, prog, pid, msg, line, lineno
            )
        m = _ISO(line)
        if m is not None:
            stamp, host, prog, pid, msg = m.groups()
            when = self._iso(stamp)
            if when is None:
                self.stats.unparsed_line(self.name, lineno, line)
                return None
            return self._message(*when, host, prog, pid, msg, line, lineno)
        self.stats.unparsed_line(self.name, lineno, line)
        return None

    def _iso(self, stamp: str) -> tuple[float, int, int] | None:
        try:
            dt = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        delta = dt.utcoffset()
        if delta is None:
            # No offset written: the wall clock is in this source's zone.
            try:
                ts, off = self.zone.to_epoch(dt.year, dt.month, dt.day, dt.hour, dt.minute)
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
        if base == "xinetd":
            x = xinetd_message(msg)
            if x is None:
                self.stats.other += 1
                return None
            kind, service, client = x
            return self._event(ts, off, hour, host, service, None, kind, client, client,
                               line, lineno)
        if base == "inetd":
            i = _INETD(msg)
            if i is None:
                self.stats.other += 1
                return None
            return self._event(ts, off, hour, host, i.group(1), None, CONNECT, i.group(2),
                               i.group(2), line, lineno)
        parsed = tcpd_message(msg)
        if parsed is None:
            self.stats.other += 1
            return None
        kind, client, addr = parsed
        return self._event(ts, off, hour, host, prog, pid, kind, client, addr, line, lineno)

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
        service = self._services.get(prog) or self._service(prog)
        if isinstance(pid, str):
            pid = int(pid) if pid.isdigit() and len(pid) < 11 else -1
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
            _unmap(client),
            None if addr is None else _unmap(addr),
            user,
            line,
            prog.rsplit("/", 1)[-1],
        )

    def _rfc5424(self, line: str, lineno: int) -> Event | None:
        m = _RFC5424(line)
        if m is None:
            self.stats.unparsed_line(self.name, lineno, line)
            return None
        _pri, stamp, host, app, procid, _msgid, _sd, msg = m.groups()
        when = self._iso(stamp) if stamp != "-" else None
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
        off, hour = self.zone.offset_at(ts)
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
        if name is not None and name.lower() in (UNKNOWN, PARANOID):
            name = None  # tcpd's words for "no usable name", not a host
        client = name or rec.client.addr
        if rec.event == "warning":
            w = _MSG_MISMATCH(rec.message or "")
            if w is None:
                self.stats.other += 1
                return None
            kind, client, addr = SPOOF, w.group(1), w.group(1)
        elif rec.event == "error" or client is None:
            self.stats.other += 1
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
