"""report.inputs: the files' order, years and zones, shared by report, replay and diff."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from tcpwrap.report.inputs import Inputs, per_file, year
from tcpwrap.report.model import Stats
from tcpwrap.report.sources import ReportError


def test_per_file_values_and_the_default() -> None:
    assert per_file(["UTC", "a.log=+01:00", "gw=Europe/Amsterdam"], "--tz") == (
        "UTC", {"a.log": "+01:00", "gw": "Europe/Amsterdam"})
    with pytest.raises(ReportError, match=r"bad --tz 'a\.log='"):
        per_file(["a.log="], "--tz")


@pytest.mark.parametrize("text", ["0", "10000", "19x2", "-1"])
def test_a_bad_year_is_an_error(text: str) -> None:
    with pytest.raises(ReportError, match="bad year"):
        year(text)


def test_rotated_set_oldest_first_and_zones_per_file_or_host(tmp_path: Path) -> None:
    newer = tmp_path / "messages"
    older = tmp_path / "messages.1"
    newer.write_text("Jan  2 00:00:01 gw in.fingerd[1]: connect from 192.0.2.1\n")
    older.write_text("Dec 31 23:59:59 gw in.fingerd[1]: connect from 192.0.2.2\n")
    stamp = 1767312000  # 2026-01-02 UTC
    os.utime(newer, (stamp, stamp))
    os.utime(older, (stamp, stamp))
    inputs = Inputs.build([str(newer), str(older)], [], [f"{older}=UTC", "gw=+05:00"])
    assert inputs.paths == [str(older), str(newer)]
    assert inputs.first_year == {str(older): 2025, str(newer): 2026}
    assert set(inputs.zones) == {str(older)} and set(inputs.host_zones) == {"gw"}
    stats = Stats()
    with ExitStack() as stack:
        events = [e for s in inputs.streams(stats, stack) for e in s]
    # gw's lines are read in +05:00 (its host zone), whatever the file's zone
    assert [(e.src, e.off, e.hour, e.addr) for e in events] == [
        (0, 18000, 23, "192.0.2.2"), (1, 18000, 0, "192.0.2.1")]


def test_a_missing_file_is_a_problem_not_an_error(tmp_path: Path) -> None:
    inputs = Inputs.build([str(tmp_path / "nope.log")], ["2026"], [])
    stats = Stats()
    with ExitStack() as stack:
        assert inputs.streams(stats, stack) == []
    assert stats.problems and "cannot open" in stats.problems[0]
