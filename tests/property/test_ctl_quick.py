"""hosts_ctl's quick path (policy/quick.py) gives the full evaluation's verdict.

Tables mix indexable rules with residual ones (EXCEPT, wildcards, KNOWN/LOCAL/PARANOID,
user@host, daemon@host, ports, `/file` lists, @netgroups) and options; pattern files mix
indexable tokens with residual ones (nested and self-including files, netgroups, KNOWN,
wildcards). For every hosts_ctl() query (four strings, as `library.ctl.ctl_connection` builds
the connection) `ctl_verdict` must
  * agree with `evaluate()` (dry run) whenever it decides, and leave undecided only a query
    whose deciding rule has options;
  * read the environment (pattern files, netgroups) exactly as the evaluator does, in the
    same order, when it decides;
  * report a verdict as memoisable only if it does not depend on the environment (the
    evaluator gives the same verdict with every file and netgroup emptied).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.library.ctl import CTL_MODE, ctl_connection
from tcpwrap.policy import index, quick
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.cstr import dot_quad_addr
from tcpwrap.policy.decision import Verdict
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.patternfile import PatternFile
from tcpwrap.policy.quick import DENIED_ENV, UNDECIDED, ctl_verdict
from tcpwrap.policy.rules import Policy, TableSource

DAEMONS = ["sshd", "SSHD", "in.ftpd", "telnetd", "::ffff:10.0.0.1", "", "x" * 130]
DAEMON_TOKENS = [
    "sshd", "in.ftpd", "ALL", "ALL", "in.*", ".ftpd", "KNOWN", "10.0.0.1", "22",
    "sshd@192.0.2.200", "sshd@unknown", "ALL@/f1", "ALL EXCEPT in.ftpd",
]  # fmt: skip
INDEXABLE = [
    "192.0.2.1", "192.0.2.2", "10.0.0.1", "198.51.100.7", "2001:db8::1", "192.0.2.",
    "10.", ".example.com", ".EXAMPLE.com", "a.example.com", "plain", "paranoid", "unknown",
    "192.0.2.0/24", "10.0.0.0/255.0.0.0", "[2001:db8::]/32", "[::ffff:192.0.2.1]", "ALL",
    # numeric suffixes and prefixes, zero-padded and over-long forms (quick._Program)
    ".1", ".2.1", ".0.2.1", "192.0.", "192.0.02.", "010.", "1.2.3.4.", "0.", ".example.",
    "255.", ".255", "0.0.0.0/0.0.0.0", "255.255.255.255",
]  # fmt: skip
RESIDUAL = [
    "KNOWN", "LOCAL", "PARANOID", "192.0.2.*", "*.example.com", "joe@ALL", "UNKNOWN@ALL",
    "root@.example.com", "@trusted", "/f0", "/f0", "/f1", "/f2", "/missing", "/secret",
    "EXCEPT",
]  # fmt: skip
FILE_TOKENS = [
    *INDEXABLE, "KNOWN", "LOCAL", "*.example.com", "192.0.2.*", "@trusted", "/f0", "/f1", "/f2",
    "/missing", "/secret", "EXCEPT", "joe@192.0.2.1",
]  # fmt: skip
OPTIONS = ["allow", "deny", "spawn echo %h", "twist echo %a", "setenv X %c", "bogus"]
NAMES = ["", "unknown", "UNKNOWN", "paranoid", "a.example.com", "plain", "b.EXAMPLE.com",
         "host.example.net", "192.0.2.1", ".example.com", "192.0.x.y", "x.example."]  # fmt: skip
ADDRESSES = ["", "unknown", "192.0.2.1", "192.0.2.2", "192.0.2.77", "10.0.0.1", "10.9.9.9",
             "198.51.100.7", "::ffff:192.0.2.1", "2001:db8::1", "fe80::1",
             "010.0.0.1", "0x0a.0.0.1", "192.0.2.01", "192.000.2.1", "192.0.2.1.", "1.2.3",
             "a.example.com", "0.2.1", "192.0.2.256", "255.255.255.255"]  # fmt: skip
USERS = ["", "unknown", "joe", "root"]


class RecordingEnv(StaticEnvironment):
    """A StaticEnvironment that records what is read from it, in order."""

    def __init__(self, files: dict[str, str], netgroups: dict[str, set[str]]) -> None:
        super().__init__(files=files, netgroups=netgroups)
        self.reads: list[tuple[str, str]] = []

    def pattern_file(self, path: str) -> PatternFile | str | None:
        self.reads.append(("file", path))
        if path == "/secret":
            return "Permission denied"
        return super().pattern_file(path)

    def innetgr(self, group: str, host: str) -> bool:
        self.reads.append(("netgroup", f"{group} {host}"))
        return super().innetgr(group, host)


def environment(files: dict[str, str]) -> RecordingEnv:
    return RecordingEnv(dict(files), {"trusted": {"plain", "a.example.com"}})


def check(policy: Policy, files: dict[str, str], query: tuple[str, str, str, str]) -> None:
    daemon, name, address, user = query
    quick_env, full_env = environment(files), environment(files)
    quick = ctl_verdict(policy, daemon, name, address, user, quick_env)
    connection = ctl_connection(daemon, name, address, user)
    decision = evaluate(policy, connection, CTL_MODE, full_env)
    if quick == UNDECIDED:
        assert decision.origin is not None  # a rule decided ...
        rules = policy.allow.rules + policy.deny.rules
        assert any(r.origin == decision.origin and r.third is not None for r in rules)
        return
    assert (quick & 1 == 1) == (decision.verdict is Verdict.GRANT), decision
    assert quick_env.reads == full_env.reads
    if quick < DENIED_ENV:
        emptied = RecordingEnv({path: "" for path in files}, {})
        again = evaluate(policy, connection, CTL_MODE, emptied)
        assert again.verdict is decision.verdict
        assert emptied.reads == []
    # With a memo (as hosts_ctl passes it): asked twice, the same verdict, and remembered
    # only when decided by the tables alone.
    memo: dict[tuple[str, str, str, str], bool] = {}
    for _ in range(2):
        remembered = ctl_verdict(policy, daemon, name, address, user, environment(files), memo=memo)
        assert remembered & 1 == quick & 1
    assert memo in ({}, {query: quick == 1}), memo
    assert not memo or quick < DENIED_ENV


# --------------------------------------------------------------------------- small tables

rule = st.builds(
    lambda daemons, clients, option: (
        f"{', '.join(daemons)}: {' '.join(clients)}" + (f": {option}" if option else "")
    ),
    st.lists(st.sampled_from(DAEMON_TOKENS), min_size=1, max_size=2),
    st.lists(st.sampled_from(INDEXABLE + RESIDUAL), min_size=1, max_size=4),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(OPTIONS)),
)
table = st.builds(
    lambda lines, final: ("\n".join(lines) + ("\n" if final else "")).encode(),
    st.lists(st.one_of(rule, rule, rule, st.just("# note"), st.just("junk")), max_size=8),
    st.sampled_from([True, True, True, False]),
)
file_text = st.builds(" ".join, st.lists(st.sampled_from(FILE_TOKENS), max_size=8))
files = st.fixed_dictionaries({"/f0": file_text, "/f1": file_text, "/f2": file_text})
query = st.tuples(
    st.sampled_from(DAEMONS),
    st.sampled_from(NAMES),
    st.sampled_from(ADDRESSES),
    st.sampled_from(USERS),
)


@settings(max_examples=1500, deadline=None)
@given(table, table, files, st.lists(query, min_size=1, max_size=6))
def test_quick_path_equals_evaluation(
    allow: bytes, deny: bytes, texts: dict[str, str], queries: list[tuple[str, str, str, str]]
) -> None:
    policy = compile_policy(TableSource("hosts.allow", allow), TableSource("hosts.deny", deny))
    for one in queries:
        check(policy, texts, one)


@settings(max_examples=500, deadline=None)
@given(table, table, files, st.lists(query, min_size=1, max_size=6))
def test_quick_path_without_merged_groups(
    allow: bytes, deny: bytes, texts: dict[str, str], queries: list[tuple[str, str, str, str]]
) -> None:
    """Big tables keep a daemon's group and the ALL group apart (index.MERGE_LIMIT)."""
    limit = index.MERGE_LIMIT
    index.MERGE_LIMIT = 0
    try:
        policy = compile_policy(TableSource("hosts.allow", allow), TableSource("hosts.deny", deny))
        for one in queries:
            check(policy, texts, one)
    finally:
        index.MERGE_LIMIT = limit


