"""Fixtures for the driver tests: a real identd on loopback (tests/harness/identd.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.identd import IdentServer


@pytest.fixture
def identd() -> Iterator[IdentServer]:
    """A scripted identd on 127.0.0.2 (a high port); set `.reply` before querying."""
    with IdentServer("127.0.0.2") as server:
        yield server


@pytest.fixture
def identd6() -> Iterator[IdentServer]:
    """The same on ::1."""
    with IdentServer("::1") as server:
        yield server
