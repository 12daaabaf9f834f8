"""Every recorded tcpdmatch case, replayed with `tcpwrap match --debian`.

Stdout (with stderr merged, as recorded), the exit status and the syslog records must equal
what Debian's tcpdmatch produced, except the documented deviations in docs/compat.md (listed
in DEVIATIONS with the reason). Runs inside the test namespace (conformance hosts, netgroup,
inetd.conf and DNS zone), with a private copy of the case tree at /tmp/harness, where the
recorded rules expect it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tcpdmatch_cases import CASES, Query, all_queries

from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

TCPWRAP = str(Path(sys.executable).with_name("tcpwrap"))
QUERIES = all_queries()

# case id -> why our output differs (each also documented in docs/compat.md)
DEVIATIONS: dict[str, str] = {
    "D09-user-group-options-dry-run": "Debian's tcpdmatch really calls setuid/setgid for "
    "user/group options (inverted dry-run test); we only validate the names",
    "G06-self-including-file": "Debian's tcpdmatch crashes (SIGSEGV) on a self-including "
    "/file list; we warn and treat it as no match",
}
# single queries that deviate on purpose
QUERY_DEVIATIONS: dict[str, str] = {
    "H01-wildcard-ip-pattern-matches-hostname: -d in.ftpd probe74.dns.test": "an address "
    "wildcard (192.0.2.*) no longer matches a host name that merely looks numeric",
}

# query id -> why the recorded output cannot be reproduced in our test world (not a deviation)
HARNESS_LIMITS: dict[str, str] = {
    "F02-name-forms: -d sshd probe68.dns.test": "dnsmasq lower-cases the PTR UPPER.DNS.TEST "
    "it serves; case preservation is tested with /etc/hosts names (tests/e2e/test_lookup_dns.py)",
}


@pytest.fixture(scope="module")
def harness_tree() -> Iterator[Path]:
    """A private, writable copy of the conformance tree mounted at /tmp/harness."""
    # Not under pytest's /tmp/pytest-of-root: another pytest run on the machine resets that to
    # mode 0700, and the `AS nobody` queries follow /usr/sbin's symlinks into this copy.
    copy = Path(tempfile.mkdtemp(prefix="tcpwrap-harness."))
    tree = copy / "tree"
    shutil.copytree(CASES.parent, tree, symlinks=True)
    for path in [copy, *copy.parents]:
        if str(path) == "/":
            break
        os.chmod(path, os.stat(path).st_mode | 0o755)
    for root, dirs, files in os.walk(tree):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)
    target = Path("/tmp/harness")
    made = not target.exists()
    if made:
        target.mkdir()
    subprocess.run(["mount", "--bind", str(tree), str(target)], check=True)
    original = copy / "orig-sbin"
    original.mkdir()
    subprocess.run(["mount", "--bind", "/usr/sbin", str(original)], check=True)
    sbin = _fake_daemon_dir(copy / "sbin", original)
    subprocess.run(["mount", "--bind", str(sbin), "/usr/sbin"], check=True)
    try:
        for case in sorted(p for p in (target / "cases").iterdir() if (p / "setup").exists()):
            subprocess.run(["bash", "setup"], cwd=case, check=True)
        yield target
    finally:
        subprocess.run(["umount", "-l", "/usr/sbin"], check=False)
        subprocess.run(["umount", "-l", str(original)], check=False)
        subprocess.run(["umount", "-l", str(target)], check=False)
        if made:
            target.rmdir()
        # never through a bind mount still in place (it would delete the real /usr/sbin)
        points = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        if str(original) not in points and str(target) not in points:
            shutil.rmtree(copy)


# The daemons of the recorded inetd.conf, as the recording machine had them (fake daemons in
# /usr/sbin): without them tcpdmatch's inetd.conf analysis warns "not found in /usr/sbin".
FAKE_DAEMONS = [
    "in.fingerd",
    "in.telnetd",
    "in.ftpd",
    "in.rshd",
    "in.rlogind",
    "in.tftpd",
    "in.talkd",
    "sshd",
    "smtpd",
    "ipop3d",
    "imapd",
]


def _fake_daemon_dir(sbin: Path, original: Path) -> Path:
    """A copy of /usr/sbin (symlinks) plus executable stand-ins for the missing daemons."""
    sbin.mkdir()
    for entry in os.scandir(original):
        (sbin / entry.name).symlink_to(entry.path)
    for name in FAKE_DAEMONS:
        path = sbin / name
        if not path.exists():
            path.write_text("#!/bin/sh\nexit 0\n")
            path.chmod(0o755)
    if not (sbin / "tcpd").exists():
        (sbin / "tcpd").write_text("#!/bin/sh\nexit 0\n")
        (sbin / "tcpd").chmod(0o755)
    return sbin


def _normalise(lines: list[str] | tuple[str, ...]) -> list[str]:
    return [re.sub(r"\bp=\d+\b", "p=PID", line) for line in lines]


@pytest.mark.parametrize("query", QUERIES, ids=[q.id for q in QUERIES])
def test_tcpdmatch_case(query: Query, harness_tree: Path, syslog: SyslogCapture) -> None:
    if query.case in DEVIATIONS:
        pytest.skip(f"documented deviation: {DEVIATIONS[query.case]}")
    if query.id in QUERY_DEVIATIONS:
        pytest.skip(f"documented deviation: {QUERY_DEVIATIONS[query.id]}")
    if query.id in HARNESS_LIMITS:
        pytest.skip(f"test harness limit: {HARNESS_LIMITS[query.id]}")
    cmd = [TCPWRAP, "match", "--debian", *shlex.split(query.args)]
    if query.user == "nobody":
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    syslog.clear()
    result = subprocess.run(
        cmd,
        cwd=harness_tree / "cases" / query.case,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    # Records are datagrams already queued on /dev/log when the process exits; wait until
    # the capture thread has read the expected ones (and a moment for any unexpected extra).
    if query.syslog:
        syslog.wait_for_count(len(query.syslog), timeout=5)
    time.sleep(0.05)
    stdout = result.stdout.decode("latin-1").splitlines()
    assert _normalise(stdout) == _normalise(query.stdout)
    assert result.returncode == query.exit
    assert _normalise(syslog.lines()) == _normalise(query.syslog)
