"""Capture syslog records: a Unix datagram server standing in for syslogd on /dev/log.

What it does: `SyslogCapture(path)` binds a SOCK_DGRAM socket at `path` (normally /dev/log in
the private test namespace), reads every datagram on a background thread and parses it into a
`SyslogRecord(facility, severity, tag, pid, message)`. `records()` returns what arrived so far;
`wait_for(predicate, timeout)` blocks until a record satisfies `predicate`. Understands the
local format glibc's syslog(3) and util-linux `logger` send (`<PRI>Mmm dd hh:mm:ss tag[pid]:
msg`) and RFC 5424 (`logger --rfc5424`).

Hazards: binding /dev/log outside a private mount namespace would steal the machine's syslog:
the `syslog` fixture (tests/conftest.py) only does it inside the namespace made by
ns_enter.sh. An existing *socket* at `path` is replaced; anything else there is an error.

Errors: `wait_for` raises AssertionError listing what did arrive; a datagram that does not parse
is kept with facility/severity "?" and the raw text as message, never dropped.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
import threading
from collections.abc import Callable
from types import TracebackType
from typing import NamedTuple

FACILITIES = {
    0: "kern",
    1: "user",
    2: "mail",
    3: "daemon",
    4: "auth",
    5: "syslog",
    6: "lpr",
    7: "news",
    8: "uucp",
    9: "cron",
    10: "authpriv",
    11: "ftp",
    **{16 + i: f"local{i}" for i in range(8)},
}
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_PRI = re.compile(rb"<(\d{1,3})>")
_BSD_TIME = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ")
_TAG = re.compile(r"([^\s\[\]:]+)(?:\[(\d+)\])?: ?(.*)", re.DOTALL)
_RFC5424 = re.compile(rb"1 \S+ \S+ (\S+) (\S+) \S+ (?:-|(?:\[.*?\])+) ?(.*)", re.DOTALL)


class SyslogRecord(NamedTuple):
    """One parsed syslog datagram."""

    facility: str  # "user", "daemon", "local0", ... ("?" if unparsable)
    severity: str  # "err", "debug", ...
    tag: str  # program name as sent ("in.fingerd", "tcpdmatch"); "" when absent
    pid: int | None
    message: str

    def line(self) -> str:
        """The record as the conformance files write it: `syslog(user.err) tag[PID]: msg`."""
        who = self.tag + ("[PID]" if self.pid is not None else "")
        return f"syslog({self.facility}.{self.severity}) {who}: {self.message}"


def parse_record(data: bytes) -> SyslogRecord:
    """Parse one datagram (pure); unknown shapes come back with facility "?"."""
    data = data.rstrip(b"\0").rstrip(b"\n")
    m = _PRI.match(data)
    if m is None or int(m.group(1)) > 191:
        return SyslogRecord("?", "?", "", None, data.decode("utf-8", "replace"))
    pri = int(m.group(1))
    facility = FACILITIES.get(pri >> 3, str(pri >> 3))
    severity = SEVERITIES[pri & 7]
    rest = data[m.end() :]
    m5 = _RFC5424.fullmatch(rest)
    if m5 is not None:
        app, procid, msg = (g.decode("utf-8", "replace") for g in m5.groups())
        return SyslogRecord(
            facility,
            severity,
            "" if app == "-" else app,
            int(procid) if procid.isdigit() else None,
            msg.removeprefix("\ufeff"),
        )
    mt = _BSD_TIME.match(rest)
    if mt is not None:
        rest = rest[mt.end() :]
    text = rest.decode("utf-8", "replace")
    tm = _TAG.fullmatch(text)
    if tm is None:
        return SyslogRecord(facility, severity, "", None, text)
    tag, pid, msg = tm.groups()
    return SyslogRecord(facility, severity, tag, int(pid) if pid else None, msg)


class SyslogCapture:
    """A /dev/log stand-in; use as a context manager or call start()/stop()."""

    def __init__(self, path: str = "/dev/log") -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._raw: list[bytes] = []
        self._records: list[SyslogRecord] = []

    def start(self) -> SyslogCapture:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise RuntimeError(f"{self.path} exists and is not a socket; not replacing it")
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(self.path)
        os.chmod(self.path, 0o666)  # anyone may log, as with syslogd
        sock.settimeout(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="syslog-capture", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data = self._sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return
            rec = parse_record(data)
            with self._cond:
                self._raw.append(data)
                self._records.append(rec)
                self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self._sock = None

    def __enter__(self) -> SyslogCapture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def records(self) -> list[SyslogRecord]:
        """Every record received so far, in arrival order."""
        with self._cond:
            return list(self._records)

    def raw(self) -> list[bytes]:
        """The datagrams exactly as received."""
        with self._cond:
            return list(self._raw)

    def lines(self) -> list[str]:
        """`records()` in the conformance files' notation (see SyslogRecord.line)."""
        return [r.line() for r in self.records()]

    def clear(self) -> None:
        with self._cond:
            self._raw.clear()
            self._records.clear()

    def wait_for(
        self, predicate: Callable[[SyslogRecord], bool], timeout: float = 5.0
    ) -> SyslogRecord:
        """The first record (already received or arriving within `timeout`) matching."""
        found: list[SyslogRecord] = []

        def match() -> bool:
            found[:] = [r for r in self._records if predicate(r)][:1]
            return bool(found)

        with self._cond:
            if self._cond.wait_for(match, timeout):
                return found[0]
            got = "\n  ".join(r.line() for r in self._records) or "(nothing)"
        raise AssertionError(f"no matching syslog record within {timeout}s; received:\n  {got}")

    def wait_for_count(self, n: int, timeout: float = 5.0) -> list[SyslogRecord]:
        """Wait until at least `n` records arrived; return them all."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._records) >= n, timeout):
                return list(self._records)
            got = len(self._records)
        raise AssertionError(f"expected {n} syslog records within {timeout}s, got {got}")
