"""Fixtures for the wrapper's end-to-end tests (namespace only; see tests/harness/README.md).

`kit` (per test): a temp directory with hosts.allow/hosts.deny files the wrapper is pointed
at via TCPWRAP_ALLOW/DENY, a short refuse pause, and `kit.run(...)` (the wrapper exec'ed
inetd-style on a live socket). Every test using `kit` runs twice: the wrapper deciding in its
own process (`TCPWRAP_HANDOFF=off`), and handing its connection to a running `tcpwrap serve
--handoff` (`handoff_serve`, one per session; its name cache off, so each test's DNS data is
seen as the in-process wrapper sees it). The same assertions hold for both. `daemons` (the
compiled fake daemons) and `etc_tables` (/etc/hosts.allow|deny of the private /etc) come from
tests/e2e/conftest.py.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import EtcTables  # noqa: F401 - the wrapper tests import it from here
from e2e.serve.servekit import control_status
from e2e.wrapper.wrapkit import WRAPPER, Outcome, run_inetd_style
from tcpwrap.proto.logrecord import ConnectionRecord

PAUSE = "0.2"  # TCPWRAP_REFUSE_PAUSE used everywhere except the test of the 5 s default


ROOT = Path(__file__).resolve().parents[3]
SERVE = ROOT / ".venv" / "bin" / "tcpwrap"
MODES = ("in-process", "hand-off")


class HandoffServe:
    """`tcpwrap serve --handoff PATH` in the namespace, decisions only (no services)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "handoff.sock"
        self.control = directory / "control.sock"
        config = directory / "serve.toml"
        config.write_text(
            f'[serve]\nhandoff = "{self.path}"\n'
            "[lookups]\ncache_ttl = 0\nnegative_ttl = 0\n"
            f'[metrics]\ncontrol = "{self.control}"\n'
        )
        self.stderr = directory / "serve.stderr"
        with self.stderr.open("wb") as stderr:
            self.process = subprocess.Popen(
                [str(SERVE), "serve", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 30
        while not (self._ready() and self.control.exists()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = self.stderr.read_text(errors="replace")
                raise RuntimeError(f"tcpwrap serve --handoff did not start: {text}")
            time.sleep(0.05)

    def handoffs(self) -> int:
        """How many wrappers serve has answered (its `--status` counter)."""
        count: int = control_status(self.control)["handoffs"]
        return count

    def _ready(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.connect(str(self.path))
            except OSError:
                return False
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def handoff_serve(daemons: tuple[Path, Path]) -> Iterator[HandoffServe]:
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-e2e-handoff."))
    directory.chmod(0o755)
    serve = HandoffServe(directory)
    try:
        yield serve
    finally:
        serve.stop()
        shutil.rmtree(directory, ignore_errors=True)


class Kit:
    def __init__(
        self, directory: Path, fake: Path, udp: Path, handoff: HandoffServe | None = None
    ) -> None:
        self.handoff = handoff  # None: the wrapper decides in its own process
        self.expect_handoff = True  # False: this test runs the wrapper another way
        self.dir = directory
        self.fake = fake
        self.udp = udp
        self.allow = directory / "hosts.allow"
        self.deny = directory / "hosts.deny"
        self.json = directory / "log.jsonl"
        self.out = directory / "out.txt"
        self.daemon_out = fake.parent / "daemon.out"
        self.extra: dict[str, str] = {}

    def tables(self, allow: str | None = None, deny: str | None = None) -> None:
        for path, text in ((self.allow, allow), (self.deny, deny)):
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "TCPWRAP_ALLOW": str(self.allow),
            "TCPWRAP_DENY": str(self.deny),
            "TCPWRAP_REFUSE_PAUSE": PAUSE,
            "TCPWRAP_JSON_LOG": str(self.json),
            "TCPWRAP_HANDOFF": str(self.handoff.path) if self.handoff else "off",
        }
        env.update(self.extra)
        for key, value in overrides.items():
            name = key if key.isupper() else f"TCPWRAP_{key.upper()}"
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(self, *args: str, env: dict[str, str] | None = None, **kw: object) -> Outcome:
        """`tcpwrap-tcpd ARGS...` exec'ed like inetd on a live socket (see run_inetd_style).
        In hand-off mode, serve must have answered it (no silent fallback)."""
        env = env or self.env()
        before = self.handoff.handoffs() if self.handoff else 0
        outcome = run_inetd_style(
            str(WRAPPER),
            ["tcpwrap-tcpd", *args],
            env,
            **kw,  # type: ignore[arg-type]
        )
        if self.handoff is not None and env.get("TCPWRAP_HANDOFF") == str(self.handoff.path):
            assert self.handoff.handoffs() == before + 1, "the wrapper did not hand off"
        return outcome

    def records(self) -> list[ConnectionRecord]:
        if not self.json.exists():
            return []
        return [ConnectionRecord.from_json(line) for line in self.json.read_text().splitlines()]

    def read_out(self) -> str:
        return self.out.read_text() if self.out.exists() else ""


@pytest.fixture(params=MODES)
def kit(request: pytest.FixtureRequest, daemons: tuple[Path, Path]) -> Iterator[Kit]:
    handoff = request.getfixturevalue("handoff_serve") if request.param == "hand-off" else None
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-e2e."))
    directory.chmod(0o755)
    fake, udp = daemons
    (fake.parent / "daemon.out").unlink(missing_ok=True)
    before = handoff.handoffs() if handoff else 0
    try:
        kit = Kit(directory, fake, udp, handoff)
        yield kit
        if handoff is not None and kit.expect_handoff:  # inetd and xinetd ran it too
            assert handoff.handoffs() > before, "no wrapper handed its connection to serve"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
