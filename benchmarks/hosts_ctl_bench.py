"""Benchmark `tcpwrap.hosts_ctl` against the real libwrap `hosts_ctl`, side by side.

Both run in this process on the very same table files (a temporary directory): libwrap's
hosts_ctl through ctypes (Debian's libwrap.so.0, driven as tests/conformance/recorded/libwrap_ctl.py
does; it re-reads and re-parses both tables on every call), tcpwrap's through the library (a
compiled policy, re-validated by one inotify poll per call, plus a verdict memo where deciding
costs more than the memo).

Deny tables of 10, 1,000, 10,000 and 100,000 lines, two shapes:
  denyhosts  `ALL: a.b.c.d` lines (what DenyHosts/fail2ban write);
  mixed      exact addresses, host names, `.domain` suffixes, `a.b.c.` prefixes, CIDR and
             net/mask networks, some for `sshd` only.
Two clients: one that matches nothing, one that matches early (line 2).

tcpwrap is measured twice:
  warm  the same query repeated: after the first call the verdict memo answers (where the
        policy uses one: not for tables that decide in about the time a memo miss costs);
  cold  a distinct query per call (pre-generated), so the memo never hits and the compiled
        index decides every time. The no-match client changes address and name per call;
        the early-match client keeps its (matching) address and changes its name.
The one-off compile of each table (first call after a change) is reported separately.

    .venv/bin/python benchmarks/hosts_ctl_bench.py [--quick] [--budget SECONDS] [--repeat N]
        [--shapes denyhosts,mixed] [--sizes 10,1000]

With --repeat N every cell is measured N times, libwrap and tcpwrap in turn, and the best
(lowest) time of each is shown: on a shared machine the other load only ever adds time.
Ratios below 100 are shown with one decimal (the goal is 5x cold: 4.6 must not print as 5).
The load average is printed before and after the run.

Never a CI gate; tests/unit/test_benchmarks_smoke.py runs `--quick` once.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import tcpwrap  # noqa: E402
from tcpwrap.library import policy_cache  # noqa: E402

LIBWRAP_CTL = ROOT / "tests" / "conformance" / "recorded" / "libwrap_ctl.py"
SIZES = (10, 1_000, 10_000, 100_000)
QUICK_SIZES = (10, 1_000)
SHAPES = ("denyhosts", "mixed")
EARLY_LINE = 2


def load_libwrap_ctl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("libwrap_ctl", LIBWRAP_CTL)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {LIBWRAP_CTL}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- tables


def _addr(i: int) -> str:
    """Distinct addresses in 10.0.0.0/8 for table lines (never 0 or 255 in the last byte)."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{1 + i % 250}"


def table_lines(shape: str, count: int) -> list[str]:
    """`count` deny-table lines; line EARLY_LINE matches the early client (198.51.100.7)."""
    lines: list[str] = []
    for i in range(count):
        line_no = i + 1
        if line_no == EARLY_LINE:
            lines.append("ALL: 198.51.100.7")
            continue
        if shape == "denyhosts":
            lines.append(f"ALL: {_addr(i)}")
            continue
        kind = i % 8
        if kind == 0:
            lines.append(f"ALL: {_addr(i)}")
        elif kind == 1:
            lines.append(f"sshd: {_addr(i)} {_addr(i + 1_000_003)}")
        elif kind == 2:
            lines.append(f"ALL: host{i}.bad{i % 97}.example.net")
        elif kind == 3:
            lines.append(f"ALL: .spam{i}.example")
        elif kind == 4:
            lines.append(f"ALL: 172.{16 + i % 16}.{(i >> 4) & 255}.0/24")
        elif kind == 5:
            lines.append(f"in.ftpd, sshd: 100.{64 + i % 64}.{(i >> 6) & 255}.0/255.255.255.0")
        elif kind == 6:
            lines.append(f"ALL: 192.168.{i % 256}.")
        else:
            lines.append(f"sshd: dial{i}.pool.example.org, {_addr(i + 2_000_003)}")
    return lines


def no_match_clients(n: int) -> list[tuple[bytes, bytes]]:
    """(name, address) pairs that no generated rule matches (198.18.0.0/15, .nomatch.test)."""
    return [
        (
            f"c{i}.nomatch.test".encode(),
            f"198.{18 + (i >> 16) % 2}.{(i >> 8) & 255}.{i & 255}".encode(),
        )
        for i in range(n)
    ]


def early_clients(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"e{i}.client.test".encode(), b"198.51.100.7") for i in range(n)]


# ----------------------------------------------------------------------------- timing


def time_libwrap(
    lib_ctl: Callable[..., int], clients: list[tuple[bytes, bytes]], budget: float
) -> float:
    """Mean microseconds per libwrap call: at least 3 calls, then until `budget` seconds."""
    done = 0
    start = time.perf_counter()
    while True:
        name, addr = clients[done % len(clients)]
        lib_ctl(b"sshd", name, addr, b"unknown")
        done += 1
        elapsed = time.perf_counter() - start
        if done >= 20_000 or (done >= 3 and elapsed >= budget):
            return elapsed / done * 1e6


