"""tcpwrap report on hostile input and hostile readers: any bytes never crash it, and a
reader that stops early (`| head`) ends it quietly."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.report.detect import Detector, rank
from tcpwrap.report.model import Stats
from tcpwrap.report.parse import SourceParser
from tcpwrap.report.render_html import Marks, page
from tcpwrap.report.render_json import render
from tcpwrap.report.render_text import summary, timeline
from tcpwrap.report.sources import YearInference, Zone, read_lines

# pieces real lines are made of, so random bytes reach the parsers' deeper branches
PIECES = [b"Nov 27 01:02:03 gw ", b"Sep 4 16:05:09 h ", b"in.fingerd[12]: ", b"xinetd[7]: ",
          b"START: telnet pid=5 from=192.0.2.1", b"FAIL: telnet libwrap from=192.0.2.1",
          b"EXIT: telnet pid=5 duration=3(sec)", b"connect from ", b"refused ",
          b"connection from 192.0.2.1 () at Fri Jun 17 07:07:00 2005", b"[ID 1 daemon.notice] ",
          b"- 1131566503 2005.11.09 n ", b"2005 Jun 17 07:07:00 EDT ", b"x[192.0.2.1]",
          b"(::ffff:192.0.2.1)", b"inetd[3]: ftp[4] from 192.0.2.1 99", b"unknown", b"\n",
          b"\r", b"\x00", b"\xff\xfe", b"{", b"<30>1 ", b" ", b"@", b"on illegal port"]


def run_all(data: bytes) -> None:
    stats = Stats()
    lines = read_lines(cast(BinaryIO, io.BytesIO(data)), stats.problems, "fuzz")
    parser = SourceParser(0, "fuzz", YearInference(datetime(2026, 1, 1, tzinfo=UTC), None),
                          Zone("UTC"), stats)
    detector, marks = Detector(), Marks()
    events = []
    for e in parser.events(lines):
        detector.feed(e)
        marks.add(e)
        events.append(e)
    findings = detector.findings()
    suspects = rank(findings)
    json.loads(render(stats, findings))
    summary(stats, suspects, 1, 20, detector.rare_services())
    timeline(events)
    page(stats, suspects, marks, 1, {})
    assert stats.lines >= stats.unparsed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=20)), max_size=40))
def test_any_bytes_never_crash_the_report(parts: list[bytes]) -> None:
    run_all(b"".join(parts))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_any_raw_bytes_never_crash_the_report(data: bytes) -> None:
    run_all(data)


def test_output_piped_to_head_ends_quietly(tmp_path: Path, fixtures: Path) -> None:
    big = tmp_path / "big.log"
    big.write_text((fixtures / "paper_fig7.log").read_text() * 3000)  # 57,000 lines
    report = subprocess.Popen(
        [sys.executable, "-m", "tcpwrap.cli", "report", "--tz", "UTC", "--year", "1991",
         "--timeline", "--limit", "100000", str(big)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert report.stdout is not None and report.stderr is not None
    head = subprocess.run(["head", "-n", "3"], stdin=report.stdout, capture_output=True,
                          check=True, timeout=120)
    report.stdout.close()  # only head reads the pipe: when it exits, writes fail with EPIPE
    err = report.stderr.read()
    report.stderr.close()
    assert report.wait(timeout=120) == 0
    assert err == b""  # no BrokenPipeError traceback
    assert head.stdout.startswith(b"Read 57000 lines")
