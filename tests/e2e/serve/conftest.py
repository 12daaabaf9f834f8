"""Fixtures for `tcpwrap serve` end-to-end tests (namespace only; see tests/harness/README.md).

`daemons` (session): the compiled fake daemon and UDP daemon (wrapkit.build_daemons).
`workdir` (per test): a fresh directory, readable by every user (children may run as nobody).
`etc_tables`: /etc/hosts.allow|deny of the private /etc, as the real tcpd reads them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.wrapper.conftest import EtcTables
from e2e.wrapper.wrapkit import build_daemons
from harness.netns import in_test_namespace


@pytest.fixture(scope="session")
def daemons() -> Iterator[tuple[Path, Path]]:
    if not in_test_namespace():
        pytest.skip("needs the test namespace")
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-serve-daemons."))
    directory.chmod(0o755)
    try:
        yield build_daemons(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-serve."))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def etc_tables() -> Iterator[EtcTables]:
    """/etc/hosts.allow and /etc/hosts.deny of the private namespace (cleared afterwards)."""
    if not in_test_namespace():  # never touch a real machine's /etc
        pytest.skip("needs the test namespace")
    tables = EtcTables()
    tables.clear()
    try:
        yield tables
    finally:
        tables.clear()
