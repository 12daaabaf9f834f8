"""Benchmark `/file` lists and appends: tcpwrap next to the real libwrap, in the same run.

Both run in this process on the same files (a temporary directory): libwrap's hosts_ctl
through ctypes (Debian's libwrap.so.0, loaded as tests/conformance/recorded/libwrap_ctl.py does;
it re-reads both tables, and every `/file` list they name, on every call), tcpwrap's through
`tcpwrap.hosts_ctl` (compiled policy and compiled pattern files, re-validated per call).

(a) decision time with hosts.deny = `ALL: /path/banned` and a 100,000-address list, for a
    client that matches nothing and for one that matches (a random line of the list); cold
    clients: a new address on every call;
(b) time from appending one line until the next decision honours it: to a 100,000-line
    hosts.deny (`ALL: a.b.c.d` lines) and to the 100,000-address list; the median and the
    worst of several appends. For contrast, tcpwrap after a rewrite that is not an append:
    `PolicyCache.get()` (waits for the full recompile) and `PolicyCache.current()` (returns
    the previous policy at once while the recompile runs aside).

    .venv/bin/python benchmarks/filelist_bench.py [--quick] [--size N] [--budget SECONDS]

Never a CI gate; tests/unit/test_filelist_bench_smoke.py runs `--quick` once.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hosts_ctl_bench import load_libwrap_ctl  # noqa: E402

import tcpwrap  # noqa: E402
from tcpwrap.drivers.tables import PolicyCache  # noqa: E402
from tcpwrap.library import policy_cache  # noqa: E402
from tcpwrap.policy.decision import Connection, Endpoint  # noqa: E402
from tcpwrap.policy.match import evaluate  # noqa: E402

SIZE = 100_000
QUICK_SIZE = 2_000
APPENDS = 15
QUICK_APPENDS = 3


def _addr(i: int) -> str:
    """Distinct addresses in 10.0.0.0/8 (never 0 or 255 in the last byte)."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{1 + i % 250}"


def nomatch_addresses(n: int) -> list[str]:
    return [f"198.{18 + (i >> 16) % 2}.{(i >> 8) & 255}.{i & 255}" for i in range(n)]


