"""`tcpwrap finger`: safe_finger — run finger(1) for a booby trap and make its output harmless.

What it does (docs/finger.md, Debian's safe_finger): as root, drops to user `nobody` (setgid,
initgroups, setuid; uid/gid 65534 with no supplementary groups if there is no usable
`nobody`); sets PATH=/bin:/usr/bin:/sbin:/usr/sbin; makes sure fds 0-2 are open; runs
`finger` (or `--finger-program`) found through that PATH with the remaining arguments
unchanged; filters its stdout through `tcpwrap.proto.finger_filter` (100000-byte cap, escapes,
line folding) onto our stdout. After `--timeout` seconds (default 60, the original TIME_LIMIT)
finger is killed with SIGKILL and we exit 0. Otherwise the exit status is 0 if finger exited 0,
else 1.

    tcpwrap finger [--timeout SECONDS] [--finger-program PROG] [--] FINGER-ARGS...

Our own options are recognised only before the first other argument; `--` ends them; every
later argument goes to finger verbatim, so `tcpwrap finger -l @%h` works as `safe_finger -l @%h`.

Finger loops (the man page: never booby-trap the finger service itself): a safe finger run
exports TCPWRAP_SAFE_FINGER=<pid> to finger and everything it starts. When `tcpwrap finger`
finds that marker already set it refuses to run (message on stderr, exit 1), so a trap that is
triggered from inside a safe finger run (a local finger daemon started by finger, a finger
program that is itself wrapped, a trap command that recurses) cannot recurse. A loop between
two machines' finger services cannot be seen from one process; the only cure is the man
page's: wrap fingerd without a finger trap.

Hazards: finger's output comes from an attacker's finger server: it is bounded (100000 bytes,
one deadline for the whole run) and filtered before it reaches our stdout. No shell is used.
Privileges are dropped before finger is started, and the drop is verified.

Errors: problems go to stderr as `tcpwrap finger: ...` with exit status 1 (finger missing,
privilege drop failed, loop refused, stdout gone).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import select
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from tcpwrap.proto.finger_filter import INPUT_LIMIT, FingerFilter

SAFE_PATH = "/bin:/usr/bin:/sbin:/usr/sbin"
TIME_LIMIT = 60.0
LOOP_MARKER = "TCPWRAP_SAFE_FINGER"
NOBODY = "nobody"
FALLBACK_ID = 65534
_READ_SIZE = 16384

# Our options, and whether each takes a value; anything else starts finger's arguments.
_OURS = {"-h": False, "--help": False, "--timeout": True, "--finger-program": True}


class FingerFailure(Exception):
    """A reason to give up before or while running finger (reported, exit 1)."""


def split_arguments(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our leading options, finger's arguments); a `--` between them is dropped."""
    ours: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return ours, list(argv[i + 1 :])
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if name not in _OURS:
            break
        ours.append(arg)
        if _OURS[name] and "=" not in arg and i + 1 < len(argv):
            ours.append(argv[i + 1])
            i += 1
        i += 1
    return ours, list(argv[i:])


class _PassThroughParser(argparse.ArgumentParser):
    """Parses our leading options only; the rest is kept verbatim as `finger_args`."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        ours, theirs = split_arguments(sys.argv[1:] if args is None else list(args))
        parsed, extra = super().parse_known_args(ours, namespace)
        parsed.finger_args = theirs
        return parsed, extra


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"timeout out of range (0, 86400]: {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.__class__ = _PassThroughParser
    parser.usage = "%(prog)s [--timeout SECONDS] [--finger-program PROG] [--] FINGER-ARGS..."
    parser.epilog = (
        f"Arguments after our options go to finger unchanged. Refuses to run when {LOOP_MARKER} "
        "is set (a safe finger inside a safe finger: a finger loop)."
    )
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=TIME_LIMIT,
        help="kill finger and exit 0 after this many seconds (default 60)",
    )
    parser.add_argument(
        "--finger-program",
        default="finger",
        help=f"the finger client to run, looked up in {SAFE_PATH} (default: finger)",
    )
    parser.add_argument("finger_args", nargs="*", help=argparse.SUPPRESS)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"tcpwrap finger: {message}\n".encode(errors="replace"))


def ensure_standard_fds() -> None:
    """Open /dev/null on any of fds 0, 1, 2 that is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            new = os.open(os.devnull, os.O_RDWR)
            if new != fd:
                os.dup2(new, fd)  # inheritable by default
                os.close(new)
            else:
                os.set_inheritable(fd, True)  # os.open() makes close-on-exec descriptors


