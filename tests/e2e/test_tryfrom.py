"""`tcpwrap try-from` run as a program with a real accepted socket as stdin (as `rsh host
try-from` would), in the test namespace: names from dnsmasq and /etc/hosts, a real identd, IPv4,
::1, UDP, and /dev/null; every output line has the recorded label of the real try-from."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.identd import IdentServer, user
from harness.netns import CONFORMANCE_DIR
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

RECORDED = Path(CONFORMANCE_DIR) / "misc" / "tcpd-stdin-not-a-socket.txt"
LABEL = 22  # "client address  (%a): "


def recorded() -> list[str]:
    block = RECORDED.read_text().split("--- try-from over a pipe\n", 1)[1]
    return block.split("\n---", 1)[0].splitlines()


def try_from(stdin: object, *args: str) -> tuple[list[str], str]:
    done = subprocess.run(
        [sys.executable, "-m", "tcpwrap.cli", "try-from", "--dns-timeout", "3", *args],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert [line[:LABEL] for line in lines] == [line[:LABEL] for line in recorded()]
    return [line[LABEL:] for line in lines], done.stderr


def tcp(client_addr: str, server_addr: str) -> tuple[socket.socket, socket.socket]:
    family = socket.AF_INET6 if ":" in server_addr else socket.AF_INET
    with socket.create_server((server_addr, 0), family=family) as listener:
        client = socket.socket(family)
        client.bind((client_addr, 0))
        client.connect(listener.getsockname()[:2])
        server, _ = listener.accept()
    return server, client


def test_ipv4_socket_with_dns_names_and_ident() -> None:
    with IdentServer("127.0.0.2", reply=user("carol")) as identd:
        server, client = tcp("127.0.0.2", "127.0.0.1")
        with server, client:
            values, err = try_from(server, "--ident-port", str(identd.port))
        assert len(identd.requests) == 1
    assert values == [
        "127.0.0.2",
        "good2.e2e.test",
        "carol",
        "carol@good2.e2e.test",
        "127.0.0.1",
        "localhost",
        "try-from",
        "try-from@localhost",
    ]
    assert err == ""


def test_ipv6_loopback_socket() -> None:
    server, client = tcp("::1", "::1")
    with server, client:
        values, err = try_from(server, "--ident-timeout", "1", "--daemon", "in.rshd")
    assert values == [
        "::1",
        "localhost",
        "unknown",  # no identd on ::1 port 113: refused at once
        "localhost",
        "::1",
        "localhost",
        "in.rshd",
        "in.rshd@localhost",
    ]
    assert err == ""


def test_hostile_and_paranoid_names() -> None:
    server, client = tcp("127.0.1.1", "127.0.0.3")  # a;b$(id).hosts.test -> liar.e2e.test
    with server, client:
        values, err = try_from(server, "--ident-timeout", "1")
    assert values[1] == "a_b__id_.hosts.test"
    assert values[5] == "paranoid"
    assert values[7] == "try-from@127.0.0.3"
    assert err == "warning: host name/address mismatch: 127.0.0.3 != liar.e2e.test\n"


def test_udp_socket_leaves_the_datagram_queued() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("127.0.0.1", 0))
        client.bind(("127.0.0.2", 0))
        client.sendto(b"ping", server.getsockname())
        values, err = try_from(server)
        assert values[:4] == ["127.0.0.2", "good2.e2e.test", "unknown", "good2.e2e.test"]
        assert values[4] == "127.0.0.1" and err == ""
        server.settimeout(1)
        assert server.recvfrom(10) == (b"ping", client.getsockname())


def test_dev_null_is_exactly_as_recorded() -> None:
    with open(os.devnull, "rb") as null:
        done = subprocess.run(
            [sys.executable, "-m", "tcpwrap.cli", "try-from"],
            stdin=null,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert done.stdout.splitlines() == recorded()
    assert done.stderr == "warning: can't get client address: Socket operation on non-socket\n"


def test_syslog_option_logs_like_the_original(syslog: SyslogCapture) -> None:
    """--syslog: the warning goes to syslog (daemon.err, tag = the process name), not stderr;
    compare tcpd's record of the same warning in the recording."""
    with open(os.devnull, "rb") as null:
        done = subprocess.run(
            [sys.executable, "-m", "tcpwrap.cli", "try-from", "--syslog"],
            stdin=null,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert done.stdout.splitlines() == recorded() and done.stderr == ""
    syslog.wait_for_count(1)
    tcpd_line = next(
        line for line in RECORDED.read_text().splitlines() if "can't get client address" in line
    )
    assert syslog.lines() == [tcpd_line.replace("tcpd[PID]", "try-from[PID]")]
