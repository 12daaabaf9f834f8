"""`tcpwrap serve --handoff`: the socket wrappers hand their connections to (serve/handoff.py).

What every wrapper behaviour looks like handed off is tested by running the whole wrapper
suite both ways (tests/e2e/wrapper/conftest.py). Here: the socket itself (who may use it,
its mode, its end), a wrapper falling back when serve is not there or will not answer it, and
tables edited between two hand-offs.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from e2e.serve.servekit import TCPWRAP, ServeRun, control_status, running
from e2e.wrapper.wrapkit import WRAPPER, run_inetd_style
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


def _handoff_serve(workdir: Path) -> tuple[ServeRun, list[str]]:
    run = ServeRun(workdir, "", allow=None, deny=None)  # the tests write the tables
    argv = [
        str(TCPWRAP), "serve", "--handoff", str(workdir / "handoff.sock"),
        "--control", str(workdir / "control.sock"),
    ]  # fmt: skip
    return run, argv


def _env(workdir: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "TCPWRAP_ALLOW": str(workdir / "hosts.allow"),
        "TCPWRAP_DENY": str(workdir / "hosts.deny"),
        "TCPWRAP_REFUSE_PAUSE": "0.1",
        "TCPWRAP_HANDOFF": str(workdir / "handoff.sock"),
        **extra,
    }


def test_handoff_alone_decides_for_wrappers(workdir: Path, syslog: SyslogCapture) -> None:
    (workdir / "hosts.allow").write_text("ALL: 127.0.0.2\n")
    (workdir / "hosts.deny").write_text("ALL: ALL\n")
    run, argv = _handoff_serve(workdir)
    with running(run, argv=argv):
        sock = workdir / "handoff.sock"
        info = sock.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
        granted = run_inetd_style(
            str(WRAPPER), ["tcpwrap-tcpd", "/bin/echo", "served"], _env(workdir)
        )
        refused = run_inetd_style(
            str(WRAPPER),
            ["tcpwrap-tcpd", "/bin/echo", "served"],
            _env(workdir),
            client="127.0.0.3",
        )
        status = control_status(workdir / "control.sock")
        assert status["handoffs"] == 2
        assert status["granted"] == 1 and status["refused"] == {"tables": 1}
    assert granted.received == b"served\n"
    assert refused.received == b""
    assert not sock.exists()  # removed when serve stops
    messages = [(r.tag, r.message) for r in syslog.records() if r.tag == "echo"]
    assert messages == [
        ("echo", "connect from 127.0.0.2 (127.0.0.2)"),
        ("echo", "refused connect from 127.0.0.3 (127.0.0.3)"),
    ]


def test_without_serve_the_wrapper_decides_itself(workdir: Path) -> None:
    (workdir / "hosts.allow").write_text("")
    (workdir / "hosts.deny").write_text("")
    run, argv = _handoff_serve(workdir)
    with running(run, argv=argv):
        pass
    assert not (workdir / "handoff.sock").exists()
    got = run_inetd_style(str(WRAPPER), ["tcpwrap-tcpd", "/bin/echo", "alone"], _env(workdir))
    assert got.received == b"alone\n"
    # a stale socket file (serve killed) is no different
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(str(workdir / "handoff.sock"))
    stale.close()
    got = run_inetd_style(str(WRAPPER), ["tcpwrap-tcpd", "/bin/echo", "alone"], _env(workdir))
    assert got.received == b"alone\n"


def test_a_wrapper_of_another_user_is_not_served(workdir: Path) -> None:
    """serve answers its own user only (root): a wrapper run as nobody by inetd decides in
    its own process, with nobody's rights."""
    (workdir / "hosts.allow").write_text("")
    (workdir / "hosts.deny").write_text("")
    run, argv = _handoff_serve(workdir)
    with running(run, argv=argv):
        env = _env(workdir)
        script = (
            "import os, sys; os.setgroups([]); os.setgid(65534); os.setuid(65534); "
            "os.execv(sys.argv[1], sys.argv[1:])"
        )
        got = run_inetd_style(
            "/usr/bin/python3",
            ["python3", "-c", script, str(WRAPPER), "/bin/sh", "-c", "id -u"],
            env,
        )
        assert got.received == b"65534\n"
        assert control_status(workdir / "control.sock")["handoffs"] == 0


