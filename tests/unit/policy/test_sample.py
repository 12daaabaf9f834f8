"""policy.sample: the probes sit on both sides of every pattern (network and prefix
boundaries, suffixes, wildcards, EXCEPT branches, user@host, the name states), and each
boundary pair really is decided differently by the pattern it comes from."""

from __future__ import annotations

from tcpwrap.library.ctl import ctl_connection
from tcpwrap.policy.decision import Verdict
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.sample import (
    BASE_ADDR,
    LOCAL_NAME,
    OTHER_DAEMON,
    OTHER_USER,
    Probe,
    sample,
)

from .support import policy


def probes_of(deny: str) -> list[Probe]:
    probes, cut = sample([policy("", deny)])
    assert not cut
    return probes


def addresses(probes: list[Probe]) -> set[str]:
    return {p.addr for p in probes}


def names(probes: list[Probe]) -> set[str]:
    return {p.name for p in probes}


def test_network_and_prefix_boundaries() -> None:
    found = addresses(probes_of("ALL: 10.0.0.0/8 192.0.2.0/255.255.255.128 172.16.\n"))
    assert {"10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"} <= found
    assert {"192.0.2.0", "192.0.2.127", "192.0.1.255", "192.0.2.128"} <= found
    assert {"172.16.0.0", "172.16.255.255", "172.15.255.255", "172.17.0.0"} <= found


def test_ipv6_networks_and_exact_addresses() -> None:
    found = addresses(probes_of("ALL: [2001:db8::]/32 192.0.2.9 [2001:db8::5]\n"))
    last = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
    below = "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"
    assert {"2001:db8::", last, below, "2001:db9::"} <= found
    assert {"192.0.2.8", "192.0.2.9", "192.0.2.10", "2001:db8::4", "2001:db8::6"} <= found


def test_suffixes_names_wildcards_and_except_branches() -> None:
    found = names(probes_of("ALL: .example.org EXCEPT host.example.org\nALL: *.test\n"))
    assert {"h.example.org", "example.org", "hexample.org"} <= found
    assert {"host.example.org", "x.host.example.org"} <= found
    assert {"x.test"} <= found


def test_name_states_daemons_and_users() -> None:
    probes = probes_of("in.fingerd in.* : root@.example.org\n")
    assert {"unknown", "paranoid", LOCAL_NAME} <= names(probes)
    assert {OTHER_DAEMON, "in.fingerd", "in.x"} <= {p.daemon for p in probes}
    assert {"root", OTHER_USER, "unknown"} <= {p.user for p in probes}


def test_each_boundary_pair_is_split_by_its_pattern() -> None:
    deny = "ALL: 10.0.0.0/8 .example.org UNKNOWN\n"
    pol = policy("", deny)
    verdicts = {
        (p.addr, p.name): evaluate(pol, ctl_connection(p.daemon, p.name, p.addr, p.user)).verdict
        for p in sample([pol])[0]
        if p.daemon == OTHER_DAEMON and p.user == "unknown"
    }
    assert verdicts[("10.0.0.0", "paranoid")] is Verdict.DENY
    assert verdicts[("9.255.255.255", "paranoid")] is Verdict.GRANT
    assert verdicts[(BASE_ADDR, "h.example.org")] is Verdict.DENY
    assert verdicts[(BASE_ADDR, "example.org")] is Verdict.GRANT
    assert verdicts[(BASE_ADDR, "unknown")] is Verdict.DENY


def test_the_limit_cuts_and_says_so() -> None:
    probes, cut = sample([policy("", "ALL: 10.0.0.0/8\n")], limit=5)
    assert cut and len(probes) == 5
