"""tables: logical lines as Debian's xgets()/table_match() read them (docs/rules.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.netns import CONFORMANCE_DIR
from tcpwrap.policy.tables import LINE_LIMIT, LineProblem, LogicalLine, NulPiece, read_lines

B20 = Path(CONFORMANCE_DIR) / "cases/B20-long-line-via-continuations/hosts.allow"


def lines(text: str | bytes) -> list[tuple[str, int]]:
    return [(line.text, line.line) for line in read_lines(text).lines]


def test_plain_lines_keep_their_newline_and_number() -> None:
    assert lines("a: b\nc: d\n") == [("a: b\n", 1), ("c: d\n", 2)]
    assert read_lines("a: b\n").stop is None


def test_continuation_deletes_backslash_newline_and_inserts_nothing() -> None:
    # B04: "192.0.2.1\" + "192.0.2.2" is one token 192.0.2.1192.0.2.2
    assert lines("sshd: 192.0.2.1\\\n192.0.2.2\n") == [("sshd: 192.0.2.1192.0.2.2\n", 2)]


def test_logical_line_is_numbered_by_its_last_physical_line() -> None:
    # B16: a rule over lines 1-4 is reported as line 4; the next line is 5
    text = "sshd: \\\n\\\n\\\n192.0.2.1: bogus_option\nALL: ALL\n"
    assert lines(text) == [("sshd: 192.0.2.1: bogus_option\n", 4), ("ALL: ALL\n", 5)]


def test_backslash_before_crlf_is_not_a_continuation() -> None:
    assert lines("a: b\\\r\nc: d\n") == [("a: b\\\r\n", 1), ("c: d\n", 2)]


def test_double_backslash_still_continues() -> None:
    assert lines("a: b\\\\\nc\n") == [("a: b\\c\n", 2)]


def test_comments_need_hash_in_column_one() -> None:
    text = "# comment\n  # sshd: ALL\n\t#x: y\n"
    assert lines(text) == [("  # sshd: ALL\n", 2), ("\t#x: y\n", 3)]


def test_comment_ending_in_backslash_swallows_the_next_line() -> None:
    # B05: joining happens before comment detection
    assert lines("# comment \\\nsshd: ALL\nin.ftpd: ALL\n") == [("in.ftpd: ALL\n", 3)]


def test_blank_lines_are_space_tab_cr_lf_only() -> None:
    assert lines("\n \t\r\n\r\n") == []
    assert lines("\v\n") == [("\v\n", 1)]  # a vertical tab is not blank here
    assert lines("\f\n") == [("\f\n", 1)]


def test_crlf_lines_are_kept_with_their_cr() -> None:
    assert lines("sshd: ALL\r\nALL: 192.0.2.1\r\n") == [
        ("sshd: ALL\r\n", 1),
        ("ALL: 192.0.2.1\r\n", 2),
    ]


def test_limit_2046_characters_plus_newline_is_fine() -> None:
    # B10
    body = "sshd: " + "x" * (2046 - 6)
    assert len(body) == 2046 == LINE_LIMIT - 1
    result = read_lines(body + "\nALL: ALL\n")
    assert result.stop is None
    assert [line.line for line in result.lines] == [1, 2]


def test_2047_characters_is_too_long_and_reports_the_last_complete_line() -> None:
    # B11: line 0 when the first line is the bad one
    result = read_lines("x" * 2047 + "\nALL: ALL\n")
    assert result.lines == ()
    assert result.stop == LineProblem(0, 1, "too long")
    result = read_lines("a: b\nc: d\n" + "#" * 3000 + "\n")  # B09: a long comment too
    assert len(result.lines) == 2
    assert result.stop == LineProblem(2, 3, "too long")


def test_limit_counts_joined_continuations() -> None:
    # B20: 201 physical lines joined; the buffer overflows while line 157 is being read
    text = "sshd: 192.0.2.200, \\\n" + "192.0.2.200, \\\n" * 199 + "192.0.2.1\n"
    assert B20.read_text() == text  # the recorded case's table (tests/conformance/recorded)
    result = read_lines(text)
    assert result.lines == ()
    assert result.stop is not None
    assert result.stop.line == 156
    assert result.stop.reason == "too long"
    assert result.stop.physical == 1


def test_continuation_that_fits_exactly() -> None:
    first = "a: " + "b" * 1000
    second = "c" * (2046 - len(first))
    result = read_lines(first + "\\\n" + second + "\n")
    assert result.stop is None
    assert result.lines == (LogicalLine(first + second + "\n", 2, 2),)
    result = read_lines(first + "\\\n" + second + "c\n")
    assert result.stop is not None and result.stop.reason == "too long"


def test_missing_final_newline_stops_the_table() -> None:
    # B12/B13: the rules before it stay; the problem names the last complete line
    result = read_lines("a: b\nc: d")
    assert result.lines == (LogicalLine("a: b\n", 1, 1),)
    assert result.stop == LineProblem(1, 2, "no newline")
    assert read_lines("c: d").stop == LineProblem(0, 1, "no newline")


def test_eof_inside_a_continuation_is_a_missing_newline() -> None:
    result = read_lines("a: b\nc: \\\n")
    assert result.lines == (LogicalLine("a: b\n", 1, 1),)
    assert result.stop == LineProblem(2, 2, "no newline")


def test_empty_table() -> None:
    assert read_lines("") == read_lines(b"")
    assert read_lines("").lines == () and read_lines("").stop is None


def test_text_before_a_nul_is_joined_with_the_next_line() -> None:
    # fgets() reads past the NUL, strlen() stops at it: the rest of the line and its newline
    # are lost, the next line is read onto the kept text and counted once (docs/rules.md)
    result = read_lines("a: b\nc\x00junk\n: d\ne: f\n")
    assert result.lines == (
        LogicalLine("a: b\n", 1, 1),
        LogicalLine("c: d\n", 2, 3),
        LogicalLine("e: f\n", 3, 4),
    )
    assert result.stop is None
    assert (result.line_count, result.physical) == (3, 4)
    assert result.nuls == (NulPiece(2, "c", 2, "c: d\n", "junk"),)


def test_a_line_starting_with_nul_contributes_nothing() -> None:
    # docs/rules.md (reading lines): the DenyHosts shape, a NUL run in front of an appended rule
    result = read_lines(b"sshd: 10.0.0.1\n\x00\x00\x00ALL: 10.0.0.2\nsshd: 10.0.0.3\n")
    assert [(x.text, x.line, x.physical) for x in result.lines] == [
        ("sshd: 10.0.0.1\n", 1, 1),
        ("sshd: 10.0.0.3\n", 2, 3),
    ]
    assert result.nuls == (NulPiece(2, "", 2, "sshd: 10.0.0.3\n", "ALL: 10.0.0.2"),)


def test_a_nul_run_longer_than_the_buffer_is_read_in_fgets_pieces() -> None:
    # fgets() reads 2047 bytes at a time: text after a NUL that falls into a later piece of
    # the same physical line is kept
    result = read_lines("\x00" * 10 + "x" * 2037 + "ALL: 10.0.0.1\n")
    assert [x.text for x in result.lines] == ["ALL: 10.0.0.1\n"]
    assert result.nuls == (NulPiece(1, "", 1, "ALL: 10.0.0.1\n", "x" * 2037),)


def test_a_nul_at_the_end_of_the_file() -> None:
    # nothing kept: the end of the file, no problem; text kept: a missing newline
    assert read_lines("a: b\n\x00\x00").stop is None
    assert read_lines("a: b\n\x00\x00\n").stop is None
    assert read_lines("a: b\nc: d\x00\n").stop == LineProblem(1, 2, "no newline")


def test_append_numbering_continues_both_counts() -> None:
    result = read_lines("a: b\n", 3, 5)
    assert result.lines == (LogicalLine("a: b\n", 4, 6),)
    assert (result.line_count, result.physical) == (4, 6)


def test_bytes_are_latin1_one_to_one() -> None:
    result = read_lines(b"\xc3\xa9t\xc3\xa9: \xff\n")
    assert result.lines == (LogicalLine("\xc3\xa9t\xc3\xa9: \xff\n", 1, 1),)


@pytest.mark.parametrize("data", [b"\\", b"\\\\\n", b"\n\\\n", b"\r", b"#\\", b"\x00"])
def test_odd_inputs_never_raise(data: bytes) -> None:
    read_lines(data)
