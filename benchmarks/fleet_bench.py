"""Benchmark: the fleet (bans shared by several `tcpwrap serve` through one Redis), on loopback.

What it measures, in one run (figures and ratios, never a CI gate):
1. Propagation: three serve nodes (A with a trap port that bans, B and C with a service) and
   one redis-server. For each of N hits a client hits A's trap from a new source address
   (127.8.x.y) while two other clients poll B's and C's service from that address until they
   are refused, and a thread watches B's ban-list file: p50/p99/max of the time from the trap
   hit to the refusal on B and on C, to the address in B's file, and to the ban in Redis (the
   `time` field of the ban event the BAN script wrote: Redis' clock, this machine's).
2. Publishing cost per hit: a trap storm (N hits, each from a new address) on a trap that only
   logs and on one that bans, each on a node with the fleet off, then on a node with the
   fleet on (B and C following the site): the serve CPU per hit of each node (utime+stime
   from /proc/PID/stat before/after, all threads), the Redis commands per hit (INFO
   commandstats: the client round trips, EVALSHA and XREAD, and the commands the scripts run
   inside Redis), Redis' bytes in/out and CPU per hit, the stream's memory per entry.
3. Many active bans: sites of 10,000 and 100,000 bans loaded through the BAN script (as
   `tcpwrap fleet ban` runs it, pipelined 1,000 at a time): Redis' memory for the set, the
   stream and the offence counters; a freshly started node joining each site: the time from
   start to READY=1 and to having every ban applied (its ban-list file holding every token,
   and its `fleet: connected` record, written after the first sync), its resident size before
   and after, how long clients connecting meanwhile wait; the same node restarted with its
   list in place; the decision time for banned and unbanned clients (connections/s, latency,
   serve CPU per connection, the mean of serve's decision histogram through its control
   socket) on the node that synced, on a node holding 100,000 bans in its ban list (read at
   start: the same bans without a sync), and on item 1's node B for reference.

Run as root (it enters the private test namespace itself, as wrapper_bench.py and
serve_bench.py do: loopback only, a private /etc, a /dev/log sink):
    .venv/bin/python benchmarks/fleet_bench.py [--quick] [--only 1,2,3] [--hits 500]
        [--storm 5000] [--sizes 10000,100000] [--sync-deadline 90] [--aof everysec] [--keep DIR]
The default run takes about a minute on 2 vCPUs (up to 5 minutes where a sync is slow: with
the fleet code before f71dcd3 a 100,000-ban sync took 25 minutes), --quick about 15 s. A sync
that does not finish within --sync-deadline seconds is reported with its progress and an
extrapolation, and the node killed (give a larger deadline to measure it to the end). It
compiles src/ to bytecode first; --profile runs item 2's trap nodes and B under cProfile.
redis-server runs with `appendonly yes`, `appendfsync everysec` (what docs/fleet.md asks for,
with Redis' default fsync policy; --aof always|no to change it).
Errors: a node or Redis that does not start aborts the run with its output; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

from wrapper_bench import LogSink, enter_namespace  # noqa: E402

VENV_PY = ROOT / ".venv" / "bin" / "python"
TCPWRAP = ROOT / ".venv" / "bin" / "tcpwrap"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h: pick the source port at connect(), not bind()
TICK = os.sysconf("SC_CLK_TCK")
SINK: FleetSink | None = None  # the /dev/log sink of the run (set by main)
PAGE = os.sysconf("SC_PAGE_SIZE")
NEVER = "127.0.7.0/24"  # the never-ban list of every node (as in the e2e tests)
# The commands the fleet's scripts run inside Redis (counted by INFO commandstats too, but no
# round trip of a client)
SCRIPT_INNER = {"time", "incr", "expire", "zadd", "zscore", "xadd", "zremrangebyscore", "zrange"}


class FleetSink(LogSink):
    """wrapper_bench's /dev/log sink, also noting when each node logs `fleet: connected`
    (written after its first full sync) and keeping every error record."""

    CONNECTED = re.compile(rb"fleet: connected to \S+, site (\S+), node (\S+)")

    def __init__(self) -> None:
        self.connected: dict[str, list[float]] = {}  # node -> time.time() of its records
        self.errors: list[str] = []
        self.banned_records = 0
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
            if b"error:" in data:
                self.errors.append(data.decode("ascii", "replace")[:300])
            if b"fleet:" not in data:
                continue
            match = self.CONNECTED.search(data)
            if match is not None:
                self.connected.setdefault(match.group(2).decode(), []).append(time.time())
            elif b"fleet: banned" in data:
                self.banned_records += 1


# ----------------------------------------------------------------------------- processes


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (every thread), seconds (1/TICK s ticks)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class Redis:
    """A redis-server of our own on 127.0.0.1 (as tests/harness/redis_server.py, with a
    choice of AOF fsync policy)."""

    def __init__(self, work: Path, aof: str) -> None:
        self.dir = work / "redis"
        self.dir.mkdir()
        self.port = free_port("127.0.0.1")
        self.aof = aof
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Any = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "no"] if self.aof == "no" else [
            "--appendonly", "yes", "--appendfsync", self.aof]  # fmt: skip
        argv = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--dir",
                str(self.dir), "--save", "", *persistence, "--daemonize", "no",
                "--protected-mode", "no"]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=self.port, protocol=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client.ping():
                    return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    log = self.log.read_text()
                    raise SystemExit(f"redis-server did not start:\n{log}") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def commandstats(self) -> dict[str, int]:
        stats = self.client.info("commandstats")
        return {key.removeprefix("cmdstat_"): int(v["calls"]) for key, v in stats.items()}

    def net(self) -> tuple[int, int]:
        stats = self.client.info("stats")
        return int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"])

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def memory_usage(self, key: str) -> int:
        return int(self.client.memory_usage(key, samples=0) or 0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class Node:
    """One `tcpwrap serve` of the fleet: an internal daytime service (served: a line ending
    in CRLF; refused: closed without a byte), optionally a trap port that bans, optionally a
    [fleet] section; hosts.deny is `ALL: <its ban list>` as docs/fleet.md sets it up."""

    def __init__(
        self,
        work: Path,
        name: str,
        address: str,
        *,
        redis_url: str | None,
        site: str,
        trap: bool = False,
        ban_seconds: float = 600,
        trap_list: Path | None = None,
        profile: Path | None = None,
    ) -> None:
        self.name = name
        self.profile = profile  # run under cProfile, the statistics written here at exit
        self.address = address
        self.dir = work / name
        self.dir.mkdir()
        self.banned = self.dir / "banned"
        self.control = self.dir / "control"
        self.notify_path = self.dir / "notify"
        self.out = self.dir / "serve.out"
        self.service = free_port(address)
        self.trap_port = free_port(address) if trap else None
        # serve's per-source limits (50 connections/s, a burst of 100) would refuse the
        # pollers' and the decision benchmark's connections from one address: raised
        config = (
            '[serve]\nwrap = "all"\n'
            "[limits]\nrate = 1000000\nburst = 1000000\nper_source = 1000000\n"
            "per_service = 100000\nchildren = 100000\npending = 100000\n"
            f'[bans]\nnever_ban = ["{NEVER}"]\n'
            f'[metrics]\ncontrol = "{self.control}"\n'
        )
        if redis_url is not None:
            config += (
                f'[fleet]\nredis = "{redis_url}"\nsite = "{site}"\nnode = "{name}"\n'
                f'ban_list = "{self.banned}"\n'
            )
        if trap or trap_list is not None:  # ban_seconds 0: a trap that only logs and publishes
            listen = f"{address}:{self.trap_port or free_port(address)}"
            config += f'[[trap]]\nlisten = ["{listen}"]\n'
            if ban_seconds:
                config += f'ban_seconds = {ban_seconds}\nban_list = "{trap_list or self.banned}"\n'

        (self.dir / "serve.toml").write_text(config)
        (self.dir / "inetd.conf").write_text(
            f"{address}:{self.service} stream tcp nowait root internal daytime\n"
        )
        (self.dir / "hosts.allow").write_text("")
        (self.dir / "hosts.deny").write_text(f"ALL: {trap_list or self.banned}\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify: socket.socket | None = None
        self.started = 0.0  # time.time() at launch
        self.ready_after: float | None = None  # seconds from launch to READY=1

    def launch(self) -> None:
        self.notify_path.unlink(missing_ok=True)  # (a restart)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.setblocking(False)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": str(self.notify_path)}
        argv = [str(TCPWRAP), "serve", "--inetd-conf", str(self.dir / "inetd.conf"),
                "--config", str(self.dir / "serve.toml"), "--allow", str(self.dir / "hosts.allow"),
                "--deny", str(self.dir / "hosts.deny")]  # fmt: skip
        if self.profile is not None:
            argv = [str(VENV_PY), "-m", "cProfile", "-o", str(self.profile), *argv]
        self.started = time.time()
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=out)  # fmt: skip

    def poll_ready(self) -> bool:
        """True once READY=1 has come (its time kept in ready_after)."""
        if self.ready_after is not None:
            return True
        assert self.notify is not None
        while True:
            try:
                data = self.notify.recv(4096)
            except BlockingIOError:
                return False
            if "READY=1" in data.decode(errors="replace").split("\n"):
                self.ready_after = time.time() - self.started
                return True

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        deadline = time.monotonic() + timeout
        while not self.poll_ready():
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"node {self.name} did not start:\n{self.out.read_text()}")
            time.sleep(0.005)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> float:
        return rss_mib(self.pid)

    def tokens(self) -> int:
        """Tokens in its ban-list file (one per line, as BanFile writes them)."""
        try:
            return self.banned.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def status(self) -> dict[str, Any]:
        import json

        data = b""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.control))
            while chunk := sock.recv(65536):
                data += chunk
        result: dict[str, Any] = json.loads(data)
        return result

    def decisions(self) -> tuple[int, float]:
        hist = self.status()["decision_seconds"]
        return int(hist["count"]), float(hist["sum"])

    def stop(self, kill: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.notify is not None:
            self.notify.close()
            self.notify = None


# ----------------------------------------------------------------------------- clients


def ask(host: str, port: int, source: str, timeout: float = 10.0) -> tuple[float, float, int]:
    """Connect from `source`, read to EOF: (start, end) perf_counter times, bytes received."""
    start = time.perf_counter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    got = 0
    try:
        sock.settimeout(timeout)
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.connect((host, port))
        while chunk := sock.recv(4096):
            got += len(chunk)
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    return start, time.perf_counter(), got


def source(block: int, i: int) -> str:
    """Distinct loopback client addresses 127.<block>.x.y (never 0 or 255 in the last byte)."""
    return f"127.{block + i // 64516}.{1 + (i // 254) % 254}.{1 + i % 254}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> float | None:
    """Seconds until `predicate()` holds, or None after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            return None
        time.sleep(step)
    return time.monotonic() - start