def drop_privileges() -> None:
    """As root (real or effective), become `nobody`; verify that root is really gone."""
    if os.getuid() != 0 and os.geteuid() != 0:
        return
    try:
        entry: pwd.struct_passwd | None = pwd.getpwnam(NOBODY)
    except KeyError:
        entry = None
    try:
        if entry is not None and entry.pw_uid > 0:
            os.setgid(entry.pw_gid)
            os.initgroups(NOBODY, entry.pw_gid)
            os.setuid(entry.pw_uid)
        else:
            os.setgroups([])
            os.setgid(FALLBACK_ID)
            os.setuid(FALLBACK_ID)
    except OSError as exc:
        raise FingerFailure(f"cannot drop privileges: {exc.strerror or exc}") from exc
    if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
        raise FingerFailure("cannot drop privileges: still root")


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    """Write everything to `fd`, waiting at most until `deadline`; False if it passed.

    A stuck reader (a mailer that stopped reading) must not hold us past the time limit, so
    we wait for writability with poll() and write at most PIPE_BUF bytes at a time, which a
    writable pipe accepts without blocking.
    """
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while view:
        left = deadline - time.monotonic()
        if left <= 0 or not poller.poll(max(1, int(left * 1000))):
            return False
        written = os.write(fd, view[: select.PIPE_BUF])
        view = view[written:]
    return True


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def _pump(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Copy finger's output through the filter; False if the deadline passed."""
    assert proc.stdout is not None
    pipe = proc.stdout.fileno()
    filt = FingerFilter()
    with selectors.DefaultSelector() as sel:
        sel.register(pipe, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return False
            chunk = os.read(pipe, min(_READ_SIZE, INPUT_LIMIT - filt.consumed + 1))
            if not chunk:
                break
            if not _write_all(1, filt.feed(chunk), deadline):
                return False
            if filt.done:
                break
    proc.stdout.close()  # past the cap: finger gets EPIPE/SIGPIPE if it goes on writing
    return True


def _run_finger(program: str, finger_args: list[str], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    resolved = program if "/" in program else shutil.which(program, path=SAFE_PATH)
    if resolved is None:
        raise FingerFailure(f"{program}: not found in {SAFE_PATH}")
    env = dict(os.environ)
    env["PATH"] = SAFE_PATH
    env[LOOP_MARKER] = str(os.getpid())
    try:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [program, *finger_args],
            executable=resolved,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
            process_group=0,
        )
    except OSError as exc:
        raise FingerFailure(f"{program}: {exc.strerror or exc}") from exc
    try:
        if not _pump(proc, deadline):
            return 0  # TIME_LIMIT: finger is killed below, and that is not a failure
        try:
            status = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return 0
        return 0 if status == 0 else 1
    finally:
        _kill(proc)
        if proc.stdout is not None and not proc.stdout.closed:
            proc.stdout.close()


def run(args: argparse.Namespace) -> int:
    ensure_standard_fds()
    marker = os.environ.get(LOOP_MARKER)
    if marker:
        _say(f"refusing to run inside another safe finger (pid {marker[:20]}): finger loop?")
        return 1
    try:
        drop_privileges()
        return _run_finger(args.finger_program, list(args.finger_args), args.timeout)
    except FingerFailure as exc:
        _say(str(exc))
        return 1
    except OSError as exc:  # our stdout went away (the mailer died): stop quietly
        _say(f"output: {exc.strerror or exc}")
        return 1
