"""The compiled index decides exactly like the naive line-by-line scan (`use_index=False`).

Both evaluations are driven by the same fact provider (names known/unknown/paranoid with
warnings, ident users, aclexec results) that records every Need it is asked for; the Decisions
(verdict, deciding file:line, diagnostics, actions, lookups, log texts) and the sequences of
Needs must be identical. Small tables come straight from hypothesis; large ones (hundreds of
lines mixing indexable and residual rules) from a hypothesis-chosen seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import AclExecResult, Connection, Decision, Endpoint, Mode, NeedRequest
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.facts import HostName, KnownName, NameLookup, Need, ParanoidName, UnknownName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.rules import Language, TableSource

DAEMONS = ["sshd", "in.ftpd", "in.fingerd", "SSHD", "telnetd", "::ffff:10.0.0.1"]
DAEMON_TOKENS = [
    "sshd", "in.ftpd", "ALL", "ALL", "ALL", "in.*", "in.", ".fingerd", "KNOWN", "SSHD",
    "sshd@192.0.2.200", "sshd@srv.example", "22", "0", "EXCEPT", "ALL EXCEPT in.ftpd",
    "10.0.0.1",  # the daemon "::ffff:10.0.0.1" matches it (string_match strips the prefix)
]  # fmt: skip
INDEXABLE = [
    "192.0.2.1", "192.0.2.2", "192.0.2.3", "10.0.0.1", "198.51.100.7", "2001:db8::1",
    "192.0.2.", "10.", "198.51.", "::ffff:192.0.2.1",
    ".example.com", ".EXAMPLE.com", ".net", "a.example.com", "b.example.com", "plain",
    "host.example.net", "paranoid", "unknown", "UNKNOWN", "www.",
    "192.0.2.0/24", "192.0.2.0/255.255.255.252", "10.0.0.0/255.0.0.0", "0.0.0.0/0.0.0.0",
    "192.0.2.1/32", "192.0.2.1/255.255.255.255", "192.0.2/24", "[2001:db8::1]",
    "[2001:db8::]/32", "[::]/0", "[::ffff:192.0.2.1]", "ALL",
]  # fmt: skip
RESIDUAL = [
    "KNOWN", "LOCAL", "PARANOID", "192.0.2.*", "*.example.com", "a*", "?.example.com",
    "joe@ALL", "KNOWN@192.0.2.", "UNKNOWN@ALL", "root@.example.com", "@trusted", "/etc/bl",
    "/etc/loop", "EXCEPT", "EXCEPT",
]  # fmt: skip
OPTIONS = [
    "allow", "deny", "spawn echo %h %n %u", "rfc931 3", "bogus", "banners /b", "setenv X %c",
    "twist echo %a", "aclexec check %a", "umask 022: allow", "severity mail.info", "nice 5",
    "spawn %z", "user nobody", "deny: x",
]  # fmt: skip
NAMES: list[HostName] = [
    KnownName("a.example.com"),
    KnownName("HOST.example.net"),
    KnownName("plain"),
    KnownName("www.example.org"),
    UnknownName(),
    ParanoidName(),
]
ADDRESSES = [
    "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.77", "10.0.0.1", "10.9.9.9", "198.51.100.7",
    "203.0.113.5", "::ffff:192.0.2.1", "2001:db8::1", "2001:db8::5", "fe80::1", "unknown",
]  # fmt: skip
ENV = StaticEnvironment(
    files={"/etc/bl": "192.0.2.3 .example.net\n", "/etc/loop": "198.51.100.9 /etc/loop\n"},
    netgroups={"trusted": {"plain", "a.example.com"}},
    banner_dirs={"/b"},
    banners={("/b", "sshd"): b"hello %a\n"},
)
MODES = [Mode(), Mode(verbose=True), Mode(dry_run=False), Mode(dry_run=False, verbose=True),
         Mode(dry_run=False, debian_aclexec=True), Mode(header=True, verbose=True)]


@dataclass
class Recorder:
    """A fact provider with fixed answers that records the Needs in order."""

    name: NameLookup
    server_name: NameLookup
    user: str | None
    acl_status: int
    asked: list[NeedRequest] = field(default_factory=list)

    def __call__(self, request: NeedRequest) -> object:
        self.asked.append(request)
        if request.need is Need.CLIENT_NAME:
            return self.name
        if request.need is Need.SERVER_NAME:
            return self.server_name
        if request.need is Need.CLIENT_USER:
            return self.user
        return AclExecResult(4242, self.acl_status)


@dataclass(frozen=True)
class Query:
    connection: Connection
    name: NameLookup
    user: str | None
    acl_status: int
    mode: Mode


def both(allow: bytes, deny: bytes, query: Query, language: Language) -> None:
    policy = compile_policy(
        TableSource("hosts.allow", allow), TableSource("hosts.deny", deny), language
    )
    results: list[tuple[Decision, list[NeedRequest]]] = []
    for use_index in (True, False):
        recorder = Recorder(query.name, NameLookup(KnownName("srv.example")), query.user,
                            query.acl_status)
        evaluation = Evaluation(policy, query.connection, query.mode, ENV, use_index=use_index)
        results.append((evaluation.run(recorder), recorder.asked))
    (indexed, indexed_needs), (naive, naive_needs) = results
    assert indexed_needs == naive_needs
    assert indexed == naive


# --------------------------------------------------------------------------- small tables

client_token = st.sampled_from(INDEXABLE + INDEXABLE + RESIDUAL)
rule = st.builds(
    lambda daemons, clients, option, sep: (
        f"{', '.join(daemons)}:{sep}{' '.join(clients)}" + (f": {option}" if option else "")
    ),
    st.lists(st.sampled_from(DAEMON_TOKENS), min_size=1, max_size=3),
    st.lists(client_token, min_size=1, max_size=4),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(OPTIONS)),
    st.sampled_from([" ", "\t", ""]),
)
line = st.one_of(rule, rule, rule, st.sampled_from(["# comment", "", "no separator", "  "]))
table = st.builds(
    lambda lines, final: ("\n".join(lines) + ("\n" if final else "")).encode(),
    st.lists(line, max_size=12),
    st.sampled_from([True, True, True, False]),
)
host_name = st.builds(
    NameLookup,
    st.sampled_from(NAMES),
    st.sampled_from([(), ("host name/address mismatch: 192.0.2.1 != a.example.com",)]),
)
query = st.builds(
    Query,
    st.builds(
        lambda daemon, addr, resolvable, identable, server, user: Connection(
            daemon,
            client=Endpoint(addr=None if addr == "unknown" else addr, port=4321,
                            resolvable=resolvable),
            server=server,
            user=user,
            identable=identable,
            pid=7,
        ),
        st.sampled_from(DAEMONS),
        st.sampled_from(ADDRESSES),
        st.booleans(),
        st.booleans(),
        st.sampled_from([
            Endpoint(),
            Endpoint(addr="192.0.2.200", port=22, resolvable=True),
            Endpoint(addr="198.51.100.1", port=0, name="srv.example"),
        ]),
        st.sampled_from([None, None, "joe", "a b"]),
    ),
    host_name,
    st.sampled_from([None, "joe", "root", "unknown"]),
    st.sampled_from([0, 1]),
    st.sampled_from(MODES),
)


@settings(max_examples=1500, deadline=None)
@given(table, table, query)
def test_index_equals_naive_scan_on_small_tables(allow: bytes, deny: bytes, q: Query) -> None:
    both(allow, deny, q, Language.OPTIONS)


@settings(max_examples=200, deadline=None)
@given(table, table, query)
def test_index_equals_naive_scan_classic_language(allow: bytes, deny: bytes, q: Query) -> None:
    both(allow, deny, q, Language.CLASSIC)


# --------------------------------------------------------------------------- large tables


def large_table(rng: random.Random, lines: int, residual_share: float) -> bytes:
    out: list[str] = []
    for i in range(lines):
        roll = rng.random()
        if roll < 0.02:
            out.append(rng.choice(["# comment", "", "missing separator"]))
            continue
        if roll < residual_share:
            clients = [rng.choice(RESIDUAL), rng.choice(INDEXABLE)]
            rng.shuffle(clients)
        else:
            clients = [
                rng.choice([
                    f"10.{i % 256}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                    f"host{i}.example{rng.randrange(5)}.com",
                    f".d{rng.randrange(50)}.example",
                    f"172.{16 + rng.randrange(16)}.{rng.randrange(256)}.0/24",
                    f"192.168.{rng.randrange(256)}.0/255.255.255.0",
                    rng.choice(INDEXABLE),
                ])
                for _ in range(rng.randrange(1, 3))
            ]
        daemons = rng.choice([["ALL"], ["sshd"], ["in.ftpd", "sshd"], [rng.choice(DAEMON_TOKENS)]])
        text = f"{', '.join(daemons)}: {' '.join(clients)}"
        if rng.random() < 0.03:
            text += ": " + rng.choice(OPTIONS)
        out.append(text)
    return ("\n".join(out) + "\n").encode()


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(100, 600),
    st.sampled_from([0.0, 0.02, 0.1, 0.3]),
    st.lists(query, min_size=1, max_size=6),
)
def test_index_equals_naive_scan_on_large_tables(
    seed: int, lines: int, residual_share: float, queries: list[Query]
) -> None:
    rng = random.Random(seed)
    allow = large_table(rng, lines // 4, residual_share)
    deny = large_table(rng, lines, residual_share)
    for q in queries:
        both(allow, deny, q, Language.OPTIONS)
