"""The test namespace itself: addresses, private /etc, dnsmasq through glibc, syslog capture.

Every later e2e test stands on these facts, so they are checked here first, against the
conformance zone file itself (not a copy of it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import syslog as pysyslog
import time
from pathlib import Path

import pytest

from harness.dnsquery import query
from harness.netns import CONFORMANCE_DIR
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

CONF = Path(CONFORMANCE_DIR) / "conf"
HARNESS = Path(__file__).resolve().parent.parent / "harness"


def _zone() -> list[tuple[str, str, str]]:
    out = []
    for line in (CONF / "dns.zone").read_text(encoding="latin-1").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, rtype, value = line.split(None, 2)
            out.append((name, rtype, value))
    return out


def _unescape(name: str) -> str:
    """The zone's \\ddd escapes, decoded (e.g. we\\032ird -> 'we ird')."""
    out, i = "", 0
    while i < len(name):
        if name[i] == "\\" and name[i + 1 : i + 4].isdigit():
            out += chr(int(name[i + 1 : i + 4]))
            i += 4
        else:
            out += name[i]
            i += 1
    return out


def _ptr_address(arpa: str) -> str:
    return ".".join(reversed(arpa.removesuffix(".in-addr.arpa").split(".")))


def _reverse(address: str) -> str | None:
    try:
        return socket.getnameinfo((address, 0), socket.NI_NAMEREQD)[0]
    except socket.gaierror:
        return None


def _forward(name: str) -> list[str]:
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


ZONE = _zone()
# Where dnsmasq + glibc cannot give what the oracle's fake server gave (README.md explains):
PTR_EXCEPTIONS = {
    "192.0.2.66": None,  # space and ';' in the PTR: dnsmasq serves it, glibc refuses it
    "192.0.2.68": "upper.dns.test",  # dnsmasq lower-cases configured names
}
# glibc refuses to even ask for this name; it is checked with a raw query instead.
UNASKABLE = {"we ird;x.dns.test"}


@pytest.mark.parametrize(
    ("arpa", "target"), [(n, v) for n, t, v in ZONE if t == "PTR"], ids=lambda s: s[:24]
)
def test_zone_ptr_through_getnameinfo(arpa: str, target: str) -> None:
    address = _ptr_address(arpa)
    expected = PTR_EXCEPTIONS.get(address, _unescape(target))
    assert _reverse(address) == expected
    # ... and dnsmasq really serves the zone's text, even where glibc refuses it
    assert query(arpa, "PTR").records == [("PTR", _unescape(target).lower())]


def _a_records() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for name, rtype, value in ZONE:
        if rtype == "A":
            table.setdefault(_unescape(name), []).append(value)
    return table


@pytest.mark.parametrize(("name", "addresses"), sorted(_a_records().items()), ids=lambda s: s[:24])
def test_zone_a_through_getaddrinfo(name: str, addresses: list[str]) -> None:
    if name in UNASKABLE:
        with pytest.raises(socket.gaierror):
            _forward(name)
        assert query(name, "A").records == [("A", a) for a in addresses]
    else:
        assert _forward(name) == addresses  # the zone's order too (twoaddr: .80, .81)


def test_zone_cname_gives_canonical_name() -> None:
    for name, rtype, value in ZONE:
        if rtype == "CNAME":
            infos = socket.getaddrinfo(
                name, None, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_CANONNAME
            )
            assert infos[0][3] == value


def test_addresses_without_ptr_have_no_name() -> None:
    with_ptr = {_ptr_address(n) for n, t, _ in ZONE if t == "PTR"}
    without = sorted({v for _, t, v in ZONE if t == "A"} - with_ptr)
    assert "192.0.2.73" in without
    for address in without:
        assert _reverse(address) is None, address


def test_missing_names_are_nxdomain_fast() -> None:
    start = time.monotonic()
    for name in ("nofwd.dns.test", "nothing.example", "x.e2e.test", "nofwd.e2e.test"):
        with pytest.raises(socket.gaierror) as err:
            _forward(name)
        assert err.value.errno == socket.EAI_NONAME
        assert query(name, "A").rcode == 3
    assert _reverse("192.0.2.200") is None
    assert time.monotonic() - start < 2.0


# The crafted e2e records (README.md, "Crafted records"): what glibc returns for each address.
CRAFTED_REVERSE = {
    "127.0.0.2": "good2.e2e.test",
    "127.0.0.3": "liar.e2e.test",
    "127.0.0.4": "127.0.0.44",
    "127.0.0.5": None,
    "127.0.0.6": None,  # served as a;b$(id).e2e.test, refused by glibc
    "127.0.0.7": "c" * 63 + "." + "d" * 63 + ".e2e.test",
    "127.0.0.8": "alias.e2e.test",
    "127.0.0.9": "nofwd.e2e.test",
    "127.0.0.10": "multi.e2e.test",
    "127.0.0.11": "multi.e2e.test",
    "127.0.0.12": None,  # served as x|y&z>w<v`id`.e2e.test, refused by glibc
    "127.0.0.14": "cnameptr.e2e.test",
    "127.0.0.18": "solo2",
    "127.0.0.65": "host.slow.e2e.test",
    "127.0.1.1": "a;b$(id).hosts.test",
    "127.0.1.2": "x`id`|y&z>w<v.hosts.test",
    "127.0.1.3": "100%n%h%d.hosts.test",
    "127.0.1.4": "Mixed.CASE.hosts.test",
    "127.0.1.5": "f" * 60 + "$(reboot)." + "g" * 66 + ".hosts.test",
}
CRAFTED_FORWARD = {
    "good2.e2e.test": ["127.0.0.2"],
    "liar.e2e.test": ["127.0.0.33"],
    "c" * 63 + "." + "d" * 63 + ".e2e.test": ["127.0.0.7"],
    "alias.e2e.test": ["127.0.0.8"],
    "multi.e2e.test": ["127.0.0.11", "127.0.0.10"],
    "cnameptr.e2e.test": ["127.0.0.14"],
    "solo2": ["127.0.0.18"],
    "a;b$(id).hosts.test": ["127.0.1.1"],
    "Mixed.CASE.hosts.test": ["127.0.1.4"],
}


