"""execute: spawn commands and setenv values reach the shell as the table's bytes (as tcpd's
do), not re-encoded as UTF-8 (issue 12 item 3)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpwrap.drivers.execute import perform, spawn
from tcpwrap.policy.options import SetEnv


def test_spawn_passes_the_tables_bytes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # "caf\xc3\xa9" as the table holds it: Latin-1 text, one character per byte
    spawn(f"printf %s caf\u00c3\u00a9 > {out}", warn=lambda message: None)
    assert out.read_bytes() == b"caf\xc3\xa9"


def test_setenv_passes_the_tables_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TCPWRAP_T", raising=False)
    perform(SetEnv("TCPWRAP_T", "caf\u00c3\u00a9"), fd=None, sock=None, warn=lambda m: None,
            drop_users=False)
    assert os.environb[b"TCPWRAP_T"] == b"caf\xc3\xa9"
    monkeypatch.delenv("TCPWRAP_T")
