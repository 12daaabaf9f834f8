"""index: which rules are candidates, in which order, and quick_table's shortcut answers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tcpwrap.policy.compile import compile_table
from tcpwrap.policy.decision import Scan
from tcpwrap.policy.index import TableIndex
from tcpwrap.policy.quick import quick_table
from tcpwrap.policy.rules import Table, TableSource

from .support import conn, decide


@dataclass
class Ctx:
    daemon_name: str
    address: str
    known_name: str | None = None

    def daemon(self) -> str:
        return self.daemon_name

    def addr(self, side: int) -> str:
        return self.address

    def name_if_ready(self, side: int) -> str | None:
        return self.known_name


def table(text: str) -> Table:
    return compile_table(TableSource("hosts.allow", text.encode()))


def candidates(text: str, ctx: Ctx) -> list[int]:
    tbl = table(text)
    index = tbl.index
    assert isinstance(index, TableIndex)
    return [tbl.rules[pos].origin.line for pos in index.candidates(ctx)]


RULES = (
    "sshd: 192.0.2.1\n"  # 1 indexed: address
    "sshd: ALL EXCEPT 10.0.0.1\n"  # 2 residual (EXCEPT)
    "ftpd: 192.0.2.1\n"  # 3 another daemon
    "ALL: 192.0.2.\n"  # 4 ALL group: prefix
    "sshd: .example.com\n"  # 5 name suffix: reads the name
    "sshd: joe@ALL\n"  # 6 residual (user@host)
    "sshd: 192.0.2.0/24\n"  # 7 network
    "in.*: ALL\n"  # 8 residual for every daemon (wildcard daemon)
    "SSHD: h.example.com\n"  # 9 exact name, daemon folded
)


def test_candidates_in_line_order() -> None:
    # the first address hit is certain, so later address hits are not needed
    assert candidates(RULES, Ctx("sshd", "192.0.2.1")) == [1, 2, 5, 6, 8, 9]
    assert candidates(RULES, Ctx("sshd", "10.9.9.9")) == [2, 5, 6, 8, 9]
    assert candidates(RULES, Ctx("ftpd", "192.0.2.77")) == [3 + 1, 8]
    assert candidates(RULES, Ctx("ftpd", "10.9.9.9")) == [8]


def test_name_hits_once_the_name_is_known() -> None:
    assert candidates(RULES, Ctx("sshd", "10.9.9.9", "h.example.com")) == [2, 5, 6, 8]
    assert candidates(RULES, Ctx("sshd", "10.9.9.9", "h.other")) == [2, 6, 8]
    assert candidates(RULES, Ctx("sshd", "10.9.9.9", "H.EXAMPLE.COM")) == [2, 5, 6, 8]


def test_only_rules_that_read_the_name_trigger_it() -> None:
    text = "sshd: 192.0.2.9\nsshd: 198.51.100.*\nsshd: a.example\nsshd: 10.\n"
    assert candidates(text, Ctx("sshd", "192.0.2.1")) == [2, 3]


def test_ipv6_and_mapped_keys() -> None:
    text = "ALL: [2001:db8::1]\nALL: [2001:db8::]/32\nALL: 192.0.2.5\n"
    assert candidates(text, Ctx("sshd", "2001:DB8:0::1")) == [1]
    # a bracketed address that fails on the address also reads the name (docs/rules.md)
    assert candidates(text, Ctx("sshd", "2001:db8::2")) == [1, 2]
    assert candidates(text, Ctx("sshd", "::ffff:192.0.2.5")) == [1, 3]
    assert candidates(text, Ctx("sshd", "::ffff:192.0.2.5", "n.example")) == [3]


# --------------------------------------------------------------------------- quick_table

QUICK = (
    "sshd: 192.0.2.1 .example.com\n"
    "ALL: 10.0.0.0/255.0.0.0\n"
    "sshd: 198.51.100.1: spawn echo\n"
    "ftpd: host.example.org\n"
    "ALL: paranoid\n"
)


@pytest.mark.parametrize(
    ("daemon", "address", "name", "expected"),
    [
        ("sshd", "192.0.2.1", "unknown", Scan.MATCH),
        ("sshd", "203.0.113.1", "a.example.com", Scan.MATCH),
        ("SSHD", "10.1.2.3", "unknown", Scan.MATCH),
        ("ftpd", "10.1.2.3", "unknown", Scan.MATCH),
        ("sshd", "198.51.100.1", "unknown", None),  # options: the evaluator must run
        ("ftpd", "203.0.113.1", "HOST.example.org", Scan.MATCH),
        ("sshd", "203.0.113.1", "host.example.org", Scan.NO_MATCH),
        ("sshd", "203.0.113.1", "paranoid", Scan.MATCH),
        ("sshd", "::ffff:10.0.0.1", "unknown", Scan.MATCH),
        ("telnetd", "203.0.113.1", "unknown", Scan.NO_MATCH),
    ],
)
def test_quick_table_answers(daemon: str, address: str, name: str, expected: Scan | None) -> None:
    assert quick_table(table(QUICK), daemon, address, name) == expected


@pytest.mark.parametrize(
    ("daemon", "address", "name"),
    [
        ("sshd", "192.0.2.1", "unknown"),
        ("sshd", "203.0.113.1", "a.example.com"),
        ("ftpd", "10.1.2.3", "x"),
        ("ftpd", "203.0.113.1", "HOST.example.org"),
        ("sshd", "203.0.113.1", "host.example.org"),
        ("sshd", "203.0.113.1", "paranoid"),
        ("telnetd", "unknown", "unknown"),
    ],
)
def test_quick_table_agrees_with_the_evaluator(daemon: str, address: str, name: str) -> None:
    answer = quick_table(table(QUICK), daemon, address, name)
    decision = decide(QUICK, None, conn(address, daemon, name=name))
    assert answer is not None
    assert answer is (Scan.MATCH if decision.origin is not None else Scan.NO_MATCH)


def test_quick_table_defers_to_residual_rules_and_reports_errors() -> None:
    assert quick_table(table("sshd: ALL EXCEPT 10.0.0.1\n"), "sshd", "1.2.3.4", "x") is None
    assert quick_table(table("in.*: ALL\n"), "sshd", "1.2.3.4", "x") is None
    assert quick_table(table("1.2.3.4@ALL: ALL\n"), "sshd", "1.2.3.4", "x") is None
    assert quick_table(table("ftpd: ALL EXCEPT x\n"), "sshd", "1.2.3.4", "x") is Scan.NO_MATCH
    assert quick_table(table("ftpd: ALL\nsshd: 1.2.3.4"), "sshd", "1.2.3.4", "x") is Scan.ERROR
    assert quick_table(table("sshd: 1.2.3.4\nsshd: 1.2.3.4"), "sshd", "1.2.3.4", "x") is Scan.MATCH
    unreadable = compile_table(TableSource("hosts.deny", None, "Permission denied"))
    assert quick_table(unreadable, "sshd", "1.2.3.4", "x") is Scan.ERROR
    missing = compile_table(TableSource("hosts.deny", None))
    assert quick_table(missing, "sshd", "1.2.3.4", "x") is Scan.NO_MATCH
