"""Benchmark: `tcpwrap serve` side by side with xinetd (built-in libwrap) and openbsd-inetd + tcpd.

What it measures, in one run (ratios, never a CI gate), every allowed connection spawning
/bin/true (a client connects and reads to EOF), all three super-servers running at once on
127.0.0.1 and reading the same /etc/hosts.allow and /etc/hosts.deny:
1. Throughput and latency with 1 and 8 concurrent clients, with 10-line tables and with a
   10,000-line DenyHosts-style hosts.deny (`ALL: a.b.c.d`, the client not in it):
     serve       `tcpwrap serve`, a `/usr/sbin/tcpd /bin/true` line checked in-process;
     xinetd      a service without NOLIBWRAP (xinetd's own libwrap check), server = /bin/true;
     inetd+tcpd  openbsd-inetd running `/usr/sbin/tcpd /bin/true`.
   conn/s, p50 and p99 per cell, each server's own CPU and its children's per connection,
   serve's mean decision time (the decision-latency sum/count of its control socket).
2. Refused connections: the super-server's CPU per refusal (utime+stime of the process and
   of every child it reaped, /proc/PID/stat, before and after N refusals; tcpd's children are
   counted after their 5 s pause, once inetd has reaped them).
3. A 100,000-address `/file` ban list (`ALL: /etc/...` in hosts.deny): serve's decision time
   over connections from distinct addresses, against libwrap's hosts_ctl() on the same files
   (Debian's libwrap.so.0 through ctypes, as benchmarks/hosts_ctl_bench.py does).
4. One ban added while serve runs under load: appended to a 100,000-line hosts.deny, appended
   to a 100,000-line /file list, and a rewritten hosts.deny (a new file): the time until the
   newly banned address is refused, and the other clients' latency and rate meanwhile.
After each item: serve's resident size and its garbage-collector pauses of 5 ms or more
(a sitecustomize.py on serve's PYTHONPATH logs them; --no-gc-log turns that off).

Run as root (it enters the private test namespace itself, as wrapper_bench.py does: loopback
only, a private /etc and a /dev/log sink):
    .venv/bin/python benchmarks/serve_bench.py [--quick] [-n 1000] [--only 1,2,3,4]
        [--sizes 10,10000] [--src DIR] [--keep DIR] [--no-gc-log]
The default run takes about 70 s on 2 vCPUs, --quick about 35 s. It re-executes itself
through tests/harness/ns_enter.sh in `unshare -m -n` when needed, and compiles the measured
src/ to bytecode first. `--src DIR` measures another tree (e.g. a commit, unpacked with
`git archive COMMIT src | tar -x -C DIR`) while others edit src/. Errors: a super-server that
does not start aborts the run with its output; nothing is asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import json
import os
import platform
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from wrapper_bench import LogSink, _free_port, _wait_listening, enter_namespace  # noqa: E402

VENV_PY = ROOT / ".venv" / "bin" / "python"
TCPWRAP = ROOT / ".venv" / "bin" / "tcpwrap"
TCPD = "/usr/sbin/tcpd"
INETD = "/usr/sbin/inetd"
XINETD = ROOT / ".cache" / "xinetd" / "usr" / "sbin" / "xinetd"
LIBWRAP_CTL = ROOT / "tests" / "conformance" / "recorded" / "libwrap_ctl.py"
ALLOW, DENY = Path("/etc/hosts.allow"), Path("/etc/hosts.deny")  # the namespace's private /etc
BANS = Path("/etc/tcpwrap-bench.bans")
CLIENT = "127.0.0.1"  # allowed everywhere
REFUSED = "127.0.0.66"  # the last line of every item-1 deny table
BANNED = "127.0.0.77"  # banned during item 4
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the source port at connect(), not bind()
TICK = os.sysconf("SC_CLK_TCK")
GC_LOG: Path | None = None  # serve's collector pauses go here (see GC_PROBE)
SRC = ROOT / "src"  # where serve imports tcpwrap from (--src)
GC_PROBE = '''"""serve_bench: log the cyclic collector's pauses of 5 ms or more in `tcpwrap serve`
(this shadows Debian's sitecustomize.py, which only installs apport's hook if apport is there)."""
import gc, os, sys, threading, time
_start = [0.0]
def _pause(phase, info):
    if phase == "start":
        _start[0] = time.perf_counter()
        return
    took = time.perf_counter() - _start[0]
    if took >= 0.005:
        with open(os.environ["SERVE_BENCH_GC_LOG"], "a") as log:
            name = threading.current_thread().name
            log.write(f"{time.time():.3f} {name} generation {info['generation']}: "
                      f"{took * 1e3:.0f} ms, {info['collected']} collected\\n")
if "serve" in sys.argv[1:2]:
    gc.callbacks.append(_pause)
'''


class CountingSink(LogSink):
    """wrapper_bench's /dev/log sink, also counting refusal records (tcpd's and serve's
    `refused connect from`, xinetd's `libwrap refused connection`)."""

    def __init__(self) -> None:
        self.refusals = 0
        super().__init__()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            if b"refused conn" in data:
                self.refusals += 1


