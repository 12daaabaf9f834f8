"""check_socket / check_socket_async on real loopback sockets in the test namespace: the real
resolver and dnsmasq (its query log shows exactly which lookups a decision caused), a real
identd (tests/harness/identd.py), IPv6 ::1, and the asyncio twin against a DNS server that never
answers (127.0.0.64) while other coroutines keep running."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tcpwrap.library as library
from harness.identd import IdentServer, user
from harness.netns import dnsmasq_log
from harness.silentdns import SilentDNS
from tcpwrap.policy.decision import Verdict

pytestmark = pytest.mark.e2e

QUERY = re.compile(r"dnsmasq\[\d+\]: query\[(\w+)\] (\S+) from ")


class Tables:
    def __init__(self, root: Path) -> None:
        self.allow = root / "hosts.allow"
        self.deny = root / "hosts.deny"

    def write(self, allow: str, deny: str = "ALL: ALL\n") -> dict[str, str]:
        self.allow.write_text(allow)
        self.deny.write_text(deny)
        return {"allow": str(self.allow), "deny": str(self.deny)}


@pytest.fixture
def tables(tmp_path: Path) -> Tables:
    return Tables(tmp_path)


class DnsLog:
    """dnsmasq's query log from the moment the fixture was created."""

    def __init__(self) -> None:
        path = dnsmasq_log()
        assert path is not None
        self.path = Path(path)
        self.start = self.path.stat().st_size

    def queries(self, settle: float = 0.3, expect: int = 0) -> list[tuple[str, str]]:
        """(type, name) of every query since the start; waits for `expect`, then `settle` s."""
        deadline = time.monotonic() + 3
        while True:
            with open(self.path, "rb") as handle:
                handle.seek(self.start)
                text = handle.read().decode("latin-1")
            found = [(m.group(1), m.group(2)) for m in QUERY.finditer(text)]
            if len(found) >= expect or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if settle:
            time.sleep(settle)
            return self.queries(0, expect)
        return found


@pytest.fixture
def dns_log() -> DnsLog:
    return DnsLog()


