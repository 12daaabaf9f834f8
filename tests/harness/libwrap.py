"""The real libwrap as a test oracle: ../shared/conformance/libwrap_ctl.py, loaded once.

What it does: `libwrap_ctl()` imports the shared script as a module (its `LibWrap` class asks
Debian's libwrap.so.0 through ctypes, in this process) and skips the calling test when the
script or the library is absent (fails instead under TCPWRAP_E2E=required). `LIBWRAP_CTL` is
the script's path, for tests that run it as a program.

Hazards: libwrap runs the options of a matching rule in the calling process unless its dry
run is on (LibWrap does that by default); `user`/`group` options really change identity
(the script aborts then).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from harness.netns import CONFORMANCE_DIR

LIBWRAP_CTL = Path(CONFORMANCE_DIR) / "libwrap_ctl.py"
_loaded: list[ModuleType] = []


def libwrap_ctl() -> ModuleType:
    """The libwrap_ctl module, after checking that libwrap.so.0 loads (else skip the test)."""
    if _loaded:
        return _loaded[0]
    if not LIBWRAP_CTL.exists():
        _absent(f"{LIBWRAP_CTL} is not present")
    spec = importlib.util.spec_from_file_location("libwrap_ctl", LIBWRAP_CTL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.LibWrap("/nonexistent/a", "/nonexistent/b")
    except OSError as exc:
        _absent(f"libwrap.so.0 is not available: {exc}")
    _loaded.append(module)
    return module


def _absent(why: str) -> None:
    if os.environ.get("TCPWRAP_E2E") == "required":
        pytest.fail(f"{why} (required here)")
    pytest.skip(why)
