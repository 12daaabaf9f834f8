"""Run an inetd-style daemon (the real `in.fingerd`) behind a tiny accept loop, for the tests.

What it does: `InetdStyle(argv, host, port)` listens on (host, port); for each connection it
starts `argv` with the accepted socket as stdin and stdout (stderr to /dev/null), the way
inetd's `nowait` services run, and reaps it. Used with `/usr/sbin/in.fingerd` so the real
Debian `finger` client has a real finger server on loopback.

Hazards: binds only where it is told (tests pass loopback addresses; port 79 needs root and a
private network namespace). Each child is killed if still running when the server stops.

Errors: a failure to start the daemon is recorded in `.errors`; the connection is closed.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Sequence
from types import TracebackType


class InetdStyle:
    def __init__(self, argv: Sequence[str], host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.argv = list(argv)
        self.errors: list[BaseException] = []
        self.connections = 0
        self._stop = threading.Event()
        self._children: list[subprocess.Popen[bytes]] = []
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(8)
        self._listener.settimeout(0.05)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> InetdStyle:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self.connections += 1
                try:
                    child = subprocess.Popen(
                        self.argv,
                        stdin=conn.fileno(),
                        stdout=conn.fileno(),
                        stderr=subprocess.DEVNULL,
                    )
                except OSError as exc:
                    self.errors.append(exc)
                    continue
                self._children.append(child)