def connect(client_addr: str, server: socket.socket) -> socket.socket:
    family = socket.AF_INET6 if ":" in client_addr else socket.AF_INET
    client = socket.socket(family, socket.SOCK_STREAM)
    client.bind((client_addr, 0))
    client.connect(server.getsockname()[:2])
    return client


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def accepted(client_addr: str, listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = connect(client_addr, listener)
    server, _ = listener.accept()
    return server, client


def test_name_rule_costs_one_reverse_and_one_forward_lookup(
    tables: Tables, listener: socket.socket, dns_log: DnsLog
) -> None:
    paths = tables.write("svc: good2.e2e.test\n")
    server, client = accepted("127.0.0.2", listener)
    with server, client:
        decision = library.check_socket(server, "svc", ident=False, **paths)
    assert decision.granted and decision.client_name == "good2.e2e.test"
    assert decision.lookups == ("client name",)
    assert dns_log.queries(expect=2) == [
        ("PTR", "2.0.0.127.in-addr.arpa"),
        ("A", "good2.e2e.test"),
    ]


def test_address_rules_cost_no_lookup(
    tables: Tables, listener: socket.socket, dns_log: DnsLog
) -> None:
    paths = tables.write("svc: 127.0.0.3 127.0.0.0/255.255.255.0 : spawn echo %a\n")
    for address, granted in (("127.0.0.3", True), ("127.0.1.9", False)):
        server, client = accepted(address, listener)
        with server, client:
            decision = library.check_socket(server, "svc", **paths)
        assert decision.granted is granted and decision.lookups == ()
    assert dns_log.queries() == []


def test_paranoid_client_is_logged_and_denied(
    tables: Tables, listener: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tcpwrap")
    paths = tables.write("svc: ALL EXCEPT PARANOID\n")
    server, client = accepted("127.0.0.3", listener)
    with server, client:
        decision = library.check_socket(server, "svc", ident=False, **paths)
    assert not decision.granted and decision.client_name == "paranoid"
    assert [r.getMessage() for r in caplog.records] == [
        f"warning: {tables.allow}, line 1: host name/address mismatch: "
        "127.0.0.3 != liar.e2e.test"  # found while scanning that line: tcpd says where
    ]


def test_ident_user_rule_asks_the_real_identd(tables: Tables, listener: socket.socket) -> None:
    paths = tables.write("svc: alice@127.0.0.2\n")
    with IdentServer("127.0.0.2", reply=user("alice")) as identd:
        server, client = accepted("127.0.0.2", listener)
        with server, client:
            decision = library.check_socket(server, "svc", ident_port=identd.port, **paths)
            assert decision.granted and decision.user == "alice"
            assert decision.client_info == "alice@127.0.0.2"
            expected = f"{client.getsockname()[1]},{server.getsockname()[1]}\r\n".encode()
            assert identd.requests == [expected]
            # the user is not needed for an address rule: no second query
            paths = tables.write("svc: 127.0.0.2\n")
            assert library.check_socket(server, "svc", ident_port=identd.port, **paths).granted
            assert len(identd.requests) == 1
            # a user who is not alice is refused
            identd.reply = user("mallory")
            paths = tables.write("svc: alice@127.0.0.2\n")
            refused = library.check_socket(server, "svc", ident_port=identd.port, **paths)
            assert not refused.granted and refused.user == "mallory"


def test_ipv6_loopback(tables: Tables, dns_log: DnsLog) -> None:
    with socket.create_server(("::1", 0), family=socket.AF_INET6) as listener6:
        paths = tables.write("svc: [::1]\n")
        server, client = accepted("::1", listener6)
        with server, client:
            decision = library.check_socket(server, "svc", ident=False, **paths)
            assert decision.granted and decision.client_addr == "::1" and decision.lookups == ()
            paths = tables.write("svc: localhost\n")  # /etc/hosts: ::1 localhost
            named = library.check_socket(server, "svc", ident=False, **paths)
            assert named.granted and named.client_name == "localhost"
    assert dns_log.queries() == []  # the files backend answered


def test_live_spawn_sees_the_verified_name(tables: Tables, listener: socket.socket) -> None:
    marker = tables.allow.parent / "trap"
    paths = tables.write(f"svc: ALL : spawn echo %h %n %h %a %d > {marker} : deny\n", "")
    server, client = accepted("127.0.0.2", listener)
    with server, client:
        decision = library.check_socket(server, "svc", live=True, ident=False, **paths)
    assert decision.verdict is Verdict.DENY
    # %h shows the address until %n has looked the name up (tcpd's eval_hostinfo)
    assert marker.read_text() == "127.0.0.2 good2.e2e.test good2.e2e.test 127.0.0.2 svc\n"


# ------------------------------------------------------------------ the asyncio twin


@pytest.fixture
def silent_dns() -> Iterator[SilentDNS]:
    server = SilentDNS()
    try:
        yield server
    finally:
        server.close()


def test_async_twin_waits_for_slow_dns_without_blocking(
    tables: Tables, silent_dns: SilentDNS, dns_log: DnsLog
) -> None:
    """127.0.0.64's PTR goes to a server that never answers: that client waits for the DNS
    timeout, while a ticker and a second client (address rule) go on undisturbed."""
    paths = tables.write("svc: .e2e.test 127.0.0.2\n")
    ticks: list[float] = []
    finished: dict[str, tuple[bool, float]] = {}

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def main() -> None:
        start = time.monotonic()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")[0]
            decision = await library.check_socket_async(
                writer, "svc", dns_timeout=1.0, ident=False, **paths
            )
            finished[peer] = (decision.granted, time.monotonic() - start)
            writer.close()

        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            slow = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.64", 0))
            await asyncio.sleep(0.1)
            fast = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            await fast[0].read()
            await slow[0].read()
            for _, writer in (slow, fast):
                writer.close()
        finally:
            silent_dns.release()  # let the abandoned resolver thread finish
            server.close()
            await server.wait_closed()
            stop.set()
            await tick

    asyncio.run(main())
    assert finished["127.0.0.2"][0] is True and finished["127.0.0.2"][1] < 0.5
    slow_granted, slow_time = finished["127.0.0.64"]
    assert slow_granted is False and 0.9 < slow_time < 2.0  # unknown after the timeout
    assert silent_dns.queries >= 1
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.2, max(gaps)
    assert ("PTR", "64.0.0.127.in-addr.arpa") in dns_log.queries(settle=0)


def test_async_twin_ident_and_live_spawn(tables: Tables) -> None:
    marker = tables.allow.parent / "trap"
    paths = tables.write(f"svc: bob@127.0.0.2 : spawn echo %u %n > {marker}\n")

    async def main(identd: IdentServer) -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            decision = await library.check_socket_async(
                writer, "svc", live=True, ident_port=identd.port, **paths
            )
            done.set_result(decision.granted)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.2", 0)
        )
        result = await done
        writer.close()
        server.close()
        await server.wait_closed()
        return result

    with IdentServer("127.0.0.2", reply=user("bob")) as identd:
        assert asyncio.run(main(identd)) is True
        assert len(identd.requests) == 1
    assert marker.read_text() == "bob good2.e2e.test\n"
