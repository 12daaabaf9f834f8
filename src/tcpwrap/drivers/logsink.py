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

from tcpwrap.errors import Diagnostic, Kind
from tcpwrap.policy.cstr import c_bytes
from tcpwrap.policy.options import Priority

LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6,
          "debug": 7}  # fmt: skip


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
        if diag.kind is Kind.DEBUG:
            self.log(syslog.LOG_DEBUG, diag.render())
        elif diag.kind is Kind.INFO:
            self.log(syslog.LOG_INFO, diag.render())
        else:
            self.log(syslog.LOG_ERR, diag.render())

    def close(self) -> None:
        syslog.closelog()


class JsonSink:
    def __init__(self, path: str, complain: SyslogSink) -> None:
        self.path = path
        self.complain = complain

    def write(self, line: str) -> None:
        data = (line.replace("\n", " ") + "\n").encode("utf-8", "backslashreplace")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            self.complain.level(
                "err", f"warning: json log {self.path}: {os.strerror(exc.errno or 0)}"
            )
            return
        try:
            os.write(fd, data)
        except OSError as exc:
            self.complain.level(
                "err", f"warning: json log {self.path}: {os.strerror(exc.errno or 0)}"
            )
        finally:
            os.close(fd)
