"""`tcpwrap try-from`: the eight lines (docs/library.md), recorded format, for a non-socket stdin
(compared with the real try-from's output in conformance/misc) and for loopback TCP sockets
with the lookups replaced by recorders (order of the questions, sanitising)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.netns import CONFORMANCE_DIR
from tcpwrap.drivers import ident, lookup
from tcpwrap.policy.facts import KnownName, NameLookup, ParanoidName
from tcpwrap.tools.tryfrom import describe

RECORDED = Path(CONFORMANCE_DIR) / "misc" / "tcpd-stdin-not-a-socket.txt"
NOT_A_SOCKET = "warning: can't get client address: Socket operation on non-socket"


def recorded_lines() -> list[str]:
    """The real try-from's stdout over a pipe, as recorded."""
    text = RECORDED.read_text()
    block = text.split("--- try-from over a pipe\n", 1)[1]
    return block.split("\n---", 1)[0].splitlines()


def test_the_recording_was_read() -> None:
    lines = recorded_lines()
    assert len(lines) == 8 and lines[0].startswith("client address  (%a): ")


def test_dev_null_and_pipe_as_recorded() -> None:
    with open(os.devnull, "rb") as null:
        assert describe(null.fileno()) == (recorded_lines(), [NOT_A_SOCKET])
    read_end, write_end = os.pipe()
    try:
        assert describe(read_end) == (recorded_lines(), [NOT_A_SOCKET])
    finally:
        os.close(read_end)
        os.close(write_end)


def test_command_line_with_dev_null() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tcpwrap.cli", "try-from"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.splitlines() == recorded_lines()
    assert done.stderr == NOT_A_SOCKET + "\n"


class Recorder:
    def __init__(self, names: dict[str, NameLookup], user: str | None) -> None:
        self.names = names
        self.user = user
        self.asked: list[str] = []

    def verify(self, address: str, *, timeout: float | None = None) -> NameLookup:
        self.asked.append(f"name {address}")
        return self.names[address]

    def lookup_user(self, client: object, server: object, **kwargs: object) -> str | None:
        self.asked.append(f"user {kwargs['timeout']}")
        return self.user


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    client.bind(("127.0.0.2", 0))
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    with server, client:
        yield server, client


def test_tcp_socket_lines_and_question_order(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(
        {
            "127.0.0.2": NameLookup(KnownName("client.example")),
            "127.0.0.1": NameLookup(KnownName("server.example")),
        },
        "joe",
    )
    monkeypatch.setattr(lookup, "verify_host_name", recorder.verify)
    monkeypatch.setattr(ident, "lookup_user", recorder.lookup_user)
    lines, warnings = describe(pair[0].fileno())
    assert lines == [
        "client address  (%a): 127.0.0.2",
        "client hostname (%n): client.example",
        "client username (%u): joe",
        "client info     (%c): joe@client.example",
        "server address  (%A): 127.0.0.1",
        "server hostname (%N): server.example",
        "server process  (%d): try-from",
        "server info     (%s): try-from@server.example",
    ]
    assert warnings == []
    # %n, then %u (at tcpd's 10 s ident timeout), then %N: each once, in line order
    assert recorder.asked == ["name 127.0.0.2", "user 10.0", "name 127.0.0.1"]
    pair[0].getpeername()  # the socket is still open: try-from never closes its stdin


def test_hostile_values_are_sanitised_and_warnings_kept(
    pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(
        {
            "127.0.0.2": NameLookup(
                ParanoidName(), ("host name/address mismatch: 127.0.0.2 != a.example",)
            ),
            "127.0.0.1": NameLookup(KnownName("x`id`|y&z.example")),
        },
        "r;m -rf $(x)",
    )
    monkeypatch.setattr(lookup, "verify_host_name", recorder.verify)
    monkeypatch.setattr(ident, "lookup_user", recorder.lookup_user)
    lines, warnings = describe(pair[0].fileno(), "in.fingerd")
    assert lines == [
        "client address  (%a): 127.0.0.2",
        "client hostname (%n): paranoid",
        "client username (%u): r_m_-rf___x_",
        "client info     (%c): r_m_-rf___x_@127.0.0.2",
        "server address  (%A): 127.0.0.1",
        "server hostname (%N): x_id__y_z.example",
        "server process  (%d): in.fingerd",
        "server info     (%s): in.fingerd@x_id__y_z.example",
    ]
    assert warnings == ["warning: host name/address mismatch: 127.0.0.2 != a.example"]
