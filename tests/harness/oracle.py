"""The oracle: the recorded runs of the real binaries, and the real binaries themselves.

What it does: names the recorded conformance data kept in the repository
(tests/conformance/recorded, see its README.md), loads the libwrap driver recorded with it
(`libwrap_ctl.py`, Debian's libwrap.so.0 through ctypes), and turns "an oracle is missing" into
the right outcome: recorded data is part of the repository, so its absence always fails; a
missing real binary or library (Debian packages tcpd, libwrap0) fails under
TCPWRAP_E2E=required (scripts/test, CI) and skips with the reason elsewhere.

Hazards: `libwrap_ctl()` loads a C library into the test process (dry run only; it changes the
umask option's process state exactly as libwrap does).

Errors: pytest.fail / pytest.skip outcomes (never a silent empty parameter set).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from harness.netns import e2e_required

RECORDED = Path(__file__).resolve().parents[1] / "conformance" / "recorded"
LIBWRAP_CTL = RECORDED / "libwrap_ctl.py"


class MissingRecording(RuntimeError):
    """Recorded data the repository ships is not there (a broken checkout)."""


def recorded(*parts: str) -> Path:
    """A path under the recorded data; it must exist (raised at import or collection time)."""
    path = RECORDED.joinpath(*parts)
    if not path.exists():
        raise MissingRecording(f"{path}: recorded oracle data missing from the repository")
    return path


def need(what: str, available: bool) -> None:
    """Fail (TCPWRAP_E2E=required) or skip, naming `what`, unless it is `available`."""
    if available:
        return
    if e2e_required():
        pytest.fail(f"{what}: not available, and TCPWRAP_E2E=required", pytrace=False)
    pytest.skip(f"{what}: not available")


def binary(name: str) -> str:
    """The path of a real Debian binary (tcpd, tcpdmatch, ...), or fail/skip."""
    found = shutil.which(name) or f"/usr/sbin/{name}"
    need(f"the real {name} (Debian package tcpd)", Path(found).is_file())
    return found


def libwrap_loads() -> None:
    """Debian's libwrap.so.0 must load, or fail/skip."""
    try:
        ctypes.CDLL("libwrap.so.0")
    except OSError as exc:
        need(f"libwrap.so.0 (Debian package libwrap0: {exc})", False)


@functools.cache
def libwrap_ctl() -> ModuleType:
    """The recorded ctypes driver of the real libwrap, loaded once from its file, after
    checking that libwrap.so.0 loads (else fail/skip)."""
    libwrap_loads()
    spec = importlib.util.spec_from_file_location("libwrap_ctl", recorded("libwrap_ctl.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
