"""drivers.handoff: the wrapper's side of the hand-off, against a real SOCK_SEQPACKET server.

The wrapper side runs in a child interpreter (`python -I -S`, as the launcher runs it): on an
`exec` reply it becomes another program, so it cannot run in the test process. The server
here is a thread of the test that records what it received and replies as serve would.
"""

from __future__ import annotations

import array
import os
import pty
import pwd
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpwrap.drivers import handoff as wire
from tcpwrap.drivers.endpoint import systemd_socket
from tcpwrap.serve.handoff import parse_request

SRC = Path(__file__).resolve().parents[3] / "src"
CHILD = (
    "import sys\n"
    f"sys.path.insert(0, {str(SRC)!r})\n"
    "from tcpwrap.drivers.handoff import hand_off\n"
    "status = hand_off(sys.argv[1:])\n"
    "print('decide here' if status is None else 'status %d' % status, flush=True)\n"
)


class FakeServe:
    """A hand-off socket answering each request with `reply` (None: close without one)."""

    def __init__(self, path: Path, reply: bytes | None) -> None:
        self.path = path
        self.reply = reply
        self.requests: list[bytes] = []
        self.fds: list[int] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(str(path))
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data, ancillary, _, _ = conn.recvmsg(wire.MAX_MESSAGE, socket.CMSG_SPACE(16))
                self.requests.append(data)
                for _, _, payload in ancillary:
                    self.fds.extend(array.array("i", payload))
                if self.reply is not None:
                    conn.send(self.reply)

    def close(self) -> None:
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@pytest.fixture
def where() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-handoff."))
    directory.chmod(0o755)
    yield directory / "handoff.sock"
    for item in directory.iterdir():
        item.unlink()
    directory.rmdir()


def _run(path: Path | str, *argv: str, env: dict[str, str] | None = None) -> tuple[str, bytes]:
    """The wrapper's side in a child, a socket pair's end as its stdin; (stdout, what the
    other end of the pair received)."""
    mine, theirs = socket.socketpair()
    with mine, theirs:
        environment = {"PATH": "/usr/bin:/bin", "TCPWRAP_HANDOFF": str(path), **(env or {})}
        child = subprocess.run(
            [sys.executable, "-I", "-S", "-c", CHILD, *argv],
            stdin=theirs,
            capture_output=True,
            env=environment,
            timeout=30,
            check=False,
        )
        theirs.close()
        mine.settimeout(0.5)
        try:
            received = mine.recv(4096)
        except TimeoutError:
            received = b""
    assert child.returncode == 0, child.stderr
    return child.stdout.decode(), received


def _exec_reply(program: bytes, args: list[bytes], env: list[bytes], **fields: bytes) -> bytes:
    values = {
        "umask": b"",
        "nice": b"0",
        "ids": b"",
        "dups": b"",
        "priority": b"27",
        "ident": b"in.test",
        "failure": b"error: cannot execute x: ",
        "pause": b"0.0",
    }
    values.update(fields)
    return wire.encode(
        [wire.EXEC, program, b"%d" % len(args), *args, b"%d" % len(env), *env, *values.values()]
    )


def test_encode_decode_round_trip() -> None:
    fields = [b"a", b"", b"b c", b"\xff"]
    assert wire.decode(wire.encode(fields)) == fields
    assert wire.decode(b"a\0b") == [b"a"]  # a message cut short loses its last field
    assert wire.decode(b"") == []


@pytest.mark.parametrize(
    ("pid", "fds", "expected"),
    [
        ("SELF", "1", 3),
        ("SELF", "2", 3),
        ("SELF", "0", None),
        ("SELF", "x", None),
        ("SELF", "", None),
        ("1", "1", None),
        (None, "1", None),
        ("SELF", None, None),
        ("+SELF", "1", None),
    ],
)
def test_listen_fd_agrees_with_systemd_socket(
    pid: str | None, fds: str | None, expected: int | None
) -> None:
    own = str(os.getpid())
    pid_text = None if pid is None else pid.replace("SELF", own)
    assert wire.listen_fd(
        None if pid_text is None else pid_text.encode(),
        None if fds is None else fds.encode(),
        os.getpid(),
    ) == expected
    env = {k: v for k, v in (("LISTEN_PID", pid_text), ("LISTEN_FDS", fds)) if v is not None}
    assert systemd_socket(env) == expected


def test_no_socket_or_off_decides_here(where: Path) -> None:
    assert _run(where, "tcpwrap-tcpd", "/bin/true")[0] == "decide here\n"
    assert _run("off", "tcpwrap-tcpd", "/bin/true")[0] == "decide here\n"
    serve = FakeServe(where, wire.encode([wire.EXIT, b"0"]))
    try:
        assert _run("off", "tcpwrap-tcpd")[0] == "decide here\n"
        assert serve.requests == []
    finally:
        serve.close()


