"""tcpwrap.report.merge: time order across sources, stability, duplicate removal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tcpwrap.report import merge as merge_module
from tcpwrap.report.merge import merge
from tcpwrap.report.model import CONNECT, Event, Stats


def ev(ts: float, src: int, lineno: int, local: str = "h", remote: str = "r", pid: int = 1,
       service: str = "finger") -> Event:
    return Event(ts, src, lineno, 0, 0, local, service, pid, CONNECT, remote, None, None,
                 f"{src}:{lineno}")


def run(*streams: list[Event]) -> tuple[list[tuple[int, int]], Stats]:
    stats = Stats()
    its: list[Iterator[Event]] = [iter(s) for s in streams]
    return [(e.src, e.lineno) for e in merge(its, stats)], stats


def test_interleaves_by_time_and_ties_keep_source_order() -> None:
    a = [ev(1, 0, 1, pid=1), ev(5, 0, 2, pid=2), ev(5, 0, 3, pid=3)]
    b = [ev(2, 1, 1, local="g"), ev(5, 1, 2, local="g"), ev(9, 1, 3, local="g")]
    got, stats = run(a, b)
    assert got == [(0, 1), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3)]
    assert stats.duplicates == 0


def test_same_record_from_two_sources_is_kept_once() -> None:
    a = [ev(1, 0, 1), ev(2, 0, 2)]
    b = [ev(1, 1, 1), ev(2, 1, 2), ev(3, 1, 3)]
    got, stats = run(a, b)
    assert got == [(0, 1), (0, 2), (1, 3)]
    assert stats.duplicates == 2


def test_repeats_within_one_source_are_kept() -> None:
    # The paper's logs have no pid: two equal lines in one file are two connections.
    a = [ev(1, 0, 1, pid=-1), ev(1, 0, 2, pid=-1)]
    b = [ev(1, 1, 1, pid=-1)]  # the central copy has only one of them
    got, stats = run(a, b)
    assert got == [(0, 1), (0, 2)]
    assert stats.duplicates == 1


def test_different_pid_or_host_is_not_a_duplicate() -> None:
    got, stats = run([ev(1, 0, 1, pid=1)], [ev(1, 1, 1, pid=2)], [ev(1, 2, 1, local="x")])
    assert len(got) == 3 and stats.duplicates == 0


def test_many_sources_long_streams_stay_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge_module, "_BATCH", 7)
    streams = [[ev(t * 3 + k * 0.5, k, t + 1, local=f"h{k}") for t in range(100)]
               for k in range(5)]
    stats = Stats()
    out = list(merge([iter(s) for s in streams], stats))
    assert len(out) == 500
    assert [e.ts for e in out] == sorted(e.ts for e in out)


def test_small_disorder_within_a_source_is_mended() -> None:
    a = [ev(3, 0, 1), ev(1, 0, 2), ev(2, 0, 3)]
    got, _ = run(a)
    assert got == [(0, 2), (0, 3), (0, 1)]


def test_no_streams() -> None:
    assert run() == ([], Stats())


def test_a_host_that_gains_a_second_source_is_compared_from_then_on() -> None:
    # host "h" is logged by source 0 alone until second 5, when a central copy starts
    a = [ev(1, 0, 1), ev(5, 0, 2), ev(5, 0, 3, pid=-1), ev(5, 0, 4, pid=-1), ev(7, 0, 5)]
    b = [ev(5, 1, 1), ev(5, 1, 2, pid=-1), ev(5, 1, 3, pid=-1), ev(5, 1, 4, pid=-1),
         ev(7, 1, 5)]
    got, stats = run(a, b)
    # the central copy adds only its third pid-less record of second 5
    assert got == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 4), (0, 5)]
    assert stats.duplicates == 4
