"""quick: which daemons' verdicts may be memoised, and the memo's use."""

from __future__ import annotations

import pytest

from tcpwrap.library.ctl import CTL_MODE, ctl_connection
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Verdict
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.quick import DENIED_ENV, GRANTED, GRANTED_ENV, ctl_verdict
from tcpwrap.policy.rules import Policy, TableSource

ENV = StaticEnvironment(files={"/list": "192.0.2.1 192.0.2.2"})


def policy(allow: str, deny: str) -> Policy:
    return compile_policy(
        TableSource("hosts.allow", allow.encode()), TableSource("hosts.deny", deny.encode())
    )


@pytest.mark.parametrize(
    ("allow", "deny", "memoisable"),
    [
        ("", "ALL: /list\n", False),  # every query reads the list first
        ("", "sshd: /list\n", False),
        ("", "ftpd: /list\n", True),  # not for sshd: nothing is read
        ("sshd: 10.0.0.1\n", "ALL: /list\n", True),  # the allow table may decide first
        ("", "ALL: 10.0.0.1\nALL: /list\n", True),  # an indexed rule comes first
        ("", "ALL: 10.0.0.1 /list\n", True),  # the address is compared first
        ("", "ALL: /list: spawn echo\n", True),  # options: the evaluator decides
        ("", "ALL: KNOWN\nALL: /list\n", True),
    ],
)
def test_memo_is_skipped_only_when_every_query_reads_a_list(
    allow: str, deny: str, memoisable: bool
) -> None:
    rules = policy(allow, deny)
    memo: dict[tuple[str, str, str, str], bool] = {}
    assert ctl_verdict(rules, "sshd", "", "203.0.113.9", "", ENV, memo=memo) in (
        GRANTED,
        GRANTED_ENV,
    )
    assert rules.plans["sshd"].memoisable is memoisable


def test_memo_answers_and_learns_table_verdicts_only() -> None:
    rules = policy("sshd: 10.0.0.1\n", "ALL: /list\n")
    memo: dict[tuple[str, str, str, str], bool] = {}
    assert ctl_verdict(rules, "sshd", "", "10.0.0.1", "", ENV, memo=memo) == GRANTED
    assert memo == {("sshd", "", "10.0.0.1", ""): True}
    assert ctl_verdict(rules, "sshd", "", "192.0.2.1", "", ENV, memo=memo) == DENIED_ENV
    assert len(memo) == 1  # read the list: not remembered
    memo[("sshd", "", "10.0.0.1", "")] = False  # the memo answers before the tables
    assert ctl_verdict(rules, "sshd", "", "10.0.0.1", "", ENV, memo=memo) != GRANTED


# Address tokens the dotted-quad program (quick._Program) turns into networks, and addresses
# on the edges of that: every pair is compared with the full evaluation.
PROGRAM_TOKENS = [
    "192.0.2.1", "192.0.2.", "192.0.", "192.", "255.", "0.", ".1", ".2.1", ".0.2.1", ".255",
    "192.0.02.", "010.", "1.2.3.4.", ".example.", "192.0.2.0/24", "0.0.0.0/0.0.0.0",
    "192.0.2.0/255.255.255.0", "255.255.255.255", "[::ffff:192.0.2.1]", "plain",
]  # fmt: skip
PROGRAM_ADDRESSES = [
    "192.0.2.1", "192.0.2.10", "255.255.255.255", "0.0.0.0", "010.0.0.1", "192.0.2.01",
    "0x0a.0.0.1", "::ffff:192.0.2.1", "2001:db8::1", "1.2.3", "192.0.2.1.", "unknown", "",
]  # fmt: skip


@pytest.mark.parametrize("token", PROGRAM_TOKENS)
def test_dotted_quad_program_equals_evaluation(token: str) -> None:
    for tables in ((f"ALL: {token}\n", ""), ("", f"sshd: 10.9.9.9\nALL: {token} .example.com\n")):
        rules = policy(*tables)
        for address in PROGRAM_ADDRESSES:
            for name in ("", "host.example.com", "192.0.2.1"):
                quick = ctl_verdict(rules, "sshd", name, address, "", ENV)
                full = evaluate(rules, ctl_connection("sshd", name, address, ""), CTL_MODE, ENV)
                assert (quick & 1 == 1) == (full.verdict is Verdict.GRANT), (tables, address, name)