def time_tcpwrap(queries: list[tuple[str, str]], allow: str, deny: str) -> float:
    """Mean microseconds per tcpwrap.hosts_ctl call over the given queries."""
    hosts_ctl = tcpwrap.hosts_ctl
    start = time.perf_counter()
    for name, addr in queries:
        hosts_ctl("sshd", name, addr, allow=allow, deny=deny)
    return (time.perf_counter() - start) / len(queries) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 1,000 lines, few calls")
    parser.add_argument("--budget", type=float, default=None, help="seconds per libwrap cell")
    parser.add_argument("--keep", metavar="DIR", help="write the tables here and keep them")
    parser.add_argument("--repeat", type=int, default=1, help="measure each cell N times: best")
    parser.add_argument("--shapes", type=_names(SHAPES), default=SHAPES, help="comma-separated")
    parser.add_argument("--sizes", type=_sizes, default=None, help="table lines, comma-separated")
    args = parser.parse_args(argv)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    budget = args.budget if args.budget is not None else (0.05 if args.quick else 1.0)
    fast_calls = 2_000 if args.quick else 50_000

    module = load_libwrap_ctl()
    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hosts_ctl_bench."))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return run(module, directory, sizes, budget, fast_calls, max(1, args.repeat), args.shapes)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


def _names(choices: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name for name in text.split(",") if name)
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return names

    return parse


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(size) for size in text.split(",") if size)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < EARLY_LINE:
        raise argparse.ArgumentTypeError(f"whole numbers of at least {EARLY_LINE}, comma-separated")
    return sizes


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _ratio(value: float) -> str:
    return f"{value:.1f}x" if value < 100 else f"{value:.0f}x"


def run(
    module: ModuleType,
    directory: Path,
    sizes: tuple[int, ...],
    budget: float,
    fast_calls: int,
    repeat: int = 1,
    shapes: tuple[str, ...] = SHAPES,
) -> int:
    print(f"interpreter: {sys.executable} (Python {platform.python_version()})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {_load()}")
    print(f"tables in {directory}")
    print("tcpwrap warm = same query repeated (verdict memo); cold = distinct query per call")
    print("table files dated one hour back (no racy-mtime rereads); compile = first call")
    if repeat > 1:
        print(f"each cell: the best of {repeat} measurements, libwrap and tcpwrap in turn")
    header = (
        f"{'shape':<10} {'lines':>7} {'client':<8} {'libwrap us':>11} {'warm us':>8} "
        f"{'cold us':>8} {'lib/warm':>9} {'lib/cold':>9} {'compile ms':>10}"
    )
    print(header)
    print("-" * len(header))
    allow = directory / "hosts.allow"
    allow.write_bytes(b"")
    disagreements = 0
    for shape in shapes:
        for size in sizes:
            deny = directory / f"hosts.deny.{shape}.{size}"
            deny.write_text("".join(line + "\n" for line in table_lines(shape, size)))
            # Tables in service are old; a file modified within the last 2 s is also compared
            # by content on every call (PolicyCache's "racy" check), which is not what we time.
            past = time.time() - 3600
            for path in (allow, deny):
                os.utime(path, (past, past))
            wrap = module.LibWrap(str(allow), str(deny))
            wrap.dry_run.value = 1
            lib_ctl = wrap.lib.hosts_ctl
            lib_ctl.argtypes = [ctypes.c_char_p] * 4
            cache = policy_cache(str(allow), str(deny))
            started = time.perf_counter()
            cache.get()
            compile_ms = (time.perf_counter() - started) * 1e3
            for label, clients in (
                ("nomatch", no_match_clients(fast_calls + 1)),
                ("early", early_clients(fast_calls + 1)),
            ):
                name0, addr0 = clients[0]
                lib_verdict = bool(lib_ctl(b"sshd", name0, addr0, b"unknown"))
                ours = tcpwrap.hosts_ctl(
                    "sshd", name0.decode(), addr0.decode(), allow=str(allow), deny=str(deny)
                )
                if lib_verdict != ours:
                    disagreements += 1
                    print(f"DISAGREE {shape} {size} {label}: libwrap {lib_verdict}, tcpwrap {ours}")
                text = [(n.decode(), a.decode()) for n, a in clients]
                lib_us = warm_us = cold_us = float("inf")
                for _ in range(repeat):
                    lib_us = min(lib_us, time_libwrap(lib_ctl, clients, budget))
                    warm_us = min(
                        warm_us, time_tcpwrap([text[0]] * fast_calls, str(allow), str(deny))
                    )
                    cache.memo.clear()  # (each query is new to the memo again)
                    cold_us = min(cold_us, time_tcpwrap(text[1:], str(allow), str(deny)))
                print(
                    f"{shape:<10} {size:>7} {label:<8} {lib_us:>11.1f} {warm_us:>8.2f} "
                    f"{cold_us:>8.2f} {_ratio(lib_us / warm_us):>9} {_ratio(lib_us / cold_us):>9} "
                    f"{compile_ms:>10.1f}",
                    flush=True,
                )
            deny.unlink()
    print(f"load average {_load()} at the end")
    if disagreements:
        print(f"{disagreements} verdict disagreement(s)")
        return 1
    print("verdicts: libwrap and tcpwrap agree on every measured query")
    return 0


if __name__ == "__main__":
    sys.exit(main())
