"""safe_finger's output filter against the output recorded from Debian's safe_finger.

The expected bytes below are tests/conformance/recorded/safe_finger/output.txt (sf_test.sh run
against tests/conformance/recorded/fakebin/finger), decoded from `cat -A`.
"""

from __future__ import annotations

import pytest

from tcpwrap.proto.finger_filter import INPUT_LIMIT, TRAILER, FingerFilter, filter_output

# What the fake finger writes in its "basic" mode, run by safe_finger as nobody.
BASIC_IN = (
    b"args=['-l', '@host.example'] uid=65534 gid=65534 PATH=/bin:/usr/bin:/sbin:/usr/sbin\n"
    b"~!cmd at column 0\n"
    b"tab\there, bell\x07, esc\x1b[31m, del\x7f, high\xe9\xff, back\\slash, cr\rend\n"
    + b"A" * 300
    + b"\n"
    + b"no newline at end"
)
BASIC_OUT = (
    b" args=['-l', '@host.example'] uid=65534 gid=65534 PATH=/bin:/usr/bin:/sbin:/usr/sbin\n"
    b" ~!cmd at column 0\n"
    b" tab\there, bell\\007, esc\\033[31m, del\\177, high\\351\\377, back\\\\slash, cr\rend\n"
    + (b" " + b"A" * 127 + b"\\\n") * 2
    + b" "
    + b"A" * 46
    + b"\n"
    + b" no newline at end"
)


def test_basic_recorded_case() -> None:
    out = filter_output(BASIC_IN)
    assert out == BASIC_OUT
    # the recorded statistics: bytes=507 lines=6 maxlinelen=129
    assert len(out) == 507
    assert out.count(b"\n") == 6
    assert max(len(line) for line in out.split(b"\n")) == 129


def test_flood_recorded_case() -> None:
    out = filter_output(b"x" * 150_000)
    # recorded: bytes=102400 lines=790 maxlinelen=129, and its first 300 / last 200 bytes
    assert len(out) == 102_400
    assert out.count(b"\n") == 790
    assert max(len(line) for line in out.split(b"\n")) == 129
    assert out[:300] == (b" " + b"x" * 127 + b"\\\n") * 2 + b" " + b"x" * 39
    assert out[-200:] == (
        b"x" * 108 + b"\\\n" + b" " + b"x" * 51 + b"\n\n Input truncated to 100000 bytes...\n"
    )


@pytest.mark.parametrize(
    ("raw", "filtered"),
    [
        (b"failing\n", b" failing\n"),  # recorded "fail" case: bytes=9
        (b"before hang\n", b" before hang\n"),  # recorded "hang" case: bytes=13
    ],
)
def test_fail_and_hang_recorded_output(raw: bytes, filtered: bytes) -> None:
    assert filter_output(raw) == filtered


def test_trailer_text() -> None:
    assert TRAILER == b"\n\n Input truncated to 100000 bytes...\n"


def test_exactly_the_limit_is_not_truncated() -> None:
    out = filter_output(b"y" * INPUT_LIMIT)
    assert not out.endswith(TRAILER)
    assert out.count(b"y") == INPUT_LIMIT
    out = filter_output(b"y" * (INPUT_LIMIT + 1))
    assert out.endswith(TRAILER)
    assert out[: -len(TRAILER)].count(b"y") == INPUT_LIMIT


def test_limit_across_chunks_and_input_after_it_ignored() -> None:
    f = FingerFilter()
    first = f.feed(b"z" * (INPUT_LIMIT - 1))
    assert not f.done
    second = f.feed(b"zz")
    assert f.done and f.consumed == INPUT_LIMIT
    assert second.endswith(TRAILER)
    assert f.feed(b"more") == b""
    assert first + second == filter_output(b"z" * (INPUT_LIMIT + 1))


def test_chunking_does_not_change_the_output() -> None:
    whole = filter_output(BASIC_IN)
    f = FingerFilter()
    pieces = b"".join(f.feed(BASIC_IN[i : i + 1]) for i in range(len(BASIC_IN)))
    assert pieces == whole


@pytest.mark.parametrize(
    ("raw", "filtered"),
    [
        (b"", b""),
        (b"\n", b"\n"),  # an empty line stays empty
        (b"a\n\nb", b" a\n\n b"),
        (b"\x00", b" \\000"),
        (b"\x80\x9b", b" \\200\\233"),  # 8-bit controls (CSI) escaped
        (b"\t\r\v\f", b" \t\r\v\f"),  # C blanks are kept
        (b"\\", b" \\\\"),
        (b"~!sh\n.\n", b" ~!sh\n .\n"),  # mailer escapes and the SMTP end-of-data dot
    ],
)
def test_small_cases(raw: bytes, filtered: bytes) -> None:
    assert filter_output(raw) == filtered


def test_escape_straddling_the_line_limit() -> None:
    # 126 plain characters + an escape: 1 + 126 = 127 < 128, the 4-character escape follows
    out = filter_output(b"a" * 126 + b"\x01" + b"b")
    first, second = out.split(b"\n")
    assert first == b" " + b"a" * 126 + b"\\001" + b"\\"
    assert len(first) == 132  # the documented worst case
    assert second == b" b"


def test_doubled_backslash_at_the_limit() -> None:
    out = filter_output(b"a" * 127 + b"\\")
    assert out == b" " + b"a" * 127 + b"\\\n" + b" \\\\"
