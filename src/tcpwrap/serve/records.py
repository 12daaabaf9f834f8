"""Where `tcpwrap serve` writes its records: classic syslog, stdout, JSON lines; and the
aggregation that keeps a flood's records bounded without dropping them.

What it does: `SyslogWriter` sends each record to /dev/log as glibc's syslog(3) formats it
(`<PRI>Mmm dd hh:mm:ss ident[pid]: message`), with the ident of the daemon the record is about
(`in.fingerd[1234]: connect from ...`), so serve's records are byte for byte tcpd's, pid and
time aside. `StdoutWriter` prints the same record as syslogd would store it. `JsonWriter`
appends one JSON object per line (`proto.logrecord.ConnectionRecord`) to a file, reopened on
reload (log rotation). `Repeats` counts records that repeat (the same refusal reason for the
same source): the first is written at once, the rest are summed and written as one summary per
interval, so a flood of thousands of connections a second costs a few lines, and every
connection is still counted.

Hazards: messages carry network text (names, ident users) that was sanitised where tcpd
sanitises; it is sent as data, never as a format. Writing never blocks the loop: /dev/log is
a non-blocking datagram socket; when syslogd is slow, records wait in a bounded queue, and
what overflows it is counted and reported once the queue drains. /dev/log may come and go
(syslogd restarts): the socket is reconnected.
Errors: nothing raised; write failures are counted (`lost`) and reported on stderr once.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from tcpwrap.drivers.oserror import strerror
from tcpwrap.policy.options import Priority

DEV_LOG = "/dev/log"
QUEUE_LIMIT = 10_000


def priority_code(priority: Priority, facility: int) -> int:
    """facility << 3 | level; a `severity` option's own facility wins."""
    fac = facility if priority.facility is None else priority.facility
    return (fac << 3) | priority.level


def _stamp(now: float) -> str:
    return time.strftime("%b %e %H:%M:%S", time.localtime(now))


def _encode(message: str) -> bytes:
    return message.encode("utf-8", "backslashreplace")


class SyslogWriter:
    """Records to /dev/log in glibc's local format (see the module docstring)."""

    def __init__(
        self,
        path: str = DEV_LOG,
        add_writer: Callable[..., object] | None = None,
        remove_writer: Callable[[int], object] | None = None,
    ) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._queue: deque[bytes] = deque()
        self._add_writer = add_writer
        self._remove_writer = remove_writer
        self._watching = False
        self.lost = 0
        self._told_lost = 0

    def _connect(self) -> socket.socket | None:
        if self._sock is not None:
            return self._sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            return None
        self._sock = sock
        return sock

    def write(self, code: int, ident: str, pid: int, message: str, now: float) -> None:
        data = f"<{code}>{_stamp(now)} {ident}[{pid}]: ".encode() + _encode(message)
        if self._queue:
            self._enqueue(data)
            return
        if not self._send(data):
            self._enqueue(data)

    def _send(self, data: bytes) -> bool:
        """True when sent or hopeless (counted as lost); False: try again later."""
        for _attempt in range(2):
            sock = self._connect()
            if sock is None:
                self.lost += 1
                return True
            try:
                sock.send(data)
                return True
            except BlockingIOError:
                return False
            except OSError:
                self._close()  # syslogd went away: reconnect once
        self.lost += 1
        return True

    def _enqueue(self, data: bytes) -> None:
        if len(self._queue) >= QUEUE_LIMIT:
            self.lost += 1
            return
        self._queue.append(data)
        sock = self._sock
        if not self._watching and sock is not None and self._add_writer is not None:
            self._watching = True
            self._add_writer(sock.fileno(), self._drain)

    def _drain(self) -> None:
        while self._queue:
            if not self._send(self._queue[0]):
                return
            self._queue.popleft()
        if self._watching and self._sock is not None and self._remove_writer is not None:
            self._remove_writer(self._sock.fileno())
        self._watching = False
        if self.lost > self._told_lost:
            sys.stderr.write(f"tcpwrap serve: {self.lost - self._told_lost} syslog records lost\n")
            self._told_lost = self.lost

    def _close(self) -> None:
        if self._sock is not None:
            if self._watching and self._remove_writer is not None:
                self._remove_writer(self._sock.fileno())
                self._watching = False
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        self._drain()
        self._close()


class StdoutWriter:
    """The records as syslogd stores them, on stdout (the demo; debugging)."""

    def __init__(self) -> None:
        self.host = socket.gethostname().split(".")[0]

    def write(self, code: int, ident: str, pid: int, message: str, now: float) -> None:
        line = f"{_stamp(now)} {self.host} {ident}[{pid}]: {message}\n"
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass


class JsonWriter:
    """JSON lines appended to a file (one write per record; O_APPEND)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self.failures = 0
        self.last_error = ""  # strerror of the last failure

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(
                    self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640
                )
            except OSError as exc:
                self._complain(exc)
                return None
        return self._fd

    def _complain(self, exc: OSError) -> None:
        self.failures += 1
        self.last_error = strerror(exc)
        if self.failures == 1 or self.failures % 1000 == 0:
            sys.stderr.write(f"tcpwrap serve: json log {self.path}: {exc.strerror or exc}\n")

    def write(self, line: str) -> None:
        fd = self._open()
        if fd is None:
            return
        data = (line.replace("\n", " ") + "\n").encode("utf-8", "backslashreplace")
        try:
            os.write(fd, data)
        except OSError as exc:
            self._complain(exc)

    def reopen(self) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class _Count:
    first: float
    count: int = 0  # repeats since the last summary (the first record is not counted)
    sample: object = None


class Repeats:
    """First record of a kind at once; then a count per interval (see the module docstring)."""

    def __init__(self, interval: float, limit: int = 100_000) -> None:
        self.interval = interval
        self.limit = limit
        self._counts: dict[tuple[str, ...], _Count] = {}

    def first(self, key: tuple[str, ...], now: float, sample: object = None) -> bool:
        """True when this record should be written now; False when it is counted instead."""
        entry = self._counts.get(key)
        if entry is None:
            if len(self._counts) >= self.limit:
                return True  # too many kinds to count: write it (never lose one silently)
            self._counts[key] = _Count(now, 0, sample)
            return True
        entry.count += 1
        entry.sample = sample
        return False

    def due(self, now: float) -> list[tuple[tuple[str, ...], int, float, object]]:
        """(key, repeats, since, sample) for every kind whose interval is over; forgets quiet
        kinds, so the next record of them is written at once again."""
        out = []
        for key, entry in list(self._counts.items()):
            if now - entry.first < self.interval:
                continue
            if entry.count:
                out.append((key, entry.count, entry.first, entry.sample))
                self._counts[key] = _Count(now, 0, None)
            else:
                del self._counts[key]
        return out

    def flush(self) -> list[tuple[tuple[str, ...], int, float, object]]:
        out = [(k, e.count, e.first, e.sample) for k, e in self._counts.items() if e.count]
        self._counts.clear()
        return out
