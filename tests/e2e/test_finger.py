"""`tcpwrap finger` (safe_finger) run for real: against a fake finger program (the one the
conformance recording used, conformance/fakebin/finger), and, in the test namespace, the real
Debian `finger` client against the real `in.fingerd` on loopback, compared byte for byte with
the real /usr/sbin/safe_finger.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.reachable import python_for
from tcpwrap.proto.finger_filter import TRAILER
from tcpwrap.tools.finger import LOOP_MARKER, SAFE_PATH, split_arguments

IS_ROOT = os.geteuid() == 0

# The conformance fake finger (fakebin/finger), plus modes for the checks made here.
FAKE_FINGER = r"""#!/usr/bin/python3
import os, sys
mode = os.environ.get('FAKEFINGER', 'basic')
out = sys.stdout.buffer
if mode == 'basic':
    ids = (sys.argv[1:], os.getuid(), os.getgid(), os.environ.get('PATH'))
    out.write(('args=%r uid=%d gid=%d PATH=%s\n' % ids).encode())
    out.write(b'~!cmd at column 0\n')
    out.write(b'tab\there, bell\x07, esc\x1b[31m, del\x7f, high\xe9\xff, back\\slash, cr\rend\n')
    out.write(b'A' * 300 + b'\n')
    out.write(b'no newline at end')
elif mode == 'flood':
    out.write(b'x' * 150000)
elif mode == 'hang':
    open(os.environ['PIDFILE'], 'w').write(str(os.getpid()))
    out.write(b'before hang\n'); out.flush()
    import time; time.sleep(100)
elif mode == 'fail':
    out.write(b'failing\n'); sys.exit(3)
elif mode == 'report':
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd); fds.append(fd)
        except OSError:
            pass
    out.write(('argv=%r euid=%d egid=%d groups=%r fds=%r marker=%s\n' % (
        sys.argv, os.geteuid(), os.getegid(), sorted(os.getgroups()), fds,
        os.environ.get('TCPWRAP_SAFE_FINGER'))).encode())
elif mode == 'recurse':
    env = dict(os.environ, PYTHONPATH=os.environ.get('TOOL_PYTHONPATH', ''))
    r = __import__('subprocess').run([os.environ['TOOL_PYTHON'], '-m', 'tcpwrap.cli', 'finger',
        '--finger-program', sys.argv[0], '@again'], capture_output=True, env=env)
    out.write(b'inner rc=%d out=%r err=%r\n' % (r.returncode, r.stdout, r.stderr))
"""

BASIC_OUT = (
    b" args=['-l', '@host.example'] uid=%d gid=%d PATH=/bin:/usr/bin:/sbin:/usr/sbin\n"
    b" ~!cmd at column 0\n"
    b" tab\there, bell\\007, esc\\033[31m, del\\177, high\\351\\377, back\\\\slash, cr\rend\n"
    + (b" " + b"A" * 127 + b"\\\n") * 2
    + b" "
    + b"A" * 46
    + b"\n"
    + b" no newline at end"
)


@pytest.fixture(scope="module")
def bindir() -> Iterator[Path]:
    """A directory `nobody` can enter, holding the fake finger (tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="tcpwrap-finger-"))
    path.chmod(0o755)
    fake = path / "fakefinger"
    fake.write_text(FAKE_FINGER)
    fake.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture(scope="module")
