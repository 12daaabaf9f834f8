"""Benchmark: inetd -> /usr/sbin/tcpd -> /bin/true against inetd -> tcpwrap-tcpd -> /bin/true,
and tcpwrap-tcpd's start-up against a bare Python interpreter.

What it measures, in one run:
1. openbsd-inetd (foreground) serving two services on 127.0.0.1: one runs the real Debian tcpd
   in front of /bin/true, the other tcpwrap-tcpd in front of /bin/true; no tables (both
   allow without any lookup). For each: N sequential connections (connect, read to EOF), then
   the same N spread over 2 concurrent clients: connections/s and p50/p90 latency.
2. Start-up: `tcpwrap-tcpd` with /dev/null as stdin and TCPWRAP_REFUSE_PAUSE=0 (it finds no
   socket, logs, and exits) against `/usr/bin/python3 -I -S -c pass`, the venv's python with
   `-c pass` (site imported) and with `-I -S -c pass`.
3. An allowed connection: `tcpwrap-tcpd /bin/true` with an accepted loopback TCP socket as
   stdin (no tables: allowed; it logs `connect from` and execs /bin/true), from start to
   exit, deciding in its own process and handed off to a running `tcpwrap serve --handoff`
   (docs/wrapper.md, Hand-off); the same through a console script's start (the venv's python
   with site, `import re`, then tcpwrap.tcpd.main: what pip's generated `tcpwrap-tcpd` did
   before bin/tcpwrap-tcpd), and the bare interpreter for the ratio. Wall time and CPU time
   (user + system of the child and what it execs, from getrusage), and serve's CPU per
   hand-off (from /proc, 10 ms ticks over all runs).
With a serve running, series 1 is run again for tcpwrap-tcpd handing off.
Ratios are printed; nothing is asserted (benchmarks are never a gate).

Run as root (it needs the private test namespace: loopback only, its own /dev/log sink):
    .venv/bin/python benchmarks/wrapper_bench.py [-n 300] [--startup 40]
It re-executes itself through tests/harness/ns_enter.sh in `unshare -m -n` when needed.
Errors: a super-server that does not start aborts the run with its stderr.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRAPPER = ROOT / ".venv" / "bin" / "tcpwrap-tcpd"
VENV_PY = ROOT / ".venv" / "bin" / "python"
TCPWRAP = ROOT / ".venv" / "bin" / "tcpwrap"
BARE_PY = "/usr/bin/python3"
TCPD = "/usr/sbin/tcpd"
INETD = "/usr/sbin/inetd"


def enter_namespace(script: str = __file__) -> None:
    """Re-run `script` (with this process's arguments) inside ns_enter.sh's private world,
    unless already there; the other root benchmarks use it too."""
    if os.environ.get("TCPWRAP_NS") == "1":
        return
    name = Path(script).stem
    if os.geteuid() != 0:
        sys.exit(f"{name}: run as root (it enters a private namespace to use loopback)")
    argv = ["unshare", "-m", "-n", "--propagation", "private", "bash",
            str(ROOT / "tests" / "harness" / "ns_enter.sh"), sys.executable, script,
            *sys.argv[1:]]  # fmt: skip
    os.execvp("unshare", argv)


class LogSink:
    """Swallow syslog datagrams on /dev/log (the private /dev of the namespace)."""

    def __init__(self, path: str = "/dev/log") -> None:
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self.sock.recv(65536)
                self.count += 1
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    want = f":{port:04X} "
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(want.strip()) and fields[3] == "0A":
                return
        time.sleep(0.02)
    raise RuntimeError(f"inetd does not listen on {port}")


def _one(port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        while sock.recv(4096):
            pass
    return time.perf_counter() - start


def _series(port: int, count: int, clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = [_one(port) for _ in range(n)]
        with lock:
            latencies.extend(mine)

    share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in share]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.perf_counter() - start), latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _startups(commands: dict[str, tuple[list[str], dict[str, str]]], runs: int) -> dict[str, float]:
    """Mean wall time of each command, measured round-robin (fair on a busy machine). No
    `timeout=` on subprocess.run: with one, wait() polls with growing sleeps (0.5 ms, 1, 2,
    4, 8...), and a 7 ms process is seen to exit at 15.5 ms (the "~8 ms ticks" of the runs
    before 2026-12-01 were that); without, it is one waitpid()."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, env) in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)  # fmt: skip
            times[name].append(time.perf_counter() - start)
    return {name: statistics.fmean(values) for name, values in times.items()}


def _startups_allowed(
    commands: dict[str, tuple[list[str], dict[str, str]]], runs: int, serve_pid: int
) -> tuple[dict[str, float], dict[str, float], float]:
    """As _startups, with an accepted loopback TCP connection as stdin (a fresh one per run):
    mean wall time and mean CPU time (the child's user + system, getrusage) per command, and
    serve's CPU per run of the `handoff` command (its /proc ticks around those runs)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, float] = dict.fromkeys(commands, 0.0)
    serve_cpu = 0.0
    with socket.create_server(("127.0.0.1", 0)) as server:
        for _ in range(runs):
            for name, (argv, env) in commands.items():
                with socket.create_connection(server.getsockname()):
                    accepted, _ = server.accept()
                    with accepted:
                        before = resource.getrusage(resource.RUSAGE_CHILDREN)
                        serve_before = _cpu_of(serve_pid) if name == "handoff" else 0.0
                        start = time.perf_counter()
                        subprocess.run(
                            argv, env=env, stdin=accepted, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, check=False,
                        )  # fmt: skip
                        times[name].append(time.perf_counter() - start)
                        after = resource.getrusage(resource.RUSAGE_CHILDREN)
                        if name == "handoff":
                            serve_cpu += _cpu_of(serve_pid) - serve_before
                        cpu[name] += (after.ru_utime - before.ru_utime) + (
                            after.ru_stime - before.ru_stime
                        )
    wall = {name: statistics.fmean(values) for name, values in times.items()}
    return wall, {name: total / runs for name, total in cpu.items()}, serve_cpu / runs


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_serve(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    """`tcpwrap serve --handoff` (syslog on, as the wrapper's own records), ready to answer."""
    path = work / "handoff.sock"
    with open(work / "serve.err", "wb") as err:
        serve = subprocess.Popen([str(TCPWRAP), "serve", "--handoff", str(path)], env=env,
                                 stdout=err, stderr=err, stdin=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
            try:
                probe.connect(str(path))
                return serve, path
            except OSError:
                pass
        if serve.poll() is not None or time.monotonic() > deadline:
            said = (work / "serve.err").read_text()
            raise SystemExit(f"tcpwrap serve --handoff did not start: {said}")
        time.sleep(0.05)


# What pip's console script did (sys.argv[0] fixed up with re.sub, then main()): the previous
# start of tcpwrap-tcpd, for the before/after in one run.
CONSOLE_SCRIPT = (
    "import re, sys; sys.argv[0] = {!r}; from tcpwrap.tcpd import main; sys.exit(main())"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300, help="connections per series")
    parser.add_argument("--startup", type=int, default=40, help="runs per start-up measure")
    args = parser.parse_args()
    enter_namespace()

    work = Path(tempfile.mkdtemp(prefix="wrapper-bench."))
    sink = LogSink()
    for table in ("/etc/hosts.allow", "/etc/hosts.deny"):  # the namespace's private /etc
        Path(table).unlink(missing_ok=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TCPWRAP_HANDOFF": "off"}
    p_tcpd, p_ours = _free_port(), _free_port()
    conf = work / "inetd.conf"
    conf.write_text(
        f"127.0.0.1:{p_tcpd} stream tcp nowait.100000 root {TCPD} /bin/true\n"
        f"127.0.0.1:{p_ours} stream tcp nowait.100000 root {WRAPPER} tcpwrap-tcpd /bin/true\n"
    )
    serve, handoff_path = _start_serve(work, env)
    handoff_env = {**env, "TCPWRAP_HANDOFF": str(handoff_path)}
    results = {}
    try:
        for mode, inetd_env in (("in-process", env), ("hand-off", handoff_env)):
            with open(work / "inetd.err", "wb") as err:
                inetd = subprocess.Popen([INETD, "-d", "-i", "-R", "100000", str(conf)],
                                         env=inetd_env, stdout=err, stderr=err,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
            try:
                _wait_listening(p_tcpd)
                _wait_listening(p_ours)
                for port in (p_tcpd, p_ours):  # warm caches
                    for _ in range(5):
                        _one(port)
                series = [("tcpd (C)", p_tcpd)] if mode == "in-process" else []
                series.append((f"ours {mode}", p_ours))
                for label, port in series:
                    for clients in (1, 2):
                        results[(label, clients)] = _series(port, args.n, clients)
            finally:
                inetd.terminate()
                inetd.wait(timeout=10)

        startup_env = {**env, "TCPWRAP_REFUSE_PAUSE": "0"}
        medians = _startups(
            {
                "ours": ([str(WRAPPER)], startup_env),
                "bare": ([BARE_PY, "-I", "-S", "-c", "pass"], env),
                "venv_site": ([str(VENV_PY), "-c", "pass"], env),
                "venv_bare": ([str(VENV_PY), "-I", "-S", "-c", "pass"], env),
            },
            args.startup,
        )
        # Two round-robins, each with the bare interpreter: a hand-off run between in-process
        # runs (23 ms of CPU each, most of it imports) finds serve's memory evicted from the
        # caches, which a wrapper among wrappers that all hand off does not.
        allowed, cpu, _ = _startups_allowed(
            {
                "ours": ([str(WRAPPER), "/bin/true"], startup_env),
                "console": (
                    [str(VENV_PY), "-c", CONSOLE_SCRIPT.format(str(WRAPPER)), "/bin/true"],
                    startup_env,
                ),
                "bare": ([BARE_PY, "-I", "-S", "-c", "pass"], env),
                "true": (["/bin/true"], env),
            },
            args.startup,
            serve.pid,
        )
        handed, handed_cpu, serve_cpu = _startups_allowed(
            {
                "handoff": (
                    [str(WRAPPER), "/bin/true"],
                    {**startup_env, "TCPWRAP_HANDOFF": str(handoff_path)},
                ),
                "bare": ([BARE_PY, "-I", "-S", "-c", "pass"], env),
            },
            args.startup,
            serve.pid,
        )
    finally:
        serve.terminate()
        serve.wait(timeout=10)
    ours, bare = medians["ours"], medians["bare"]
    venv_site, venv_bare = medians["venv_site"], medians["venv_bare"]
    sink.close()
    shutil.rmtree(work, ignore_errors=True)

    bare_version = subprocess.run(
        [BARE_PY, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    print(f"# wrapper_bench: {args.n} connections per series, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")  # fmt: skip
    print(f"# interpreters: {BARE_PY} = CPython {bare_version}; venv {VENV_PY} -> "
          f"{os.path.realpath(VENV_PY)} (CPython {platform.python_version()})")  # fmt: skip
    print("# inetd (openbsd-inetd) -> wrapper -> /bin/true, no tables, loopback")
    print(f"{'wrapper':<14} {'clients':>7} {'conn/s':>8} {'p50 ms':>8} {'p90 ms':>8}")
    for (label, clients), (rate, lat) in results.items():
        print(f"{label:<14} {clients:>7} {rate:>8.1f} {_pct(lat, 0.5) * 1e3:>8.2f} "
              f"{_pct(lat, 0.9) * 1e3:>8.2f}")  # fmt: skip
    for clients in (1, 2):
        c_rate, c_lat = results[("tcpd (C)", clients)]
        for mode in ("in-process", "hand-off"):
            o_rate, o_lat = results[(f"ours {mode}", clients)]
            print(
                f"ratio ours {mode}/tcpd, {clients} client(s): throughput "
                f"{o_rate / c_rate:.2f}x, p50 latency {_pct(o_lat, 0.5) / _pct(c_lat, 0.5):.2f}x"
            )
    print(f"# start-up (mean of {args.startup}): exit of tcpwrap-tcpd </dev/null, pause 0")
    print(f"tcpwrap-tcpd                         {ours * 1e3:8.2f} ms")
    print(f"{BARE_PY} -I -S -c pass        {bare * 1e3:8.2f} ms")
    print(f"venv python -c pass                  {venv_site * 1e3:8.2f} ms")
    print(f"venv python -I -S -c pass            {venv_bare * 1e3:8.2f} ms")
    print(
        f"ratio tcpwrap-tcpd / bare python -I -S: {ours / bare:.2f}x; "
        f"/ venv python (site): {ours / venv_site:.2f}x"
    )
    print(f"# an allowed connection (mean of {args.startup}): tcpwrap-tcpd /bin/true, socket stdin")
    print(f"{'':<40} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6}")
    rows = (
        ("tcpwrap-tcpd, deciding itself", "ours"),
        ("as a console script (site, re)", "console"),
        (f"{BARE_PY} -I -S -c pass", "bare"),
        ("/bin/true alone (what the wrappers exec)", "true"),
    )
    for label, key in rows:
        print(
            f"{label:<40} {allowed[key] * 1e3:8.2f} {allowed[key] / allowed['bare']:5.2f}x "
            f"{cpu[key] * 1e3:8.2f} {cpu[key] / cpu['bare']:5.2f}x"
        )
    print("# the same, handed off to a running `tcpwrap serve --handoff` (its own round-robin)")
    for label, key in (
        ("tcpwrap-tcpd, handed off to serve", "handoff"),
        (f"{BARE_PY} -I -S -c pass", "bare"),
    ):
        print(
            f"{label:<40} {handed[key] * 1e3:8.2f} {handed[key] / handed['bare']:5.2f}x "
            f"{handed_cpu[key] * 1e3:8.2f} {handed_cpu[key] / handed_cpu['bare']:5.2f}x"
        )
    print(f"serve's CPU per hand-off: {serve_cpu * 1e3:.2f} ms (10 ms ticks over all runs)")
    print(f"# syslog datagrams swallowed: {sink.count}")


if __name__ == "__main__":
    main()