# ----------------------------------------------------------------------------- tables


def _addr(i: int) -> str:
    """Distinct addresses in 10.0.0.0/8 (never 0 or 255 in the last byte)."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{1 + i % 250}"


def _source(i: int) -> str:
    """Distinct loopback client addresses 127.1.0.1 ... (for decisions no memo can answer)."""
    return f"127.{1 + (i >> 16) % 200}.{(i >> 8) & 255}.{1 + (i & 255) % 254}"


ALLOW_10 = [f"sshd, in.ftpd: 10.250.0.{i}" for i in range(1, 11)]


def deny_denyhosts(lines: int) -> list[str]:
    """`lines` DenyHosts lines; the last one refuses REFUSED (CLIENT is in none)."""
    return [f"ALL: {_addr(i)}" for i in range(lines - 1)] + [f"ALL: {REFUSED}"]


def _write(path: Path, lines: list[str], *, old: bool = True) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_text("".join(line + "\n" for line in lines))
    if old:  # tables in service are old: a file changed in the last 2 s is re-read by content
        past = time.time() - 3600
        os.utime(tmp, (past, past))
    os.replace(tmp, path)


_generation = [0]


def marker() -> str:
    """A client address only the newest deny table refuses (on its last line)."""
    return f"127.0.9.{1 + _generation[0] % 250}"


def write_tables(deny: list[str], allow: list[str] = ALLOW_10, *, old: bool = True) -> None:
    """Replace both tables; the last deny line also names marker() (see sync())."""
    _generation[0] += 1
    _write(ALLOW, allow, old=old)
    _write(DENY, [*deny[:-1], f"{deny[-1]} {marker()}"], old=old)


def sync(server: Server, timeout: float = 120.0) -> float:
    """Seconds until serve decides with the newest tables: the marker's connection is refused.
    (serve compiles a rewritten table aside and keeps deciding with the previous one until
    that compile ends; inetd+tcpd and xinetd re-read the files on every connection.)"""
    start = time.perf_counter()
    while one(server.ports["echo"], marker())[1] > 0:
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"serve still decides with old tables after {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- processes


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_split(pid: int) -> tuple[float, float]:
    """(utime + stime of the process, all threads; of the children it has reaped), seconds."""
    fields = [int(value) for value in _stat(pid)[11:15]]
    return (fields[0] + fields[1]) / TICK, (fields[2] + fields[3]) / TICK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(_stat(int(entry))[1]) == pid:
                    out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out


def wait_no_children(pid: int, timeout: float) -> float:
    """Seconds until `pid` has no children left (its tcpd/xinetd children exited, reaped)."""
    start = time.monotonic()
    while children_of(pid):
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"pid {pid} still has children after {timeout} s")
        time.sleep(0.05)
    time.sleep(0.1)  # the SIGCHLD handler's waitpid() after the last exit
    return time.monotonic() - start


@dataclass
class Server:
    name: str
    argv: list[str]
    ports: dict[str, int]  # "true" -> port (and "echo" for serve)
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    notify: Path | None = None
    control: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **self.env}
        sock = None
        if self.notify is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(self.notify))
            sock.settimeout(0.2)
            env["NOTIFY_SOCKET"] = str(self.notify)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out)  # fmt: skip
        try:
            if sock is not None:  # READY=1 once every listener is bound (servekit does this)
                deadline = time.monotonic() + 30
                while "READY=1" not in self._recv(sock):
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise RuntimeError("no READY=1")
                sock.close()
            for port in self.ports.values():
                _wait_listening(port)
        except RuntimeError as exc:
            self.stop()
            raise SystemExit(f"{self.name} did not start: {exc}\n{self.log.read_text()}") from None

    @staticmethod
    def _recv(sock: socket.socket) -> list[str]:
        try:
            return sock.recv(4096).decode().split("\n")
        except TimeoutError:
            return []

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def status(self) -> dict[str, object]:
        """serve's counters through its control socket (what `tcpwrap serve --status` reads)."""
        assert self.control is not None
        data = b""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.control))
            while chunk := sock.recv(65536):
                data += chunk
        result: dict[str, object] = json.loads(data)
        return result

    def decisions(self) -> tuple[int, float]:
        hist = self.status()["decision_seconds"]
        assert isinstance(hist, dict)
        return int(hist["count"]), float(hist["sum"])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _serve_env(work: Path) -> dict[str, str]:
    """serve's PYTHONPATH: --src's tree, and the collector probe (a sitecustomize.py)."""
    path = [] if SRC == ROOT / "src" else [str(SRC)]
    if GC_LOG is not None:
        probe = work / "gcprobe"
        probe.mkdir(exist_ok=True)
        (probe / "sitecustomize.py").write_text(GC_PROBE)
        path.append(str(probe))
        return {"PYTHONPATH": ":".join(path), "SERVE_BENCH_GC_LOG": str(GC_LOG)}
    return {"PYTHONPATH": ":".join(path)} if path else {}


