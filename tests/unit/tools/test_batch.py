"""tools.batch: `tcpwrap match --batch` reads queries as bytes, like the tables (issue 12).

A real allow list held an address with a zero-width space (UTF-8 bytes e2 80 8b) in it;
libwrap compares bytes, so a query with the same bytes matches it. The queries are compared
with ../shared/conformance/libwrap_ctl.py --batch (which hands libwrap the UTF-8 bytes).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.oracle import LIBWRAP_CTL, libwrap_ctl

ZWSP = "\u200b".encode()
NBSP = "\u00a0".encode()

DENY = b"ALL: 192.0.2.1" + ZWSP + b" caf\xc3\xa9.example host" + NBSP + b"x\n"
QUERIES = [
    b"sshd unknown 192.0.2.1" + ZWSP + b"\n",  # the table's bytes: denied
    b"sshd unknown 192.0.2.1\n",  # not the same address: granted
    "sshd café.example 192.0.2.9\n".encode(),  # UTF-8 name, as written in the table
    b"sshd host" + NBSP + b"x 192.0.2.9\n",  # NBSP is no separator (C isspace)
]
EXPECTED = ["denied", "granted", "denied", "denied"]


def _batch(tmp_path: Path, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "d").write_bytes(DENY)
    return subprocess.run(
        [sys.executable, "-c", "from tcpwrap.cli import main; raise SystemExit(main())",
         "match", "--batch", "--allow", str(tmp_path / "a"), "--deny", str(tmp_path / "d")],
        input=stdin, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


def test_queries_are_bytes_like_the_tables(tmp_path: Path) -> None:
    result = _batch(tmp_path, b"".join(QUERIES))
    assert result.stdout.decode().split() == EXPECTED
    assert result.returncode == 0


@pytest.mark.oracle
def test_libwrap_answers_the_same(tmp_path: Path) -> None:
    libwrap_ctl()  # skips without libwrap
    script = LIBWRAP_CTL
    (tmp_path / "a").write_bytes(b"")
    (tmp_path / "d").write_bytes(DENY)
    # (libwrap_ctl splits its input with str.split, which cuts at NBSP: not the last query)
    theirs = subprocess.run(
        [sys.executable, str(script), "--allow", str(tmp_path / "a"), "--deny",
         str(tmp_path / "d"), "--batch"],
        input=b"".join(QUERIES[:3]), capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert theirs.stdout.decode().split() == EXPECTED[:3]


def test_malformed_and_overlong_lines_are_denied_and_named(tmp_path: Path) -> None:
    stdin = b"sshd x\n" + b"sshd unknown " + b"1" * 10000 + b"\n" + QUERIES[1]
    result = _batch(tmp_path, stdin)
    assert result.stdout.decode().split() == ["denied", "denied", "granted"]
    assert b"line 1: want" in result.stderr and b"line 2: want" in result.stderr
    assert result.returncode == 1
