"""endpoint: the wrapper's view of its socket, in-process (no namespace, no root).

Real loopback sockets for discover(); for KILL_IP_OPTIONS a stand-in socket, because Linux
strips or drops the options a client sets (source-routed packets never arrive on loopback), so
the option bytes tcpd inspects can only be supplied this way. The live counterpart is T34 in
tests/e2e/wrapper/test_vs_real_tcpd.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tcpwrap.drivers.endpoint import (
    Endpoints,
    check_ip_options,
    discover,
    drain,
    release,
    systemd_socket,
)


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
        with client, conn:
            yield client, conn


def test_discover_tcp_names_both_ends(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    client, conn = tcp_pair
    found = discover(conn.fileno())
    try:
        assert not found.datagram and found.warnings == []
        assert found.client == client.getsockname()
        assert found.server == conn.getsockname()
    finally:
        release(found)
    conn.getsockname()  # release() left the descriptor open


def test_discover_udp_peeks_the_sender_and_leaves_the_datagram() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as sender:
        server.bind(("127.0.0.1", 0))
        sender.bind(("127.0.0.1", 0))
        sender.sendto(b"query", server.getsockname())
        found = discover(server.fileno())
        try:
            assert found.datagram and found.client == sender.getsockname()
            assert server.recv(16, socket.MSG_PEEK) == b"query"  # still queued for the daemon
            drain(found)  # a refused request: the datagram goes
            server.setblocking(False)
            with pytest.raises(BlockingIOError):
                server.recv(16)
        finally:
            release(found)


def test_discover_on_a_pipe_reports_tcpds_warning() -> None:
    import os

    read, write = os.pipe()
    try:
        found = discover(read)
        assert found.sock is None and found.not_a_socket == "Socket operation on non-socket"
        assert found.warnings == ["can't get client address: Socket operation on non-socket"]
    finally:
        os.close(read)
        os.close(write)


def test_systemd_socket_only_for_our_pid() -> None:
    import os

    pid = str(os.getpid())
    assert systemd_socket({"LISTEN_PID": pid, "LISTEN_FDS": "1"}) == 3
    assert systemd_socket({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) is None
    assert systemd_socket({"LISTEN_PID": pid, "LISTEN_FDS": "x"}) is None
    assert systemd_socket({"LISTEN_PID": pid, "LISTEN_FDS": "0"}) is None


class _OptionsSocket:
    """A TCP/IPv4 socket whose received IP options are `options` (see the module docstring)."""

    family = socket.AF_INET

    def __init__(self, options: bytes, *, clear_fails: bool = False) -> None:
        self.options = options
        self.clear_fails = clear_fails
        self.shut = False
        self.cleared = False

    def getsockname(self) -> tuple[str, int]:
        return ("192.0.2.2", 79)

    def getsockopt(self, level: int, name: int, size: int) -> bytes:
        assert (level, name, size) == (socket.IPPROTO_IP, socket.IP_OPTIONS, 40)
        return self.options

    def setsockopt(self, level: int, name: int, value: bytes) -> None:
        if self.clear_fails:
            raise PermissionError(1, "Operation not permitted")
        self.cleared = value == b""

    def shutdown(self, how: int) -> None:
        self.shut = True


def _check(sock: _OptionsSocket) -> list[tuple[str, str]]:
    found = Endpoints(sock=sock, client=("192.0.2.1", 1024), server=("192.0.2.2", 79))  # type: ignore[arg-type]
    report = check_ip_options(found, "192.0.2.1")
    assert not report.fatal
    return report.records


def test_no_options_no_record() -> None:
    sock = _OptionsSocket(b"")
    assert _check(sock) == [] and not sock.shut


def test_other_options_are_logged_in_hex_and_cleared() -> None:
    sock = _OptionsSocket(b"\x00\x00\x00\x00\x01\x01\x01\x00")
    assert _check(sock) == [
        ("notice", "connect from 192.0.2.1 with IP options (ignored): 00 00 00 00 01 01 01 00")
    ]
    assert sock.cleared and not sock.shut


@pytest.mark.parametrize("kind", [0x83, 0x89])  # LSRR, SSRR after a NOP
def test_source_routing_is_refused(kind: int) -> None:
    sock = _OptionsSocket(bytes([192, 0, 2, 9, 1, kind, 7, 4, 192, 0, 2, 1]))
    assert _check(sock) == [
        ("warning", "refused connect from 192.0.2.1 with IP source routing options")
    ]
    assert sock.shut and not sock.cleared


def test_a_malformed_length_stops_the_scan() -> None:
    sock = _OptionsSocket(b"\x00\x00\x00\x00\x44\x00\x83\x03")  # length 0: tcpd stops there
    (record,) = _check(sock)
    assert record[0] == "notice" and sock.cleared


def test_failing_to_clear_shuts_the_connection() -> None:
    sock = _OptionsSocket(b"\x00\x00\x00\x00\x01\x00", clear_fails=True)
    records = _check(sock)
    assert records[-1] == ("err", "setsockopt IP_OPTIONS NULL: Operation not permitted")
    assert sock.shut


def test_no_socket_is_tcpds_fatal_getpeername() -> None:
    report = check_ip_options(Endpoints(not_a_socket="Socket operation on non-socket"), "x")
    assert report.fatal
    assert report.records == [("err", "getpeername: Socket operation on non-socket")]


def test_udp_is_not_inspected() -> None:
    sock = _OptionsSocket(bytes([0, 0, 0, 0, 0x83, 3, 4]))
    found = Endpoints(sock=sock, datagram=True)  # type: ignore[arg-type]
    assert check_ip_options(found, "x").records == []
