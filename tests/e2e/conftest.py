"""Fixtures shared by the wrapper's and the super-server's end-to-end tests (namespace only).

`daemons` (session): the compiled fake daemon and UDP daemon (wrapkit.build_daemons).
`etc_tables`: /etc/hosts.allow and /etc/hosts.deny of the private /etc (as the real tcpd
reads them), cleared before and after the test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.wrapper.wrapkit import build_daemons
from harness.netns import in_test_namespace


@pytest.fixture(scope="session")
def daemons() -> Iterator[tuple[Path, Path]]:
    if not in_test_namespace():
        pytest.skip("needs the test namespace")
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-e2e-daemons."))
    directory.chmod(0o755)
    try:
        yield build_daemons(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class EtcTables:
    """/etc/hosts.allow and /etc/hosts.deny of the private namespace /etc."""

    paths = (Path("/etc/hosts.allow"), Path("/etc/hosts.deny"))

    def write(self, allow: str | None = None, deny: str | None = None) -> None:
        for path, text in zip(self.paths, (allow, deny), strict=True):
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)

    def clear(self) -> None:
        self.write(None, None)


@pytest.fixture
def etc_tables() -> Iterator[EtcTables]:
    if os.environ.get("TCPWRAP_NS") != "1":  # never touch a real machine's /etc
        pytest.skip("needs the test namespace")
    tables = EtcTables()
    tables.clear()
    try:
        yield tables
    finally:
        tables.clear()
