"""`tcpwrap check --debian` against the real /usr/sbin/tcpdchk, run side by side on crafted
tables (data/chk_live.json: one-line and longer tables without a final newline, wildcard host
patterns and port numbers, CRLF files, NUL runs, non-ASCII bytes, an over-long line,
continuations, unbracketed IPv6).

Both run with `-d -a` and `-d -v -a` in the same directory, inside the test namespace (same
DNS, inetd.conf and /dev/log); stdout, the syslog records and the exit status must be equal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.syslog_capture import SyslogCapture

pytestmark = [pytest.mark.e2e, pytest.mark.oracle]

CASES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "data" / "chk_live.json").read_text()
)
TCPDCHK = "/usr/sbin/tcpdchk"
TCPWRAP = str(Path(sys.executable).with_name("tcpwrap"))
FLAGS = ["-d -a", "-d -v -a"]


def _run(argv: list[str], cwd: Path, syslog: SyslogCapture) -> tuple[bytes, int, list[str]]:
    syslog.clear()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=120, check=False)
    time.sleep(0.3)  # let the last datagrams arrive
    records = [line.split(": ", 1)[1] for line in syslog.lines() if " tcpdchk" in line]
    return done.stdout, done.returncode, records


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_debian_mode_says_and_exits_what_tcpdchk_does(
    case: str, flags: str, tmp_path: Path, syslog: SyslogCapture
) -> None:
    if not Path(TCPDCHK).exists():
        pytest.fail(f"{TCPDCHK} is required (Debian package tcpd)")
    for name in ("allow", "deny"):
        (tmp_path / f"hosts.{name}").write_bytes(CASES[case][name].encode("latin-1"))
    real = _run([TCPDCHK, *flags.split()], tmp_path, syslog)
    ours = _run([TCPWRAP, "check", "--debian", *flags.split()], tmp_path, syslog)
    assert ours[0].splitlines() == real[0].splitlines()  # stdout, bytes as they are
    assert ours[2] == real[2]  # syslog records, in order
    assert ours[1] == real[1] == 0