def report_serve(serve: Server, since: list[int]) -> None:
    """serve's resident size now, and the collector pauses logged since the last call."""
    rss = Path(f"/proc/{serve.pid}/status").read_text().split("VmRSS:")[1].split()[0]
    print(f"# serve now: rss {int(rss) // 1024} MiB", end="")
    if GC_LOG is None:
        print()
        return
    lines = GC_LOG.read_text().splitlines() if GC_LOG.exists() else []
    new, since[0] = lines[since[0] :], len(lines)
    print(f"; garbage-collector pauses >= 5 ms in serve meanwhile: {len(new) or 'none'}")
    for line in new:
        print(f"#   {line.split(' ', 1)[1]}")


def make_servers(work: Path) -> dict[str, Server]:
    p = {name: _free_port() for name in ("serve", "serve_echo", "xinetd", "inetd")}
    (work / "serve.inetd.conf").write_text(
        f"127.0.0.1:{p['serve']} stream tcp nowait root {TCPD} /bin/true\n"
        f"127.0.0.1:{p['serve_echo']} stream tcp nowait root {TCPD} /bin/echo ok\n"
    )
    control = work / "serve.ctl"
    # The per-source limits (default 50 connections/s, burst 100, 32 at once) would refuse
    # most of a benchmark's load from one address: raised, as for a busy trusted client.
    (work / "serve.toml").write_text(
        "[limits]\nrate = 1000000\nburst = 1000000\nper_source = 1000000\n"
        "per_service = 100000\nchildren = 100000\npending = 100000\n"
        f'[metrics]\ncontrol = "{control}"\n'
    )
    serve = Server(
        "serve",
        [str(TCPWRAP), "serve", "--inetd-conf", str(work / "serve.inetd.conf"),
         "--config", str(work / "serve.toml"), "--allow", str(ALLOW), "--deny", str(DENY)],
        {"true": p["serve"], "echo": p["serve_echo"]},
        work / "serve.out",
        env=_serve_env(work),
        notify=work / "serve.notify",
        control=control,
    )  # fmt: skip
    (work / "xinetd.conf").write_text(
        "defaults\n{\n  log_type = SYSLOG daemon info\n  log_on_success = HOST PID\n"
        "  log_on_failure = HOST\n  instances = UNLIMITED\n  per_source = UNLIMITED\n"
        "  cps = 1000000 1\n}\n"
        "service bench-true\n{\n  type = UNLISTED\n  flags = REUSE\n  socket_type = stream\n"
        "  protocol = tcp\n  wait = no\n  user = root\n  bind = 127.0.0.1\n"
        f"  port = {p['xinetd']}\n  server = /bin/true\n}}\n"
    )  # no NOLIBWRAP: xinetd asks libwrap (hosts.allow/deny) itself
    xinetd = Server(
        "xinetd",
        [str(XINETD), "-dontfork", "-f", str(work / "xinetd.conf"),
         "-pidfile", str(work / "xinetd.pid")],
        {"true": p["xinetd"]},
        work / "xinetd.out",
    )  # fmt: skip
    (work / "inetd.conf").write_text(
        f"127.0.0.1:{p['inetd']} stream tcp nowait.1000000 root {TCPD} /bin/true\n"
    )
    inetd = Server(
        "inetd+tcpd",
        [INETD, "-d", "-i", "-R", "1000000", str(work / "inetd.conf")],
        {"true": p["inetd"]},
        work / "inetd.out",
    )
    return {"serve": serve, "xinetd": xinetd, "inetd+tcpd": inetd}


