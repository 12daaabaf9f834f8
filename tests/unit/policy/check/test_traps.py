"""policy.check.traps: NUL bytes are an error that says what tcpd makes of the line."""

from __future__ import annotations

from tcpwrap.errors import Kind
from tcpwrap.policy.check.events import is_problem
from tcpwrap.policy.check.lines import check_lines
from tcpwrap.policy.check.probe import CheckOptions, TableInput
from tcpwrap.policy.check.walk import check_policy
from tcpwrap.policy.rules import TableSource
from tcpwrap.policy.tables import NulPiece

DENYHOSTS = (
    b"sshd: 10.0.0.1\n\x00\x00\x00ALL: 10.0.0.2\nsshd: 10.0.0.3\n"
    b"ALL: 10.0.0.9 \x00junk\n: 10.0.0.7\n"
)


class Probe:
    inetd_file = "(null)"
    env = None

    def dns(self, host: str) -> None:
        return None

    def prefetch(self, hosts: object) -> None:
        return None

    def netgroup_empty(self, group: str) -> bool:
        return False

    def pattern_file(self, path: str) -> None:
        return None

    def daemon_status(self, daemon: str) -> str:
        return "yes"


def _errors(deny: bytes) -> list[tuple[int | None, str]]:
    events = check_policy(
        TableInput("hosts.allow", TableSource("hosts.allow", b""), "allow"),
        TableInput("hosts.deny", TableSource("hosts.deny", deny), "deny"),
        Probe(),  # type: ignore[arg-type]
        CheckOptions(),
    )
    # the physical line (what the default output shows; the Origin's line is tcpd's number)
    return [
        (e.origin.physical if e.origin is not None else e.line, e.message)
        for e in events
        if is_problem(e) and e.kind is Kind.ERROR
    ]


def test_nul_lines_are_read_as_tcpd_reads_them() -> None:
    lines = [cl for cl in check_lines(DENYHOSTS) if cl.text]
    assert [(cl.text, cl.line, cl.first, cl.last) for cl in lines] == [
        ("sshd: 10.0.0.1\n", 1, 1, 1),
        ("sshd: 10.0.0.3\n", 2, 2, 3),
        ("ALL: 10.0.0.9 : 10.0.0.7\n", 3, 4, 5),
    ]
    assert lines[1].nuls == (NulPiece(2, "", 2, "sshd: 10.0.0.3\n", "ALL: 10.0.0.2"),)
    assert all(cl.problem is None for cl in lines)


def test_nul_bytes_are_an_error_naming_the_line_what_they_do_and_the_cure() -> None:
    errors = _errors(DENYHOSTS)
    assert [line for line, _ in errors] == [2, 4, 5]  # 5: the joined rule's bad option
    lost, joined = errors[0][1], errors[1][1]
    assert 'ignores the text after them ("ALL: 10.0.0.2"), and this line\'s newline' in lost
    assert "goes on with the next line (its line 2)" in lost
    assert '"ALL: 10.0.0.9 : 10.0.0.7" (tcpd\'s line 3)' in joined
    assert "tr -d '\\000' < hosts.deny > hosts.deny.new" in joined


def test_nul_bytes_at_the_end_of_the_table() -> None:
    (only,) = _errors(b"ALL: 10.0.0.1\n\x00\x00")
    assert only[0] == 2 and "the table ends there" in only[1]
    assert _errors(b"ALL: 10.0.0.1\n") == []


def test_a_nul_run_over_several_lines_is_one_error() -> None:
    deny = b"sshd: 10.0.0.1\n" + b"\x00\x00\n" * 500 + b"\x00x\x00\nALL: 10.0.0.2\n"
    ((line, message),) = _errors(deny)
    assert line == 2
    assert 'ignores the text after them ("x"), and the newlines of lines 2-502' in message
    assert "goes on with the next line (its line 2)" in message
    assert "every later line number tcpd logs is 501 lower" in message
