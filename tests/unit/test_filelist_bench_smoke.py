"""Smoke test for benchmarks/filelist_bench.py: `--quick` runs and prints its tables.

Not a performance gate: it only checks that the script still works (libwrap and tcpwrap on
the same files, every section printed, verdicts agreeing). Needs the real libwrap.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .test_benchmarks_smoke import _libwrap_or_skip

pytestmark = pytest.mark.oracle

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "filelist_bench.py"


def test_quick_run_prints_every_section() -> None:
    _libwrap_or_skip()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^nomatch\s+[\d.]+\s+[\d.]+\s+\d+x$", out, re.M)
    assert re.search(r"^match\s+[\d.]+\s+[\d.]+\s+\d+x$", out, re.M)
    assert re.search(r"^hosts\.deny\s+[\d.]+ /\s+[\d.]+\s+[\d.]+ /\s+[\d.]+\s+[\d.]+x$", out, re.M)
    assert "current(): returns the previous policy" in out
    assert out.rstrip().endswith("verdicts: libwrap and tcpwrap agree on every checked query")
