"""`tcpwrap check` against Debian's tcpdchk on DenyHosts-sized tables, in the same run.

Usage (as root: it enters the private test namespace itself, as wrapper_bench.py does, so the
DNS checks of both tools ask the test world's dnsmasq, never the machine's resolver):

    .venv/bin/python benchmarks/check_bench.py [--quick] [--sizes 10000,100000] [--repeat 3]

Shapes (deterministic addresses, written fresh in a temporary directory):
* denyhosts: hosts.deny as DenyHosts writes it: its header, then per ban a
  `# DenyHosts: <date> | ALL: <addr>` comment and an `ALL: <addr>` rule (N rules);
* file: hosts.deny is `ALL: /dir/banned`, the list file holding the N addresses, one a line.
hosts.allow holds one `sshd: 127.0.0.1` rule. Both tools run with `-d -a` in that directory.

Name resolution (both tools check every complete address with a reverse lookup):
* files: the namespace's nsswitch.conf says `hosts: files` (lookups answer from /etc/hosts,
  which has none of these addresses: what the issue's 0.12 s tcpdchk figure corresponds to);
* dns: `hosts: files dns`, the namespace's dnsmasq answering every PTR query (NXDOMAIN).
tcpwrap runs twice: as shipped (it stops looking names up after --dns-limit 1000 distinct
patterns and says so) and with `--dns-limit 0` (every address looked up, as tcpdchk does;
the script checks that it reported every address's failed reverse lookup).

Figures: wall-clock seconds, the best of --repeat runs (each run a fresh process); ratio =
tcpwrap / tcpdchk (below 1: tcpwrap is faster). The interpreter is this one (.venv/bin/python,
bytecode compiled first). Other processes on the machine make the figures noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wrapper_bench import enter_namespace

ROOT = Path(__file__).resolve().parents[1]
TCPDCHK = "/usr/sbin/tcpdchk"
TCPWRAP = [sys.executable, "-m", "tcpwrap.cli", "check"]
SIZES = (10_000, 100_000)
QUICK_SIZES = (2_000,)
HEADER = "# DenyHosts file, written by check_bench.py (synthetic addresses)\n"


def address(i: int) -> str:
    """The i-th banned address: spread over 100.64.0.0/10 (not in the test world's zone)."""
    value = (i * 2654435761) % (1 << 22)
    return f"100.{64 + (value >> 16)}.{(value >> 8) & 255}.{value & 255 or 1}"


def write_shape(directory: Path, shape: str, size: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "hosts.allow").write_text("sshd: 127.0.0.1\n")
    if shape == "denyhosts":
        parts = [HEADER]
        for i in range(size):
            a = address(i)
            parts.append(f"# DenyHosts: Tue Dec  1 10:{i % 60:02d}:00 2026 | ALL: {a}\nALL: {a}\n")
        (directory / "hosts.deny").write_text("".join(parts))
    else:
        banned = directory / "banned"
        banned.write_text("".join(address(i) + "\n" for i in range(size)))
        (directory / "hosts.deny").write_text(f"ALL: {banned}\n")


def set_hosts_lookup(sources: str) -> None:
    """Rewrite the `hosts:` line of the namespace's private /etc/nsswitch.conf."""
    path = Path("/etc/nsswitch.conf")
    lines = [
        f"hosts:          {sources}" if line.startswith("hosts:") else line
        for line in path.read_text().splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")


def timed(argv: list[str], cwd: Path, repeat: int) -> tuple[float, int, int]:
    """Best wall-clock time of `repeat` runs; the exit status of the last, and how many
    addresses it reported as failed reverse lookups (a check that the work was done)."""
    best = float("inf")
    status = failed = 0
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
        status, failed = done.returncode, done.stdout.count(b"->name lookup failed")
    return best, status, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 lines, one run each")
    parser.add_argument("--sizes", help="comma-separated rule counts (default 10000,100000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per cell (default 3)")
    args = parser.parse_args(argv)
    enter_namespace(__file__)
    sizes = (
        tuple(int(s) for s in args.sizes.split(","))
        if args.sizes
        else (QUICK_SIZES if args.quick else SIZES)
    )
    repeat = args.repeat or (1 if args.quick else 3)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"interpreter: {sys.executable} (Python {platform.python_version()})")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {load}")
    print(f"tcpdchk: {TCPDCHK}; best of {repeat} run(s) per cell, wall-clock seconds\n")
    header = (
        f"{'shape':<10} {'lines':>8} {'lookup':<6} {'tcpdchk':>8} {'tcpwrap':>8} {'ratio':>6}"
        f" {'tcpwrap --dns-limit 0':>22} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    work = Path(tempfile.mkdtemp(prefix="check_bench."))
    nsswitch = Path("/etc/nsswitch.conf").read_text()  # the namespace's private copy
    try:
        for lookup, sources in (("files", "files"), ("dns", "files dns")):
            set_hosts_lookup(sources)
            for shape in ("denyhosts", "file"):
                for size in sizes:
                    directory = work / f"{shape}-{size}"
                    if not directory.exists():
                        write_shape(directory, shape, size)
                    c, c_status, _ = timed([TCPDCHK, "-d", "-a"], directory, repeat)
                    t, t_status, _ = timed([*TCPWRAP, "-d", "-a"], directory, repeat)
                    a, a_status, failed = timed(
                        [*TCPWRAP, "-d", "-a", "--dns-limit", "0"], directory, repeat
                    )
                    print(
                        f"{shape:<10} {size:>8,} {lookup:<6} {c:>8.3f} {t:>8.3f} {t / c:>6.2f}"
                        f" {a:>22.3f} {a / c:>6.2f}",
                        flush=True,
                    )
                    if c_status != 0 or t_status not in (0, 1) or a_status not in (0, 1):
                        print(f"  exit statuses: tcpdchk {c_status}, tcpwrap {t_status}/{a_status}")
                    if failed != size:
                        print(f"  tcpwrap --dns-limit 0 reported {failed:,} failed lookups, "
                              f"not {size:,}: it did not do the work")
    finally:
        Path("/etc/nsswitch.conf").write_text(nsswitch)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