def test_unreadable_tables_fail_closed() -> None:
    policy = compile_policy(
        TableSource("hosts.allow", None, "Permission denied"),
        TableSource("hosts.deny", b"ALL: /f0\n"),
    )
    check(policy, {"/f0": "10.0.0.1"}, ("sshd", "", "192.0.2.1", ""))
    check(policy, {"/f0": "10.0.0.1"}, ("sshd", "", "10.0.0.1", ""))


# --------------------------------------------------------------------------- large tables


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_large_tables_with_file_rules(seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for number in range(rng.randrange(50, 400)):
        if rng.random() < 0.1:
            lines.append(f"ALL: {rng.choice(['/f0', '/f1', '/f2', '/missing'])}")
        elif rng.random() < 0.1:
            tokens = rng.sample(INDEXABLE + RESIDUAL, 2)
            lines.append(f"{rng.choice(DAEMON_TOKENS)}: {' '.join(tokens)}")
        else:
            lines.append(f"ALL: 10.{number >> 8}.{number & 255}.1")
    if rng.random() < 0.3:
        lines.insert(rng.randrange(len(lines)), "sshd: 10.0.0.1 : spawn echo")
    tokens = [f"192.0.2.{i}" for i in range(rng.randrange(1, 200))]
    tokens += rng.sample(FILE_TOKENS, 4)
    rng.shuffle(tokens)
    texts = {"/f0": " ".join(tokens), "/f1": "\n".join(tokens[::3]), "/f2": "/f0 KNOWN"}
    policy = compile_policy(
        TableSource("hosts.allow", b"sshd: /f2 EXCEPT 192.0.2.3\n"),
        TableSource("hosts.deny", "".join(line + "\n" for line in lines).encode()),
    )
    for _ in range(20):
        address = rng.choice(
            [*ADDRESSES, f"192.0.2.{rng.randrange(256)}", f"10.0.{rng.randrange(2)}.1"]
        )
        check(policy, texts, (rng.choice(DAEMONS), rng.choice(NAMES), address, ""))


@settings(max_examples=300, deadline=None)
@given(table, table, files, st.lists(query, min_size=1, max_size=6))
def test_quick_path_without_programs(
    allow: bytes, deny: bytes, texts: dict[str, str], queries: list[tuple[str, str, str, str]]
) -> None:
    """Tables with many prefix/suffix keys skip quick._Program (PROGRAM_KEY_LIMIT), and names
    are probed without the startswith/endswith screen past FILTER_LIMIT keys."""
    limits = quick.PROGRAM_KEY_LIMIT, quick.FILTER_LIMIT
    quick.PROGRAM_KEY_LIMIT, quick.FILTER_LIMIT = 0, 0
    try:
        policy = compile_policy(TableSource("hosts.allow", allow), TableSource("hosts.deny", deny))
        for one in queries:
            check(policy, texts, one)
    finally:
        quick.PROGRAM_KEY_LIMIT, quick.FILTER_LIMIT = limits


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("192.0.2.1", 0xC0000201),
        ("0.0.0.0", 0),
        ("255.255.255.255", 0xFFFFFFFF),
        ("192.0.2.01", None),
        ("010.0.0.1", None),
        ("0x0a.0.0.1", None),
        ("192.0.2.256", None),
        ("192.0.2", None),
        ("192.0.2.1.", None),
        ("+1.0.0.1", None),
        (" 1.0.0.1", None),
        ("\u0661.0.0.1", None),
    ],
)
def test_canonical_v4_is_dot_quad_addr_for_canonical_texts(
    address: str, expected: int | None
) -> None:
    assert quick.canonical_v4(address) == expected
    if expected is not None:
        assert dot_quad_addr(address) == expected
