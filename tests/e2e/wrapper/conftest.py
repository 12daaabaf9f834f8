"""Fixtures for the wrapper's end-to-end tests (namespace only; see tests/harness/README.md).

`kit` (per test): a temp directory with hosts.allow/hosts.deny files the wrapper is pointed
at via TCPWRAP_ALLOW/DENY, a short refuse pause, and `kit.run(...)` (the wrapper exec'ed
inetd-style on a live socket). `daemons` (the compiled fake daemons) and `etc_tables`
(/etc/hosts.allow|deny of the private /etc) come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import EtcTables  # noqa: F401 - the wrapper tests import it from here
from e2e.wrapper.wrapkit import WRAPPER, Outcome, run_inetd_style
from tcpwrap.proto.logrecord import ConnectionRecord

PAUSE = "0.2"  # TCPWRAP_REFUSE_PAUSE used everywhere except the test of the 5 s default


class Kit:
    def __init__(self, directory: Path, fake: Path, udp: Path) -> None:
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
        """`tcpwrap-tcpd ARGS...` exec'ed like inetd on a live socket (see run_inetd_style)."""
        return run_inetd_style(
            str(WRAPPER),
            ["tcpwrap-tcpd", *args],
            env or self.env(),
            **kw,  # type: ignore[arg-type]
        )

    def records(self) -> list[ConnectionRecord]:
        if not self.json.exists():
            return []
        return [ConnectionRecord.from_json(line) for line in self.json.read_text().splitlines()]

    def read_out(self) -> str:
        return self.out.read_text() if self.out.exists() else ""


@pytest.fixture
def kit(daemons: tuple[Path, Path]) -> Iterator[Kit]:
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-e2e."))
    directory.chmod(0o755)
    fake, udp = daemons
    (fake.parent / "daemon.out").unlink(missing_ok=True)
    try:
        yield Kit(directory, fake, udp)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