def test_an_edited_table_is_read_by_the_next_handoff(workdir: Path) -> None:
    """A wrapper reads its tables afresh: a hand-off must not be decided on the tables as
    they were before an edit (serve's own services may be, for a moment, while a big table
    recompiles)."""
    allow, deny = workdir / "hosts.allow", workdir / "hosts.deny"
    allow.write_text("")
    deny.write_text("ALL: ALL\n")
    run, argv = _handoff_serve(workdir)
    with running(run, argv=argv):
        wrapper = [str(WRAPPER), ["tcpwrap-tcpd", "/bin/echo", "in"], _env(workdir)]
        assert run_inetd_style(*wrapper).received == b""  # type: ignore[arg-type]
        deny.write_text("# nobody is denied now\n")
        assert run_inetd_style(*wrapper).received == b"in\n"  # type: ignore[arg-type]
        allow.write_text("ALL: ALL: twist /bin/echo twisted %a\n")
        got = run_inetd_style(*wrapper)  # type: ignore[arg-type]
        assert got.received == b"twisted 127.0.0.2\n"


def test_serve_refuses_to_start_on_an_unusable_path(workdir: Path) -> None:
    blocker = workdir / "file"
    blocker.write_text("")
    result = subprocess.run(
        [str(TCPWRAP), "serve", "--handoff", str(blocker / "handoff.sock")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert result.returncode == 2
    assert f"hand-off socket {blocker}/handoff.sock: " in result.stderr


def test_past_the_bound_wrappers_decide_themselves(workdir: Path) -> None:
    """More wrappers at once than `[limits] pending`: the ones past it are told to decide in
    their own process at once (served all the same), never left waiting."""
    (workdir / "hosts.allow").write_text(f"ALL: ALL: spawn sleep 1; echo %p >> {workdir}/pids\n")
    (workdir / "hosts.deny").write_text("")
    run, argv = _handoff_serve(workdir)
    (workdir / "bound.toml").write_text("[limits]\npending = 1\n")
    argv += ["--config", str(workdir / "bound.toml")]
    with running(run, argv=argv):
        results: list[bytes] = []

        def one() -> None:
            wrapper = ["tcpwrap-tcpd", "/bin/echo", "served"]
            results.append(run_inetd_style(str(WRAPPER), wrapper, _env(workdir)).received)

        workers = [threading.Thread(target=one) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        status = control_status(workdir / "control.sock")
    assert results == [b"served\n"] * 3
    assert len((workdir / "pids").read_text().split()) == 3  # each spawn ran once
    assert status["handoffs"] + status["handoffs_declined"] == 3
    assert status["handoffs_declined"] >= 1


def test_reload_moves_the_socket(workdir: Path) -> None:
    (workdir / "hosts.allow").write_text("")
    (workdir / "hosts.deny").write_text("")
    run = ServeRun(workdir, "", allow=None, deny=None)
    config = workdir / "moving.toml"
    config.write_text(f'[serve]\nhandoff = "{workdir}/one.sock"\n')
    argv = [str(TCPWRAP), "serve", "--config", str(config)]
    with running(run, argv=argv):
        assert (workdir / "one.sock").exists()
        config.write_text(f'[serve]\nhandoff = "{workdir}/two.sock"\n')
        run.reload()
        assert not (workdir / "one.sock").exists()
        env = _env(workdir, TCPWRAP_HANDOFF=str(workdir / "two.sock"))
        got = run_inetd_style(str(WRAPPER), ["tcpwrap-tcpd", "/bin/echo", "moved"], env)
        assert got.received == b"moved\n"


def test_a_path_that_is_not_a_socket_is_left_alone(workdir: Path) -> None:
    precious = workdir / "precious"
    precious.write_text("keep me\n")
    result = subprocess.run(
        [str(TCPWRAP), "serve", "--handoff", str(precious)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"hand-off socket {precious}: exists and is not a socket" in result.stderr
    assert precious.read_text() == "keep me\n"


def test_the_wrappers_json_log_follows_rotation_on_reload(workdir: Path) -> None:
    (workdir / "hosts.allow").write_text("")
    (workdir / "hosts.deny").write_text("")
    log = workdir / "wrapper.jsonl"
    run, argv = _handoff_serve(workdir)
    with running(run, argv=argv):
        env = _env(workdir, TCPWRAP_JSON_LOG=str(log))
        wrapper = ["tcpwrap-tcpd", "/bin/echo", "x"]
        assert run_inetd_style(str(WRAPPER), wrapper, env).received == b"x\n"
        log.rename(workdir / "wrapper.jsonl.1")
        run.reload()
        assert run_inetd_style(str(WRAPPER), wrapper, env).received == b"x\n"
    (old,) = (workdir / "wrapper.jsonl.1").read_text().splitlines()
    (new,) = log.read_text().splitlines()
    assert json.loads(old)["event"] == json.loads(new)["event"] == "connect"