def series(
    node: Node, sources: list[str], clients: int
) -> tuple[float, list[float], list[int]]:
    """One connection per source, spread over `clients` threads: (conn/s, latencies, bytes)."""
    latencies: list[float] = []
    received: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(mine: list[str]) -> None:
        lat, got = [], []
        try:
            for src in mine:
                start, end, n = ask(node.address, node.service, src)
                lat.append(end - start)
                got.append(n)
        except OSError as exc:
            errors.append(exc)
        with lock:
            latencies.extend(lat)
            received.extend(got)

    threads = [threading.Thread(target=worker, args=(sources[i::clients],))
               for i in range(clients)]  # fmt: skip
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} client error(s) on {node.name}: {errors[0]!r}")
    return len(sources) / elapsed, latencies, received


DECISION_HEADER = (f"{'node':<32} {'client':<24} {'conn':>5} {'conn/s':>7} {'p50 ms':>7} "
                   f"{'p99 ms':>7} {'cpu us/conn':>11} {'decision us':>11} {'as expected':>11}")


def decision_rows(
    node: Node, label: str, banned: list[str], unbanned: list[str], fresh: list[str] | None = None
) -> None:
    """Connections from banned and from unbanned addresses (one each, 2 clients): rate,
    latency, serve CPU per connection, the mean decision time of serve's histogram (banned
    clients are refused before any decision: bans are checked at arrival). With `fresh`: an
    unbanned row first, while the node's ban list is less than 2 s old (PolicyCache compares
    a table's /file list by content on every decision then), and a pause of 2.5 s after it."""
    rows: list[tuple[str, list[str]]] = []
    if fresh:
        age = time.time() - node.banned.stat().st_mtime
        rows.append((f"unbanned, list {age:.1f} s old", fresh))
    else:
        series(node, unbanned[:20], 2)  # warm up (and the /file list compiled once)
    rows += [("banned", banned), ("unbanned", unbanned[20:])]
    for kind, sources in rows:
        if kind == "banned" and fresh:
            time.sleep(2.5)
            series(node, unbanned[:20], 2)
        errors0 = len(SINK.errors) if SINK is not None else 0
        count0, sum0 = node.decisions()
        cpu0 = node.cpu()
        rate, lat, got = series(node, sources, 2)
        cpu1 = node.cpu()
        count1, sum1 = node.decisions()
        made = count1 - count0
        decision = f"{(sum1 - sum0) / made * 1e6:11.1f}" if made else f"{'(none)':>11}"
        right = sum(1 for n in got if (n == 0) == (kind == "banned"))
        print(f"{label:<32} {kind:<24} {len(sources):>5} {rate:>7.0f} {pct(lat, 0.5) * 1e3:>7.2f} "
              f"{pct(lat, 0.99) * 1e3:>7.2f} {(cpu1 - cpu0) / len(sources) * 1e6:>11.0f} "
              f"{decision} {right:>5}/{len(sources):<5}", flush=True)  # fmt: skip
        if right < len(sources):  # say why: serve's refusal counters and its error records
            status = node.status()
            print(f"#   not as expected: serve's refusals so far {status['refused']}, "
                  f"accepted {status['accepted']}, granted {status['granted']}")  # fmt: skip
            for text in (SINK.errors[errors0 : errors0 + 2] if SINK is not None else []):
                print(f"#   {text!r}")


