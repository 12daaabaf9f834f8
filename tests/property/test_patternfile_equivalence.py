"""Compiled `/file` lists decide exactly like the naive token-by-token scan.

Pattern files are generated from tokens of every kind (indexable addresses, names, prefixes,
suffixes, networks, ALL; residual KNOWN, LOCAL, wildcards, netgroups, nested and self-including
files, an unreadable file, literal junk), used on the client side (`ALL: /f0`), on the server
side (`sshd@/f1`), after `user@` and under EXCEPT. Each query is evaluated with the compiled
files (`use_index=True`) and with the naive scan (`use_index=False`, which also scans files
token by token); decisions (verdict, origin, diagnostics, actions, lookups) and the Needs asked
for, in order, must be identical. Appends: a file compiled from a prefix and then extended
(`PatternFile.extend`, `load_pattern_file` with the previous bytes) must decide like a fresh
compile of the whole file, and the version handed out before the append must keep deciding
like the prefix alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Connection, Decision, Endpoint, Mode, NeedRequest
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.facts import HostName, KnownName, NameLookup, Need, ParanoidName, UnknownName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.patternfile import (
    PatternFile,
    compile_pattern_file,
    load_pattern_file,
    split_tokens,
)
from tcpwrap.policy.rules import Policy, TableSource

FILES = ("/f0", "/f1", "/f2")
INDEXABLE = [
    "192.0.2.1", "192.0.2.2", "10.0.0.1", "198.51.100.7", "2001:db8::1", "192.0.2.",
    "10.", ".2.1", ".", "::ffff:192.0.2.1", ".example.com", ".EXAMPLE.com", ".net",
    "a.example.com", "plain", "HOST.example.net", "paranoid", "unknown", "UNKNOWN", "www.",
    "192.0.2.0/24", "192.0.2.0/255.255.255.252", "10.0.0.0/255.0.0.0", "0.0.0.0/0.0.0.0",
    "192.0.2.1/32", "192.0.2/24", "[2001:db8::1]", "[2001:db8::]/32", "[::]/0", "[zz]",
    "[::ffff:192.0.2.1]", "ALL", "all", "1.2.3.4/99", "10.0.0.1/255.255.0.255",
]  # fmt: skip
RESIDUAL = [
    "KNOWN", "LOCAL", "192.0.2.*", "*.example.com", "a*", "?.example.com", "@trusted",
    "@nosuch", "/f0", "/f1", "/f2", "/missing", "/secret",
]  # fmt: skip
JUNK = ["EXCEPT", "#", "#192.0.2.1", "192.0.2.1,192.0.2.2", "joe@192.0.2.1", "x" * 40]
NAMES: list[HostName] = [
    KnownName("a.example.com"),
    KnownName("host.example.net"),
    KnownName("plain"),
    KnownName("www.example.org"),
    UnknownName(),
    ParanoidName(),
]
ADDRESSES = [
    "192.0.2.1", "192.0.2.2", "192.0.2.77", "10.0.0.1", "10.9.9.9", "198.51.100.7",
    "203.0.113.5", "::ffff:192.0.2.1", "2001:db8::1", "2001:db8::5", "fe80::1", "unknown",
]  # fmt: skip
RULES = [
    "ALL: /f0", "sshd: /f1", "ALL: /f0 /f1", "ALL: /f2 EXCEPT /f1", "sshd@/f1: ALL",
    "ALL@/f0: 192.0.2.", "ALL: joe@/f1", "ALL: KNOWN /f0", "ALL: .example.com /f2",
    "ALL: /f1: spawn echo %h", "sshd: 10.9.9.9", "ALL: /f0: deny",
]  # fmt: skip
MODES = [Mode(), Mode(verbose=True), Mode(dry_run=False), Mode(header=True, verbose=True)]
BASE = StaticEnvironment(netgroups={"trusted": {"plain", "a.example.com"}})


class FileEnv:
    """An Environment serving given compiled files; `/secret` cannot be opened."""

    def __init__(self, compiled: dict[str, PatternFile]) -> None:
        self.compiled = compiled

    def pattern_file(self, path: str) -> PatternFile | str | None:
        if path == "/secret":
            return "Permission denied"
        return self.compiled.get(path)

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        return BASE.banner(directory, daemon)

    def innetgr(self, group: str, host: str) -> bool:
        return BASE.innetgr(group, host)

    def user_exists(self, name: str) -> bool:
        return BASE.user_exists(name)

    def group_exists(self, name: str) -> bool:
        return BASE.group_exists(name)


@dataclass
class Recorder:
    name: NameLookup
    server_name: NameLookup
    user: str | None
    asked: list[NeedRequest] = field(default_factory=list)

    def __call__(self, request: NeedRequest) -> object:
        self.asked.append(request)
        if request.need is Need.CLIENT_NAME:
            return self.name
        if request.need is Need.SERVER_NAME:
            return self.server_name
        return self.user


@dataclass(frozen=True)
class Query:
    connection: Connection
    name: NameLookup
    server_name: NameLookup
    user: str | None
    mode: Mode


def decide(
    policy: Policy, env: FileEnv, query: Query, use_index: bool
) -> tuple[Decision, list[NeedRequest]]:
    recorder = Recorder(query.name, query.server_name, query.user)
    evaluation = Evaluation(policy, query.connection, query.mode, env, use_index=use_index)
    return evaluation.run(recorder), recorder.asked


def policy_of(rules: list[str]) -> Policy:
    text = "".join(rule + "\n" for rule in rules).encode()
    deny = TableSource("hosts.deny", b"ALL: ALL\n")
    return compile_policy(TableSource("hosts.allow", text), deny)


token = st.sampled_from(INDEXABLE + INDEXABLE + RESIDUAL + JUNK)
files = st.fixed_dictionaries({path: st.lists(token, max_size=10) for path in FILES})
name_lookup = st.builds(
    NameLookup,
    st.sampled_from(NAMES),
    st.sampled_from([(), ("host name/address mismatch: 192.0.2.1 != a.example.com",)]),
)
query = st.builds(
    Query,
    st.builds(
        lambda daemon, addr, resolvable, server, user: Connection(
            daemon,
            client=Endpoint(addr=None if addr == "unknown" else addr, port=4321,
                            resolvable=resolvable),
            server=server,
            user=user,
            identable=True,
            pid=7,
        ),
        st.sampled_from(["sshd", "in.ftpd"]),
        st.sampled_from(ADDRESSES),
        st.booleans(),
        st.sampled_from([
            Endpoint(),
            Endpoint(addr="192.0.2.1", port=22, resolvable=True),
            Endpoint(addr="198.51.100.7", port=22, name="plain"),
        ]),
        st.sampled_from([None, "joe"]),
    ),
    name_lookup,
    name_lookup,
    st.sampled_from([None, "joe", "root"]),
    st.sampled_from(MODES),
)


def check_equal(policy: Policy, compiled: dict[str, PatternFile], q: Query) -> Decision:
    env = FileEnv(compiled)
    indexed = decide(policy, env, q, True)
    naive = decide(policy, env, q, False)
    assert indexed[1] == naive[1]  # the same Needs, in the same order
    assert indexed[0] == naive[0]
    return indexed[0]


@settings(max_examples=1500, deadline=None)
@given(files, st.lists(st.sampled_from(RULES), min_size=1, max_size=4), query)
def test_compiled_files_equal_naive_scan(
    tokens: dict[str, list[str]], rules: list[str], q: Query
) -> None:
    compiled = {path: compile_pattern_file(toks) for path, toks in tokens.items()}
    check_equal(policy_of(rules), compiled, q)


@settings(max_examples=600, deadline=None)
@given(files, st.data(), st.lists(st.sampled_from(RULES), min_size=1, max_size=3), query)
def test_appended_files_equal_fresh_compiles(
    tokens: dict[str, list[str]], data: st.DataObject, rules: list[str], q: Query
) -> None:
    policy = policy_of(rules)
    cuts = {path: data.draw(st.integers(0, len(toks)), label=path) for path, toks in tokens.items()}
    before = {path: compile_pattern_file(toks[: cuts[path]]) for path, toks in tokens.items()}
    expected_before = check_equal(policy, before, q)
    after = {path: before[path].extend(toks[cuts[path] :]) for path, toks in tokens.items()}
    fresh = {path: compile_pattern_file(toks) for path, toks in tokens.items()}
    assert {path: f.tokens for path, f in after.items()} == {
        path: tuple(toks) for path, toks in tokens.items()
    }
    assert check_equal(policy, after, q) == check_equal(policy, fresh, q)
    # The versions handed out before the append still decide as before it.
    assert check_equal(policy, before, q) == expected_before


# --------------------------------------------------------------------------- large files


def large_file(rng: random.Random, count: int, residual_share: float) -> list[str]:
    out: list[str] = []
    for i in range(count):
        roll = rng.random()
        if roll < residual_share:
            out.append(rng.choice(RESIDUAL + JUNK))
        elif roll < 0.5:
            out.append(f"10.{i % 256}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
        else:
            out.append(rng.choice([
                f"host{i}.example{rng.randrange(5)}.com",
                f".d{rng.randrange(50)}.example",
                f"172.{16 + rng.randrange(16)}.{rng.randrange(256)}.0/24",
                f"192.168.{rng.randrange(256)}.0/255.255.255.0",
                f"[2001:db8:{rng.randrange(65536):x}::]/48",
                rng.choice(INDEXABLE),
            ]))
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 2**32),
    st.integers(50, 800),
    st.sampled_from([0.0, 0.01, 0.05, 0.2]),
    st.lists(st.sampled_from(RULES), min_size=1, max_size=3),
    st.lists(query, min_size=1, max_size=5),
)
def test_large_files_equal_naive_scan(
    seed: int, count: int, residual_share: float, rules: list[str], queries: list[Query]
) -> None:
    rng = random.Random(seed)
    tokens = {path: large_file(rng, count // (1 + n), residual_share) for n, path in
              enumerate(FILES)}
    policy = policy_of(rules)
    fresh = {path: compile_pattern_file(toks) for path, toks in tokens.items()}
    cut = rng.randrange(count // 2 + 1)
    appended = {
        path: compile_pattern_file(toks[:cut]).extend(toks[cut:]) for path, toks in tokens.items()
    }
    for q in queries:
        assert check_equal(policy, fresh, q) == check_equal(policy, appended, q)


# --------------------------------------------------------------------------- bytes


chunk = st.lists(
    st.sampled_from([b"192.0.2.1", b"10.", b" ", b"\n", b"\t", b"\x0b", b"\x0c", b"\r", b"a",
                     b".example.com", b"/f1", b"\xe9", b"\x00", b"\x1c"]),
    max_size=12,
).map(b"".join)


@settings(max_examples=500, deadline=None)
@given(chunk, chunk, chunk)
def test_load_pattern_file_reuses_only_true_appends(first: bytes, second: bytes,
                                                    other: bytes) -> None:
    old = load_pattern_file(first)
    assert old.tokens == tuple(split_tokens(first))
    new = load_pattern_file(first + second, (first, old))
    assert new.tokens == tuple(split_tokens(first + second))  # a cut token is re-read whole
    assert old.tokens == tuple(split_tokens(first))  # the old version is unchanged
    again = load_pattern_file(other, (first + second, new))
    assert again.tokens == tuple(split_tokens(other))
    if first and first[-1:] not in (b" ", b"\n", b"\t", b"\x0b", b"\x0c", b"\r"):
        assert new._index is not old._index  # possibly cut: compiled afresh


class KnownFacts:
    """A MatchContext with the client's address and name known (hosts_ctl's)."""

    def __init__(self, address: str, name: str) -> None:
        self.address, self.name_text = address, name
        self.stack: list[str] = []
        self.restrictive = False

    def daemon(self) -> str:
        return "sshd"

    def server_port(self) -> int | None:
        return None

    def addr(self, side: int) -> str:
        return self.address

    def addr_known(self, side: int) -> bool:
        return True

    def name(self, side: int) -> str:
        return self.name_text

    def name_if_ready(self, side: int) -> str | None:
        return self.name_text

    def user(self) -> str:
        return "unknown"

    def innetgr(self, group: str, host: str) -> bool:
        return BASE.innetgr(group, host)

    def enter_file(self, path: str) -> PatternFile | None:
        return None  # nested files never match here

    def leave_file(self, path: str) -> None:
        pass


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(token, max_size=12),
    st.integers(0, 12),
    st.sampled_from(ADDRESSES),
    st.sampled_from([n.text() for n in NAMES] + ["192.0.2.1", "A.EXAMPLE.COM"]),
)
def test_match_known_equals_naive_scan(
    tokens: list[str], cut: int, address: str, name: str
) -> None:
    """With address and name known, match_known answers like the scan, or defers (None)
    exactly when a residual token exists in this version."""
    whole = compile_pattern_file(tokens)
    older = compile_pattern_file(tokens[:cut]).extend(tokens[cut:])
    for version in (whole, older, PatternFile(older._index, min(cut, older.count))):
        ctx = KnownFacts(address, name)
        answer = version.match_known(address, name)
        expected = version.naive.match(ctx, 0)
        assert version.match(ctx, 0) == expected
        if answer is None:
            assert any(pos < version.count for pos, _ in version._index.residual)
        else:
            assert answer == expected
