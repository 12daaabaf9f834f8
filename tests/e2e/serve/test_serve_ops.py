"""Operating `tcpwrap serve`: reload under load, a reload that fails, stop, the control socket
and the Prometheus endpoint, systemd's notifications and socket hand-over (LISTEN_FDS)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from e2e.serve.servekit import TCPWRAP, ServeRun, running, wait_until
from e2e.wrapper.wrapkit import free_port, tcp_client, udp_client
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


class Load:
    """Clients hammering a service from a thread until stopped; every failure is kept."""

    def __init__(self, port: int, source: str, expect: bytes) -> None:
        self.port = port
        self.source = source
        self.expect = expect
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                reply = tcp_client("127.0.0.1", self.port, self.source, timeout=5)
                if self.expect not in reply.data:
                    self.failures.append(f"unexpected reply {reply.data[:60]!r}")
            except OSError as exc:
                self.failures.append(repr(exc))
            self.done += 1

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_reload_under_load_drops_nothing(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    fake, _ = daemons
    kept, added, removed = free_port("127.0.0.1"), free_port("127.0.0.1"), free_port("127.0.0.1")
    echo = free_port("127.0.0.1")
    base = (
        f"127.0.0.1:{kept} stream tcp nowait root /usr/sbin/tcpd {fake} kept\n"
        f"127.0.0.1:{echo} stream tcp nowait root internal echo\n"
    )
    run = ServeRun(
        workdir,
        base + f"127.0.0.1:{removed} stream tcp nowait root internal daytime\n",
        config="[limits]\nrate = 100000\nburst = 100000\n",
        extra_args=("--control", str(workdir / "control.sock")),
    )
    with running(run):
        # a connection in progress across every reload: the internal echo keeps talking
        session = socket.create_connection(("127.0.0.1", echo), timeout=5,
                                           source_address=("127.0.0.2", 0))  # fmt: skip
        one, two = Load(kept, "127.0.0.2", b"arg1=kept"), Load(kept, "127.0.0.3", b"arg1=kept")
        with one, two:
            time.sleep(0.3)
            for number in range(6):
                if number % 2 == 0:
                    run.inetd.write_text(
                        base + f"127.0.0.1:{added} stream tcp nowait root internal daytime\n"
                    )
                else:
                    run.inetd.write_text(
                        base + f"127.0.0.1:{removed} stream tcp nowait root internal daytime\n"
                    )
                run.reload()
                session.sendall(f"still here {number}\n".encode())
                assert session.recv(100) == f"still here {number}\n".encode()
                time.sleep(0.2)
        session.close()
        with pytest.raises(ConnectionRefusedError):  # the last state has `removed`, not `added`
            tcp_client("127.0.0.1", added, "127.0.0.2", timeout=2)
        gone = tcp_client("127.0.0.1", removed, "127.0.0.2", timeout=2)
        # a configuration that does not load keeps the running one
        run.config.write_text("[limits]\nrate = 'fast'\n")
        run.reload()
        still = tcp_client("127.0.0.1", kept, "127.0.0.2")
        status = json.loads(_status(run))
    assert one.done > 20 and two.done > 20
    assert one.failures == [] and two.failures == []
    assert gone.data.endswith(b"\r\n")  # the daytime service answers on `removed` again
    assert still.data.startswith(b"FAKEDAEMON")
    assert status["reloads"] == 6 and status["reload_failures"] == 1
    errors = [r.message for r in syslog.records() if r.tag == "tcpwrap-serve"]
    assert any("reload failed, keeping the running configuration" in m
               and "[limits] rate: must be a number" in m for m in errors)  # fmt: skip


def _status(run: ServeRun) -> str:
    control = run.dir / "control.sock"
    result = subprocess.run([str(TCPWRAP), "serve", "--status", "--json", "--control",
                             str(control)], capture_output=True, text=True, timeout=10)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_and_metrics(workdir: Path, daemons: tuple[Path, Path]) -> None:
    fake, _ = daemons
    port, metrics = free_port("127.0.0.1"), free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait root /usr/sbin/tcpd {fake}\n"
    run = ServeRun(workdir, inetd, deny="ALL: 127.0.0.3\n",
                   extra_args=("--control", str(workdir / "control.sock"),
                               "--metrics", f"127.0.0.1:{metrics}"))  # fmt: skip
    with running(run):
        tcp_client("127.0.0.1", port, "127.0.0.2")
        tcp_client("127.0.0.1", port, "127.0.0.3")
        wait_until(lambda: len(run.json_records()) == 2)
        status = json.loads(_status(run))
        text = subprocess.run([str(TCPWRAP), "serve", "--status", "--control",
                               str(workdir / "control.sock")], capture_output=True, text=True,
                              timeout=10).stdout  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as reply:
            exposition = reply.read().decode()
    assert status["accepted"] == 2 and status["granted"] == 1 and status["spawned"] == 1
    assert status["refused"] == {"tables": 1}
    assert status["decision_seconds"]["count"] == 2
    assert "refused          1 (tables: 1)" in text and "decisions" in text
    assert "tcpwrap_serve_accepted_total 2.0" in exposition
    assert 'tcpwrap_serve_refused_total{reason="tables"} 1.0' in exposition
    assert "tcpwrap_serve_decision_seconds_count 2.0" in exposition
    assert "tcpwrap_serve_children" in exposition


def test_stop_is_prompt_and_leaves_children_alone(
    workdir: Path, daemons: tuple[Path, Path]
) -> None:
    port = free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait root /bin/sleep sleep 30\n"
    run = ServeRun(workdir, inetd)
    run.start()
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    wait_until(lambda: len(run.children()) == 1, what="the sleeping child")
    (child,) = run.children()
    assert run.notify is not None
    notify = run.notify
    started = time.monotonic()
    status = run.stop()
    assert status == 0 and time.monotonic() - started < 3
    assert any("STOPPING=1" in m.split("\n") for m in notify.messages)
    assert os.path.exists(f"/proc/{child}")  # inetd does not kill its children either
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    os.kill(child, 9)
    client.close()


def test_reload_notifications_carry_monotonic_usec(workdir: Path) -> None:
    port = free_port("127.0.0.1")
    run = ServeRun(workdir, f"127.0.0.1:{port} stream tcp nowait root internal echo\n")
    with running(run):
        run.reload()
        assert run.notify is not None
        reloading = next(m for m in run.notify.messages if "RELOADING=1" in m.split("\n"))
    fields = dict(line.split("=", 1) for line in reloading.split("\n"))
    usec = int(fields["MONOTONIC_USEC"])
    assert abs(usec / 1e6 - time.clock_gettime(time.CLOCK_MONOTONIC)) < 30


def test_listen_fds_hand_over(workdir: Path, daemons: tuple[Path, Path]) -> None:
    """Sockets passed as systemd does (Accept=no) are used, never bound again."""
    fake, udp = daemons
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dgram.bind(("127.0.0.1", 0))
    tcp_port, udp_port = tcp.getsockname()[1], dgram.getsockname()[1]
    inetd = (
        f"127.0.0.1:{tcp_port} stream tcp nowait root /usr/sbin/tcpd {fake} passed\n"
        f"127.0.0.1:{udp_port} dgram udp wait root /usr/sbin/tcpd {udp}\n"
    )
    run = ServeRun(workdir, inetd)
    shim = (
        f'exec 3<&{tcp.fileno()} 4<&{dgram.fileno()} {tcp.fileno()}<&- {dgram.fileno()}<&-; '
        'export LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=finger:tftp; exec "$@"'
    )
    argv = ["/bin/bash", "-c", shim, "bash", *run.argv()]  # (dash takes fds 0-9 only)
    with running(run, argv=argv, pass_fds=(tcp.fileno(), dgram.fileno())):
        ours = {os.fstat(tcp.fileno()).st_ino, os.fstat(dgram.fileno()).st_ino}
        theirs = set()
        for fd in os.listdir(f"/proc/{run.pid}/fd"):
            with contextlib.suppress(OSError):
                theirs.add(os.stat(f"/proc/{run.pid}/fd/{fd}").st_ino)
        tcp_reply = tcp_client("127.0.0.1", tcp_port, "127.0.0.2")
        udp_reply = udp_client("127.0.0.1", udp_port, "127.0.0.2", b"via systemd")
        env = Path(f"/proc/{run.pid}/environ").read_bytes()
    tcp.close()
    dgram.close()
    assert ours <= theirs
    assert tcp_reply.data.endswith(b" arg1=passed\n")
    assert udp_reply.data == b"UDPDAEMON argv0=udpdaemon got=via systemd"
    assert b"LISTEN_FDS" in env  # the process environment at exec; the children never see it
    assert "cannot listen" not in run.output()


def test_out_of_descriptors_backs_off_and_keeps_serving(
    workdir: Path, syslog: SyslogCapture
) -> None:
    port = free_port("127.0.0.1")
    run = ServeRun(workdir, f"127.0.0.1:{port} stream tcp nowait root internal echo\n",
                   config="[limits]\nper_source = 1000\n")  # fmt: skip
    held: list[socket.socket] = []
    with running(run, argv=["/usr/bin/prlimit", "--nofile=48:48", "--", *run.argv()]):
        # idle echo sessions, each holding a descriptor of the server, until it runs out
        for _ in range(80):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        record = syslog.wait_for(lambda r: "Too many open files; backing off" in r.message,
                                 timeout=10)  # fmt: skip
        assert record.tag == "tcpwrap-serve"
        for sock in held:
            sock.close()
        held.clear()
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"after\n")
            assert sock.recv(10) == b"after\n"
        assert run.proc is not None and run.proc.poll() is None
    backoffs = [r for r in syslog.records() if "backing off" in r.message]
    assert len(backoffs) <= 3  # one record per episode, not one per attempt