# ----------------------------------------------------------------------------- 1. propagation


class Probe(threading.Thread):
    """Poll a node's service from `src` until refused (or `timeout`); `refused` is the
    perf_counter time at the end of the first refused connection."""

    def __init__(self, node: Node, src: str, go: threading.Event, timeout: float) -> None:
        super().__init__(daemon=True)
        self.node, self.src, self.go, self.timeout = node, src, go, timeout
        self.refused: float | None = None
        self.served = 0
        self.durations: list[float] = []

    def run(self) -> None:
        self.go.wait()
        deadline = time.perf_counter() + self.timeout
        while time.perf_counter() < deadline:
            start, end, got = ask(self.node.address, self.node.service, self.src)
            self.durations.append(end - start)
            if got == 0:
                self.refused = end
                return
            self.served += 1


class FileWatch(threading.Thread):
    """Watch a ban-list file until `token` is in it; `seen` is the perf_counter time."""

    def __init__(self, path: Path, token: str, go: threading.Event, timeout: float) -> None:
        super().__init__(daemon=True)
        self.path, self.needle, self.go, self.timeout = path, f"{token}\n".encode(), go, timeout
        self.seen: float | None = None

    def run(self) -> None:
        self.go.wait()
        deadline = time.perf_counter() + self.timeout
        size = -1
        while time.perf_counter() < deadline:
            try:
                now_size = self.path.stat().st_size
                if now_size != size:
                    size = now_size
                    data = self.path.read_bytes()
                    at = data.find(self.needle)
                    if at == 0 or (at > 0 and data[at - 1 : at] == b"\n"):
                        self.seen = time.perf_counter()
                        return
            except FileNotFoundError:
                pass
            time.sleep(0.0002)


def hit_trap(node: Node, src: str) -> None:
    assert node.trap_port is not None
    ask(node.address, node.trap_port, src, timeout=5)


def summary(label: str, values: list[float], missing: int = 0) -> None:
    ms = [v * 1e3 for v in values]
    extra = f"  ({missing} not within the timeout)" if missing else ""
    if not ms:
        print(f"{label:<44} {'-':>7}{extra}")
        return
    print(f"{label:<44} {pct(ms, 0.5):>7.2f} {pct(ms, 0.99):>7.2f} {max(ms):>7.2f} "
          f"{sum(ms) / len(ms):>7.2f}{extra}")  # fmt: skip


