"""tcpwrap.report.sources: bounded line reading, gzip, year inference and zones."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from tcpwrap.report import sources
from tcpwrap.report.sources import (
    ReportError,
    YearInference,
    Zone,
    open_source,
    parse_zone,
    read_lines,
)


def lines_of(data: bytes, max_len: int = 4096) -> tuple[list[str | None], list[str]]:
    problems: list[str] = []
    return list(read_lines(cast(BinaryIO, io.BytesIO(data)), problems, "x", max_len)), problems


def test_lines_crlf_and_missing_final_newline() -> None:
    assert lines_of(b"a\r\nb\nc")[0] == ["a", "b", "c"]
    assert lines_of(b"")[0] == []
    assert lines_of(b"\n")[0] == [""]


def test_lines_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CHUNK", 7)
    data = b"".join(f"line {i}\n".encode() for i in range(50))
    assert lines_of(data)[0] == [f"line {i}" for i in range(50)]


def test_overlong_lines_become_none_and_reading_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "CHUNK", 16)
    data = b"ok1\n" + b"x" * 1000 + b"\nok2\n" + b"y" * 30 + b"\nok3"
    got, problems = lines_of(data, max_len=20)
    assert got == ["ok1", None, "ok2", None, "ok3"]
    assert problems == []


def test_line_length_limit_is_the_same_with_and_without_carriage_returns() -> None:
    # a chunk without \r and long lines is passed on whole; the others line by line
    assert lines_of(b"x" * 20 + b"\nshort\n", max_len=20)[0] == ["x" * 20, "short"]
    assert lines_of(b"x" * 20 + b"\r\nshort\r\n", max_len=20)[0] == [None, "short"]
    assert lines_of(b"x" * 19 + b"\r\n" + b"y" * 21 + b"\n", max_len=20)[0] == ["x" * 19, None]


def test_invalid_utf8_is_replaced() -> None:
    assert lines_of(b"caf\xe9\n")[0] == ["caf\ufffd"]


def test_gzip_is_recognised_by_content(tmp_path: Path) -> None:
    p = tmp_path / "plain-name.log"
    p.write_bytes(gzip.compress(b"one\ntwo\n"))
    stream, _ref = open_source(str(p))
    with stream:
        assert list(read_lines(stream, [], str(p))) == ["one", "two"]


def test_truncated_gzip_keeps_what_was_read_and_reports(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(20000)))
    p = tmp_path / "cut.log.gz"
    p.write_bytes(data[: len(data) // 2])
    stream, _ = open_source(str(p))
    problems: list[str] = []
    with stream:
        got = list(read_lines(stream, problems, "cut.log.gz"))
    assert 0 < len(got) < 20000
    assert got[0] == "line 0"
    assert len(problems) == 1 and problems[0].startswith("cut.log.gz: input ends early")


def test_reference_time_is_the_mtime(tmp_path: Path) -> None:
    import os

    p = tmp_path / "a.log"
    p.write_text("x\n")
    os.utime(p, (1_000_000_000, 1_000_000_000))
    stream, ref = open_source(str(p))
    stream.close()
    assert ref == 1_000_000_000


def test_missing_file_raises_oserror() -> None:
    with pytest.raises(OSError):
        open_source("/nonexistent/report/input.log")


# -- year inference ---------------------------------------------------------------------------

def ref(y: int, m: int) -> datetime:
    return datetime(y, m, 15, tzinfo=UTC)


def test_year_from_reference_and_month() -> None:
    assert YearInference(ref(2026, 6)).year_for(5) == 2026
    assert YearInference(ref(2026, 6)).year_for(6) == 2026
    assert YearInference(ref(2026, 6)).year_for(7) == 2025  # written after the file? last year


def test_year_rolls_over_and_stray_lines() -> None:
    y = YearInference(ref(2027, 2))
    assert [y.year_for(m) for m in (11, 12, 12, 1, 12, 1, 2)] == [
        2026, 2026, 2026, 2027, 2026, 2027, 2027]


def test_explicit_first_year() -> None:
    y = YearInference(ref(2026, 1), first_year=1990)
    assert [y.year_for(m) for m in (5, 5, 12, 1)] == [1990, 1990, 1990, 1991]


# -- zones ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "offset"), [
    ("UTC", 0), ("Z", 0), ("+01:00", 3600), ("-0530", -19800), ("+09", 32400)])
def test_fixed_zones(spec: str, offset: int) -> None:
    tz = parse_zone(spec)
    assert tz is not None and tz.utcoffset(None) == timedelta(seconds=offset)


@pytest.mark.parametrize("spec", ["+25:00", "+1:2:3", "Mars/Olympus", "../../etc/passwd", "+"])
def test_bad_zones(spec: str) -> None:
    with pytest.raises(ReportError):
        parse_zone(spec)


def test_local_zone_is_none() -> None:
    assert parse_zone("local") is None


def test_zone_conversion_across_dst() -> None:
    z = Zone("Europe/Amsterdam")
    winter, off_w = z.to_epoch(2026, 1, 10, 12, 0)
    summer, off_s = z.to_epoch(2026, 7, 10, 12, 0)
    assert (off_w, off_s) == (3600, 7200)
    assert winter == datetime(2026, 1, 10, 11, 0, tzinfo=UTC).timestamp()
    assert summer == datetime(2026, 7, 10, 10, 0, tzinfo=UTC).timestamp()
    assert z.offset_at(summer) == (7200, 12)
