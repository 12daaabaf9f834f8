"""systemd's side of `tcpwrap serve`: readiness notification and socket hand-over.

What it does: `Notifier` sends sd_notify(3) messages (`READY=1`, `RELOADING=1` with
`MONOTONIC_USEC`, `STOPPING=1`, `STATUS=...`) to `$NOTIFY_SOCKET` (a path, or `@name` for the
abstract namespace), as `Type=notify` and `Type=notify-reload` units expect; without the
variable it does nothing. `passed_sockets()` takes the listening sockets systemd passes with
`Accept=no` (`$LISTEN_FDS` from fd 3, `$LISTEN_PID` = this process, `$LISTEN_FDNAMES`),
and unsets the variables so no child inherits them.

Hazards: the environment is the service manager's; every value is checked (a LISTEN_PID for
another process means the sockets are not ours). Sending never blocks (a datagram, non-
blocking) and never raises.
Errors: none raised; a socket that cannot be used comes back with its problem as text.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import MutableMapping
from dataclasses import dataclass

SD_LISTEN_FDS_START = 3
MAX_PASSED = 1024


class Notifier:
    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        target = env.pop("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if target.startswith("@"):
            self.address = "\0" + target[1:]
        elif target.startswith("/"):
            self.address = target

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto("\n".join(fields).encode("utf-8", "replace"), self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")


@dataclass(frozen=True, slots=True)
class PassedSocket:
    fd: int
    name: str  # LISTEN_FDNAMES entry ("" when none)
    sock: socket.socket | None  # None: not a usable listening socket (see problem)
    problem: str | None = None


def passed_sockets(environ: MutableMapping[str, str] | None = None) -> list[PassedSocket]:
    """The sockets systemd passed to this process (`Accept=no`), in fd order."""
    env = os.environ if environ is None else environ
    pid_text = env.pop("LISTEN_PID", "")
    count_text = env.pop("LISTEN_FDS", "")
    names_text = env.pop("LISTEN_FDNAMES", "")
    if not pid_text.isdigit() or int(pid_text) != os.getpid() or not count_text.isdigit():
        return []
    count = min(int(count_text), MAX_PASSED)
    names = names_text.split(":") if names_text else []
    out: list[PassedSocket] = []
    for index in range(count):
        fd = SD_LISTEN_FDS_START + index
        name = names[index] if index < len(names) else ""
        try:
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            out.append(PassedSocket(fd, name, None, exc.strerror or str(exc)))
            continue
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            out.append(PassedSocket(fd, name, None, "not an IPv4/IPv6 socket"))
            sock.detach()
            continue
        out.append(PassedSocket(fd, name, sock))
    return out
