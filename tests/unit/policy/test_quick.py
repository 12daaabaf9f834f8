"""quick: which daemons' verdicts may be memoised, and the memo's use."""

from __future__ import annotations

import pytest

from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.environment import StaticEnvironment
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
