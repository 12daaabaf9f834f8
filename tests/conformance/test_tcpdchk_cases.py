"""The recorded tcpdchk runs (conformance chk/K01, chk/K02, misc/no-inetd-conf) replayed with
`tcpwrap check`.

For each recorded run: with `--debian`, stdout must equal Debian's byte for byte and every
record Debian logged must be among our syslog records, in the same order; in our default mode
every recorded warning/error/option record must appear on stdout in the same order, and
stdout without our diagnostics must again equal the recorded listing. Deliberate differences
are listed in DEVIATIONS (documented in docs/check.md). The DNS-dependent runs need the test
namespace (conformance hosts, netgroup, inetd.conf and zone): they are marked e2e. The
recorded tables name /tmp/harness/chk/K01/hostlist; the test runs a copy whose path is
rewritten (in the table and in the expected texts).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import oracle
from harness.syslog_capture import SyslogCapture
from tcpwrap.cli import main
from tcpwrap.tools.check import USAGE

DATA = oracle.recorded("chk")
TCPWRAP = str(Path(sys.executable).with_name("tcpwrap"))
RECORDED_HOSTLIST = "/tmp/harness/chk/K01/hostlist"
FAKE_DAEMONS = [
    "in.fingerd", "in.telnetd", "in.ftpd", "in.rshd", "in.rlogind", "in.tftpd", "in.talkd",
    "sshd", "smtpd", "ipop3d", "imapd",
]

# Records Debian logs that we deliberately do not (docs/check.md, "Differences from tcpdchk").
DEVIATIONS = {
    "warning: hosts.allow, line 1: *.example.com: host not found": "wildcards are understood",
    "warning: hosts.allow, line 1: 192.0.2.*: host not found": "wildcards are understood",
    "warning: hosts.allow, line 1: alph?.example.com: host not found": "wildcards are understood",
    "warning: hosts.allow, line 2: 22: no such process name in /etc/inetd.conf": "port numbers "
    "in daemon lists are understood",
}


@dataclass(frozen=True)
class Run:
    case: str
    args: str
    stdout: tuple[str, ...]
    exit: int
    syslog: tuple[str, ...]  # the message part of each record (after "tcpdchk: ")

    @property
    def id(self) -> str:
        return f"{self.case}: tcpdchk {self.args}"


def parse_runs(case: str, text: str) -> list[Run]:
    runs: list[Run] = []
    for block in re.split(r"^(?=\$ )", text, flags=re.MULTILINE):
        lines = block.splitlines()
        if not lines or not lines[0].startswith("$ tcpdchk "):
            continue
        args = lines[0][len("$ tcpdchk ") :].split("   (")[0]
        exit_at = next(i for i, line in enumerate(lines) if re.fullmatch(r"\[exit \d+\]", line))
        records = [
            line.split(" tcpdchk: ", 1)[1] for line in lines[exit_at + 1 :]
            if line.startswith("syslog(") and " tcpdchk: " in line
        ]
        runs.append(Run(case, args, tuple(lines[1:exit_at]),
                        int(lines[exit_at][6:-1]), tuple(records)))
    return runs


RUNS = [run for case in ("K01", "K02") for run in
        parse_runs(case, (DATA / case / "output.txt").read_text())]
TABLE_RUNS = [run for run in RUNS if run.args in ("-d", "-d -v", "-d -a", "-d -v -a")]


def test_the_recordings_were_read() -> None:
    assert [run.id for run in RUNS] == [
        "K01: tcpdchk -d", "K01: tcpdchk -d -v", "K01: tcpdchk -d -a", "K01: tcpdchk -d -v -a",
        "K01: tcpdchk -d -i /nonexistent", "K01: tcpdchk -x", "K02: tcpdchk -d -v -a",
    ]
    assert len(RUNS[3].syslog) == 58 and RUNS[3].stdout[0].startswith("Using network")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Writable copies of the case directories and a daemon directory with the fake daemons."""
    root = tmp_path_factory.mktemp("chk")
    for case in ("K01", "K02"):
        shutil.copytree(DATA / case, root / case)
    allow = root / "K01" / "hosts.allow"
    allow.write_text(allow.read_text().replace(RECORDED_HOSTLIST, str(root / "K01" / "hostlist")))
    sbin = root / "sbin"
    sbin.mkdir()
    for name in FAKE_DAEMONS:
        (sbin / name).write_text("#!/bin/sh\nexit 0\n")
        (sbin / name).chmod(0o755)
    return root


def _expected(run: Run, world: Path, lines: tuple[str, ...]) -> list[str]:
    return [line.replace(RECORDED_HOSTLIST, str(world / "K01" / "hostlist")) for line in lines]


