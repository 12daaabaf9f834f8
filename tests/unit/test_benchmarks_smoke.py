"""Smoke test for benchmarks/hosts_ctl_bench.py: `--quick` runs and prints its table.

Not a performance gate: it only checks that the script still works (both implementations
called on the same files, every row printed, verdicts agreeing). Needs the real libwrap.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.oracle

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "hosts_ctl_bench.py"
ROW = re.compile(
    r"^(denyhosts|mixed)\s+(\d+)\s+(nomatch|early)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+"
    r"([\d.]+)x\s+([\d.]+)x\s+([\d.]+)$"
)


def _libwrap_or_skip() -> None:
    try:
        ctypes.CDLL("libwrap.so.0")
    except OSError as exc:
        if os.environ.get("TCPWRAP_E2E") == "required":
            pytest.fail(f"libwrap.so.0 is required here: {exc}")
        pytest.skip(f"libwrap.so.0 not available: {exc}")


def test_quick_run_prints_the_table() -> None:
    _libwrap_or_skip()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"interpreter: {sys.executable}")
    rows = [m.groups() for m in map(ROW.match, lines) if m]
    assert [(shape, int(size), client) for shape, size, client, *_ in rows] == [
        (shape, size, client)
        for shape in ("denyhosts", "mixed")
        for size in (10, 1000)
        for client in ("nomatch", "early")
    ]
    for row in rows:
        assert all(float(value) > 0 for value in row[3:6])
    assert lines[-1] == "verdicts: libwrap and tcpwrap agree on every measured query"
