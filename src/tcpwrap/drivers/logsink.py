"""Where the wrapper's records go: syslog in tcpd's classic format, plus optional JSON lines.

What it does: `SyslogSink` opens syslog like tcpd (ident = daemon name, LOG_PID, facility
daemon) and writes records at tcp_wrappers' priorities; `Diagnostic`s are rendered with their
exact original text (`warning: /etc/hosts.deny, line 1: ...`). `JsonSink` appends one
`proto.logrecord.ConnectionRecord` per event to a file, in one write (O_APPEND), so concurrent
wrappers never interleave lines.

Hazards: messages contain network-derived text (names, ident users); syslog receives it as
data (never as a format string) and JSON escapes it. Table text is logged as the bytes it was
read from (`log_bytes`), as tcpd logs it.
Errors: logging never raises: a JSON log that cannot be written is reported once to syslog.
"""

from __future__ import annotations

import os
import syslog

from tcpwrap.drivers.oserror import strerror
from tcpwrap.errors import Diagnostic
from tcpwrap.policy.cstr import c_bytes
from tcpwrap.policy.options import LEVELS, Priority


def log_bytes(priority: int, message: str) -> None:
    """syslog(priority, "%s", message) with table text as the bytes it was read from.

    Python's syslog module sends UTF-8, so a table's non-ASCII bytes (decoded one byte per
    character) would reach the log as mojibake where tcpd logs them as they are. ASCII (nearly
    every record) goes the usual way; anything else through libc's syslog with the bytes
    (`cstr.c_bytes`), after the same openlog().
    """
    if message.isascii():
        syslog.syslog(priority, message)
        return
    import ctypes  # only for records with non-ASCII text: off the wrapper's start-up path

    libc = ctypes.CDLL(None)
    libc.syslog(ctypes.c_int(priority), b"%s", c_bytes(message))


class SyslogSink:
    def __init__(self, ident: str, facility: int = syslog.LOG_DAEMON) -> None:
        self.ident = ident
        syslog.openlog(ident, syslog.LOG_PID, facility)

    def log(self, priority: int, message: str) -> None:
        log_bytes(priority, message)

    def at(self, priority: Priority, message: str) -> None:
        """A record at a `severity` option's priority (facility None = openlog's)."""
        facility = 0 if priority.facility is None else priority.facility << 3
        self.log(facility | priority.level, message)

    def level(self, name: str, message: str) -> None:
        self.log(LEVELS[name], message)

    def diagnostic(self, diag: Diagnostic) -> None:
        self.log(diag.severity, diag.render())

    def close(self) -> None:
        syslog.closelog()


class JsonSink:
    """One JSON line per record, appended in one write. The file is opened, and what a record
    is built from is imported, when the sink is made: a `user` option may drop privileges
    before the first record, to a user who can neither write the log nor read the
    interpreter's files (a Python under /root); doing either later would lose the record or
    refuse the connection."""

    def __init__(self, path: str, complain: SyslogSink) -> None:
        self.path = path
        self.complain = complain
        import datetime  # noqa: F401
        import socket  # noqa: F401

        import tcpwrap.proto.logrecord  # noqa: F401

        self.fd: int | None = None
        self.failure = ""
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            self.failure = strerror(exc)

    def write(self, line: str) -> None:
        data = (line.replace("\n", " ") + "\n").encode("utf-8", "backslashreplace")
        if self.fd is None:
            self._complain(self.failure)
            return
        try:
            os.write(self.fd, data)
        except OSError as exc:
            self._complain(strerror(exc))

    def _complain(self, reason: str) -> None:
        self.complain.level("err", f"warning: json log {self.path}: {reason}")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
