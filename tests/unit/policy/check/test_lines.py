"""policy.check.lines: every line with its physical extent and problem, reading on after one."""

from __future__ import annotations

from tcpwrap.policy.check.lines import NO_NEWLINE, TOO_LONG, check_lines
from tcpwrap.policy.tables import LINE_LIMIT


def test_continuations_keep_first_and_last_physical_line() -> None:
    (joined, after) = check_lines("sshd: \\\n 192.0.2.1\nALL: ALL\n")
    assert (joined.text, joined.first, joined.last, joined.problem) == (
        "sshd:  192.0.2.1\n", 1, 2, None
    )
    assert joined.pieces == ("sshd: ", " 192.0.2.1\n")
    assert (after.first, after.last) == (3, 3)


def test_reading_goes_on_after_a_too_long_line_and_reports_a_missing_final_newline() -> None:
    lines = check_lines("x" * LINE_LIMIT + "\nsshd: ALL\nALL: ALL")
    assert [(cl.first, cl.problem) for cl in lines] == [(1, TOO_LONG), (2, None), (3, NO_NEWLINE)]
    assert lines[0].length == LINE_LIMIT + 1
