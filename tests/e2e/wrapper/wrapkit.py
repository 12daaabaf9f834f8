"""Helpers for the wrapper's end-to-end tests: fake daemons, super-servers, clients.

What it does: builds the conformance fake daemon (`fakedaemon.c`: prints argv0, uid, gid,
groups, umask, nice and $TESTVAR) and a small UDP daemon with gcc; runs a wrapper the way inetd
does (`run_inetd_style`: the accepted TCP socket, or the bound UDP socket with a datagram
queued, on fds 0-2; like the conformance harness tcpdreal.py); runs the real openbsd-inetd
(`Inetd`) and xinetd (`Xinetd`) in the foreground with a generated configuration; and connects
clients from a chosen source address (`tcp_client`, `udp_client`).

Hazards: only for the private test namespace (ns_enter.sh): everything binds to loopback
addresses; super-servers are started as children and always stopped (SIGTERM, then SIGKILL)
with bounded waits; every blocking call has a timeout.
Errors: a super-server that does not come up raises RuntimeError with its stderr; client
timeouts are returned as data (`timed_out`), never hang a test.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.netns import CONFORMANCE_DIR

ROOT = Path(__file__).resolve().parents[3]
WRAPPER = ROOT / ".venv" / "bin" / "tcpwrap-tcpd"
CONFORMANCE = Path(CONFORMANCE_DIR)
FAKEDAEMON_C = CONFORMANCE / "fakedaemon.c"
INETD = "/usr/sbin/inetd"
XINETD = ROOT / ".cache" / "xinetd" / "usr" / "sbin" / "xinetd"
REAL_TCPD = "/usr/sbin/tcpd"

UDP_DAEMON_C = r"""
/* test helper: an inetd "wait" UDP daemon that reads one datagram and answers its sender */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
    char buf[512], out[700]; struct sockaddr_storage from; socklen_t len = sizeof from;
    ssize_t n = recvfrom(0, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
    if (n < 0) return 1;
    buf[n] = 0;
    int m = snprintf(out, sizeof out, "UDPDAEMON argv0=%s got=%s", argv[0], buf);
    sendto(0, out, m, 0, (struct sockaddr *)&from, len);
    return 0;
}
"""


def build_daemons(directory: Path) -> tuple[Path, Path]:
    """Compile the fake daemon (its side file redirected into `directory`) and the UDP daemon."""
    source = FAKEDAEMON_C.read_text().replace(
        "/tmp/harness/daemon.out", str(directory / "daemon.out")
    )
    fake_c = directory / "fakedaemon.c"
    fake_c.write_text(source)
    udp_c = directory / "udpdaemon.c"
    udp_c.write_text(UDP_DAEMON_C)
    fake, udp = directory / "fakedaemon", directory / "udpdaemon"
    for src, exe in ((fake_c, fake), (udp_c, udp)):
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(src)], check=True, timeout=60)
    return fake, udp


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _proc_listening(proto: str, host: str, port: int) -> bool:
    v6 = ":" in host
    table = f"/proc/net/{proto}{'6' if v6 else ''}"
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        local, state = fields[1], fields[3]
        if int(local.rsplit(":", 1)[1], 16) != port:
            continue
        if proto == "udp" or state == "0A":  # 0A = LISTEN
            return True
    return False


def wait_listening(proto: str, host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _proc_listening(proto, host, port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {proto} {host}:{port} after {timeout}s")


def wait_no_process(executable: Path, timeout: float = 10.0) -> None:
    """Wait until no process runs `executable` (found through /proc/*/exe)."""
    target = str(executable.resolve())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                running = os.readlink(f"/proc/{entry}/exe") == target
            except OSError:
                continue
            if running:
                break
        if not running:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{executable} still running after {timeout}s")


# ----------------------------------------------------------------------------- clients


@dataclass
class Reply:
    data: bytes
    elapsed: float
    timed_out: bool = False


def tcp_client(
    host: str, port: int, source: str, send: bytes = b"", timeout: float = 15.0
) -> Reply:
    """Connect from `source`, send `send`, read to EOF (or `timeout`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    start = time.monotonic()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect((host, port))
        if send:
            sock.sendall(send)
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except TimeoutError:
            return Reply(data, time.monotonic() - start, True)
        except ConnectionResetError:
            pass
    return Reply(data, time.monotonic() - start)


def udp_client(host: str, port: int, source: str, payload: bytes, timeout: float = 5.0) -> Reply:
    """Send one datagram from `source`; the first answer, or a timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    start = time.monotonic()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.sendto(payload, (host, port))
        sock.settimeout(timeout)
        try:
            data, _ = sock.recvfrom(4096)
        except TimeoutError:
            return Reply(b"", time.monotonic() - start, True)
    return Reply(data, time.monotonic() - start)


# ----------------------------------------------------------------------------- inetd-style run


@dataclass
class Outcome:
    """What one inetd-style run of a wrapper produced."""

    received: bytes  # what the client read until EOF (TCP)
    status: int  # exit status (negative: killed by that signal)
    elapsed: float
    queued: bytes | None = None  # UDP: the datagram still queued after the run, if any


def _spawn(
    program: str, argv: Sequence[str], fd: int, env: Mapping[str, str], cwd: str | None
) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            for target in (0, 1, 2):
                os.dup2(fd, target)
            os.closerange(3, 1024)
            if cwd:
                os.chdir(cwd)
            os.execve(program, list(argv), dict(env))
        finally:
            os._exit(127)
    return pid


def _reap(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)


def run_inetd_style(
    program: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    client: str = "127.0.0.2",
    server: str = "127.0.0.1",
    proto: str = "tcp",
    send: bytes = b"",
    server_port: int = 0,
    dual_stack: bool = False,
    timeout: float = 20.0,
) -> Outcome:
    """Exec `program` with the accepted (TCP) or bound (UDP) socket on fds 0-2, as inetd does."""
    family = socket.AF_INET6 if ":" in server or dual_stack else socket.AF_INET
    start = time.monotonic()
    if proto == "tcp":
        with socket.socket(family, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if dual_stack:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                listener.bind(("::", server_port))
                target = server
            else:
                listener.bind((server, server_port))
                target = server
            listener.listen(1)
            port = listener.getsockname()[1]
            cfamily = socket.AF_INET6 if ":" in client else socket.AF_INET
            csock = socket.socket(cfamily, socket.SOCK_STREAM)
            csock.bind((client, 0))
            csock.settimeout(timeout)
            csock.connect((target, port))
            conn, _ = listener.accept()
        with csock, conn:
            pid = _spawn(program, argv, conn.fileno(), env, None)
            conn.close()
            if send:
                csock.sendall(send)
            data = b""
            try:
                while chunk := csock.recv(4096):
                    data += chunk
            except (TimeoutError, ConnectionResetError):
                pass
            status = _reap(pid, timeout)
        return Outcome(data, status, time.monotonic() - start)
    with (
        socket.socket(family, socket.SOCK_DGRAM) as bound,
        socket.socket(family, socket.SOCK_DGRAM) as csock,
    ):
        bound.bind((server, server_port))
        port = bound.getsockname()[1]
        csock.bind((client, 0))
        csock.sendto(send or b"hello", (server, port))
        select.select([bound], [], [], 5)
        pid = _spawn(program, argv, bound.fileno(), env, None)
        status = _reap(pid, timeout)
        elapsed = time.monotonic() - start
        bound.setblocking(False)
        try:
            queued: bytes | None = bound.recv(4096)
        except BlockingIOError:
            queued = None
    return Outcome(b"", status, elapsed, queued)


# ----------------------------------------------------------------------------- super-servers


class _Server:
    """A super-server child process, stopped for sure on exit."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, listening: Sequence[tuple[str, str, int]]) -> None:
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=err, stderr=err
            )
        try:
            for proto, host, port in listening:
                wait_listening(proto, host, port)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.argv[0]} said:\n{self.stderr()}") from None

    def stderr(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def __enter__(self) -> _Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Service:
    """One wrapped service for a super-server configuration."""

    host: str
    port: int
    args: tuple[str, ...]  # the wrapper's arguments, e.g. ("/path/fakedaemon", "x")
    proto: str = "tcp"  # tcp | udp
    program: str = str(WRAPPER)
    argv0: str = "tcpwrap-tcpd"  # inetd.conf's first "server program arguments" word

    @property
    def v6(self) -> bool:
        return ":" in self.host


def inetd_conf(services: Sequence[Service]) -> str:
    lines = []
    for s in services:
        where = f"[{s.host}]" if s.v6 else s.host
        kind = "stream" if s.proto == "tcp" else "dgram"
        proto = s.proto + ("6" if s.v6 else "")
        wait = "nowait" if s.proto == "tcp" else "wait"
        args = " ".join((s.argv0, *s.args))
        lines.append(f"{where}:{s.port} {kind} {proto} {wait} root {s.program} {args}")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def running_inetd(
    services: Sequence[Service],
    env: Mapping[str, str],
    workdir: Path,
    conf: Path | None = None,
    text: str | None = None,
) -> Iterator[_Server]:
    """openbsd-inetd in the foreground (-d -i) with a generated inetd.conf (or `text`) in
    `conf` (default: a file in `workdir`)."""
    conf = conf or workdir / "inetd.conf"
    conf.write_text(inetd_conf(services) if text is None else text)
    server = _Server([INETD, "-d", "-i", str(conf)], env, workdir / "inetd.err")
    with server:
        server.start([(s.proto, s.host, s.port) for s in services])
        yield server


def xinetd_conf(services: Sequence[Service], env: Mapping[str, str]) -> str:
    parts = ["defaults\n{\n}\n"]
    env_line = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("TCPWRAP_"))
    for number, s in enumerate(services):
        flags = "NOLIBWRAP" + (" IPv6" if s.v6 else "")
        parts.append(
            f"service tcpwrap-test-{number}\n{{\n"
            "  type = UNLISTED\n"
            f"  flags = {flags}\n"
            f"  socket_type = {'stream' if s.proto == 'tcp' else 'dgram'}\n"
            f"  protocol = {s.proto}\n"
            f"  wait = {'no' if s.proto == 'tcp' else 'yes'}\n"
            "  user = root\n"
            f"  bind = {s.host}\n"
            f"  port = {s.port}\n"
            f"  server = {s.program}\n"
            f"  server_args = {' '.join(s.args)}\n"
            + (f"  env = {env_line}\n" if env_line else "")
            + "}\n"
        )
    return "".join(parts)


@contextlib.contextmanager
def running_xinetd(
    services: Sequence[Service], env: Mapping[str, str], workdir: Path
) -> Iterator[_Server]:
    """xinetd (unpacked by scripts/install) in the foreground with a generated configuration."""
    conf = workdir / "xinetd.conf"
    conf.write_text(xinetd_conf(services, env))
    argv = [
        str(XINETD), "-dontfork", "-f", str(conf), "-pidfile", str(workdir / "xinetd.pid"),
        "-filelog", str(workdir / "xinetd.log"),
    ]  # fmt: skip
    server = _Server(argv, env, workdir / "xinetd.err")
    with server:
        server.start([(s.proto, s.host, s.port) for s in services])
        yield server