def bench_propagation(redis: Redis, work: Path, hits: int, gap: float) -> tuple[Node, list[str]]:
    """Item 1; returns node B (still running, for item 3's reference) and the banned sources."""
    print(f"\n## 1. propagation: a trap hit on node A, {hits} hits, each from a new address")
    print("##    (127.8.x.y); pollers connect to B's and C's daytime service from that address")
    print("##    back to back until refused; a thread watches B's ban-list file (stat, 0.2 ms)")
    nodes = {name: Node(work, name, f"127.0.0.{11 + i}", redis_url=redis.url, site="prop",
                        trap=name == "a", ban_seconds=600)
             for i, name in enumerate("abc")}  # fmt: skip
    for node in nodes.values():
        node.start()
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    print(f"# nodes A {a.address} (trap, ban_seconds 600), B {b.address}, C {c.address}; "
          f"site 'prop'; READY after {a.ready_after:.2f}/{b.ready_after:.2f}/"
          f"{c.ready_after:.2f} s")  # fmt: skip
    # warm-up: the scripts loaded (NOSCRIPT -> SCRIPT LOAD), connections made
    warm = "127.8.250.250"
    hit_trap(a, warm)
    wait_for(lambda: b.tokens() >= 1 and c.tokens() >= 1, 5)
    rows: list[dict[str, float | None]] = []
    sources = []
    durations: list[float] = []
    served_before: list[int] = []
    for i in range(hits):
        src = source(8, i)
        sources.append(src)
        go = threading.Event()
        watchers: list[threading.Thread] = [Probe(b, src, go, 5.0), Probe(c, src, go, 5.0),
                                            FileWatch(b.banned, src, go, 5.0)]  # fmt: skip
        for thread in watchers:
            thread.start()
        wall0, t0 = time.time(), time.perf_counter()
        go.set()
        hit_trap(a, src)
        for thread in watchers:
            thread.join()
        pb, pc, fw = watchers
        assert isinstance(pb, Probe) and isinstance(pc, Probe) and isinstance(fw, FileWatch)
        rows.append({
            "wall0": wall0,
            "b": None if pb.refused is None else pb.refused - t0,
            "c": None if pc.refused is None else pc.refused - t0,
            "file": None if fw.seen is None else fw.seen - t0,
        })  # fmt: skip
        durations.extend(pb.durations + pc.durations)
        served_before.extend([pb.served, pc.served])
        time.sleep(gap)
    # when the ban reached Redis: the `time` field of its ban event (the BAN script's TIME)
    banned_at: dict[str, float] = {}
    for _id, fields in redis.client.xrange("tcpwrap:prop:events", "-", "+"):
        if fields.get(b"kind") == b"ban":
            banned_at.setdefault(fields[b"token"].decode(), float(fields[b"time"]))
    to_redis, redis_to_b = [], []
    for src, row in zip(sources, rows, strict=True):
        at = banned_at.get(src)
        if at is not None:
            assert row["wall0"] is not None
            to_redis.append(at - row["wall0"])
            if row["b"] is not None:
                redis_to_b.append(row["wall0"] + row["b"] - at)

    def column(key: str) -> tuple[list[float], int]:
        got = [v for row in rows if (v := row[key]) is not None]
        return got, len(rows) - len(got)

    print(f"{'from the trap hit (client connect) to ...':<44} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'mean ms':>7}")  # fmt: skip
    summary("the ban in Redis (A publishes)", to_redis, hits - len(to_redis))
    summary("refused on B", *column("b"))
    summary("refused on C", *column("c"))
    summary("the address in B's ban-list file", *column("file"))
    summary("(from the ban in Redis to refused on B)", redis_to_b)
    print(f"poll resolution: one probe connection takes {pct(durations, 0.5) * 1e3:.2f} ms "
          f"(p50; p99 {pct(durations, 0.99) * 1e3:.2f} ms); served probes before the refusal: "
          f"p50 {pct([float(s) for s in served_before], 0.5):.0f}")  # fmt: skip
    listed = {name: node.tokens() for name, node in nodes.items()}
    print(f"# ban-list files now: A {listed['a']}, B {listed['b']}, C {listed['c']} tokens; "
          f"rss A {a.rss():.0f} MiB, B {b.rss():.0f} MiB, C {c.rss():.0f} MiB")  # fmt: skip
    a.stop()
    c.stop()
    return b, sources


# ----------------------------------------------------------------------------- 2. storm


def storm(node: Node, sources: list[str]) -> float:
    start = time.perf_counter()
    for src in sources:
        hit_trap(node, src)
    return time.perf_counter() - start


