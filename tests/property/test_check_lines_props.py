"""check_lines (tcpwrap check's reader) agrees with read_lines (tcpd's reader) on every input.

Up to the first bad line both see the same logical lines with the same numbers, and the first
problem check_lines reports is exactly where read_lines stops.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.check.lines import CheckLine, check_lines
from tcpwrap.policy.tables import LINE_LIMIT, read_lines, xgets_lines

PIECES = st.sampled_from(
    ["sshd: ALL", "# c", "", " ", "\\", "\t", "x" * (LINE_LIMIT - 3), "x" * 700, "\x00", "a:b"]
)
TEXTS = st.lists(
    st.tuples(PIECES, st.sampled_from(["\n", "\\\n", ""])), max_size=8
).map(lambda parts: "".join(a + b for a, b in parts))


@settings(max_examples=400)
@given(TEXTS)
def test_check_lines_agrees_with_read_lines(text: str) -> None:
    runtime = read_lines(text)
    checked = check_lines(text)
    first_bad = next((i for i, cl in enumerate(checked) if cl.problem is not None), None)
    good = checked if first_bad is None else checked[:first_bad]
    usable = [(cl.text, cl.line) for cl in good if not cl.comment and not cl.blank]
    assert usable == [(line.text, line.line) for line in runtime.lines]
    physical = [(cl.text, cl.last) for cl in good if not cl.comment and not cl.blank]
    assert physical == [(line.text, line.physical) for line in runtime.lines]
    if runtime.stop is None:
        assert first_bad is None
    else:
        assert first_bad is not None
        assert checked[first_bad].first == runtime.stop.physical
        if runtime.stop.reason == "no newline":  # (after a too-long one, check reads on)
            assert checked[first_bad].line == runtime.stop.line
    # every physical line belongs to exactly one logical line
    assert sum(cl.last - cl.first + 1 for cl in checked) == text.count("\n") + (
        0 if text.endswith("\n") or not text else 1
    )


PLAIN_PIECES = st.sampled_from(
    ["sshd: ALL", "# c", "", " ", "\t", "\r", "x" * (LINE_LIMIT - 2), "x" * (LINE_LIMIT - 1),
     "x" * LINE_LIMIT, "a:b"]
)
PLAIN_TEXTS = st.lists(st.tuples(PLAIN_PIECES, st.sampled_from(["\n", ""])), max_size=8).map(
    lambda parts: "".join(a + b for a, b in parts)
)


@settings(max_examples=400)
@given(PLAIN_TEXTS)
def test_plain_fast_path_equals_the_exact_reader(text: str) -> None:
    exact = [
        CheckLine(r.text, r.first, r.last, r.problem, r.length, r.pieces, r.line, r.nuls)
        for r in xgets_lines(text, resync=True)
    ]
    assert check_lines(text) == exact