def nobody_python() -> Iterator[tuple[str, str | None]]:
    """An interpreter `nobody` can run tcpwrap with (the suite's may be under /root)."""
    if not IS_ROOT:
        yield sys.executable, None
        return
    workdir = Path(tempfile.mkdtemp(prefix="tcpwrap-nobody-python-"))
    workdir.chmod(0o755)
    try:
        yield python_for("nobody", workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def tool(
    *args: str,
    mode: str = "basic",
    env: dict[str, str] | None = None,
    timeout: float = 30,
    inner: tuple[str, str | None] = (sys.executable, None),
) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    full_env["FAKEFINGER"] = mode
    full_env["TOOL_PYTHON"], pythonpath = inner  # the fake finger (as nobody) runs this one
    if pythonpath:
        full_env["TOOL_PYTHONPATH"] = pythonpath
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tcpwrap.cli", "finger", *args],
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def expected_ids() -> tuple[int, int]:
    return (65534, 65534) if IS_ROOT else (os.getuid(), os.getgid())


def test_basic_matches_the_recording(bindir: Path) -> None:
    r = tool("--finger-program", str(bindir / "fakefinger"), "-l", "@host.example")
    assert r.returncode == 0, r.stderr
    assert r.stdout == BASIC_OUT % expected_ids()
    assert r.stderr == b""


def test_flood_is_cut_at_100000_bytes(bindir: Path) -> None:
    r = tool("--finger-program", str(bindir / "fakefinger"), "-l", "@h", mode="flood")
    assert len(r.stdout) == 102_400
    assert r.stdout.endswith(b" " + b"x" * 51 + TRAILER)
    assert r.stdout.count(b"\n") == 790
    assert r.returncode in (0, 1)  # 0 in practice; 1 if finger died of SIGPIPE


def test_failing_finger_exits_1(bindir: Path) -> None:
    r = tool("--finger-program", str(bindir / "fakefinger"), "@h", mode="fail")
    assert (r.returncode, r.stdout) == (1, b" failing\n")


def test_hanging_finger_is_killed_and_we_exit_0(bindir: Path) -> None:
    pidfile = bindir / "hang.pid"
    if pidfile.exists():
        pidfile.unlink()
    bindir.chmod(0o777)  # the fake (as nobody) writes its pid here
    try:
        start = time.monotonic()
        r = tool(
            "--timeout", "1", "--finger-program", str(bindir / "fakefinger"), "@h",
            mode="hang", env={"PIDFILE": str(pidfile)},
        )  # fmt: skip
        elapsed = time.monotonic() - start
    finally:
        bindir.chmod(0o755)
    assert (r.returncode, r.stdout) == (0, b" before hang\n")
    assert 0.9 <= elapsed < 5
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_arguments_pass_through_verbatim(bindir: Path) -> None:
    fake = str(bindir / "fakefinger")
    r = tool("--finger-program", fake, "--", "--timeout", "-l", "a b", "@h", mode="report")
    assert r.stdout.startswith(b" argv=['" + fake.encode() + b"', '--timeout', '-l', 'a b', '@h']")
    r = tool(f"--finger-program={fake}", "-l", "--help", mode="report")
    assert r.stdout.startswith(b" argv=['" + fake.encode() + b"', '-l', '--help']")


def test_split_arguments() -> None:
    assert split_arguments(["-l", "@h"]) == ([], ["-l", "@h"])
    assert split_arguments(["--timeout", "5", "-l"]) == (["--timeout", "5"], ["-l"])
    assert split_arguments(["--timeout=5", "--", "--timeout"]) == (["--timeout=5"], ["--timeout"])
    assert split_arguments(["@h", "--timeout", "5"]) == ([], ["@h", "--timeout", "5"])
    assert split_arguments([]) == ([], [])


def test_privileges_fds_and_marker(bindir: Path) -> None:
    # fd 0 closed on entry: it must be open (on /dev/null) for finger
    fake = str(bindir / "fakefinger")
    env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    env["FAKEFINGER"] = "report"
    r = subprocess.run(
        ["/bin/sh", "-c", 'exec 0<&- "$0" -m tcpwrap.cli finger --finger-program "$1" @h',
         sys.executable, fake],
        capture_output=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    line = r.stdout.decode()
    assert "fds=[0, 1, 2]" in line
    uid, gid = expected_ids()
    assert f"euid={uid} egid={gid}" in line
    if IS_ROOT:
        assert "groups=[0" not in line and ", 0]" not in line and ", 0," not in line
    assert "marker=" in line and "marker=None" not in line


def test_loop_marker_refuses(bindir: Path) -> None:
    r = tool("--finger-program", str(bindir / "fakefinger"), "@h", env={LOOP_MARKER: "4242"})
    assert r.returncode == 1
    assert r.stdout == b""
    assert b"finger loop" in r.stderr


def test_a_nested_safe_finger_is_refused(
    bindir: Path, nobody_python: tuple[str, str | None]
) -> None:
    r = tool("--finger-program", str(bindir / "fakefinger"), "@h", mode="recurse",
             inner=nobody_python)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b" inner rc=1 out=b'' err=b'tcpwrap finger: refusing")


def test_program_is_looked_up_in_the_safe_path_only(bindir: Path) -> None:
    r = tool("--finger-program", "fakefinger", "@h", env={"PATH": f"{bindir}:{SAFE_PATH}"})
    assert r.returncode == 1
    assert b"fakefinger: not found in /bin:/usr/bin:/sbin:/usr/sbin" in r.stderr


def test_missing_program(bindir: Path) -> None:
    r = tool("--finger-program", str(bindir / "nonexistent"), "@h")
    assert r.returncode == 1
    assert b"No such file or directory" in r.stderr


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1e9"])
def test_bad_timeout_is_a_usage_error(value: str) -> None:
    r = tool("--timeout", value, "@h")
    assert r.returncode == 2
    assert b"--timeout" in r.stderr


# --- the real programs ------------------------------------------------------------------------

REAL_SAFE_FINGER = "/usr/sbin/safe_finger"
IN_FINGERD = "/usr/sbin/in.fingerd"
FINGER = "/usr/bin/finger"

HOSTILE_FINGER = r"""#!/bin/sh
printf 'hostile %s\n' "$*"
printf '~!rm -rf /\n\033]0;owned\007bell\001 high\351\377 back\\slash\n'
i=0; while [ $i -lt 40 ]; do printf 'long-line-'; i=$((i+1)); done; printf '\n'
"""


def _need_real_programs() -> None:
    for path in (REAL_SAFE_FINGER, IN_FINGERD, FINGER):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not installed")
    if not IS_ROOT or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")


@pytest.mark.e2e
@pytest.mark.oracle
@pytest.mark.parametrize("daemon", ["plain", "hostile"])
def test_real_finger_against_real_fingerd_matches_real_safe_finger(
    bindir: Path, daemon: str
) -> None:
    from harness.fingerd import InetdStyle

    _need_real_programs()
    argv = [IN_FINGERD]
    if daemon == "hostile":
        script = bindir / "hostile-finger"
        script.write_text(HOSTILE_FINGER)
        script.chmod(0o755)
        argv += ["-p", str(script)]
    env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    with InetdStyle(argv, "127.0.0.79", 79) as fingerd:
        ours = subprocess.run(
            [sys.executable, "-m", "tcpwrap.cli", "finger", "-l", "root@127.0.0.79"],
            capture_output=True, env=env, timeout=30, check=False,
        )  # fmt: skip
        real = subprocess.run(
            [REAL_SAFE_FINGER, "-l", "root@127.0.0.79"],
            capture_output=True, env=env, timeout=70, check=False,
        )  # fmt: skip
    assert fingerd.errors == []
    assert fingerd.connections == 2
    assert ours.stdout, ours.stderr
    assert ours.stdout == real.stdout
    assert ours.returncode == real.returncode
    if daemon == "hostile":
        assert b"hostile" in ours.stdout
        assert b"\x1b" not in ours.stdout and b"\x07" not in ours.stdout


@pytest.mark.e2e
@pytest.mark.oracle
@pytest.mark.parametrize("mode", ["basic", "flood", "fail"])
def test_fake_finger_output_matches_real_safe_finger(bindir: Path, mode: str) -> None:
    """The real safe_finger runs the fake through a private bind mount over /usr/bin/finger."""
    _need_real_programs()
    fake = str(bindir / "fakefinger")
    env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    env["FAKEFINGER"] = mode
    real = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
         'mount --bind "$0" /usr/bin/finger && exec /usr/sbin/safe_finger -l @host.example',
         fake],
        capture_output=True, env=env, timeout=70, check=False,
    )  # fmt: skip
    ours = tool("--finger-program", fake, "-l", "@host.example", mode=mode)
    assert real.stdout, real.stderr
    assert ours.stdout == real.stdout
    assert ours.returncode == real.returncode


