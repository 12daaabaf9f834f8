"""A real redis-server (Debian's) for the fleet tests, on a loopback port of the test world.

What it does: `RedisServer(directory)` runs `redis-server` in the foreground on 127.0.0.1 at a
free port, with its data in `directory` (append-only file on, so a restart keeps the bans,
as a production Redis with persistence would); `stop()` kills it (SIGKILL: an outage, not a
shutdown) and `start()` brings it back on the same port. `url` is its redis:// URL.

Hazards: loopback only; every wait is bounded; the process is always killed by `close()`.
Errors: a server that does not come up raises RuntimeError with its log.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        argv = [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"redis-server did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def command(self, *args: str | bytes) -> bytes:
        """One command over RESP (for tests that write hostile data directly)."""
        parts = [a if isinstance(a, bytes) else a.encode() for a in args]
        request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request)
            return sock.recv(65536)

    def close(self) -> None:
        self.stop()