def _is_subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(needle == hay for hay in it) for needle in needles)


def _missing(needles: list[str], haystack: list[str]) -> list[str]:
    """The first needle that breaks the ordered subsequence (for a readable failure)."""
    it = iter(haystack)
    for needle in needles:
        if not any(needle == hay for hay in it):
            return [needle]
    return []


def _check(world: Path, run: Run, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [TCPWRAP, "check", *shlex.split(run.args), "--real-daemon-dir", str(world / "sbin"),
           *extra]
    return subprocess.run(cmd, cwd=world / run.case, capture_output=True, text=True,
                          encoding="latin-1", timeout=120, check=False)


def _status(run: Run) -> int:
    """Ours: 1 when an error was found (K01's option errors), else tcpdchk's 0."""
    return 1 if any(r.startswith("error: ") for r in run.syslog) else run.exit


@pytest.mark.e2e
@pytest.mark.parametrize("run", TABLE_RUNS, ids=[r.id for r in TABLE_RUNS])
def test_debian_mode_stdout_and_syslog(run: Run, world: Path, syslog: SyslogCapture) -> None:
    # --debian says exactly what tcpdchk says (no deviation, none of our own findings) and
    # exits as it does
    syslog.clear()
    result = _check(world, run, "--debian")
    expected_records = _expected(run, world, run.syslog)
    syslog.wait_for_count(len(expected_records), timeout=5)
    time.sleep(0.1)
    assert result.stderr == ""
    assert result.stdout.splitlines() == _expected(run, world, run.stdout)
    assert result.returncode == run.exit == 0
    ours = [line.split(" tcpdchk: ", 1)[1] for line in syslog.lines() if " tcpdchk: " in line]
    assert ours == expected_records
    assert all(line.startswith("syslog(user.") for line in syslog.lines())


@pytest.mark.e2e
@pytest.mark.parametrize("run", TABLE_RUNS, ids=[r.id for r in TABLE_RUNS])
def test_default_mode_prints_the_records_inline(run: Run, world: Path) -> None:
    result = _check(world, run)
    out = result.stdout.splitlines()
    expected_records = [r for r in _expected(run, world, run.syslog) if r not in DEVIATIONS]
    assert _missing(expected_records, out) == []
    listing = [line for line in out
               if not line.startswith(("warning: ", "error: ", "option:   ", "command: "))]
    assert listing == _expected(run, world, run.stdout)
    assert result.returncode == _status(run)


@pytest.mark.e2e
def test_k02_deviations_are_the_only_missing_records(world: Path) -> None:
    (run,) = [r for r in TABLE_RUNS if r.case == "K02"]
    out = _check(world, run).stdout.splitlines()
    for record in run.syslog:
        assert (record in out) is (record not in DEVIATIONS), record


def test_open_failure_of_the_inetd_file(world: Path) -> None:
    (run,) = [r for r in RUNS if "-i /nonexistent" in r.args]
    result = _check(world, run)
    assert (result.stdout + result.stderr).splitlines() == list(run.stdout)
    assert result.returncode == run.exit == 1


def test_usage_text_is_tcpdchk_s(world: Path) -> None:
    (run,) = [r for r in RUNS if r.args == "-x"]
    result = _check(world, run)
    assert result.returncode == run.exit == 1
    assert result.stdout == ""
    # Line 1 names the bad option in getopt's words; the usage block is identical.
    assert run.stdout[0] == "tcpdchk: invalid option -- 'x'"
    assert result.stderr.splitlines()[0].startswith("tcpwrap check: ")
    assert result.stderr.splitlines()[1:] == list(run.stdout[1:])
    assert USAGE.splitlines() == list(run.stdout[1:])


def test_no_inetd_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    text = oracle.recorded("misc", "no-inetd-conf.txt").read_text()
    (run,) = parse_runs("misc", text)
    assert run.args == "-d -v"
    monkeypatch.setattr("tcpwrap.drivers.inetd.DEFAULT_FILES", (str(tmp_path / "inetd.conf"),))
    monkeypatch.chdir(tmp_path)
    assert main(["check", *run.args.split()]) == run.exit
    assert capsys.readouterr().out.splitlines() == list(run.stdout)
    (tmp_path / "hosts.allow").write_text("sshd: ALL\nin.fingerd: ALL\n")
    assert main(["check", "-d"]) == 0
    assert capsys.readouterr().out == (
        "warning: hosts.allow, line 2: in.fingerd: no such process name in (null)\n"
    )
    os.remove(tmp_path / "hosts.allow")