def bench_storm(redis: Redis, work: Path, count: int, sink: FleetSink, profile: bool) -> None:
    print(f"\n## 2. publishing cost: trap storms of {count} hits (one client, each hit from a new")
    print("##    address 127.9.x.y: connect, wait for the close), on a trap without bans and on")
    print("##    one that bans (ban_seconds 600), each on a node with the fleet off, then on one")
    print("##    with the fleet on (B and C following the same site); all nodes fresh")

    def prof(name: str) -> Path | None:
        return work / f"{name}.prof" if profile else None

    a2 = Node(work, "a2", "127.0.0.21", redis_url=redis.url, site="storm", trap=True,
              profile=prof("a2"))  # fmt: skip
    a3 = Node(work, "a3", "127.0.0.25", redis_url=redis.url, site="storm", trap=True,
              ban_seconds=0, profile=prof("a3"))  # fmt: skip
    b = Node(work, "b2", "127.0.0.22", redis_url=redis.url, site="storm", profile=prof("b2"))
    c = Node(work, "c2", "127.0.0.23", redis_url=redis.url, site="storm")
    d2 = Node(work, "d2", "127.0.0.24", redis_url=None, site="-", trap=True)
    d3 = Node(work, "d3", "127.0.0.26", redis_url=None, site="-", trap=True, ban_seconds=0)
    nodes = (a2, a3, b, c, d2, d3)
    for node in nodes:
        node.start()
    wait_for(lambda: all(n in sink.connected for n in ("a2", "a3", "b2", "c2")), 10)
    sources = [source(9, i) for i in range(count)]
    # the fleet nodes' idle traffic (each follows the stream with XREAD BLOCK 1000)
    idle0, idle_t0 = redis.commandstats(), time.monotonic()
    time.sleep(2.0)
    idle1, idle_s = redis.commandstats(), time.monotonic() - idle_t0
    idle = {k: (v - idle0.get(k, 0)) / idle_s for k, v in idle1.items() if v != idle0.get(k, 0)}
    events = "tcpwrap:storm:events"
    print(f"{'trap storm':<14} {'fleet':<5} {'hits/s':>7} {'all in':>8} {'trap node':>9} "
          f"{'B':>6} {'C':>6} {'redis':>6}  CPU us per hit; Redis per hit: round trips, "
          "script commands, bytes in/out")  # fmt: skip
    per_node: dict[tuple[str, str], float] = {}
    for case, bans, off_node, on_node in (("hits only", False, d3, a3),
                                          ("hits that ban", True, d2, a2)):  # fmt: skip
        for fleet, trap_node in (("off", off_node), ("on", on_node)):
            watched = [trap_node, b, c]
            cpu0 = {n.name: n.cpu() for n in watched}
            rcpu0, cmd0, net0 = cpu_seconds(redis.pid), redis.commandstats(), redis.net()
            xlen0 = redis.client.xlen(events)
            wall = storm(trap_node, sources)
            end = time.monotonic()
            if fleet == "off":
                done: Callable[[], bool] = lambda: True  # noqa: E731
            elif bans:
                done = lambda: all(n.tokens() >= count for n in (a2, b, c))  # noqa: E731
            else:  # every hit on the stream (B and C read it within milliseconds)
                done = lambda: redis.client.xlen(events) >= xlen0 + count  # noqa: E731,B023
            settled = wait_for(done, 120)
            lag = time.monotonic() - end if settled is not None else float("nan")
            time.sleep(0.3)
            cpu1 = {n.name: n.cpu() for n in watched}
            rcpu1, cmd1, net1 = cpu_seconds(redis.pid), redis.commandstats(), redis.net()
            calls = {k: v - cmd0.get(k, 0) for k, v in cmd1.items() if v != cmd0.get(k, 0)}
            for ours in ("info", "xlen"):
                calls.pop(ours, None)
            us = {k: (cpu1[k] - cpu0[k]) / count * 1e6 for k in cpu0}
            per_node[(case, fleet)] = us[trap_node.name]
            trips = sum(v for k, v in calls.items() if k not in SCRIPT_INNER) / count
            inner = sum(v for k, v in calls.items() if k in SCRIPT_INNER) / count
            print(f"{case:<14} {fleet:<5} {count / wall:>7.0f} {lag:>6.2f} s "
                  f"{us[trap_node.name]:>9.0f} {us['b2']:>6.0f} {us['c2']:>6.0f} "
                  f"{(rcpu1 - rcpu0) / count * 1e6:>6.0f}  {trips:.2f}, {inner:.2f}, "
                  f"{(net1[0] - net0[0]) / count:.0f}/{(net1[1] - net0[1]) / count:.0f}",
                  flush=True)  # fmt: skip
            if fleet == "on":
                print("    round trips: " + ", ".join(
                    f"{k.upper()} {v / count:.2f}" for k, v in sorted(calls.items())
                    if k not in SCRIPT_INNER) + "; in the scripts: " + ", ".join(
                    f"{k.upper()} {v / count:.2f}" for k, v in sorted(calls.items())
                    if k in SCRIPT_INNER))  # fmt: skip
    for case in ("hits only", "hits that ban"):
        on, off = per_node[(case, "on")], per_node[(case, "off")]
        print(f"trap node CPU per hit, {case}: fleet on / off {on / off:.2f}x "
              f"(+{on - off:.0f} us per hit)")  # fmt: skip
    print("all in: from the storm's last hit until every ban is in A's, B's and C's lists (hits "
          "that ban)")
    print("or every hit is on the stream (hits only); idle traffic before the storms, over 2 s")
    print("(every fleet node on this Redis, item 1's B included): " + (", ".join(
        f"{k.upper()} {v:.1f}/s" for k, v in sorted(idle.items()) if k != "info") or "-"))
    hit_event = [e for e in redis.client.xrevrange(events, count=200)
                 if e[1].get(b"kind") == b"hit"]  # fmt: skip
    stream_bytes = redis.memory_usage(events) / max(1, redis.client.xlen(events))
    record = sum(len(e[1].get(b"record", b"")) for e in hit_event) / max(1, len(hit_event))
    print(f"the stream now: {redis.client.xlen(events):,} entries, {stream_bytes:.0f} bytes each "
          f"in Redis (MEMORY USAGE); a hit event carries the node's JSON record ({record:.0f} "
          f"bytes): at stream_max (100,000 entries) the stream would take "
          f"~{stream_bytes * 100_000 / 2**20:.0f} MiB")  # fmt: skip
    for node in nodes:
        node.stop()
    if profile:
        import pstats

        for node in (a3, a2, b):
            assert node.profile is not None
            print(f"\n# cProfile of {node.name}'s main thread (start to stop), top 15 by own time:")
            pstats.Stats(str(node.profile)).sort_stats("tottime").print_stats(15)


