"""Benchmark `tcpwrap replay`: records per second on one core, next to `tcpwrap match --batch`
and the real tcpdmatch per query.

Generates a week of a busy host's tcpd log (today's format, `connect from NAME (ADDR)` and
`refused connect from ADDR (ADDR)`, 5 daemons, a pool of remote clients, 5% refusals) and
replays it under two proposed table pairs: a 10-line pair (names, domains, networks, a user@
rule) and the same with a 1,000-line DenyHosts-style deny list appended. Each run is a child
process (`tcpwrap replay --json`, start-up included) pinned to one CPU when `taskset` exists;
it prints wall time, the child's CPU time and records per CPU second (the machine is shared:
CPU time is the steadier figure). Rows:

  repeat   N records from a pool of 5,000 clients (what logs look like: the memo answers most)
  distinct N records, every one a new address (no memo hit: each record is decided)

For comparison, in the same run: `tcpwrap match --batch` over the same fields (one line per
record, the same tables, start-up included), and Debian's tcpdmatch, one process per query
(`tcpdmatch -d`, 200 queries), as ratios. Goal: replay >= 100,000 records/s. Never a CI gate.

    .venv/bin/python benchmarks/replay_bench.py [--records 500000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TCPWRAP = ROOT / ".venv" / "bin" / "tcpwrap"
DAEMONS = ("in.fingerd", "in.telnetd", "in.ftpd", "sshd", "in.rshd")
ALLOW = """\
in.ftpd: ALL
sshd: .example.net EXCEPT guest.example.net
in.fingerd: root@.example.net
"""
DENY = """\
ALL: .evil.example 198.51.100.0/255.255.255.0
in.telnetd: ALL EXCEPT 10.
ALL: client13.site13.example.net
in.rshd: ALL
ALL: [2001:db8::]/32
sshd: 203.0.113.
ALL: PARANOID
"""


def _pin(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *cmd] if shutil.which("taskset") else cmd


def generate(path: Path, total: int, pool: int, distinct: bool, seed: int = 11) -> list[str]:
    """Write the log; return its batch lines (DAEMON NAME ADDR USER) for match --batch."""
    rng = random.Random(seed)
    batch: list[str] = []
    with path.open("w") as out:
        ts = 0
        for i in range(total):
            ts += rng.randrange(0, 2)
            day, rest = divmod(ts, 86400)
            clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
            stamp = f"Nov {1 + day % 28:2d} {clock}"
            r = i if distinct else rng.randrange(pool)
            addr = f"10.{r >> 16 & 255}.{r >> 8 & 255}.{r & 255}"
            daemon = DAEMONS[rng.randrange(len(DAEMONS))]
            if rng.random() < 0.05:
                out.write(f"{stamp} gate {daemon}[{1000 + i % 30000}]: refused connect from "
                          f"{addr} ({addr})\n")
                batch.append(f"{daemon} unknown {addr} unknown\n")
            else:
                name = f"client{r}.site{r % 97}.example.net"
                out.write(f"{stamp} gate {daemon}[{1000 + i % 30000}]: connect from "
                          f"{name} ({addr})\n")
                batch.append(f"{daemon} {name} {addr} unknown\n")
    return batch


def timed(cmd: list[str], stdin: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): the machine is shared, CPU time is steadier."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (stdin.open("rb") if stdin else open(os.devnull, "rb")) as source:
        subprocess.run(_pin(cmd), stdin=source, stdout=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def tcpdmatch_per_query(directory: Path, queries: int) -> float | None:
    binary = shutil.which("tcpdmatch") or "/usr/sbin/tcpdmatch"
    if not os.path.exists(binary):
        return None
    start = time.perf_counter()
    for i in range(queries):
        query = [binary, "-d", DAEMONS[i % len(DAEMONS)], f"10.0.{i // 250}.{i % 250}"]
        subprocess.run(_pin(query), cwd=directory, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False, timeout=30)
    return (time.perf_counter() - start) / queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--keep", metavar="DIR", help="keep the generated files here")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=False)
    work = Path(args.keep or tempfile.mkdtemp(prefix="replay-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    small = work / "small"
    big = work / "big"
    for where, extra in ((small, 0), (big, 1000)):
        where.mkdir(exist_ok=True)
        (where / "hosts.allow").write_text(ALLOW)
        bans = "".join(f"ALL: 172.{16 + i // 65536 % 16}.{i // 256 % 256}.{i % 256}\n"
                       for i in range(extra))
        (where / "hosts.deny").write_text(DENY + bans)
    print(f"python: {sys.executable} ({sys.version.split()[0]}), records: {args.records}, "
          f"cpu pinned: {bool(shutil.which('taskset'))}")
    print(f"{'log':<9} {'tables':<14} {'replay s':>9} {'cpu s':>6} {'records/cpu-s':>13} "
          f"{'batch s':>8} {'cpu s':>6} {'lines/cpu-s':>11} {'replay/batch':>12}")
    for kind in ("repeat", "distinct"):
        log = work / f"{kind}.log"
        lines = generate(log, args.records, 5000, kind == "distinct")
        batch_in = work / f"{kind}.batch"
        batch_in.write_text("".join(lines))
        for name, where in (("10 lines", small), ("10+1000 lines", big)):
            tables = ["--allow", str(where / "hosts.allow"), "--deny", str(where / "hosts.deny")]
            replay_s, replay_cpu = timed(
                [str(TCPWRAP), "replay", "--json", "--tz", "UTC", *tables, str(log)])
            batch_s, batch_cpu = timed([str(TCPWRAP), "match", "--batch", *tables], stdin=batch_in)
            print(f"{kind:<9} {name:<14} {replay_s:>9.2f} {replay_cpu:>6.2f} "
                  f"{args.records / replay_cpu:>13,.0f} {batch_s:>8.2f} {batch_cpu:>6.2f} "
                  f"{args.records / batch_cpu:>11,.0f} {batch_cpu / replay_cpu:>11.2f}x")
    per_query = tcpdmatch_per_query(small, 200)
    if per_query is not None:
        print(f"tcpdmatch (Debian, one process per query, 10-line tables): {per_query * 1e3:.2f} ms"
              f" per query = {1 / per_query:,.0f} queries/s")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
