"""Property tests for safe_finger's filter: whatever a finger server sends, the output is tame."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpwrap.proto.finger_filter import INPUT_LIMIT, FingerFilter, filter_output

SAFE = set(range(0x20, 0x7F)) | set(b"\t\r\v\f\n")


@given(st.binary(max_size=5000))
def test_output_has_only_printable_ascii_and_blanks(data: bytes) -> None:
    out = filter_output(data)
    assert set(out) <= SAFE
    for line in out.split(b"\n"):
        assert line == b"" or line.startswith(b" ")
        assert len(line) <= 132


@given(st.binary(max_size=3000), st.lists(st.integers(min_value=1, max_value=700), max_size=20))
def test_chunking_is_invisible(data: bytes, cuts: list[int]) -> None:
    f = FingerFilter()
    out = b""
    pos = 0
    for size in cuts:
        out += f.feed(data[pos : pos + size])
        pos += size
    out += f.feed(data[pos:])
    assert out == filter_output(data)


@given(st.binary(min_size=1, max_size=200))
def test_input_beyond_the_limit_is_never_read(tail: bytes) -> None:
    f = FingerFilter()
    f.feed(b"q" * INPUT_LIMIT)
    assert not f.done
    f.feed(tail)
    assert f.done and f.consumed == INPUT_LIMIT