# ----------------------------------------------------------------------------- 3. many bans


def banned_source(i: int) -> str:
    return source(64, i)  # 127.64.1.1 ...: bindable, so a banned client can connect


def load_bans(redis: Redis, site: str, count: int, seconds: float) -> float:
    """`count` bans through the BAN script (what `tcpwrap fleet ban --for` runs), pipelined
    1,000 at a time; returns the seconds taken."""
    from tcpwrap.fleet.settings import FleetConfig
    from tcpwrap.fleet.store import _BAN

    config = FleetConfig(redis=redis.url, site=site, node="bench")
    keys = config.keys()
    script = redis.client.register_script(_BAN)
    start = time.perf_counter()
    for first in range(0, count, 1000):
        pipe = redis.client.pipeline(transaction=False)
        for i in range(first, min(count, first + 1000)):
            token = banned_source(i)
            script(keys=[keys.bans, keys.events, keys.offences(token)],
                   args=[token, seconds, 1.0, max(seconds, config.ban_max), config.memory,
                         "bench", "fleet_bench load", config.stream_max], client=pipe)  # fmt: skip
        pipe.execute()
    return time.perf_counter() - start


def redis_memory(redis: Redis, site: str, count: int, used_before: int, took: float) -> None:
    bans_key, events_key = f"tcpwrap:{site}:bans", f"tcpwrap:{site}:events"
    bans_mem, events_mem = redis.memory_usage(bans_key), redis.memory_usage(events_key)
    total = redis.used_memory() - used_before
    offences = [k for k in redis.client.scan_iter(f"tcpwrap:{site}:offences:*", count=5000)]
    sample = [redis.memory_usage(k.decode()) for k in offences[:200]]
    print(f"loaded {count:,} bans into site '{site}' in {took:.1f} s "
          f"({count / took:,.0f} bans/s through the BAN script, pipelined)")  # fmt: skip
    print(f"  Redis used_memory grew {total / 2**20:.1f} MiB ({total / count:.0f} bytes per ban):")
    print(f"    sorted set {bans_key}: {redis.client.zcard(bans_key):,} members, "
          f"{bans_mem / 2**20:.1f} MiB ({bans_mem / count:.0f} bytes per ban)")  # fmt: skip
    print(f"    stream {events_key}: {redis.client.xlen(events_key):,} entries, "
          f"{events_mem / 2**20:.1f} MiB ({events_mem / count:.0f} bytes per ban event)")
    if sample:
        each = sum(sample) / len(sample)
        print(f"    offence counters: {len(offences):,} keys of ~{each:.0f} bytes "
              f"(MEMORY USAGE; kept `memory` = 30 days), ~{each * len(offences) / 2**20:.1f} "
              "MiB; the rest is Redis' key table and allocator overhead")  # fmt: skip


def join_site(
    redis: Redis, work: Path, sink: FleetSink, site: str, count: int, deadline: float, name: str
) -> Node | None:
    """A fresh node joining a site of `count` bans. Returns the node if it synced (still
    running), else None (killed)."""
    node = Node(work, name, "127.0.0.31" if count < 50_000 else "127.0.0.32",
                redis_url=redis.url, site=site)  # fmt: skip
    print(f"\n# a fresh node ({node.address}) joins site '{site}' of {count:,} bans "
          f"(its ban list starts empty; deadline {deadline:.0f} s)")  # fmt: skip
    node.launch()
    return node if watch_sync(node, sink, count, deadline) else None


