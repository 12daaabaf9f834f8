"""systemd socket activation (Accept=yes): the shipped example units, run for real.

`examples/systemd/tcpwrap-finger.socket` + `tcpwrap-finger@.service` are parsed; their
ListenStream/Accept/ExecStart/Environment drive `systemd-socket-activate --accept` (the
systemd tool that does what PID 1 does for such a unit: LISTEN_FDS=1, LISTEN_PID, the
connection on fd 3; or fd 0-1 with --inetd, i.e. StandardInput=socket). When the tool is
missing, the same protocol is emulated here (fork, environment, dup to fd 3, exec).
"""

from __future__ import annotations

import configparser
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from e2e.wrapper.conftest import Kit
from e2e.wrapper.wrapkit import ROOT, WRAPPER, free_port, tcp_client, wait_listening
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

UNITS = ROOT / "examples" / "systemd"
ACTIVATE = shutil.which("systemd-socket-activate")


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_example_units_are_what_the_test_runs() -> None:
    sock = _unit("tcpwrap-finger.socket")
    service = _unit("tcpwrap-finger@.service")
    assert sock["Socket"]["Accept"] == "yes"
    assert sock["Socket"]["ListenStream"] == "79"
    program, *args = service["Service"]["ExecStart"].split()
    assert os.path.basename(program) == "tcpwrap-tcpd"
    assert args == ["/usr/sbin/in.fingerd"]
    assert service["Service"]["Environment"].startswith("TCPWRAP_")


@contextmanager
def _emulated(port: int, argv: list[str], env: dict[str, str], inetd: bool) -> Iterator[None]:
    """What systemd does for an Accept=yes socket, connection by connection."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(8)
    listener.settimeout(0.05)
    stop = threading.Event()
    children: list[int] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                try:
                    targets = (0, 1) if inetd else (3,)
                    for target in targets:
                        os.dup2(conn.fileno(), target)
                    child_env = dict(env)
                    if not inetd:
                        child_env.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
                    os.execve(argv[0], argv, child_env)
                finally:
                    os._exit(127)
            conn.close()
            children.append(pid)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for pid in children:
            os.waitpid(pid, 0)


@contextmanager
def _activated(
    mode: str, kit: Kit, port: int, env: dict[str, str], argv: list[str]
) -> Iterator[None]:
    inetd = mode.endswith("inetd")
    if mode.startswith("emulated"):
        with _emulated(port, argv, env, inetd):
            yield
        return
    if ACTIVATE is None:
        pytest.skip("systemd-socket-activate is not installed (the emulated cases still run)")
    cmd = [ACTIVATE, "--accept", "-l", f"127.0.0.1:{port}"] + (["--inetd"] if inetd else [])
    for key, value in env.items():
        cmd += ["-E", f"{key}={value}"]
    with open(kit.dir / "activate.err", "wb") as err:
        proc = subprocess.Popen([*cmd, *argv], stdout=err, stderr=err, stdin=subprocess.DEVNULL)
    try:
        wait_listening("tcp", "127.0.0.1", port)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.mark.parametrize(
    "mode", ["socket-activate", "socket-activate-inetd", "emulated", "emulated-inetd"]
)
def test_accept_yes_socket_activation(kit: Kit, syslog: SyslogCapture, mode: str) -> None:
    service = _unit("tcpwrap-finger@.service")["Service"]
    program, daemon = service["ExecStart"].split()
    assert os.path.basename(program) == "tcpwrap-tcpd"
    real = kit.dir / "sbin"
    real.mkdir()
    (real / os.path.basename(daemon)).symlink_to(kit.fake)  # stands in for in.fingerd
    argv = [str(WRAPPER), str(real / os.path.basename(daemon)), "-l"]
    kit.tables(deny="ALL: 127.0.0.3\n")
    env = kit.env()
    key, _, value = service["Environment"].partition("=")
    assert key == "TCPWRAP_JSON_LOG" and value.endswith(".jsonl")
    port = free_port("127.0.0.1")
    with _activated(mode, kit, port, env, argv):
        ok = tcp_client("127.0.0.1", port, "127.0.0.2")
        no = tcp_client("127.0.0.1", port, "127.0.0.3")
        syslog.wait_for(lambda r: "refused" in r.message)
    # the daemon gets the connection on fds 0 and 1 (it writes its report to fd 1)
    assert ok.data.startswith(b"FAKEDAEMON argv0=in.fingerd argc=2 uid=0 ")
    assert ok.data.endswith(b" arg1=-l\n")
    assert no.data == b""
    assert [f"{r.tag} {r.message}" for r in syslog.records()] == [
        "in.fingerd connect from 127.0.0.2 (127.0.0.2)",
        "in.fingerd refused connect from 127.0.0.3 (127.0.0.3)",
    ]
    assert [r.verdict for r in kit.records()] == ["granted", "denied"]


def test_listen_pid_of_another_process_is_ignored(kit: Kit, syslog: SyslogCapture) -> None:
    """LISTEN_FDS meant for a parent is not ours: the wrapper stays on fd 0 (inetd layout)."""
    kit.tables()
    env = kit.env(LISTEN_FDS="1", LISTEN_PID="1")
    got = kit.run(str(kit.fake), env=env)
    assert got.received.startswith(b"FAKEDAEMON")
