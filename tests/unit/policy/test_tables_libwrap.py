"""tables: the reader against the real libwrap on tables with NUL runs, long lines, CRLF,
continuations and missing final newlines (docs/rules.md): verdicts, `matched:` line numbers and
warnings must be libwrap's, record for record.

Each generated table pair is asked through tests/conformance/recorded/libwrap_ctl.py (--batch
--verbose --line-buffered, stderr merged, so each query's syslog records come before its
verdict) and through tcpwrap's evaluator in verbose dry-run mode.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from harness.oracle import LIBWRAP_CTL, libwrap_ctl
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Connection, Endpoint, Mode, Verdict
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.rules import TableSource

TABLES = int(os.environ.get("TCPWRAP_NUL_TABLES", "60"))
SEED = int(os.environ.get("TCPWRAP_NUL_SEED", "12"))

pytestmark = pytest.mark.oracle


def _nul_run(rng: random.Random) -> bytes:
    return b"\x00" * rng.choice([1, 3, 40, 2046, 2047, 2048, 5000])


def _line(rng: random.Random, address: str) -> bytes:
    """One physical line (or two, with a continuation) naming `address`, maybe damaged."""
    rule = f"ALL: {address}".encode()
    shape = rng.randrange(14)
    if shape == 0:  # a NUL run where a crash during an append leaves it: a line of its own
        return _nul_run(rng) + b"\n" + rule + b"\n"
    if shape == 1:  # NULs before the rule on the same line: the rule is lost
        return _nul_run(rng) + rule + b"\n"
    if shape == 2:  # the rule, then NULs: the next line is read onto it
        return rule + b" " * rng.randrange(2) + _nul_run(rng) + b"junk\n"
    if shape == 3:
        return rule + b"\r\n"
    if shape == 4:  # a continuation
        return b"ALL: \\\n" + address.encode() + b"\n"
    if shape == 5:  # near the 2047-byte buffer, with or without a NUL before the newline
        pad = b" " * rng.choice([2030, 2040, 2041, 2042, 2046, 2047, 2100])
        tail = b"\x00" if rng.randrange(2) else b""
        return rule + pad[: max(0, len(pad) - len(rule))] + tail + b"\n"
    if shape == 6:  # a text, NULs, then more text longer than what is left of the buffer
        return rule + b"\x00" + b"x" * rng.choice([10, 2040, 3000]) + b"\n"
    if shape == 7:
        return b"# comment " + _nul_run(rng) + b"\n" + rule + b"\n"
    if shape == 8:  # a backslash kept before a NUL is not a continuation
        return rule + b" \\" + b"\x00\n"
    return rule + b"\n"


def _table(rng: random.Random, addresses: list[str]) -> bytes:
    data = b"".join(_line(rng, address) for address in addresses)
    if rng.randrange(4) == 0:
        data = data.rstrip(b"\n")  # a last line without its newline
    if rng.randrange(6) == 0:
        data += _nul_run(rng)  # the file ends inside a NUL run
    return data


def _libwrap(allow: Path, deny: Path, queries: list[str]) -> list[list[str]]:
    """libwrap's records and verdict for each query: [record, ..., verdict] per query."""
    stdin = "".join(f"sshd unknown {address}\n" for address in queries)
    result = subprocess.run(
        [sys.executable, str(LIBWRAP_CTL), "--allow", str(allow), "--deny", str(deny),
         "--batch", "--verbose", "--line-buffered"],
        input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=60, check=True,
    )  # fmt: skip
    answers: list[list[str]] = [[]]
    for raw in result.stdout.decode("latin-1").splitlines():
        if raw in ("granted", "denied"):
            answers[-1].append(raw)
            answers.append([])
        else:
            answers[-1].append(raw.split("]: ", 1)[1])  # "libwrap_ctl[pid]: text"
    return answers[:-1]


def _ours(allow: bytes, deny: bytes, allow_path: str, deny_path: str, address: str) -> list[str]:
    policy = compile_policy(TableSource(allow_path, allow), TableSource(deny_path, deny))
    decision = evaluate(policy, Connection("sshd", Endpoint(address)), Mode(verbose=True))
    records = [d.render() for d in decision.diagnostics]
    return [*records, "granted" if decision.verdict is Verdict.GRANT else "denied"]


def test_reader_agrees_with_libwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libwrap_ctl()  # skips without libwrap
    rng = random.Random(SEED)
    monkeypatch.chdir(tmp_path)  # libwrap's records name the tables as given: short paths
    for number in range(TABLES):
        addresses = [f"10.0.{number % 250}.{i}" for i in range(1, rng.randrange(2, 12))]
        extra = [f"10.1.{number % 250}.{i}" for i in range(1, 4)]
        allow = _table(rng, extra) if rng.randrange(3) == 0 else b""
        deny = _table(rng, addresses)
        Path("a").write_bytes(allow)
        Path("d").write_bytes(deny)
        queries = [*addresses, *extra, "10.9.9.9"]
        theirs = _libwrap(Path("a"), Path("d"), queries)
        for address, expected in zip(queries, theirs, strict=True):
            assert _ours(allow, deny, "a", "d", address) == expected, (number, address, deny)