def watch_sync(node: Node, sink: FleetSink, count: int, deadline: float) -> bool:
    """From the node's launch: READY, its first sync (the ban list holds `count` tokens and
    a new `fleet: connected` record came), its resident size, and how long clients
    connecting every 0.2 s from READY on wait. Prints it all; kills the node if the sync is
    not over by `deadline` (its loop may be busy: SIGTERM would wait for it)."""
    records = len(sink.connected.get(node.name, []))
    samples: list[tuple[float, int, float]] = []  # (seconds since launch, tokens, rss MiB)
    rss_ready: float | None = None
    waits: list[float] = []
    waiting: list[float | None] = [None]  # perf_counter start of the client in flight
    stop_probing = threading.Event()

    def client() -> None:
        i = 0
        while not stop_probing.is_set():
            waiting[0] = time.perf_counter()
            try:
                start, end, _got = ask(node.address, node.service, source(12, i), deadline + 60)
            except OSError:
                return
            waiting[0] = None
            waits.append(end - start)
            i += 1
            stop_probing.wait(0.2)

    prober: threading.Thread | None = None
    done_at: float | None = None
    next_sample = 0.0
    while True:
        now = time.time() - node.started
        assert node.proc is not None
        if node.proc.poll() is not None:
            raise SystemExit(f"node {node.name} exited:\n{node.out.read_text()}")
        if node.ready_after is None and node.poll_ready():
            rss_ready = node.rss()
            prober = threading.Thread(target=client, daemon=True)
            prober.start()
        connected = sink.connected.get(node.name, [])
        if len(connected) > records and done_at is None and node.tokens() >= count:
            done_at = max(connected[-1] - node.started, 0.0)
        if now >= next_sample or done_at is not None:
            samples.append((now, node.tokens(), node.rss()))
            next_sample = now + 1.0
        if (done_at is not None and node.ready_after is not None) or now > deadline:
            break
        time.sleep(0.1)
    rss_after = node.rss()
    stop_probing.set()
    in_flight = waiting[0]
    if prober is not None and done_at is not None:
        prober.join(30.0)
    ready = f"{node.ready_after:.2f} s" if node.ready_after is not None else "not yet"
    print(f"start -> READY=1: {ready}; resident size at READY: "
          f"{f'{rss_ready:.0f} MiB' if rss_ready else '-'}")  # fmt: skip
    if done_at is not None:
        print(f"start -> every ban applied (its list holds {count:,} tokens, `fleet: connected` "
              f"logged): {done_at:.1f} s ({count / max(done_at, 1e-9):,.0f} bans/s); resident "
              f"size then {rss_after:.0f} MiB")  # fmt: skip
    else:
        last_t, last_k, last_rss = samples[-1]
        first = next(((t, k) for t, k, _ in samples if k > 0), None)
        print(f"NOT synced after {last_t:.0f} s: its list holds {last_k:,} of {count:,} tokens; "
              f"resident size {last_rss:.0f} MiB")  # fmt: skip
        if first is not None and count > last_k > first[1]:
            spent = last_t - first[0]
            rest = spent * ((count / last_k) ** 2 - 1)
            recent = [(t, k) for t, k, _ in samples if t >= last_t - 10]
            rate = (recent[-1][1] - recent[0][1]) / max(recent[-1][0] - recent[0][0], 1e-9)
            print(f"  tokens appeared from {first[0]:.1f} s on; bans/s over the last 10 s: "
                  f"{rate:,.0f} (falling: each ban costs more as the list grows)")  # fmt: skip
            print(f"  extrapolated, if the cost per ban keeps growing linearly with the list "
                  f"(t * ((N/k)^2 - 1)): ~{rest / 60:.0f} min more, ~{(last_t + rest) / 60:.0f} "
                  "min in all")  # fmt: skip
    marks = [m for m in samples if m[1] > 0]
    if marks and marks[0][1] < count:
        step = max(1, len(marks) // 6)
        shown = marks[::step][:6]
        if marks[-1] not in shown:
            shown.append(marks[-1])
        print("  progress (s: tokens, rss): " + "; ".join(
            f"{t:.0f}: {k:,}, {r:.0f} MiB" for t, k, r in shown))  # fmt: skip
    if prober is not None:
        still = ""
        if in_flight is not None and done_at is None:
            still = f"; one still waiting after {time.perf_counter() - in_flight:.1f} s"
        print(f"clients connecting every 0.2 s from READY on: {len(waits)} answered, the longest "
              f"after {max(waits, default=0):.2f} s{still}")  # fmt: skip
    if done_at is None or node.ready_after is None:
        node.stop(kill=True)
        return False
    return True


def seeded_node(redis: Redis, work: Path, count: int) -> Node:
    """A node holding `count` bans in its trap's ban list from the start (a restart with
    the list and its .expires sidecar in place; no fleet: nothing to sync)."""
    name = "f3"
    directory = work / f"{name}-lists"
    directory.mkdir()
    ban_list = directory / "banned"
    expiry = time.time() + 3600
    tokens = [banned_source(i) for i in range(count)]
    ban_list.write_text("".join(f"{t}\n" for t in tokens))
    Path(f"{ban_list}.expires").write_text("".join(f"{t} {expiry:.0f}\n" for t in tokens))
    node = Node(work, name, "127.0.0.33", redis_url=None, site="-", trap_list=ban_list)
    node.start(timeout=120)
    return node


def bench_many(redis: Redis, work: Path, sink: FleetSink, sizes: list[int], deadline: float,
               b_node: Node | None, b_banned: list[str], conns: int) -> None:  # fmt: skip
    print(f"\n## 3. many active bans: sites of {', '.join(f'{s:,}' for s in sizes)} bans "
          "(127.64.x.y, 1 h), loaded through the BAN script")
    print(f"##    decisions: {conns} connections per row, 2 clients, one connection per address "
          "(banned: addresses")
    print("##    of the site's bans; unbanned: addresses 127.10.x.y, 127.11.x.y); decision us = "
          "serve's")
    print("##    decision histogram (sum/count, --status); cpu us/conn from /proc (10 ms ticks)")
    for size in sizes:
        site = f"big{size}"
        before = redis.used_memory()
        took = load_bans(redis, site, size, 3600)
        redis_memory(redis, site, size, before, took)
    unbanned = [source(10, i) for i in range(conns + 20)]
    for size in sizes:
        node = join_site(redis, work, sink, f"big{size}", size, deadline, f"e{size}")
        if node is None:
            continue
        step = max(1, size // conns)
        print("decisions on it, at once and then 2.5 s later:")
        print(DECISION_HEADER)
        decision_rows(node, f"synced node ({size:,} bans)",
                      [banned_source(i) for i in range(0, size, step)][:conns], unbanned,
                      fresh=[source(11, i) for i in range(conns // 2)])  # fmt: skip
        print(f"resident size after the decisions: {node.rss():.0f} MiB")
        node.stop()
        print(f"# the same node restarted (its list and .expires sidecar in place, {size:,} "
              f"bans; deadline {deadline:.0f} s)")  # fmt: skip
        node.ready_after = None
        node.launch()
        if watch_sync(node, sink, size, deadline):
            node.stop()
    largest = max(sizes)
    print(f"\n# a node holding {largest:,} bans from the start: the same tokens in its trap's "
          "ban list")
    print("# and .expires sidecar (a restart with the list in place; no [fleet]: nothing to sync)")
    seeded = seeded_node(redis, work, largest)
    rss = seeded.rss()
    print(DECISION_HEADER)
    step = max(1, largest // conns)
    decision_rows(seeded, f"list-loaded node ({largest:,} bans)",
                  [banned_source(i) for i in range(0, largest, step)][:conns],
                  unbanned)  # fmt: skip
    if b_node is not None:
        again = (b_banned * (conns // max(1, len(b_banned)) + 1))[:conns]  # each many times
        decision_rows(b_node, f"item 1's B ({b_node.tokens()} bans)", again, unbanned)
        b_node.stop()
    print(f"list-loaded node: READY after {seeded.ready_after:.2f} s (its {largest:,}-token "
          f"list read at start); resident size at READY {rss:.0f} MiB, after the decisions "
          f"{seeded.rss():.0f} MiB (the /file list compiled)")  # fmt: skip
    seeded.stop()


# ----------------------------------------------------------------------------- main


def describe(redis: Redis, aof: str) -> None:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False).stdout
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "log", "-1", "--format=%h"], capture_output=True, text=True,
                          check=False).stdout.strip()  # fmt: skip
    dirty = subprocess.run([*git, "status", "--porcelain", "src"], capture_output=True,
                           text=True, check=False).stdout.strip()  # fmt: skip
    import redis as redis_py

    version = redis.client.info("server")["redis_version"]
    print(f"# fleet_bench: {date.strip()}")
    print(f"# machine: {os.cpu_count()} vCPUs ({model}), {int(mem) // 1024} MiB, "
          f"{platform.platform()}")  # fmt: skip
    print(f"# interpreter: {sys.executable} -> {os.path.realpath(sys.executable)} "
          f"(CPython {platform.python_version()}); serve: {TCPWRAP}, bytecode compiled first")
    print(f"# tcpwrap: commit {head}{' with uncommitted changes in src/' if dirty else ''}; "
          f"redis-py {redis_py.__version__}")  # fmt: skip
    print(f"# redis-server {version} on 127.0.0.1 (appendonly "
          f"{'no' if aof == 'no' else 'yes, appendfsync ' + aof})")  # fmt: skip
    print("# load average before: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts (about 15 s)")
    parser.add_argument("--only", help="comma-separated items to run: 1,2,3 (default all)")
    parser.add_argument("--hits", type=int, help="item 1's trap hits (default 500; quick 30)")
    parser.add_argument("--storm", type=int, help="item 2's hits (default 5000; quick 300)")
    parser.add_argument("--sizes", help="item 3's site sizes (default 10000,100000; quick "
                        "2000,10000)")  # fmt: skip
    parser.add_argument("--sync-deadline", type=float,
                        help="item 3: seconds a joining node gets to sync (default 90; quick 20)")
    parser.add_argument("--conns", type=int, help="item 3: connections per decision row "
                        "(default 5000; quick 300)")  # fmt: skip
    parser.add_argument("--aof", choices=("everysec", "always", "no"), default="everysec",
                        help="redis-server's appendfsync (no: appendonly off)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (logs, lists)")
    parser.add_argument("--profile", action="store_true",
                        help="item 2: run the trap node and B under cProfile, print the top "
                        "functions (inflates their CPU figures)")
    args = parser.parse_args()
    enter_namespace(__file__)
    quick = args.quick
    items = {int(x) for x in (args.only or "1,2,3").split(",")}
    hits = args.hits or (30 if quick else 500)
    storm_hits = args.storm or (300 if quick else 5000)
    sizes = [int(s) for s in (args.sizes or ("2000,10000" if quick else "10000,100000")).split(",")]
    deadline = args.sync_deadline or (20.0 if quick else 90.0)
    conns = args.conns or (300 if quick else 5000)
    subprocess.run([str(VENV_PY), "-m", "compileall", "-q", str(ROOT / "src")], check=False)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fleet-bench."))
    work.mkdir(parents=True, exist_ok=True)
    global SINK
    sink = SINK = FleetSink()
    redis = Redis(work, args.aof)
    redis.start()
    b_node: Node | None = None
    b_banned: list[str] = []
    started = time.monotonic()
    try:
        describe(redis, args.aof)
        if 1 in items:
            b_node, b_banned = bench_propagation(redis, work, hits, 0.02)
        if 2 in items:
            bench_storm(redis, work, storm_hits, sink, args.profile)
        if 3 in items:
            bench_many(redis, work, sink, sizes, deadline, b_node, b_banned, conns)
            b_node = None
        info = redis.client.info("memory")
        print(f"\n# redis at the end: used_memory {int(info['used_memory']) / 2**20:.0f} MiB "
              f"(peak {int(info['used_memory_peak']) / 2**20:.0f} MiB), rss "
              f"{rss_mib(redis.pid):.0f} MiB")  # fmt: skip
    finally:
        if b_node is not None:
            b_node.stop()
        redis.stop()
        sink.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if sink.errors:
        print(f"# error records: {len(sink.errors)}; the first and the last:")
        for text in dict.fromkeys([sink.errors[0], sink.errors[-1]]):
            print(f"#   {text!r}")
    took = time.monotonic() - started
    print(f"# syslog datagrams swallowed: {sink.count}; the run took {took:.0f} s")
    print("# load average after: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