def test_fake_is_not_group_or_world_writable(bindir: Path) -> None:
    mode = (bindir / "fakefinger").stat().st_mode
    assert not mode & (stat.S_IWGRP | stat.S_IWOTH)


def test_defaults_are_the_original_ones() -> None:
    import argparse

    from tcpwrap.tools import finger

    parser = argparse.ArgumentParser(prog="tcpwrap finger")
    finger.configure(parser)
    ns = parser.parse_args(["-l", "@h"])
    assert (ns.timeout, ns.finger_program, ns.finger_args) == (60.0, "finger", ["-l", "@h"])
    assert finger.SAFE_PATH == "/bin:/usr/bin:/sbin:/usr/sbin"


def test_a_stuck_reader_cannot_hold_us_past_the_time_limit(bindir: Path) -> None:
    # our stdout is a pipe nobody reads: 64 KiB fit, the flood's 100 KiB do not
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    env["FAKEFINGER"] = "flood"
    try:
        start = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-m", "tcpwrap.cli", "finger", "--timeout", "1",
             "--finger-program", str(bindir / "fakefinger"), "@h"],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=30, check=False,
        )  # fmt: skip
        elapsed = time.monotonic() - start
    finally:
        os.close(write_end)
        os.close(read_end)
    assert r.returncode == 0, r.stderr
    assert 0.9 <= elapsed < 5


@pytest.mark.e2e
@pytest.mark.parametrize("nobody", ["absent", "uid 0"])
def test_fallback_ids_without_a_usable_nobody(bindir: Path, nobody: str) -> None:
    """No `nobody` with uid > 0: uid/gid 65534 and no supplementary groups (Debian)."""
    if not IS_ROOT or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    lines = [
        ln for ln in Path("/etc/passwd").read_text().splitlines() if ln.split(":")[0] != "nobody"
    ]
    if nobody == "uid 0":
        lines.append("nobody:x:0:0:nobody:/nonexistent:/usr/sbin/nologin")
    passwd = bindir / f"passwd-{nobody.replace(' ', '')}"
    passwd.write_text("\n".join(lines) + "\n")
    passwd.chmod(0o644)
    env = {k: v for k, v in os.environ.items() if k != LOOP_MARKER}
    env["FAKEFINGER"] = "report"
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
         'mount --bind "$0" /etc/passwd && exec "$1" -m tcpwrap.cli finger '
         '--finger-program "$2" "$3"',
         str(passwd), sys.executable, str(bindir / "fakefinger"), "@h"],
        capture_output=True, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert b"euid=65534 egid=65534 groups=[] " in r.stdout
