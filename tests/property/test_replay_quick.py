"""Replay's quick path (tools.replaying: policy.quick.ctl_rule over LoggedFacts/SampleFacts)
gives what the full evaluation gives: the same outcome, the same deciding rule (file:line)
and, for an undecidable record, the same missing fact.

Tables mix indexable rules with residual ones that read what a log may lack (user@host,
daemon@host, server ports, KNOWN/UNKNOWN/PARANOID/LOCAL, wildcards, EXCEPT, `/file` lists,
netgroups), options (the quick path hands those records to the evaluator), comments, junk lines
and a missing final newline (a table cut short). Records mix logged and absent fields (None),
empty, over-long and NUL-holding strings, for both a log (`server_logged=False`: the server
side is a fact the log lacks) and a generated sample (`server_logged=True`: no server side).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy import index
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.rules import Language, TableSource
from tcpwrap.tools.replaying import Replayer

DAEMON_TOKENS = [
    "sshd", "in.fingerd", "ALL", "ALL", "in.*", ".fingerd", "KNOWN", "22", "0",
    "sshd@192.0.2.200", "sshd@unknown", "ALL@LOCAL", "ALL@/f1", "sshd@KNOWN",
    "ALL EXCEPT in.fingerd", "in.fingerd@.example.com",
]  # fmt: skip
CLIENT_TOKENS = [
    "192.0.2.1", "192.0.2.2", "10.0.0.1", "2001:db8::1", "192.0.2.", "10.", ".example.com",
    "a.example.com", "plain", "paranoid", "unknown", "192.0.2.0/24", "10.0.0.0/255.0.0.0",
    "[2001:db8::]/32", "[::ffff:192.0.2.1]", "ALL", "ALL", ".1", "255.", "0.0.0.0/0.0.0.0",
    "KNOWN", "UNKNOWN", "PARANOID", "LOCAL", "192.0.2.*", "*.example.com", "joe@ALL",
    "UNKNOWN@ALL", "KNOWN@.example.com", "root@.example.com", "@trusted", "/f0", "/f1",
    "/missing", "EXCEPT", "EXCEPT",
]  # fmt: skip
FILE_TOKENS = [
    "192.0.2.1", "10.", ".example.com", "KNOWN", "LOCAL", "*.example.com", "@trusted", "/f0",
    "/f1", "joe@192.0.2.1", "PARANOID",
]  # fmt: skip
OPTIONS = ["allow", "deny", "spawn echo %u", "twist echo %a", "rfc931", "severity auth.info",
           "aclexec /bin/true", "setenv X %n", "bogus"]  # fmt: skip
DAEMONS = ["sshd", "SSHD", "in.fingerd", "telnetd", "::ffff:10.0.0.1", "", "x" * 130, "ss\0hd"]
NAMES = [None, None, "", "unknown", "paranoid", "a.example.com", "b.EXAMPLE.com", "plain",
         "host.example.net", "192.0.2.1", ".example.com", "a\0.example.com",
         "h" * 120 + ".example.com"]  # fmt: skip
ADDRESSES = [None, "", "unknown", "192.0.2.1", "192.0.2.2", "10.0.0.1", "10.9.9.9",
             "::ffff:192.0.2.1", "2001:db8::1", "010.0.0.1", "192.0.2.01", "255.255.255.255",
             "a.example.com", "192.0.2.1\0x", "1" * 130]  # fmt: skip
USERS = [None, None, "", "unknown", "joe", "root", "ro\0ot"]

rule = st.builds(
    lambda daemons, clients, option: (
        f"{', '.join(daemons)}: {' '.join(clients)}" + (f": {option}" if option else "")
    ),
    st.lists(st.sampled_from(DAEMON_TOKENS), min_size=1, max_size=2),
    st.lists(st.sampled_from(CLIENT_TOKENS), min_size=1, max_size=4),
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(OPTIONS)),
)
table = st.builds(
    lambda lines, final: ("\n".join(lines) + ("\n" if final else "")).encode(),
    st.lists(st.one_of(rule, rule, rule, st.just("# note"), st.just("junk")), max_size=7),
    st.sampled_from([True, True, True, False]),
)
file_text = st.builds(" ".join, st.lists(st.sampled_from(FILE_TOKENS), max_size=6))
files = st.fixed_dictionaries({"/f0": file_text, "/f1": file_text})
record = st.tuples(
    st.sampled_from(DAEMONS),
    st.sampled_from(ADDRESSES),
    st.sampled_from(NAMES),
    st.sampled_from(USERS),
)


@settings(max_examples=1500, deadline=None)
@given(
    table, table, files, st.lists(record, min_size=1, max_size=8), st.booleans(),
    st.sampled_from(list(Language)),
)  # fmt: skip
def test_quick_path_equals_full_evaluation(
    allow: bytes,
    deny: bytes,
    texts: dict[str, str],
    records: list[tuple[str, str | None, str | None, str | None]],
    server_logged: bool,
    language: Language,
) -> None:
    policy = compile_policy(
        TableSource("hosts.allow", allow), TableSource("hosts.deny", deny), language
    )
    env = StaticEnvironment(files=dict(texts), netgroups={"trusted": {"plain", "a.example.com"}})
    replayer = Replayer(policy, env, server_logged=server_logged)
    for daemon, addr, name, user in records:
        quick = replayer.decide_once(daemon, addr, name, user)
        full = replayer._evaluate(daemon, addr, name, user)
        assert quick == full, (daemon, addr, name, user)
        # ... and the memoised answer is the same object as the first
        assert replayer.decide(daemon, addr, name, user) == full


@settings(max_examples=400, deadline=None)
@given(table, table, files, st.lists(record, min_size=1, max_size=8), st.booleans())
def test_quick_path_without_merged_groups(
    allow: bytes,
    deny: bytes,
    texts: dict[str, str],
    records: list[tuple[str, str | None, str | None, str | None]],
    server_logged: bool,
) -> None:
    """Big tables keep a daemon's group and the ALL group apart (index.MERGE_LIMIT): the
    address's hit comes from the parts, the name-reading rules from the groups as filed."""
    limit = index.MERGE_LIMIT
    index.MERGE_LIMIT = 0
    try:
        test_quick_path_equals_full_evaluation.hypothesis.inner_test(  # type: ignore[attr-defined]
            allow, deny, texts, records, server_logged, Language.OPTIONS
        )
    finally:
        index.MERGE_LIMIT = limit


nameless = st.tuples(
    st.sampled_from(["sshd", "in.fingerd", "telnetd"]),
    st.sampled_from(["192.0.2.1", "192.0.2.2", "10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"]),
    st.none(),
    st.sampled_from([None, "joe"]),
)


@settings(max_examples=1500, deadline=None)
@given(table, table, files, st.lists(nameless, min_size=1, max_size=8), st.booleans())
def test_quick_path_without_a_logged_name(
    allow: bytes,
    deny: bytes,
    texts: dict[str, str],
    records: list[tuple[str, str | None, str | None, str | None]],
    server_logged: bool,
) -> None:
    """Refusals logged as `ADDR (ADDR)`: addresses that the tables' tokens match, so that a
    name token before a matching address token (in one rule, in a `/file` list, in an earlier
    rule) decides whether the name is read."""
    test_quick_path_equals_full_evaluation.hypothesis.inner_test(  # type: ignore[attr-defined]
        allow, deny, texts, records, server_logged, Language.OPTIONS
    )
