"""bin/tcpwrap-tcpd, the wrapper's launcher: -I -S in a virtual environment, argv[0] kept.

Run through a pseudo-terminal, the wrapper prints its usage and exits 2 at once
(tests/unit/test_tcpd_terminal.py), which shows that the launcher found an interpreter and
the package, and which name it was called by.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "bin" / "tcpwrap-tcpd"
INSTALLED = Path(sys.executable).with_name("tcpwrap-tcpd")
IN_VENV = sys.prefix != sys.base_prefix


def on_terminal(
    argv: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    leader, follower = os.openpty()
    try:
        return subprocess.run(
            argv, stdin=follower, capture_output=True, timeout=20, check=False, env=env
        )
    finally:
        os.close(leader)
        os.close(follower)


def test_installed_wrapper_is_the_launcher() -> None:
    assert INSTALLED.read_bytes() == LAUNCHER.read_bytes()


@pytest.mark.skipif(not IN_VENV, reason="the -I -S start needs a virtual environment")
def test_symlinked_launcher_finds_its_environment(tmp_path: Path) -> None:
    """A swap install links the wrapper under a daemon's name, in another directory."""
    link = tmp_path / "in.fingerd"
    link.symlink_to(INSTALLED)
    result = on_terminal([str(link)])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(b"usage: tcpwrap-tcpd DAEMON [ARGS...]")


@pytest.mark.skipif(not IN_VENV, reason="the -I -S start needs a virtual environment")
def test_python_variables_are_ignored(tmp_path: Path) -> None:
    """Isolated: a PYTHONPATH from inetd's environment cannot put code before the package."""
    planted = tmp_path / "tcpwrap"
    planted.mkdir()
    (planted / "__init__.py").write_text("raise SystemExit('planted module imported')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONSTARTUP=str(planted / "__init__.py"))
    result = on_terminal([str(INSTALLED)], env)
    assert result.returncode == 2, result.stderr
    assert b"planted" not in result.stderr


def test_outside_a_virtual_environment_the_console_scripts_interpreter_runs(
    tmp_path: Path,
) -> None:
    """No pyvenv.cfg above bin/: the interpreter named by the sibling `tcpwrap` script, with
    site (here: this test's interpreter, which can import the package)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(LAUNCHER, bindir / "tcpwrap-tcpd")
    (bindir / "tcpwrap").write_text(f"#!{sys.executable}\n")
    env = dict(os.environ, PATH="/nonexistent")  # no python3 to fall back on
    result = on_terminal([str(bindir / "tcpwrap-tcpd")], env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(b"usage: tcpwrap-tcpd DAEMON [ARGS...]")
