"""policy.check.shadow: only provable shadowing is reported, and the index finds the earliest."""

from __future__ import annotations

from tcpwrap.errors import Kind
from tcpwrap.policy.check.events import Report, is_problem
from tcpwrap.policy.check.shadow import Seen, ShadowIndex, covers, report_shadow


def seen(line: int, daemons: str, clients: str, *, aclexec: bool = False) -> Seen:
    return Seen("t", line, tuple(daemons.split()), tuple(clients.split()), aclexec)


def test_covers_is_token_containment_or_all_and_never_with_except() -> None:
    assert covers(("ALL",), ("sshd",), daemon=True)
    assert covers(("SSHD", "ftpd"), ("sshd@192.0.2.1",), daemon=True)
    assert covers(("192.0.2.1", "192.0.2.2"), ("192.0.2.2",), daemon=False)
    assert not covers(("192.0.2.",), ("192.0.2.2",), daemon=False)  # no network reasoning
    assert not covers(("Host",), ("host",), daemon=False)  # client tokens compared exactly
    assert not covers(("ALL", "EXCEPT", "x"), ("y",), daemon=False)
    assert not covers(("ALL",), ("y", "EXCEPT", "z"), daemon=False)


def test_index_finds_the_earliest_covering_rule() -> None:
    index = ShadowIndex()
    for rule in (seen(1, "sshd", "192.0.2.9"), seen(2, "ALL", "192.0.2.1"), seen(3, "ALL", "ALL")):
        index.add(rule)
    assert index.find(seen(9, "sshd", "192.0.2.1")) == seen(2, "ALL", "192.0.2.1")
    assert index.find(seen(9, "in.ftpd", "198.51.100.1")) == seen(3, "ALL", "ALL")
    assert ShadowIndex().find(seen(9, "sshd", "ALL")) is None


def test_report_shadow_in_own_table_and_across_tables_skipping_aclexec() -> None:
    report = Report(verbose=False)
    allow, deny = ShadowIndex(), ShadowIndex()
    report_shadow(report, seen(1, "sshd", "ALL", aclexec=True), "allow", allow, allow)
    report_shadow(report, seen(2, "ALL", "192.0.2.1"), "allow", allow, allow)
    report_shadow(report, seen(1, "sshd", "192.0.2.1"), "deny", deny, allow)  # aclexec skipped
    report_shadow(report, seen(2, "sshd", "192.0.2.1"), "deny", deny, allow)
    messages = [e.message for e in report.events if is_problem(e) and e.kind is Kind.WARNING]
    assert len(messages) == 2
    assert "t line 2 already matches every connection" in messages[0]  # from the allow table
    assert messages[1].startswith("this rule can never match: line 1 (sshd : 192.0.2.1)")
