"""tcpwrap.report.rotation and the years of classic lines, through the command: a Jun→Feb file,
a one-line file dated after its mtime, a rotated set copied with equal mtimes; --tz HOST=."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tcpwrap.cli import main
from tcpwrap.report.rotation import rotation_key, rotation_order, year_ends


def line(stamp: str, n: int, host: str = "gw", addr: str = "192.0.2.1") -> str:
    return f"{stamp} {host} in.fingerd[{n}]: connect from {addr} ({addr})\n"


def touch(path: Path, when: str) -> None:
    t = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()
    os.utime(path, (t, t))


def timeline(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["report", "--tz", "UTC", "--timeline", *args]) == 0
    out = capsys.readouterr().out
    return out.split("\nTimeline:\n", 1)[1].splitlines()


def test_june_to_february_file_modified_months_later(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "messages"
    log.write_text(line("Jun 10 10:00:00", 1) + line("Sep  1 10:00:00", 2)
                   + line("Dec 31 23:00:00", 3) + line("Jan  1 01:00:00", 4)
                   + line("Feb 20 12:00:00", 5))
    touch(log, "2026-07-15T00:00:00")  # copied in July: the first line is not June 2026
    got = [x[:10] for x in timeline(capsys, str(log))]
    assert got == ["2025-06-10", "2025-09-01", "2025-12-31", "2026-01-01", "2026-02-20"]


def test_one_line_file_dated_after_its_mtime(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "one.log"
    log.write_text(line("Mar  3 10:00:00", 1))
    touch(log, "2026-02-01T00:00:00")  # a March line in a file last written in February
    assert [x[:10] for x in timeline(capsys, str(log))] == ["2025-03-03"]


def test_rotated_set_copied_with_equal_mtimes(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    live, one, two = tmp_path / "messages", tmp_path / "messages.1", tmp_path / "messages.2.gz"
    live.write_text(line("Jan  5 10:00:00", 1) + line("Feb 25 10:00:00", 2))
    one.write_text(line("Nov  3 10:00:00", 3) + line("Dec 30 10:00:00", 4))
    two.write_bytes(gzip.compress((line("Sep  1 10:00:00", 5)
                                   + line("Oct 30 10:00:00", 6)).encode()))
    for p in (live, one, two):
        touch(p, "2026-12-15T00:00:00")  # `cp` without -p: all the same, long after
    got = [x[:10] for x in timeline(capsys, str(live), str(two), str(one))]
    assert got == ["2025-09-01", "2025-10-30", "2025-11-03", "2025-12-30", "2026-01-05",
                   "2026-02-25"]


def test_a_year_printed_in_the_line_wins(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ftp.log"
    log.write_text("Jun 17 07:07:00 honey ftpd[1]: connection from 198.51.100.7 () at "
                   "Fri Jun 17 07:07:00 2005\n" + line("Jun 17 07:08:00", 2))
    touch(log, "2026-12-15T00:00:00")
    assert [x[:10] for x in timeline(capsys, str(log))] == ["2005-06-17", "2005-06-17"]


@pytest.mark.parametrize(("path", "key"), [
    ("/l/messages", ("/l/messages", 0)), ("/l/messages.1", ("/l/messages", 1)),
    ("/l/messages.12.gz", ("/l/messages", 12)), ("/l/syslog.gz", ("/l/syslog", 0)),
    ("/l/secure-20260301", ("/l/secure", 100_000_000 - 20260301))])
def test_rotation_key(path: str, key: tuple[str, int]) -> None:
    assert rotation_key(path) == key


def test_rotation_order_is_oldest_first_per_set() -> None:
    assert rotation_order(["a/messages", "b.log", "a/messages.2.gz", "a/messages.1"]) == [
        "a/messages.2.gz", "a/messages.1", "a/messages", "b.log"]


def test_year_ends_follow_the_parsers_rule() -> None:
    assert year_ends([(6, 1), (12, 31), (1, 1), (2, 1)]) == 1
    # a stray December line after January is the year before: the last line's year is one
    # less than the first's
    assert year_ends([(1, 1), (12, 1)]) == -1
    assert year_ends([(11, 1), (1, 1), (6, 1), (11, 1), (1, 1)]) == 2


def test_tz_per_logging_host_decides_its_night(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # a collector's file in UTC: 03:00-04:00 UTC is night in London, day in Sydney
    log = tmp_path / "central.log"
    log.write_text("".join(
        f"2026-03-03T0{3 + i}:00:00Z {h} in.fingerd[{i}]: connect from {a} ({a})\n"
        for h, a in (("sydney", "198.51.100.1"), ("london", "198.51.100.2")) for i in range(2)))
    assert main(["report", "--json", "--tz", "UTC", str(log)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["remote"] for f in doc["findings"] if f["kind"] == "night"} == {
        "198.51.100.1", "198.51.100.2"}
    assert main(["report", "--json", "--tz", "UTC", "--tz", "sydney=+10:00", str(log)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {f["remote"] for f in doc["findings"] if f["kind"] == "night"} == {"198.51.100.2"}
    assert doc["zones"] == {"london": "UTC", "sydney": "+10:00"}
