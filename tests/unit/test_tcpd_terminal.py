"""tcpwrap-tcpd run by hand on a terminal explains itself instead of waiting 5 s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

WRAPPER = str(Path(sys.executable).with_name("tcpwrap-tcpd"))


def test_terminal_stdin_gets_usage_at_once() -> None:
    leader, follower = os.openpty()
    try:
        started = time.monotonic()
        result = subprocess.run(
            [WRAPPER, "--help"], stdin=follower, capture_output=True, timeout=20, check=False
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert result.returncode == 2
    assert result.stderr.decode().startswith("usage: tcpwrap-tcpd DAEMON [ARGS...]")
    assert time.monotonic() - started < 4  # no refusal pause


def test_non_terminal_stdin_is_treated_as_tcpd_would() -> None:
    """/dev/null is not a terminal: the clean exit (pause shortened here), exit status 0."""
    env = dict(os.environ, TCPWRAP_REFUSE_PAUSE="0")
    with open(os.devnull, "rb") as devnull:
        result = subprocess.run(
            [WRAPPER, "in.fingerd"],
            stdin=devnull,
            capture_output=True,
            env=env,
            timeout=20,
            check=False,
        )
    assert result.returncode == 0
    assert result.stderr == b""
