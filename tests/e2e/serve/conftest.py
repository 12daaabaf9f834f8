"""Fixtures for `tcpwrap serve` end-to-end tests (namespace only; see tests/harness/README.md).

`workdir` (per test): a fresh directory, readable by every user (children may run as nobody).
`daemons` and `etc_tables` come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-serve."))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
