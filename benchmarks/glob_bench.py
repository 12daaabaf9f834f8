"""Wildcard matching on attacker-chosen names: tcpwrap vs libwrap's match_pattern_ylo().

A client's PTR name is chosen by whoever controls the reverse zone. A deny table holding a
wildcard with several stars (`*a*a*a*a*b`) makes libwrap's recursive matcher try every split
of the name between the stars: about len(name)^stars steps. This script asks both
`hosts_ctl()`s (libwrap through ctypes, as tests/conformance/recorded/libwrap_ctl.py does, in this
process; tcpwrap.hosts_ctl with its tables compiled once, a new client address each call so
its verdict memo never answers) the question "sshd from a 127-character name of `a`s", with a
deny table `sshd: <token>`, for 2 to 8 stars. libwrap is skipped where it
would take longer than --limit seconds (its time grows about 17x per star).

Run: .venv/bin/python benchmarks/glob_bench.py [--limit 40]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import tempfile
import time
from pathlib import Path

import tcpwrap

NAME = "a" * 127


def _libwrap(allow: str, deny: str) -> ctypes.CDLL:
    lib = ctypes.CDLL("libwrap.so.0")
    lib.hosts_ctl.argtypes = [ctypes.c_char_p] * 4
    lib.hosts_ctl.restype = ctypes.c_int
    keep = [ctypes.create_string_buffer(os.fsencode(p)) for p in (allow, deny)]
    ctypes.c_void_p.in_dll(lib, "hosts_allow_table").value = ctypes.addressof(keep[0])
    ctypes.c_void_p.in_dll(lib, "hosts_deny_table").value = ctypes.addressof(keep[1])
    ctypes.c_int.in_dll(lib, "dry_run").value = 1
    lib._keep = keep  # type: ignore[attr-defined]
    return lib


def _ours(allow: Path, deny: Path, repeat: int) -> float:
    """Mean seconds per tcpwrap.hosts_ctl() call, a new client address each call."""
    assert tcpwrap.hosts_ctl("sshd", NAME, "10.255.255.255", allow=str(allow), deny=str(deny))
    started = time.perf_counter()
    for i in range(repeat):
        address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        tcpwrap.hosts_ctl("sshd", NAME, address, allow=str(allow), deny=str(deny))
    return (time.perf_counter() - started) / repeat


def _theirs(allow: Path, deny: Path) -> float:
    """Seconds for one libwrap hosts_ctl() call."""
    lib = _libwrap(str(allow), str(deny))
    started = time.perf_counter()
    lib.hosts_ctl(b"sshd", NAME.encode(), b"192.0.2.1", b"x")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=float, default=40.0, help="libwrap's time budget (s)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} ({sys.executable}); name: 127 x 'a'")
    print(f"{'token':<22} {'libwrap s':>11} {'tcpwrap us':>11} {'ratio':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        theirs: float | None = 0.0
        for stars in range(2, 9):
            token = "*a" * (stars - 1) + "*b"
            allow, deny = Path(tmp, f"a{stars}"), Path(tmp, f"d{stars}")
            allow.write_text("")
            deny.write_text(f"sshd: {token}\n")
            ours = _ours(allow, deny, 2000)
            # libwrap's time grows 20-40x per star: skip it where it would exceed the budget
            if theirs is not None and theirs * 40 <= args.limit:
                theirs = _theirs(allow, deny)
                shown, ratio = f"{theirs:11.3f}", f"{theirs / ours:10.0f}"
            else:
                theirs = None
                shown, ratio = f"{'> ' + str(args.limit):>11}", f"{'-':>10}"
            print(f"{token:<22} {shown} {ours * 1e6:11.1f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