def test_request_carries_argv_environment_and_the_connection(where: Path) -> None:
    serve = FakeServe(where, wire.encode([wire.EXIT, b"0"]))
    try:
        out, _ = _run(where, "tcpwrap-tcpd", "in.fingerd", "-w", env={"FOO": "b=r"})
        assert out == "status 0\n"
        (request,) = serve.requests
        fd, argv, env = parse_request(request) or (None, [], {})
        assert fd == 0
        assert argv == ["tcpwrap-tcpd", "in.fingerd", "-w"]
        assert env["FOO"] == "b=r"
        assert env["TCPWRAP_HANDOFF"] == str(where)
        (passed,) = serve.fds
        with socket.socket(fileno=os.dup(passed)) as connection:
            assert connection.type == socket.SOCK_STREAM
    finally:
        serve.close()


def test_exec_reply_shapes_the_process_and_execs(where: Path) -> None:
    script = b'echo "FOO=$FOO umask=$(umask) args=$0 $1"'
    reply = _exec_reply(
        b"/bin/sh",
        [b"sh", b"-c", script, b"zero", b"one"],
        [b"PATH=/usr/bin:/bin", b"FOO=bar"],
        umask=b"27",
        dups=b"0,1,2",
    )
    serve = FakeServe(where, reply)
    try:
        out, received = _run(where, "tcpwrap-tcpd", "/bin/true")
        assert out == ""  # became the shell: its output went to the connection (fd 0 -> 1)
        assert received == b"FOO=bar umask=0027 args=zero one\n"
    finally:
        serve.close()


def test_exec_failure_is_the_clean_exit(where: Path) -> None:
    serve = FakeServe(where, _exec_reply(b"/nonexistent/daemon", [b"daemon"], []))
    try:
        assert _run(where, "tcpwrap-tcpd", "/nonexistent/daemon")[0] == "status 0\n"
    finally:
        serve.close()


def test_serve_gone_or_declining_decides_here(where: Path) -> None:
    for reply in (None, wire.encode([wire.DECIDE])):
        serve = FakeServe(where, reply)
        try:
            assert _run(where, "tcpwrap-tcpd", "/bin/true")[0] == "decide here\n"
            assert len(serve.requests) == 1
        finally:
            serve.close()
            where.unlink()


def test_request_too_big_decides_here_without_sending(where: Path) -> None:
    serve = FakeServe(where, wire.encode([wire.EXIT, b"0"]))
    try:
        big = {"BIG": "x" * wire.MAX_MESSAGE}
        assert _run(where, "tcpwrap-tcpd", "/bin/true", env=big)[0] == "decide here\n"
        assert serve.requests == []
    finally:
        serve.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the socket's owner as nobody")
def test_a_socket_of_another_user_is_not_trusted(where: Path) -> None:
    """A socket put in place by another user would say what this process becomes: the wrapper
    checks the peer's uid (root or its own) before sending anything."""
    nobody = pwd.getpwnam("nobody")
    where.parent.chmod(0o777)
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the impostor: nobody, listening, replying `exec` to whoever connects
        try:
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            sock.bind(str(where))
            sock.listen()
            os.write(ready_write, b"x")
            conn, _ = sock.accept()
            conn.settimeout(5)
            if conn.recv(wire.MAX_MESSAGE):
                conn.send(_exec_reply(b"/bin/sh", [b"sh", b"-c", b"echo owned"], [], dups=b"0,1"))
                os._exit(3)
            os._exit(0)
        except BaseException:
            os._exit(2)
    os.close(ready_write)
    assert os.read(ready_read, 1) == b"x"
    os.close(ready_read)
    out, received = _run(where, "tcpwrap-tcpd", "/bin/true")
    assert out == "decide here\n"
    assert received == b""
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # it got no request


def test_the_hand_off_imports_only_built_in_modules() -> None:
    """What makes a handed-off connection cheap: nothing is imported but the package's two
    `__init__`s, this module and interpreter built-ins (no `os`, no `socket`, no engine)."""
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {str(SRC)!r})\n"
        "before = set(sys.modules)\n"
        "import tcpwrap.drivers.handoff\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True
    )
    added = set(result.stdout.split())
    ours = {"tcpwrap", "tcpwrap.drivers", "tcpwrap.drivers.handoff"}
    assert ours <= added
    assert all(name in sys.builtin_module_names for name in added - ours), added - ours


def test_an_unreadable_reply_fails_closed(where: Path) -> None:
    """(It pauses 5 s, tcpd's clean exit, before the exit status 0.)"""
    serve = FakeServe(where, wire.encode([wire.EXEC, b"x", b"not a count"]))
    try:
        assert _run(where, "tcpwrap-tcpd", "/bin/true")[0] == "status 0\n"
    finally:
        serve.close()


def test_a_terminal_is_never_handed_off(where: Path) -> None:
    """Someone ran the wrapper by hand: tcpd.main() prints the usage; serve hears nothing."""
    serve = FakeServe(where, wire.encode([wire.EXIT, b"0"]))
    controller, terminal = pty.openpty()
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-S", "-c", CHILD, "tcpwrap-tcpd", "/bin/true"],
            stdin=terminal,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "TCPWRAP_HANDOFF": str(where)},
            timeout=30,
            check=False,
        )
        assert child.stdout == b"decide here\n"
        assert serve.requests == []
    finally:
        os.close(controller)
        os.close(terminal)
        serve.close()
