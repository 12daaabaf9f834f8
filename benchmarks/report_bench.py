"""Benchmark `tcpwrap report`: lines per second on one core and peak memory as input grows.

Generates logs of ten local hosts (Debian tcpd format, a pool of 5,000-20,000 distinct remote
hosts each with a home host and occasional visits elsewhere, 3% refusals) with 250k, 500k and
1M lines in total, runs `tcpwrap report --json` on each in a child process pinned to one CPU
(when `taskset` exists; `--cpu`), and prints wall time, CPU time (user+sys of the child: the
machine is shared, so CPU time is the steadier figure), lines/s by each, and the child's peak
RSS; with `--repeat N`, the run with the least CPU time of N (baseline runs interleaved).
Memory should stay flat: it is bounded by remote hosts, not by lines. Goal: >= 200,000
lines/s. With `--baseline SRC` the same inputs are also read by another checkout's sources
(e.g. `git archive <commit> src | tar -x -C /tmp/base` then `--baseline /tmp/base/src`) in
the same run, and the ratio is printed. Never a CI gate.

    .venv/bin/python benchmarks/report_bench.py [--sizes 250000,500000,1000000]
        [--remotes 5000,20000] [--baseline DIR] [--keep DIR] [--cpu N] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HOSTS = 10
MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PROGRAMS = ("in.fingerd", "in.telnetd", "in.ftpd", "sshd", "in.rshd")


def generate(directory: Path, total: int, remotes_n: int, seed: int = 7) -> list[Path]:
    """`total` lines over HOSTS files, one per local host, written in time order."""
    rng = random.Random(seed)
    remotes = [(f"client{i}.site{i % 97}.example.net", f"10.{i // 200 % 250}.{i % 200}.{i % 250}")
               for i in range(remotes_n)]
    ts = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    paths = [directory / f"host{h:02d}.log" for h in range(HOSTS)]
    files = [p.open("w") for p in paths]
    bufs: list[list[str]] = [[] for _ in range(HOSTS)]
    last_seen: dict[int, float] = {}
    stamp, stamp_sec = "", -1
    per_home = remotes_n // HOSTS
    for i in range(total):
        ts += rng.expovariate(HOSTS / 2.5)  # one line per 2.5 s on each host
        h = rng.randrange(HOSTS)
        sec = int(ts)
        if sec != stamp_sec:
            dt = datetime.fromtimestamp(sec, UTC)
            stamp, stamp_sec = f"{MON[dt.month - 1]} {dt.day:2d} {dt:%H:%M:%S}", sec
        # Ordinary clients: each remote host uses its home host and, one line in ten, a
        # second one, and comes back at most every 20 minutes; so none should be flagged,
        # and memory holds per-host state only.
        for _ in range(20):
            r = rng.randrange(per_home) * HOSTS + h
            if rng.random() < 0.1:
                r = rng.randrange(per_home) * HOSTS + (h - 1) % HOSTS  # h is its second host
            if ts - last_seen.get(r, -1e9) >= 1200:
                break
        last_seen[r] = ts
        name, addr = remotes[r]
        prog = PROGRAMS[r % len(PROGRAMS)]
        verb = "refused connect from" if rng.random() < 0.03 else "connect from"
        bufs[h].append(f"{stamp} host{h:02d} {prog}[{1000 + i % 30000}]: {verb} {name} ({addr})\n")
        if len(bufs[h]) >= 10000:
            files[h].writelines(bufs[h])
            bufs[h].clear()
    for f, buf in zip(files, bufs, strict=True):
        f.writelines(buf)
        f.close()
    return paths


def measure(paths: list[Path], src: str | None = None, cpu: int = 0) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB) of one `tcpwrap report --json` child
    pinned to `cpu`; `src` runs another checkout's sources instead of the installed package."""
    cmd = [sys.executable, "-m", "tcpwrap.cli", "report", "--json", "--tz", "UTC",
           "--year", "2026", *map(str, paths)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"report failed with status {status}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--remotes", default="5000,20000", help="distinct remote hosts (list)")
    ap.add_argument("--baseline", metavar="SRC", help="also run this checkout's src/")
    ap.add_argument("--keep", type=Path, help="write the logs here and keep them")
    ap.add_argument("--cpu", type=int, default=0, help="the CPU to pin the report to")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the least CPU wins")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = args.keep or Path(tempfile.mkdtemp(prefix="report_bench."))
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(__file__).resolve().parents[1] / "src")], check=False)
    if args.baseline:
        subprocess.run([sys.executable, "-m", "compileall", "-q", args.baseline], check=False)
    print(f"interpreter {sys.executable} (Python {sys.version.split()[0]}), "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    try:
        for remotes in (int(r) for r in args.remotes.split(",")):
            print(f"\n{HOSTS} local hosts, {remotes} remote hosts")
            print(f"{'lines':>9} {'wall s':>7} {'CPU s':>7} {'lines/s CPU':>12} "
                  f"{'lines/s wall':>13} {'peak RSS MiB':>13}"
                  + ("  baseline CPU s  ratio" if args.baseline else ""))
            for size in sizes:
                d = base / f"{remotes}-{size}"
                d.mkdir(parents=True, exist_ok=True)
                paths = generate(d, size, remotes)
                ours: list[tuple[float, float, int]] = []
                theirs: list[tuple[float, float, int]] = []
                for _ in range(max(1, args.repeat)):
                    ours.append(measure(paths, cpu=args.cpu))
                    if args.baseline:
                        theirs.append(measure(paths, args.baseline, args.cpu))
                wall, cpu, rss = min(ours, key=lambda m: m[1])
                row = (f"{size:>9} {wall:>7.2f} {cpu:>7.2f} {size / cpu:>12,.0f} "
                       f"{size / wall:>13,.0f} {rss / 1024:>13.1f}")
                if theirs:
                    bcpu = min(m[1] for m in theirs)
                    row += f"  {bcpu:>14.2f}  {bcpu / cpu:>5.2f}x"
                print(row, flush=True)
                if args.keep is None:
                    shutil.rmtree(d, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
