"""check_lines (tcpwrap check's reader) agrees with read_lines (tcpd's reader) on every input.

Up to the first bad line both see the same logical lines with the same numbers, and the first
problem check_lines reports is exactly where read_lines stops.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.check.lines import check_lines
from tcpwrap.policy.tables import LINE_LIMIT, read_lines

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
    # every physical line belongs to exactly one logical line
    assert sum(cl.last - cl.first + 1 for cl in checked) == text.count("\n") + (
        0 if text.endswith("\n") or not text else 1
    )
