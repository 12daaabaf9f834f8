"""quick: which daemons' verdicts may be memoised, and the memo's use."""

from __future__ import annotations

import pytest

from tcpwrap.library.ctl import CTL_MODE, ctl_connection
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Verdict
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.quick import (
    DENIED,
    DENIED_ENV,
    FILTER_LIMIT,
    GRANTED,
    GRANTED_ENV,
    UNDECIDED,
    ctl_verdict,
)
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


# Tables whose plans ctl_verdict answers from the exact-address dictionary alone
# (_CtlPlan.allow_exact / deny_exact), and their neighbours: every verdict is compared with
# the full evaluation (UNDECIDED only where the deciding rule has options).
EXACT_TABLES = [
    ("", "ALL: 10.0.0.1\nsshd: 10.0.0.2\n", "deny"),  # DenyHosts
    ("", "ALL: 10.0.0.1\nALL: 10.0.0.2", "deny"),  # cut short (no newline): a miss denies
    ("sshd: 10.0.0.2\n", "ALL: 10.0.0.1 10.0.0.2\n", "both"),
    ("", "ALL: 10.0.0.1: spawn echo\nALL: 10.0.0.2\n", "deny"),  # options: the evaluator
    ("sshd: 10.0.0.1: allow\n", "ALL: 10.0.0.1\n", "both"),
    ("ftpd: 10.0.0.2\n", "ftpd: 10.0.0.1\n", "neither"),  # nothing for sshd: fixed
    ("", "ALL: [::1] 10.0.0.1\n", "neither"),  # an [v6] key: not exact keys only
    ("", "ALL: 10.0.0.1 10.0.0.0/8\n", "neither"),
]
EXACT_ADDRESSES = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "::ffff:10.0.0.1", "10.0.0.01", "::1", ""]


@pytest.mark.parametrize(("allow", "deny", "exact"), EXACT_TABLES)
def test_exact_address_tables_equal_evaluation(allow: str, deny: str, exact: str) -> None:
    rules = policy(allow, deny)
    for address in EXACT_ADDRESSES:
        for name in ("", "host.example.com"):
            quick = ctl_verdict(rules, "sshd", name, address, "", ENV)
            full = evaluate(rules, ctl_connection("sshd", name, address, ""), CTL_MODE, ENV)
            if quick == UNDECIDED:
                deciding = [
                    r for r in rules.allow.rules + rules.deny.rules if r.origin == full.origin
                ]
                assert deciding and deciding[0].third is not None, (allow, deny, address)
            else:
                assert (quick & 1 == 1) == (full.verdict is Verdict.GRANT), (allow, deny, address)
    plan = rules.plans["sshd"]
    assert (plan.allow_exact is not None) == (exact == "both")
    assert (plan.deny_exact is not None) == (exact in ("deny", "both"))


def test_memo_is_not_used_where_deciding_costs_less() -> None:
    """A DenyHosts table decides with one look-up: its verdicts are not memoised."""
    rules = policy("", "ALL: 10.0.0.1\nALL: 10.0.0.2\n")
    memo: dict[tuple[str, str, str, str], bool] = {}
    assert ctl_verdict(rules, "sshd", "", "10.0.0.1", "", ENV, memo=memo) == DENIED
    assert ctl_verdict(rules, "sshd", "", "10.0.0.3", "", ENV, memo=memo) == GRANTED
    assert memo == {}
    assert not rules.plans["sshd"].remember
    assert rules.plans["sshd"].memoisable


def test_memo_learns_only_verdicts_beyond_the_exact_keys() -> None:
    """A table with many name suffixes (probed at the name's dots) is worth memoising, except
    for a query an exact address key decides before any other key is looked at."""
    suffixes = " ".join(f".d{i}.example" for i in range(FILTER_LIMIT + 1))
    rules = policy("", f"ALL: 10.0.0.1\nALL: {suffixes}\nALL: 10.0.0.2\n")
    assert rules.plans.get("sshd") is None
    memo: dict[tuple[str, str, str, str], bool] = {}
    assert ctl_verdict(rules, "sshd", "h.d3.example", "10.0.0.2", "", ENV, memo=memo) == DENIED
    assert ctl_verdict(rules, "sshd", "h.other", "10.0.0.3", "", ENV, memo=memo) == GRANTED
    assert rules.plans["sshd"].remember
    assert ctl_verdict(rules, "sshd", "h.other", "10.0.0.1", "", ENV, memo=memo) == DENIED
    assert memo == {
        ("sshd", "h.d3.example", "10.0.0.2", ""): False,
        ("sshd", "h.other", "10.0.0.3", ""): True,
    }  # (10.0.0.1: line 1, found by its exact key alone)
