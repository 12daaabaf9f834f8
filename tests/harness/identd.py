"""A small real identd for the tests: scripted, threaded, loopback only.

What it does: `IdentServer(host, port=0, reply=...)` listens on (host, port) — port 0 picks a
free high port, read it back from `.port` — and answers each query with a scripted `Reply`:
a fixed user, an ERROR, silence, a slow answer, or arbitrary hostile bytes. `{c}` and `{s}` in
a reply are replaced by the two ports of the query, so a script can echo them correctly or
lie on purpose. Every request received is recorded in `.requests` (raw bytes, at most 1 KiB
each). Use it as a context manager; the fixture `identd` in tests/unit/drivers/conftest.py
wraps it.

Hazards: it binds only where it is told; tests must pass loopback addresses. Silent and held
connections are released when the server stops, so a test never leaves threads behind for
longer than the join timeout.

Errors: a handler error is recorded in `.errors` (and the connection closed); it never
propagates into the test thread by itself — tests that care assert on `.errors`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

MAX_REQUEST = 1024


@dataclass(frozen=True)
class Reply:
    """What the server does with one query."""

    data: bytes | None = None  # None: send nothing
    delay: float = 0.0  # seconds to wait before sending
    hold: bool = False  # keep the connection open afterwards, until the server stops
    template: bool = True  # substitute {c} and {s}
    drip: float = 0.0  # if > 0: send one byte, then wait this long, and so on

    def render(self, request: bytes) -> bytes:
        if self.data is None:
            return b""
        if not self.template:
            return self.data
        parts = request.strip().split(b",", 1)
        client = parts[0].strip() if parts else b""
        server = parts[1].strip() if len(parts) > 1 else b""
        return self.data.replace(b"{c}", client).replace(b"{s}", server)


def user(name: str | bytes, os_field: bytes = b"UNIX") -> Reply:
    raw = name.encode("latin-1") if isinstance(name, str) else name
    return Reply(b"{c} , {s} : USERID : " + os_field + b" : " + raw + b"\r\n")


def error(kind: bytes = b"NO-USER") -> Reply:
    return Reply(b"{c} , {s} : ERROR : " + kind + b"\r\n")


def silent() -> Reply:
    return Reply(None, hold=True)


def slow(seconds: float, name: str = "joe") -> Reply:
    return Reply(user(name).data, delay=seconds)


def raw(data: bytes, *, hold: bool = False, template: bool = True, drip: float = 0.0) -> Reply:
    return Reply(data, hold=hold, template=template, drip=drip)


class IdentServer:
    """A threaded identd on one address; `reply` may be changed between queries."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, reply: Reply | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.reply = reply if reply is not None else user("joe")
        self.requests: list[bytes] = []
        self.peers: list[tuple[str, int]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> IdentServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn, peer), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _read_request(self, conn: socket.socket) -> bytes:
        data = b""
        conn.settimeout(5)
        while b"\n" not in data and len(data) < MAX_REQUEST:
            chunk = conn.recv(MAX_REQUEST - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def _serve(self, conn: socket.socket, peer: tuple[str, int]) -> None:
        with conn:
            try:
                request = self._read_request(conn)
                reply = self.reply
                with self._lock:
                    self.requests.append(request)
                    self.peers.append((peer[0], peer[1]))
                if reply.delay and self._stop.wait(reply.delay):
                    return
                out = reply.render(request)
                if out and reply.drip > 0:
                    for i in range(len(out)):
                        conn.sendall(out[i : i + 1])
                        if self._stop.wait(reply.drip):
                            return
                elif out:
                    conn.sendall(out)
                if reply.hold:
                    self._stop.wait(60)
            except OSError:
                pass  # the client gave up (timeout tests): expected
            except Exception as exc:  # recorded for the test to see
                self.errors.append(exc)


@contextlib.contextmanager
def serving(host: str = "127.0.0.1", reply: Reply | None = None) -> Iterator[IdentServer]:
    """`with serving("127.0.0.1", user("joe")) as identd: ... identd.port ...`"""
    server = IdentServer(host, 0, reply)
    with server:
        yield server
