"""The real-world corpus (realworld.py: DenyHosts lists with NUL runs and CRLF, pasted
zero-width and non-breaking spaces, unbracketed IPv6, big /file includes, tabs, continuations,
EXCEPT chains, spawn with % expansions) through the real binaries:

* every query's verdict from `tcpwrap.hosts_ctl` equals the real libwrap's `hosts_ctl`;
* `tcpwrap check --debian -d -a` says and exits what the real `tcpdchk -d -a` does (stdout,
  syslog records, exit status); the default `tcpwrap check` finds errors only where tcpd
  has them (the NUL run and the rule it makes of the torn line; `setenv A=B`);
* `tcpwrap match --debian -d` prints, logs and exits what the real `tcpdmatch -d` does for a
  sample of each fixture's clients.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from realworld import Fixture, fixtures, write
from test_libwrap_differential import _libwrap_verdict, libwrap  # noqa: F401 - a fixture

import tcpwrap
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.oracle

TCPWRAP = str(Path(sys.executable).with_name("tcpwrap"))
NAMES = ["denyhosts", "denyhosts-nul-run", "denyhosts-crlf", "allow-list", "file-includes"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Fixture, Path]]:
    root = tmp_path_factory.mktemp("realworld")
    made = {}
    for fixture in fixtures(root / "lists"):
        directory = root / fixture.name
        write(fixture, directory)
        made[fixture.name] = (fixture, directory)
    assert sorted(made) == sorted(NAMES)
    return made


def test_the_corpus_has_the_real_shapes(corpus: dict[str, tuple[Fixture, Path]]) -> None:
    deny = corpus["denyhosts"][0].deny
    assert deny.count(b"\n") > 12_000 and b"# DenyHosts: " in deny and b" | ALL: 100." in deny
    assert b"\x00" * 1000 in corpus["denyhosts-nul-run"][0].deny
    crlf = corpus["denyhosts-crlf"][0].deny
    assert crlf.count(b"\r\n") > 6000 and b"\n" not in crlf.replace(b"\r\n", b"")
    allow = corpus["allow-list"][0].allow
    for shape in (b"\xe2\x80\x8b", b"\xc2\xa0", b"2001:db8::/32", b"\t", b"\\\n", b"EXCEPT",
                  b"spawn", b"%a"):
        assert shape in allow
    files = corpus["file-includes"][0].files
    assert sum(data.count(b"\n") for data in files.values()) > 8000


@pytest.mark.parametrize("name", NAMES)
def test_hosts_ctl_verdicts_equal_libwrap(
    name: str, corpus: dict[str, tuple[Fixture, Path]], libwrap: ModuleType  # noqa: F811
) -> None:
    fixture, directory = corpus[name]
    allow, deny = directory / "hosts.allow", directory / "hosts.deny"
    assert len(fixture.queries) >= 40
    verdicts = set()
    for query in fixture.queries:
        theirs = _libwrap_verdict(libwrap, allow, deny, query)
        ours = "granted" if tcpwrap.hosts_ctl(*query, allow=str(allow), deny=str(deny)) else (
            "denied"
        )
        assert ours == theirs, f"{name}: {query!r}"
        verdicts.add(ours)
    assert verdicts == {"granted", "denied"}  # each fixture tells clients apart


def _run(
    argv: list[str] | list[bytes], cwd: Path, syslog: SyslogCapture, *, pid_as: str = ""
) -> tuple[bytes, int, list[str]]:
    """stdout, exit status and syslog records of one run (with `pid_as`: its pid, which %p
    expands to, written so)."""
    syslog.clear()
    with subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out, _ = proc.communicate(timeout=600)
    time.sleep(0.3)
    records = [line.split(": ", 1)[1] for line in syslog.lines()]
    if pid_as:
        pid = str(proc.pid)
        records = [record.replace(pid, pid_as) for record in records]
        out = out.replace(pid.encode(), pid_as.encode())
    return out, proc.returncode, records


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_check_debian_equals_tcpdchk(
    name: str, corpus: dict[str, tuple[Fixture, Path]], syslog: SyslogCapture
) -> None:
    _, directory = corpus[name]
    real = _run(["/usr/sbin/tcpdchk", "-d", "-a"], directory, syslog)
    ours = _run([TCPWRAP, "check", "--debian", "-d", "-a"], directory, syslog)
    assert ours[0].splitlines() == real[0].splitlines()
    assert len(ours[2]) == len(real[2])
    assert ours[2] == real[2]
    assert ours[1] == real[1] == 0
    default = subprocess.run([TCPWRAP, "check", "-d", "-a"], cwd=directory, capture_output=True,
                             timeout=600, check=False)  # fmt: skip
    errors = [line for line in default.stdout.splitlines() if line.startswith(b"error: ")]
    if name == "denyhosts-nul-run":  # the NUL run, and the rule tcpd makes of the torn line
        assert default.returncode == 1 and len(errors) == 2
        assert b"NUL bytes" in errors[0] and b'bad option name: "Tue"' in errors[1]
    elif name == "allow-list":  # Debian's text for `setenv A=B` (docs/check.md)
        assert default.returncode == 1
        assert [e.split(b": ", 2)[2] for e in errors] == [
            b'bad option name: "db8"',  # sshd: 2001:db8::/32 (unbracketed: cut at ":")
            b"memory allocation failure",
        ]
    else:
        assert (default.returncode, errors) == (0, [])


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_match_debian_equals_tcpdmatch(
    name: str, corpus: dict[str, tuple[Fixture, Path]], syslog: SyslogCapture
) -> None:
    fixture, directory = corpus[name]
    for daemon, _, address, _ in fixture.queries[:: max(1, len(fixture.queries) // 12)]:
        # the client's bytes as the table holds them (one character per byte here)
        args = [b"-d", daemon.encode("latin-1"), address.encode("latin-1")]
        real = _run([b"/usr/sbin/tcpdmatch", *args], directory, syslog, pid_as="PID")
        ours = _run([TCPWRAP.encode(), b"match", b"--debian", *args], directory, syslog,
                    pid_as="PID")
        assert ours[0].splitlines() == real[0].splitlines(), f"{name}: {args}"
        assert ours[2] == real[2], f"{name}: {args}"
        assert ours[1] == real[1], f"{name}: {args}"
