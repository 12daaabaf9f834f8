"""serve.systemd: sd_notify messages and the sockets of LISTEN_FDS."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tcpwrap.serve.systemd import Notifier, passed_sockets


def test_notify_path_and_abstract(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    env = {"NOTIFY_SOCKET": str(path)}
    notifier = Notifier(env)
    assert "NOTIFY_SOCKET" not in env  # children never inherit it
    assert notifier.ready("listening on 2 sockets") and notifier.stopping()
    assert receiver.recv(100) == b"READY=1\nSTATUS=listening on 2 sockets"
    assert receiver.recv(100) == b"STOPPING=1"
    receiver.close()
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind(f"\0tcpwrap-test-{os.getpid()}")
    assert Notifier({"NOTIFY_SOCKET": f"@tcpwrap-test-{os.getpid()}"}).reloading()
    fields = dict(line.split("=") for line in abstract.recv(100).decode().split("\n"))
    assert fields["RELOADING"] == "1" and int(fields["MONOTONIC_USEC"]) > 0
    abstract.close()


def test_no_notify_socket_is_silent() -> None:
    assert not Notifier({}).enabled and not Notifier({}).ready()
    assert not Notifier({"NOTIFY_SOCKET": "relative"}).enabled


def test_passed_sockets_only_for_this_pid() -> None:
    assert passed_sockets({"LISTEN_PID": "1", "LISTEN_FDS": "2"}) == []
    assert passed_sockets({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "x"}) == []
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "0", "LISTEN_FDNAMES": ""}
    assert passed_sockets(env) == [] and env == {}
