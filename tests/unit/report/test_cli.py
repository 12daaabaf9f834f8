"""tcpwrap.report.cli: the command as an admin runs it."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from tcpwrap.cli import main

PAPER = ["--tz", "UTC", "--year", "1991"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["report", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_terminal_summary_of_the_paper(capsys: pytest.CaptureFixture[str],
                                       fixtures: Path) -> None:
    status, out, err = run(capsys, *PAPER, str(fixtures / "paper_fig7.log"),
                           str(fixtures / "paper_tftp.log"))
    assert status == 0 and err == ""
    assert "Read 25 lines from 2 source(s)" in out
    assert "  1. guzzle.Stanford.EDU" in out
    assert "6 refused tftp connections, one every 77 s" in out


def test_timeline_for_one_host_like_figure_7(capsys: pytest.CaptureFixture[str],
                                             fixtures: Path) -> None:
    status, out, _ = run(capsys, *PAPER, "--remote", "guzzle.stanford.edu",
                         str(fixtures / "paper_fig7.log"))
    assert status == 0
    timeline = out.split("\nTimeline:\n", 1)[1].splitlines()
    assert len(timeline) == 15
    assert timeline[0] == "1991-01-30 04:55:09 tuegate: telnet: connect from guzzle.Stanford.EDU"
    assert all("guzzle" in line for line in timeline)


def test_stdin_and_gzip_and_duplicates(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch, fixtures: Path,
                                       tmp_path: Path) -> None:
    data = (fixtures / "paper_tftp.log").read_bytes()
    gz = tmp_path / "copy.gz"
    gz.write_bytes(gzip.compress(data))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    status, out, _ = run(capsys, *PAPER, "--json", "-", str(gz))
    doc = json.loads(out)
    assert status == 0 and doc["lines"] == 12
    [retry] = [f for f in doc["findings"] if f["kind"] == "retry"]
    assert retry["count"] == 6  # the second copy's lines are duplicates


def test_missing_input_is_reported_and_the_rest_still_read(
        capsys: pytest.CaptureFixture[str], fixtures: Path) -> None:
    status, out, err = run(capsys, *PAPER, "/nonexistent.log", str(fixtures / "paper_tftp.log"))
    assert status == 1
    assert "/nonexistent.log: cannot open" in err
    assert "E40-008-8.MIT.EDU" in out


def test_garbage_truncated_and_mixed_input(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path, fixtures: Path) -> None:
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(
        b"\x00\xff\xfe garbage\n"
        + (fixtures / "paper_tftp.log").read_bytes()[:300]  # cut inside a line
        + b"\n" + b"A" * 100_000 + b"\n"
        + b'{"__REALTIME_TIMESTAMP": "662997000000000", "_HOSTNAME": "svin02", '
        + b'"SYSLOG_IDENTIFIER": "tftpd", "MESSAGE": "refused connect from x.test"}\n'
        + b"<13>1 1991-01-04T19:10:00Z svin02 tftpd - - - connect from y.test\n")
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress((fixtures / "paper_fig7.log").read_bytes() * 50)[:400])
    status, out, err = run(capsys, *PAPER, "--json", str(mixed), str(cut))
    doc = json.loads(out)
    assert status == 1 and "cut.gz: input ends early" in err
    assert doc["unparsed"] >= 2  # the garbage and the over-long line
    assert doc["lines"] > 6


def test_html_output(capsys: pytest.CaptureFixture[str], fixtures: Path,
                     tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    status, out, _ = run(capsys, *PAPER, "--html", str(target), str(fixtures / "paper_fig7.log"))
    assert status == 0 and "guzzle" in out
    html = target.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "guzzle.Stanford.EDU" in html


def test_progress_only_when_asked_or_on_a_terminal(capsys: pytest.CaptureFixture[str],
                                                   fixtures: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_text((fixtures / "paper_fig7.log").read_text() * 2000)
    _, _, err = run(capsys, *PAPER, "--json", str(big))
    assert err == ""  # stderr is not a terminal here
    _, _, err = run(capsys, *PAPER, "--json", "--progress", "always", str(big))
    assert "lines/s" in err


@pytest.mark.parametrize("args", [["--tz", "Nowhere/City"], ["--year", "19x1"],
                                  ["--night", "late"], ["--burst-count", "1"],
                                  ["--since", "tomorrow"]])
def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], args: list[str],
                            fixtures: Path) -> None:
    status, out, err = run(capsys, *args, str(fixtures / "paper_tftp.log"))
    assert status == 2 and out == "" and err.startswith("tcpwrap report: ")


def test_filters_change_the_findings(capsys: pytest.CaptureFixture[str],
                                     fixtures: Path) -> None:
    _, out, _ = run(capsys, *PAPER, "--json", "--service", "finger",
                    str(fixtures / "paper_fig7.log"))
    doc = json.loads(out)
    assert doc["findings"] and all(f["services"] == ["finger"] for f in doc["findings"])
    _, out, _ = run(capsys, *PAPER, "--json", "--since", "1991-01-30T05:30:00+00:00",
                    "--local", "svin01", str(fixtures / "paper_fig7.log"))
    doc = json.loads(out)
    assert all(f["first"] >= "1991-01-30T05:30:00" for f in doc["findings"])


def test_a_file_without_wrapper_lines_says_why(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    log = tmp_path / "messages"
    log.write_text("".join(
        f"Jun 17 07:{i % 60:02d}:00 honey sshd[{100 + i}]: Accepted password for root from "
        f"192.0.2.{i % 250} port 22\n" if i % 3 else
        f"Jun 17 07:{i % 60:02d}:01 honey CROND[{200 + i}]: (root) CMD (run-parts)\n"
        for i in range(60)) + "garbage line 1\ngarbage line 22\n")
    status, out, _ = run(capsys, "--tz", "UTC", "--year", "2005", str(log))
    assert status == 0 and "0 connection records" in out
    assert "Almost no connection records: 0 in 62 lines." in out
    assert "sshd (40), CROND (20)" in out and "/var/log/secure" in out
    # the unparsed lines are shown by shape, with their count
    assert "        2x  " in out and ":61: garbage line 1" in out
    _, out, _ = run(capsys, "--tz", "UTC", "--year", "2005", "--json", str(log))
    assert "/var/log/secure" in json.loads(out)["note"]


def test_persist_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "slow.log"
    log.write_text("".join(
        f"Mar  {d} {h:02d}:00:00 gw in.telnetd[{d * 100 + h}]: refused connect from "
        f"198.51.100.9 (198.51.100.9)\n" for d in (2, 3) for h in range(0, 24, 2)))
    _, out, _ = run(capsys, "--tz", "UTC", "--year", "2026", "--json", str(log))
    assert "persistent" not in {f["kind"] for f in json.loads(out)["findings"]}  # 2 days
    _, out, _ = run(capsys, "--tz", "UTC", "--year", "2026", "--json", "--persist-days", "2",
                    str(log))
    [p] = [f for f in json.loads(out)["findings"] if f["kind"] == "persistent"]
    assert p["remote"] == "198.51.100.9" and p["count"] == 24