# ----------------------------------------------------------------------------- clients


def _connect(port: int, source: str, timeout: float = 30.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source != CLIENT:
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def one(port: int, source: str = CLIENT) -> tuple[float, int]:
    """Connect, read to EOF: (seconds, bytes received)."""
    start = time.perf_counter()
    got = 0
    with _connect(port, source) as sock:
        try:
            while chunk := sock.recv(4096):
                got += len(chunk)
        except ConnectionResetError:
            pass
    return time.perf_counter() - start, got


def series(
    port: int, count: int, clients: int, source: Callable[[int], str] = lambda _i: CLIENT
) -> tuple[float, list[float]]:
    """`count` connections spread over `clients` threads: (connections/s, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(first: int, n: int) -> None:
        mine = []
        try:
            for i in range(first, first + n):
                mine.append(one(port, source(i))[0])
        except OSError as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    starts = [sum(share[:i]) for i in range(clients)]
    threads = [
        threading.Thread(target=worker, args=(s, n)) for s, n in zip(starts, share, strict=True)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client error(s) on port {port}: {errors[0]!r}")
    return count / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def hold_connections(port: int, count: int, source: str, pace: float) -> float:
    """Open `count` connections from `source` one after the other (`pace` s apart, so the
    super-server keeps up with its accept queue) and hold them until the server closes each
    (tcpd: after its 5 s pause). Returns the wall time."""
    start = time.perf_counter()
    selector = selectors.DefaultSelector()
    open_ = 0
    for _ in range(count):
        sock = _connect(port, source)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        open_ += 1
        time.sleep(pace)
    while open_:
        for key, _ in selector.select(timeout=30):
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            try:
                if conn.recv(4096):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            selector.unregister(conn)
            conn.close()
            open_ -= 1
    selector.close()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------- 1. throughput


def bench_throughput(servers: dict[str, Server], n: int, sizes: tuple[int, ...]) -> None:
    print("\n## 1. allowed connections -> /bin/true: conn/s, p50/p99 ms (loopback, one client")
    print("##    address; the tables: hosts.allow 10 lines, hosts.deny N DenyHosts lines)")
    print(f"##    {n} connections per cell; serve dec us = its mean decision time (--status)")
    print("##    cpu us/conn: the super-server's own CPU and its reaped children's (the forked")
    print("##    process, tcpd, /bin/true), from /proc, per connection")
    print(f"{'deny lines':>10} {'clients':>7} {'server':<11} {'conn/s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'own us':>7} {'child us':>8} {'serve dec us':>12}")  # fmt: skip
    results: dict[tuple[int, int, str], tuple[float, float, float]] = {}
    serve = servers["serve"]
    for size in sizes:
        write_tables(deny_denyhosts(size))
        in_force = sync(serve)
        print(f"# {size} deny lines: serve decides with them {in_force * 1e3:.0f} ms after the "
              "rewrite (compiled aside)")  # fmt: skip
        for server in servers.values():  # warm up
            for _ in range(5):
                one(server.ports["true"])
        for clients in (1, 8):
            for name, server in servers.items():
                before = serve.decisions() if name == "serve" else (0, 0.0)
                wait_no_children(server.pid, 30)
                own0, kids0 = cpu_split(server.pid)
                rate, lat = series(server.ports["true"], n, clients)
                wait_no_children(server.pid, 30)
                own1, kids1 = cpu_split(server.pid)
                own, kids = (own1 - own0) / n * 1e6, (kids1 - kids0) / n * 1e6
                dec = ""
                if name == "serve":
                    after = serve.decisions()
                    dec = f"{(after[1] - before[1]) / max(1, after[0] - before[0]) * 1e6:12.1f}"
                p50, p99 = pct(lat, 0.5) * 1e3, pct(lat, 0.99) * 1e3
                results[(size, clients, name)] = (rate, p50, p99)
                print(f"{size:>10} {clients:>7} {name:<11} {rate:>8.1f} {p50:>8.2f} {p99:>8.2f} "
                      f"{own:>7.0f} {kids:>8.0f} {dec}", flush=True)  # fmt: skip
    print("ratios serve/xinetd and serve/inetd+tcpd (throughput: higher is better for serve;")
    print("p50/p99: serve's latency over theirs, lower is better):")
    for size in sizes:
        for clients in (1, 8):
            s = results[(size, clients, "serve")]
            parts = []
            for other in ("xinetd", "inetd+tcpd"):
                o = results[(size, clients, other)]
                parts.append(f"vs {other}: {s[0] / o[0]:.2f}x conn/s, p50 {s[1] / o[1]:.2f}x, "
                             f"p99 {s[2] / o[2]:.2f}x")  # fmt: skip
            print(f"  {size:>6} lines, {clients} client(s): " + "; ".join(parts))
    for size, goal in ((10, 1.0), (10_000, 3.0)):
        if size not in sizes:
            continue
        got = [results[(size, c, "serve")][0] / results[(size, c, "xinetd")][0] for c in (1, 8)]
        verdict = "met" if min(got) >= goal else "NOT met"
        print(f"goal serve >= {goal:g}x xinetd at {size} lines: {got[0]:.2f}x (1 client), "
              f"{got[1]:.2f}x (8 clients): {verdict}")  # fmt: skip


# ----------------------------------------------------------------------------- 2. refusals


def bench_refusals(servers: dict[str, Server], sink: CountingSink, counts: dict[str, int]) -> None:
    print("\n## 2. refused connections (client 127.0.0.66, denied by the last line of a")
    print("##    10-line hosts.deny): super-server CPU per refusal, process + reaped children")
    write_tables(deny_denyhosts(10))
    sync(servers["serve"])
    per: dict[str, float] = {}
    print(f"{'server':<11} {'refusals':>8} {'logged':>7} {'wall s':>7} {'cpu ms':>8} "
          f"{'cpu us/refusal':>15}")  # fmt: skip
    for name, server in servers.items():
        port = server.ports["true"]
        for _ in range(3):  # warm up
            one(port, REFUSED)
        wait_no_children(server.pid, 30)
        count = counts[name]
        logged0 = sink.refusals
        cpu0 = cpu_seconds(server.pid)
        start = time.perf_counter()
        if name == "inetd+tcpd":  # each refusal holds a tcpd for 5 s: open them all, paced
            hold_connections(port, count, REFUSED, pace=0.004)
        else:
            series(port, count, 8, lambda _i: REFUSED)
        wait_no_children(server.pid, 60)
        wall = time.perf_counter() - start
        time.sleep(0.3)  # the last log datagrams
        cpu = cpu_seconds(server.pid) - cpu0
        per[name] = cpu / count
        print(f"{name:<11} {count:>8} {sink.refusals - logged0:>7} {wall:>7.2f} {cpu * 1e3:>8.0f} "
              f"{cpu / count * 1e6:>15.1f}", flush=True)  # fmt: skip
    ratio = per["inetd+tcpd"] / per["serve"] if per["serve"] else float("inf")
    verdict = "met" if ratio >= 20 else "NOT met"
    print(f"ratio inetd+tcpd/serve CPU per refusal: {ratio:.1f}x (goal >= 20x: {verdict}); "
          f"xinetd/serve: {per['xinetd'] / per['serve']:.1f}x")  # fmt: skip
    print(f"(/proc times are in 1/{TICK} s ticks; the counts keep each total well above one)")


# ----------------------------------------------------------------------------- 3. /file list


def load_libwrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location("libwrap_ctl", LIBWRAP_CTL)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {LIBWRAP_CTL}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_file_list(serve: Server, entries: int, conns: int, budget: float) -> None:
    print(f"\n## 3. a {entries:,}-address /file ban list: hosts.deny is `ALL: {BANS}`")
    print("##    (+ the 10-line hosts.allow); clients from distinct 127.x addresses in none")
    _write(BANS, [_addr(i) for i in range(entries)])
    write_tables([f"ALL: {BANS}"])
    in_force = sync(serve)
    port = serve.ports["true"]
    one(port, _source(0))
    count1, sum1 = serve.decisions()
    rate, lat = series(port, conns, 2, lambda i: _source(i + 1))
    count2, sum2 = serve.decisions()
    warm = (sum2 - sum1) / max(1, count2 - count1)
    print(f"serve: the new tables and list in force {in_force * 1e3:.0f} ms after the rewrite")
    print(f"serve: mean decision {warm * 1e6:.1f} us over {count2 - count1} connections, each "
          f"from a new address ({rate:.0f} conn/s, 2 clients, p50 {pct(lat, 0.5) * 1e3:.2f} ms, "
          f"p99 {pct(lat, 0.99) * 1e3:.2f} ms)")  # fmt: skip
    module = load_libwrap()
    wrap = module.LibWrap(str(ALLOW), str(DENY))
    wrap.dry_run.value = 1
    ctl = wrap.lib.hosts_ctl
    ctl.argtypes = [ctypes.c_char_p] * 4
    verdicts = set()
    done = 0
    start = time.perf_counter()
    while done < 3 or time.perf_counter() - start < budget:
        verdicts.add(ctl(b"true", b"unknown", _source(done + 1).encode(), b"unknown"))
        done += 1
    lib = (time.perf_counter() - start) / done
    banned = ctl(b"true", b"unknown", _addr(entries - 1).encode(), b"unknown")
    print(
        f"libwrap hosts_ctl: {lib * 1e6:.0f} us per call ({done} calls; granted: "
        f"{sorted(verdicts) == [1]}; the list's last address denied: {banned == 0})"
    )
    ratio = lib / warm
    verdict = "met" if ratio >= 1000 else "NOT met"
    print(f"ratio libwrap/serve decision: {ratio:.0f}x (goal >= 1,000x: {verdict})")
    sys.path.insert(0, str(SRC))
    import tcpwrap  # the same engine, in this process: what the tables cost without the server

    calls = 20_000 if budget > 1 else 2_000
    queries = [_source(i + 1) for i in range(calls + 1)]
    tcpwrap.hosts_ctl("true", "unknown", queries[-1], allow=str(ALLOW), deny=str(DENY))
    start = time.perf_counter()
    for addr in queries[:calls]:
        tcpwrap.hosts_ctl("true", "unknown", addr, allow=str(ALLOW), deny=str(DENY))
    ours = (time.perf_counter() - start) / calls
    print(
        f"for reference, tcpwrap.hosts_ctl (the library, this process, same files, a new "
        f"address per call): {ours * 1e6:.2f} us, {lib / ours:.0f}x faster than libwrap"
    )


# ----------------------------------------------------------------------------- 4. appends


def _loader(port: int, stop: threading.Event, load: list[tuple[float, float]]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        load.append((started, one(port)[0]))


def _prober(port: int, stop: threading.Event, probes: list[tuple[float, float, int]]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        _, got = one(port, BANNED)
        probes.append((started, time.perf_counter(), got))


def bench_append(serve: Server, entries: int, load_clients: int) -> None:
    print(f"\n## 4. one ban added under load ({load_clients} clients from 127.0.0.1 on the")
    print("##    /bin/true line; a probe from 127.0.0.77 on a `tcpd /bin/echo ok` line)")
    print(
        f"{'ban added to':<28} {'refused after ms':>16} {'stale':>5} {'p50 before':>10} "
        f"{'p99 before':>10} {'worst after ms':>14} {'conn/s before':>13} {'2 s after':>9}"
    )
    deny_lines = deny_denyhosts(entries)[:-1]  # the last line (REFUSED) is left out

    def append(target: Path, line: str) -> Callable[[], None]:
        def act() -> None:
            with open(target, "a") as handle:
                handle.write(line)

        return act

    def rewrite() -> None:  # what a tool that sorts or purges its list does: a new file
        _generation[0] += 1
        _write(DENY, [f"ALL: {BANNED}", *deny_lines[:-1], f"{deny_lines[-1]} {marker()}"],
               old=False)  # fmt: skip

    def file_list() -> None:
        _write(BANS, [_addr(i) for i in range(entries)])
        write_tables([f"ALL: {BANS}"])

    cases: list[tuple[str, Callable[[], None], Callable[[], None]]] = [
        (f"hosts.deny append ({entries:,})", lambda: write_tables(deny_lines),
         append(DENY, f"ALL: {BANNED}\n")),
        (f"/file list append ({entries:,})", file_list, append(BANS, f"{BANNED}\n")),
        (f"hosts.deny rewrite ({entries:,})", lambda: write_tables(deny_lines), rewrite),
    ]  # fmt: skip
    for label, prepare, act in cases:
        prepare()
        sync(serve)
        one(serve.ports["true"])
        assert one(serve.ports["echo"], BANNED)[1] > 0, "the probe is not served before the ban"
        stop = threading.Event()
        load: list[tuple[float, float]] = []  # (start, latency)
        probes: list[tuple[float, float, int]] = []  # (start, end, bytes)
        threads = [
            threading.Thread(target=_loader, args=(serve.ports["true"], stop, load))
            for _ in range(load_clients)
        ]
        threads.append(threading.Thread(target=_prober, args=(serve.ports["echo"], stop, probes)))
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        act()
        t0 = time.perf_counter()
        deadline = t0 + 30
        while time.perf_counter() < deadline and not any(
            s >= t0 and got == 0 for s, _, got in probes[-50:]
        ):
            time.sleep(0.005)
        time.sleep(2.5)  # past PolicyCache's 2-second window for freshly changed files
        stop.set()
        for thread in threads:
            thread.join()
        refused = [e for s, e, got in probes if got == 0 and s >= t0]
        after = f"{(refused[0] - t0) * 1e3:16.1f}" if refused else f"{'>30000':>16}"
        stale = sum(1 for s, _, got in probes if s >= t0 and got > 0)
        before = [lat for s, lat in load if t0 - 1.0 <= s < t0 - 0.05]
        during = [lat for s, lat in load if s + lat >= t0]
        rate_before = sum(1 for s, _ in load if t0 - 1.0 <= s < t0) / 1.0
        rate_after = sum(1 for s, _ in load if t0 <= s < t0 + 2.0) / 2.0
        print(f"{label:<28} {after} {stale:>5} {pct(before, 0.5) * 1e3:>10.2f} "
              f"{pct(before, 0.99) * 1e3:>10.2f} {max(during) * 1e3:>14.1f} "
              f"{rate_before:>13.0f} {rate_after:>9.0f}", flush=True)  # fmt: skip
    print("refused after = from the end of the write to the end of the probe's first refused")
    print("connection (goal <= 50 ms for appends); stale = probe connections started after the")
    print("write and still served; before = the load's latency in the second before the write;")
    print("worst after = the slowest load connection ending after it; conn/s = the load's")
    print("connections started in the second before the write and in the 2 s after it")


# ----------------------------------------------------------------------------- main


def _source_state() -> str:
    """The commit of the source measured, and whether its src/ differs from that commit."""
    if SRC != ROOT / "src":
        return "a copy given with --src"
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "log", "-1", "--format=%h %cI"], capture_output=True,
                          text=True, check=False).stdout.strip()  # fmt: skip
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True,
                           text=True, check=False).stdout.strip()  # fmt: skip
    return f"commit {head}" + (", with uncommitted changes in src/" if dirty else ", clean")


def describe() -> None:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False).stdout
    xv = subprocess.run([str(XINETD), "-version"], capture_output=True, text=True, check=False)
    xinetd = (xv.stdout + xv.stderr).strip().splitlines()[:1] or ["xinetd"]
    print(f"# serve_bench: {date.strip()}")
    print(f"# machine: {os.cpu_count()} vCPUs ({model}), {int(mem) // 1024} MiB, "
          f"{platform.platform()}")  # fmt: skip
    print(f"# interpreter: {sys.executable} -> {os.path.realpath(sys.executable)} "
          f"(CPython {platform.python_version()}); tcpwrap serve runs {TCPWRAP} (same venv),"
          " bytecode compiled first")  # fmt: skip
    print(f"# others: {INETD} (openbsd-inetd) + {TCPD} (Debian 7.6.q); {XINETD} ({xinetd[0]})")
    print(f"# tcpwrap measured: {SRC} ({_source_state()})")
    print("# load average before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (about a minute)")
    parser.add_argument("-n", type=int, help="connections per throughput cell (default 1000)")
    parser.add_argument(
        "--sizes", help="item 1's hosts.deny sizes (default 10,10000; quick 10,1000)"
    )
    parser.add_argument("--only", help="comma-separated items to run: 1,2,3,4 (default all)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (server logs)")
    parser.add_argument(
        "--no-gc-log",
        action="store_true",
        help="do not log serve's garbage-collector pauses (a sitecustomize.py)",
    )
    parser.add_argument(
        "--src",
        metavar="DIR",
        help="serve imports tcpwrap from DIR/src (e.g. "
        "`git archive COMMIT src | tar -x -C DIR`) instead of the venv's src/",
    )
    args = parser.parse_args()
    enter_namespace(__file__)
    global SRC, GC_LOG
    if args.src:
        SRC = Path(args.src).resolve() / "src"
        if not (SRC / "tcpwrap" / "serve").is_dir():
            sys.exit(f"serve_bench: no {SRC}/tcpwrap/serve")
    items = {int(x) for x in (args.only or "1,2,3,4").split(",")}
    quick = args.quick
    n = args.n or (60 if quick else 1000)
    subprocess.run([str(VENV_PY), "-m", "compileall", "-q", str(SRC)], check=False)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="serve-bench."))
    work.mkdir(parents=True, exist_ok=True)
    GC_LOG = None if args.no_gc_log else work / "gc.log"
    sink = CountingSink()
    describe()
    write_tables(deny_denyhosts(10))
    servers = make_servers(work)
    try:
        for server in servers.values():
            server.start()
        seen = [0]
        if 1 in items:
            sizes: tuple[int, ...] = (10, 1_000) if quick else (10, 10_000)
            if args.sizes:
                sizes = tuple(int(size) for size in args.sizes.split(","))
            bench_throughput(servers, n, sizes)
            report_serve(servers["serve"], seen)
        if 2 in items:
            counts = {"serve": 300, "xinetd": 300, "inetd+tcpd": 60} if quick else {
                "serve": 5000, "xinetd": 3000, "inetd+tcpd": 500}  # fmt: skip
            bench_refusals(servers, sink, counts)
            report_serve(servers["serve"], seen)
        if 3 in items:
            entries = 10_000 if quick else 100_000
            bench_file_list(servers["serve"], entries, 100 if quick else 1000,
                            0.3 if quick else 2.0)  # fmt: skip
            report_serve(servers["serve"], seen)
        if 4 in items:
            bench_append(servers["serve"], 10_000 if quick else 100_000, 4)
            report_serve(servers["serve"], seen)
        status = servers["serve"].status()
        print(f"\n# serve at the end: accepted {status['accepted']}, "
              f"granted {status['granted']}, refused {status['refused']}, "
              f"spawn failures {status['spawn_failures']}")  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
        sink.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"# syslog datagrams swallowed: {sink.count} ({sink.refusals} refusals)")
    print("# load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
