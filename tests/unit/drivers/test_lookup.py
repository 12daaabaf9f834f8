"""Name verification (docs/lookup.md) and tcpdmatch's host lookup on plain values.

The pure functions get resolver answers as values; the two drivers are driven through a fake
resolver (monkeypatched gethostbyaddr/getaddrinfo) to check timeouts and that the blocking and
asyncio drivers agree.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tcpwrap.drivers import async_lookup, lookup
from tcpwrap.drivers.lookup import (
    Forward,
    HostAddresses,
    ParsedAddress,
    alias_warnings,
    conclude,
    forward_from_addrinfo,
    forward_name,
    is_inet_aton,
    ntop,
    parse_address,
)
from tcpwrap.policy.facts import KnownName, NameLookup, ParanoidName, UnknownName


def ep(text: str) -> ParsedAddress:
    e = parse_address(text)
    assert e is not None
    return e


def paranoid(message: str) -> NameLookup:
    return NameLookup(ParanoidName(), (message,))


V4 = ep("192.0.2.60")

# --- endpoint --------------------------------------------------------------------------------


def test_endpoint_unmaps_ipv4_mapped() -> None:
    assert ep("::ffff:192.0.2.1") == ParsedAddress(ipaddress.IPv4Address("192.0.2.1"))
    assert ep("::FFFF:192.0.2.1").family == socket.AF_INET


def test_endpoint_keeps_ipv6_scope() -> None:
    e = ep("fe80::1%3")
    assert e.scope_id == 3
    assert e.sockaddr() == ("fe80::1", 0, 0, 3)
    assert e.family_name == "AF_INET6"


@pytest.mark.parametrize("text", ["", "unknown", "192.0.2", "1.2.3.4%1", "fe80::1%no-such-if9"])
def test_endpoint_rejects_non_addresses(text: str) -> None:
    assert parse_address(text) is None


def test_ntop_matches_glibc() -> None:
    def t(s: str) -> str:
        return ntop(ipaddress.ip_address(s))

    assert t("192.0.2.1") == "192.0.2.1"
    assert t("2001:db8::1") == "2001:db8::1"
    assert t("::1") == "::1"
    assert t("::") == "::"
    assert t("::1.2.3.4") == "::1.2.3.4"
    assert t("::ffff:1.2.3.4") == "::ffff:1.2.3.4"
    assert t("::ffff:0:1.2.3.4") == "::ffff:0:102:304"


# --- numeric PTRs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["192.0.2.99", "192.0.2", "3221225985", "0xc0.0.2.1", "192.000.002.001", "1.65535"]
)
def test_inet_aton_accepts(text: str) -> None:
    assert is_inet_aton(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "256.1.1.1",
        "1.2.3.4.",
        "1.2.3.4.5",
        "08.1.1.1",
        "0x",
        "1..2",
        "1.2.65536",
        " 1.2.3.4",
        "1.2.3.4 ",
        "192.0.2.evil.dns.test",
        "4294967296",
        "-1",
    ],
)
def test_inet_aton_rejects(text: str) -> None:
    assert not is_inet_aton(text)


# --- conclude: docs/lookup.md ---------------------------------------------------------------------


def test_reverse_failure_is_unknown_silently() -> None:
    assert forward_name(V4, None) is None
    assert conclude(V4, None, None) == NameLookup(UnknownName())


def test_numeric_ptr_is_paranoid_without_forward_lookup() -> None:  # F01 probe64
    assert forward_name(ep("192.0.2.64"), "192.0.2.99") is None
    assert conclude(ep("192.0.2.64"), "192.0.2.99", None) == paranoid(
        "host name/name mismatch: reverse lookup results in non-FQDN 192.0.2.99"
    )


def test_numeric_check_is_per_family() -> None:
    six = ep("2001:db8::1")
    assert forward_name(six, "192.0.2.99") == "192.0.2.99"  # not numeric for AF_INET6
    assert forward_name(V4, "2001:db8::5") == "2001:db8::5"
    assert conclude(six, "2001:db8::5", None) == paranoid(
        "host name/name mismatch: reverse lookup results in non-FQDN 2001:db8::5"
    )


def test_forward_failure() -> None:  # F01 probe62
    assert conclude(ep("192.0.2.62"), "nofwd.dns.test", None) == paranoid(
        "can't verify hostname: getaddrinfo(nofwd.dns.test, AF_INET) failed"
    )
    assert conclude(ep("2001:db8::1"), "x.test", None) == paranoid(
        "can't verify hostname: getaddrinfo(x.test, AF_INET6) failed"
    )


def test_alias_ptr_is_name_mismatch() -> None:  # F01 probe63
    fwd = Forward.of("canon.dns.test", "192.0.2.63")
    assert conclude(ep("192.0.2.63"), "alias.dns.test", fwd) == paranoid(
        "host name/name mismatch: alias.dns.test != canon.dns.test"
    )


def test_missing_canonical_name_is_a_mismatch() -> None:
    assert conclude(V4, "a.test", Forward.of(None, "192.0.2.60")) == paranoid(
        "host name/name mismatch: a.test != "
    )


def test_localhost_skips_the_name_check_only() -> None:
    lo = ep("127.0.0.1")
    fwd = Forward.of("localhost.localdomain", "127.0.0.1")
    assert conclude(lo, "LocalHost", fwd) == NameLookup(KnownName("LocalHost"))
    assert conclude(lo, "localhost", Forward.of("localhost.localdomain", "127.0.0.2")) == paranoid(
        "host name/address mismatch: 127.0.0.1 != localhost.localdomain"
    )


def test_address_mismatch() -> None:  # F01 probe60
    assert conclude(V4, "liar.dns.test", Forward.of("liar.dns.test", "192.0.2.61")) == paranoid(
        "host name/address mismatch: 192.0.2.60 != liar.dns.test"
    )


def test_consistent_name_keeps_the_ptr_case() -> None:  # F02 probe68
    fwd = Forward.of("upper.dns.test", "192.0.2.68")
    assert conclude(ep("192.0.2.68"), "UPPER.DNS.TEST", fwd) == NameLookup(
        KnownName("UPPER.DNS.TEST")
    )


def test_case_folding_is_ascii_only() -> None:
    fwd = Forward.of("\u0131.test", "192.0.2.60")  # dotless i: not "I" for strcasecmp
    assert conclude(V4, "I.test", fwd).name == ParanoidName()


def test_address_anywhere_in_the_list() -> None:
    fwd = Forward.of("twoaddr.dns.test", "192.0.2.80", "192.0.2.81")
    assert conclude(ep("192.0.2.81"), "twoaddr.dns.test", fwd).name == KnownName("twoaddr.dns.test")


def test_ipv4_mapped_client_is_checked_as_ipv4() -> None:
    mapped = ep("::ffff:192.0.2.65")
    assert forward_name(mapped, "good.dns.test") == "good.dns.test"
    fwd = Forward.of("good.dns.test", "192.0.2.65")
    assert conclude(mapped, "good.dns.test", fwd).name == KnownName("good.dns.test")


def test_ipv6_scope_must_match() -> None:
    fwd = Forward.of("ll.test", "fe80::1%2")
    assert conclude(ep("fe80::1%2"), "ll.test", fwd).name == KnownName("ll.test")
    assert conclude(ep("fe80::1%3"), "ll.test", fwd) == paranoid(
        "host name/address mismatch: fe80::1 != ll.test"
    )


def test_long_names_are_truncated_to_127() -> None:  # F02 probe67
    long = "a" * 62 + "." + "b" * 63 + ".long.dns.test"
    cut = "a" * 62 + "." + "b" * 63 + "."
    assert len(cut) == 127
    assert forward_name(ep("192.0.2.67"), long) == cut
    assert conclude(ep("192.0.2.67"), long, None) == paranoid(
        f"can't verify hostname: getaddrinfo({cut}, AF_INET) failed"
    )
    # a forward answer for the truncated name is judged on the truncated name
    assert conclude(ep("192.0.2.67"), long, Forward.of(cut, "192.0.2.67")).name == KnownName(cut)


def test_canonical_name_shown_at_most_128_chars() -> None:
    canon = "c" * 200
    got = conclude(V4, "x.test", Forward.of(canon, "192.0.2.60"))
    assert got == paranoid("host name/name mismatch: x.test != " + "c" * 128)


def test_hostile_names_are_plain_values() -> None:
    name = "a;b$(id)`x`|y&z.test"
    fwd = Forward.of(name, "192.0.2.60")
    assert conclude(V4, name, fwd) == NameLookup(KnownName(name))


def test_forward_from_addrinfo() -> None:
    infos: list[tuple[Any, ...]] = [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "canon.test", ("fe80::1%2", 0, 0, 2)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", 0, 0, 0)),
    ]
    six = forward_from_addrinfo(ep("2001:db8::1"), infos)
    assert six == Forward.of("canon.test", "fe80::1%2", "2001:db8::1")
    assert forward_from_addrinfo(V4, infos) == Forward.of("canon.test", "192.0.2.1")
    assert forward_from_addrinfo(V4, []) == Forward(None, ())


# --- find_inet_addr pieces -------------------------------------------------------------------


def test_alias_warnings() -> None:  # E07, C26
    assert alias_warnings("alpha", "alpha.example.com") == (
        "alpha: hostname alias",
        "(official name: alpha.example.com)",
    )
    assert alias_warnings("ALPHA.EXAMPLE.COM", "alpha.example.com") == ()
    assert alias_warnings("x", None) == ("x: hostname alias", "(cannot obtain official name)")
    assert alias_warnings("x", "y" * 300)[1] == "(official name: " + "y" * 128 + ")"


def test_not_found_is_a_value() -> None:
    nf = lookup.not_found("nosuch.invalid")
    assert not nf.found
    assert nf.warnings == ("nosuch.invalid: host not found",)
    assert HostAddresses("h", ("192.0.2.1",)).found


# --- the drivers, with a fake resolver -------------------------------------------------------

PTR = {
    "192.0.2.60": "liar.dns.test",
    "192.0.2.63": "alias.dns.test",
    "192.0.2.64": "192.0.2.99",
    "192.0.2.65": "good.dns.test",
    "192.0.2.68": "UPPER.DNS.TEST",
    "2001:db8::1": "six.example.com",
}
NAMES: dict[bytes, tuple[str, list[str]]] = {
    b"liar.dns.test": ("liar.dns.test", ["192.0.2.61"]),
    b"alias.dns.test": ("canon.dns.test", ["192.0.2.63"]),
    b"good.dns.test": ("good.dns.test", ["192.0.2.65"]),
    b"UPPER.DNS.TEST": ("upper.dns.test", ["192.0.2.68"]),
    b"six.example.com": ("six.example.com", ["2001:db8::1"]),
    b"alpha": ("alpha.example.com", ["192.0.2.1"]),
    b"multi.example.com": ("multi.example.com", ["192.0.2.10", "192.0.2.11"]),
}


class FakeResolver:
    def __init__(self) -> None:
        self.block = threading.Event()
        self.block.set()
        self.calls: list[str] = []

    def gethostbyaddr(self, address: str) -> tuple[str, list[str], list[str]]:
        self.calls.append(f"gethostbyaddr {address}")
        self.block.wait(10)
        if address in PTR:
            return PTR[address], [], [address]
        raise socket.herror(1, "Unknown host")

    def getaddrinfo(
        self,
        host: bytes | str,
        port: Any,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, ...]]:
        assert isinstance(host, bytes)  # never through the IDNA codec
        self.calls.append(f"getaddrinfo {host.decode()} {family} {flags}")
        if flags & socket.AI_NUMERICHOST:
            try:
                ip = ipaddress.ip_address(host.decode())
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "not numeric") from None
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (str(ip), 0))]
        self.block.wait(10)
        if host not in NAMES:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        canon, addrs = NAMES[host]
        out = []
        for i, a in enumerate(addrs):
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if family not in (0, fam):
                continue
            sa = (a, 0, 0, 0) if fam == socket.AF_INET6 else (a, 0)
            out.append((fam, socket.SOCK_STREAM, 6, canon if i == 0 else "", sa))
        if not out:
            raise socket.gaierror(socket.EAI_ADDRFAMILY, "no address of that family")
        return out


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeResolver]:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "gethostbyaddr", fake.gethostbyaddr)
    monkeypatch.setattr(socket, "getnameinfo", None)  # must not be used (GIL)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    yield fake
    fake.block.set()  # let abandoned worker threads finish


SCENARIOS = {
    "192.0.2.60": paranoid("host name/address mismatch: 192.0.2.60 != liar.dns.test"),
    "192.0.2.62": NameLookup(UnknownName()),
    "192.0.2.63": paranoid("host name/name mismatch: alias.dns.test != canon.dns.test"),
    "192.0.2.64": paranoid(
        "host name/name mismatch: reverse lookup results in non-FQDN 192.0.2.99"
    ),
    "192.0.2.65": NameLookup(KnownName("good.dns.test")),
    "::ffff:192.0.2.65": NameLookup(KnownName("good.dns.test")),
    "192.0.2.68": NameLookup(KnownName("UPPER.DNS.TEST")),
    "2001:db8::1": NameLookup(KnownName("six.example.com")),
    "not an address": NameLookup(UnknownName()),
}


@pytest.mark.parametrize(("address", "expected"), SCENARIOS.items())
def test_sync_and_async_drivers_agree(
    resolver: FakeResolver, address: str, expected: NameLookup
) -> None:
    assert lookup.verify_host_name(address) == expected
    assert asyncio.run(async_lookup.verify_host_name(address)) == expected


@pytest.mark.parametrize(("address", "expected"), SCENARIOS.items())
def test_without_timeout_no_thread_is_used(
    resolver: FakeResolver, address: str, expected: NameLookup
) -> None:
    before = threading.active_count()
    seen: list[int] = []
    real = resolver.gethostbyaddr

    def spy(a: str) -> tuple[str, list[str], list[str]]:
        seen.append(threading.get_ident())
        return real(a)

    resolver.gethostbyaddr = spy  # type: ignore[method-assign]
    socket.gethostbyaddr = spy  # restored by monkeypatch (the fixture patched it)
    assert lookup.verify_host_name(address, timeout=None) == expected
    assert asyncio.run(async_lookup.verify_host_name(address, timeout=None)) == expected
    assert seen[:1] in ([], [threading.get_ident()])
    assert threading.active_count() == before


def test_numeric_ptr_makes_no_forward_lookup(resolver: FakeResolver) -> None:
    lookup.verify_host_name("192.0.2.64")
    assert resolver.calls == ["gethostbyaddr 192.0.2.64"]


def test_sync_timeout_during_reverse_is_unknown(resolver: FakeResolver) -> None:
    resolver.block.clear()
    start = time.monotonic()
    assert lookup.verify_host_name("192.0.2.65", timeout=0.2) == NameLookup(UnknownName())
    assert time.monotonic() - start < 1.0


def test_async_timeout_during_reverse_is_unknown(resolver: FakeResolver) -> None:
    resolver.block.clear()

    async def run() -> NameLookup:
        try:
            return await async_lookup.verify_host_name("192.0.2.65", timeout=0.2)
        finally:
            resolver.block.set()  # so asyncio.run can shut its executor down

    start = time.monotonic()
    assert asyncio.run(run()) == NameLookup(UnknownName())
    assert time.monotonic() - start < 1.0


class SlowForward(FakeResolver):
    """Answers reverse lookups at once; forward lookups wait for `block`."""

    def gethostbyaddr(self, address: str) -> tuple[str, list[str], list[str]]:
        return PTR[address], [], [address]


@pytest.fixture
def slow_forward(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowForward]:
    fake = SlowForward()
    fake.block.clear()
    monkeypatch.setattr(socket, "gethostbyaddr", fake.gethostbyaddr)
    monkeypatch.setattr(socket, "getnameinfo", None)  # must not be used (GIL)
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    yield fake
    fake.block.set()


TIMED_OUT_FORWARD = paranoid("can't verify hostname: getaddrinfo(good.dns.test, AF_INET) failed")


def test_sync_timeout_during_forward_is_paranoid(slow_forward: SlowForward) -> None:
    assert lookup.verify_host_name("192.0.2.65", timeout=0.2) == TIMED_OUT_FORWARD


def test_async_timeout_during_forward_is_paranoid(slow_forward: SlowForward) -> None:
    async def run() -> NameLookup:
        try:
            return await async_lookup.verify_host_name("192.0.2.65", timeout=0.2)
        finally:
            slow_forward.block.set()

    assert asyncio.run(run()) == TIMED_OUT_FORWARD


def test_find_inet_addr_numeric_first(resolver: FakeResolver) -> None:
    got = lookup.find_inet_addr("192.0.2.1")
    assert got == HostAddresses("192.0.2.1", ("192.0.2.1",), numeric=True)
    assert len(resolver.calls) == 1


def test_find_inet_addr_alias(resolver: FakeResolver) -> None:
    got = lookup.find_inet_addr("alpha")
    assert got.addresses == ("192.0.2.1",)
    assert got.warnings == ("alpha: hostname alias", "(official name: alpha.example.com)")
    assert got.canonical == "alpha.example.com"
    assert not got.numeric


def test_find_inet_addr_keeps_resolver_order(resolver: FakeResolver) -> None:
    got = lookup.find_inet_addr("multi.example.com")
    assert got.addresses == ("192.0.2.10", "192.0.2.11")
    assert got.warnings == ()


def test_find_inet_addr_not_found(resolver: FakeResolver) -> None:
    assert lookup.find_inet_addr("nosuch.invalid") == lookup.not_found("nosuch.invalid")


def test_find_inet_addr_timeout_is_not_found(resolver: FakeResolver) -> None:
    resolver.block.clear()
    assert lookup.find_inet_addr("alpha", timeout=0.1) == lookup.not_found("alpha")


def test_programming_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(socket, "gethostbyaddr", broken)
    with pytest.raises(RuntimeError, match="bug"):
        lookup.verify_host_name("192.0.2.1")