def matching_addresses(n: int, size: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [_addr(rng.randrange(size)) for _ in range(n)]


def age(*paths: Path) -> None:
    """Date files an hour back: tables in service are old (no racy-mtime rereads)."""
    past = time.time() - 3600
    for path in paths:
        os.utime(path, (past, past))


class Libwrap:
    def __init__(self, module: object, allow: Path, deny: Path) -> None:
        wrap = module.LibWrap(str(allow), str(deny))  # type: ignore[attr-defined]
        wrap.dry_run.value = 1
        self.ctl = wrap.lib.hosts_ctl
        self.ctl.argtypes = [ctypes.c_char_p] * 4
        self.wrap = wrap  # keeps the table-name buffers alive

    def granted(self, address: str) -> bool:
        return bool(self.ctl(b"sshd", b"unknown", address.encode(), b"unknown"))


def per_call_us(call: Callable[[str], object], addresses: list[str], budget: float) -> float:
    """Mean microseconds per call, one address each: all of them, or until `budget` s."""
    start = time.perf_counter()
    done = 0
    for address in addresses:
        call(address)
        done += 1
        if done >= 3 and time.perf_counter() - start >= budget:
            break
    return (time.perf_counter() - start) / done * 1e6


def append_line(path: Path, line: str) -> None:
    with path.open("a") as handle:
        handle.write(line + "\n")


def time_to_honour(
    path: Path, line: str, address: str, granted: Callable[[str], bool]
) -> float:
    """Milliseconds from the end of the append to the end of the first decision."""
    append_line(path, line)
    start = time.perf_counter()
    verdict = granted(address)
    elapsed = (time.perf_counter() - start) * 1e3
    if verdict:
        raise SystemExit(f"the appended {line!r} was not honoured for {address}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE} lines, few calls")
    parser.add_argument("--size", type=int, default=None, help=f"lines (default {SIZE})")
    parser.add_argument("--budget", type=float, default=None, help="seconds per libwrap cell")
    args = parser.parse_args(argv)
    size = args.size or (QUICK_SIZE if args.quick else SIZE)
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 2.0)
    calls = 2_000 if args.quick else 20_000
    appends = QUICK_APPENDS if args.quick else APPENDS
    module = load_libwrap_ctl()
    directory = Path(tempfile.mkdtemp(prefix="filelist_bench."))
    try:
        return run(module, directory, size, budget, calls, appends)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def run(
    module: object, directory: Path, size: int, budget: float, calls: int, appends: int
) -> int:
    print(f"interpreter: {sys.executable} (Python {platform.python_version()})")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load}")
    allow = directory / "hosts.allow"
    allow.write_bytes(b"")
    banned = directory / "banned"
    banned.write_text("".join(_addr(i) + "\n" for i in range(size)))
    deny = directory / "hosts.deny"
    deny.write_text(f"ALL: {banned}\n")
    age(allow, deny, banned)
    lib = Libwrap(module, allow, deny)

    allow_path, deny_path = str(allow), str(deny)  # once, as a caller with constants would

    def ours(address: str) -> bool:
        return tcpwrap.hosts_ctl("sshd", "unknown", address, allow=allow_path, deny=deny_path)

    print(f"\n(a) hosts.deny = 'ALL: {banned.name}', {size:,} addresses; cold clients")
    started = time.perf_counter()
    first = ours("198.18.0.0")
    print(f"tcpwrap first call (compiles the list): {(time.perf_counter() - started) * 1e3:.1f} ms")
    header = f"{'client':<10} {'libwrap us':>11} {'tcpwrap us':>11} {'lib/tcpwrap':>12}"
    print(header)
    print("-" * len(header))
    disagreements = 0
    for label, addresses in (
        ("nomatch", nomatch_addresses(calls + 1)),
        ("match", matching_addresses(calls + 1, size)),
    ):
        if ours(addresses[0]) != lib.granted(addresses[0]) or first is not True:
            disagreements += 1
            print(f"DISAGREE on {label} {addresses[0]}")
        lib_us = per_call_us(lib.granted, addresses[1:], budget)
        our_us = per_call_us(ours, addresses[1:], 1e9)
        print(f"{label:<10} {lib_us:>11.1f} {our_us:>11.2f} {lib_us / our_us:>11.0f}x", flush=True)

    print(f"\n(b) one line appended, then the first decision that must honour it (ms; median / "
          f"worst of {appends})")
    header = f"{'appended to':<24} {'libwrap':>16} {'tcpwrap':>16} {'lib/tcpwrap':>12}"
    print(header)
    print("-" * len(header))
    table = directory / "hosts.deny.100k"
    table.write_text("".join(f"ALL: {_addr(i)}\n" for i in range(size)))
    age(table)
    cases = [
        ("hosts.deny", table, table, "ALL: {}"),
        (f"/file list ({banned.name})", deny, banned, "{}"),
    ]
    for label, deny_path, target, form in cases:
        lib = Libwrap(module, allow, deny_path)
        policy_cache(str(allow), str(deny_path)).get()  # compiled before the first append

        def ours_for(address: str, deny_path: Path = deny_path) -> bool:
            return tcpwrap.hosts_ctl(
                "sshd", "unknown", address, allow=str(allow), deny=str(deny_path)
            )

        results: dict[str, list[float]] = {"lib": [], "ours": []}
        for round_no in range(appends):
            for who, decide in (("lib", lib.granted), ("ours", ours_for)):
                address = f"192.0.{2 + (who == 'ours')}.{round_no + 1}"
                results[who].append(time_to_honour(target, form.format(address), address, decide))
        lib_med, our_med = statistics.median(results["lib"]), statistics.median(results["ours"])
        print(
            f"{label:<24} {lib_med:>7.2f} / {max(results['lib']):>6.2f} "
            f"{our_med:>7.2f} / {max(results['ours']):>6.2f} {lib_med / our_med:>11.1f}x",
            flush=True,
        )

    print(f"\n(c) tcpwrap after a rewrite of the {size:,}-line hosts.deny (not an append)")
    cache = PolicyCache(str(allow), str(table))
    cache.get()
    table.write_text("ALL: 192.0.2.250\n" + table.read_text())
    client = Connection("sshd", Endpoint(addr="198.18.0.1"))
    swap_ms: float | None = None
    started = time.perf_counter()
    old = cache.current()
    current_ms = (time.perf_counter() - started) * 1e3
    latencies: list[float] = []  # decisions served (current() + evaluate) meanwhile, in ms
    while cache.compiling or len(latencies) < 1000:
        before = time.perf_counter()
        evaluate(cache.current(), client)
        latencies.append((time.perf_counter() - before) * 1e3)
        if not cache.compiling and swap_ms is None:
            swap_ms = (time.perf_counter() - started) * 1e3
    assert cache.current() is not old
    latencies.sort()
    table.write_text("ALL: 192.0.2.251\n" + table.read_text())
    started = time.perf_counter()
    cache.get()
    get_ms = (time.perf_counter() - started) * 1e3
    print(f"current(): returns the previous policy in {current_ms:.2f} ms; the new one is in "
          f"after {swap_ms:.0f} ms")
    print(f"decisions through current() in this thread meanwhile and just after: "
          f"{len(latencies)}, median {statistics.median(latencies) * 1e3:.0f} us, "
          f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"get():     waits for the full recompile: {get_ms:.0f} ms")
    if disagreements:
        print(f"{disagreements} verdict disagreement(s)")
        return 1
    print("verdicts: libwrap and tcpwrap agree on every checked query")
    return 0


if __name__ == "__main__":
    sys.exit(main())