@pytest.mark.parametrize(("address", "name"), sorted(CRAFTED_REVERSE.items()))
def test_crafted_reverse(address: str, name: str | None) -> None:
    assert _reverse(address) == name


@pytest.mark.parametrize(("name", "addresses"), sorted(CRAFTED_FORWARD.items()))
def test_crafted_forward(name: str, addresses: list[str]) -> None:
    assert _forward(name) == addresses


def test_hostile_ptrs_are_served_but_refused_by_glibc() -> None:
    assert query("6.0.0.127.in-addr.arpa", "PTR").records == [("PTR", "a;b$(id).e2e.test")]
    assert query("12.0.0.127.in-addr.arpa", "PTR").records == [("PTR", "x|y&z>w<v`id`.e2e.test")]
    assert _reverse("127.0.0.6") is None
    assert _reverse("127.0.0.12") is None


def test_test_addresses_are_bindable() -> None:
    for family, address in [
        (socket.AF_INET, "192.0.2.1"),
        (socket.AF_INET, "192.0.2.254"),
        (socket.AF_INET, "198.51.100.7"),
        (socket.AF_INET, "203.0.113.5"),
        (socket.AF_INET, "203.0.113.74"),
        (socket.AF_INET, "10.1.2.3"),
        (socket.AF_INET, "172.16.5.4"),
        (socket.AF_INET, "127.0.0.2"),
        (socket.AF_INET6, "2001:db8::1"),
        (socket.AF_INET6, "2001:db8:1::5"),
        (socket.AF_INET6, "::1"),
    ]:
        with socket.socket(family) as server, socket.socket(family) as client:
            server.bind((address, 0))
            server.listen()
            client.bind((address, 0))  # as a client source address too
            client.connect(server.getsockname()[:2])
            conn, peer = server.accept()
            conn.close()
            assert peer[0] == address


def test_etc_is_private() -> None:
    hosts = Path("/etc/hosts").read_text()
    assert hosts == (CONF / "hosts").read_text() + (HARNESS / "hosts.e2e").read_text()
    for f in ("nsswitch.conf", "netgroup", "inetd.conf"):
        assert Path("/etc", f).read_bytes() == (CONF / f).read_bytes()
    assert Path("/etc/resolv.conf").read_text() == "nameserver 127.0.0.1\n"
    assert not Path("/etc/hosts.allow").exists()
    assert not Path("/etc/hosts.deny").exists()
    # the machine's own /etc, kept read-only beside ours by ns_enter.sh, is untouched
    host_etc = Path(os.environ["TCPWRAP_NS_STAGE"], "host-etc")
    assert "tcpwrap e2e additions" not in (host_etc / "hosts").read_text()
    with pytest.raises(OSError, match="Read-only"):
        (host_etc / "hosts").open("a")
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    assert any(line.split()[4] == "/etc" for line in mounts)
    assert any(line.split()[4] == "/dev" for line in mounts)


def test_syslog_module_records_are_captured(syslog: SyslogCapture) -> None:
    pysyslog.openlog("harness-test", pysyslog.LOG_PID, pysyslog.LOG_DAEMON)
    try:
        pysyslog.syslog(pysyslog.LOG_WARNING, "refused connect from 192.0.2.1 (192.0.2.1)")
    finally:
        pysyslog.closelog()
    rec = syslog.wait_for(lambda r: r.tag == "harness-test")
    assert rec == (
        "daemon",
        "warning",
        "harness-test",
        os.getpid(),
        "refused connect from 192.0.2.1 (192.0.2.1)",
    )
    assert rec.line() == (
        "syslog(daemon.warning) harness-test[PID]: refused connect from 192.0.2.1 (192.0.2.1)"
    )


def test_logger_records_are_captured(syslog: SyslogCapture) -> None:
    subprocess.run(["logger", "-p", "user.err", "-t", "tcpdmatch", "warning: x; y"], check=True)
    subprocess.run(
        ["logger", "-i", "-p", "local3.debug", "-t", "in.fingerd", "connect from a b"], check=True
    )
    subprocess.run(
        ["logger", "--rfc5424=notq", "-p", "auth.info", "-t", "five", "rfc 5424"], check=True
    )
    syslog.wait_for_count(3)
    recs = syslog.records()
    assert recs[0] == ("user", "err", "tcpdmatch", None, "warning: x; y")
    assert recs[1][:3] == ("local3", "debug", "in.fingerd")
    assert isinstance(recs[1].pid, int)
    assert recs[1].message == "connect from a b"
    assert (recs[2].facility, recs[2].severity, recs[2].tag, recs[2].message) == (
        "auth",
        "info",
        "five",
        "rfc 5424",
    )


def test_wait_for_fails_when_nothing_matches(syslog: SyslogCapture) -> None:
    with pytest.raises(AssertionError, match="no matching syslog record"):
        syslog.wait_for(lambda r: True, timeout=0.2)
