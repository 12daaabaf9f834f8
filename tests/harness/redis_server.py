"""A real redis-server (Debian's) for the fleet tests, on a loopback port of the test world.

What it does: `RedisServer(directory)` runs `redis-server` in the foreground on 127.0.0.1 at a
free port, with its data in `directory` (append-only file on, so a restart keeps the bans,
as a production Redis with persistence would); `stop()` kills it (SIGKILL: an outage, not a
shutdown) and `start()` brings it back on the same port. `url` is its redis:// URL.
`tls=True` serves TLS only (a CA and a server certificate for 127.0.0.1 made with openssl in
`directory`: `ca` is the CA file) and `password=` requires that password (`url` then is
rediss:// and carries no credentials).

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
    def __init__(self, directory: Path, *, tls: bool = False, password: str | None = None) -> None:
        self.dir = directory
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"
        self.tls = tls
        self.password = password
        self.ca = directory / "ca.crt"
        if tls:
            self._certificates()

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def _certificates(self) -> None:
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=tcpwrap test CA",
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        )
        (self.dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
        openssl(
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "1",
            "-extfile",
            "san.ext",
        )

    def _listen_args(self) -> list[str]:
        args = ["--port", str(self.port)]
        if self.tls:
            args = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                str(self.dir / "server.crt"),
                "--tls-key-file",
                str(self.dir / "server.key"),
                "--tls-ca-cert-file",
                str(self.ca),
                "--tls-auth-clients",
                "no",
            ]
        if self.password:
            args += ["--requirepass", self.password]
        return args

    def start(self) -> None:
        argv = [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            *self._listen_args(),
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
            if self.tls:  # no plain PING on a TLS port: its log says when it is ready
                if b"Ready to accept connections" in self.log.read_bytes():
                    return
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
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
        """One command over RESP (for tests that write hostile data directly; plain TCP,
        no password)."""
        parts = [a if isinstance(a, bytes) else a.encode() for a in args]
        request = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request)
            return sock.recv(65536)

    def close(self) -> None:
        self.stop()
