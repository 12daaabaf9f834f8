"""`tcpwrap serve` under hostile load: a flooding source, a DNS server that never answers, and
10,000 connections (no descriptor or child leaks, memory flat)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.serve.servekit import ServeRun, running, wait_until
from e2e.wrapper.wrapkit import free_port, tcp_client
from harness.silentdns import SilentDNS
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

FLOODER = r"""
import socket, sys, time
port, source, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
end = time.monotonic() + seconds
tries = served = 0
while time.monotonic() < end:
    tries += 1
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2,
                                      source_address=(source, 0)) as s:
            if s.recv(100):
                served += 1
    except OSError:
        pass
print(tries, served)
"""


def _latencies(port: int, source: str, count: int, pause: float) -> list[float]:
    out = []
    for _ in range(count):
        reply = tcp_client("127.0.0.1", port, source, timeout=5)
        assert reply.data.endswith(b"\r\n"), reply
        out.append(reply.elapsed)
        time.sleep(pause)
    return out


def test_a_flooding_source_is_limited_others_are_served(
    workdir: Path, syslog: SyslogCapture
) -> None:
    port = free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait root internal daytime\n"
    config = (
        '[serve]\nwrap = "all"\n'
        "[limits]\nrate = 50\nburst = 50\n"
        "[log]\naggregate_interval = 1\n"
    )
    run = ServeRun(workdir, inetd, config=config, extra_args=(
        "--control", str(workdir / "control.sock")))  # fmt: skip
    with running(run):
        quiet = _latencies(port, "127.0.0.2", 40, 0.02)
        flooders = [
            subprocess.Popen(
                [sys.executable, "-c", FLOODER, str(port), "127.0.0.66", "4"],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        time.sleep(0.5)
        loud = _latencies(port, "127.0.0.2", 60, 0.03)
        results = [proc.communicate(timeout=30)[0].split() for proc in flooders]
        time.sleep(1.5)  # the last summary
    tries = sum(int(r[0]) for r in results)
    served = sum(int(r[1]) for r in results)
    assert tries > 2000  # thousands of connections in 4 s
    assert served <= 50 + 50 * 5  # the burst, then the rate (4 s, plus slack)
    # the polite client kept its latency (the limits act before any work)
    assert statistics.median(loud) < max(0.02, 3 * statistics.median(quiet))
    assert max(loud) < 1.0
    # every flood connection is in the JSON log, one by one or in a summary record
    records = [r for r in run.json_records() if r["client_addr"] == "127.0.0.66"]
    assert sum(r["count"] for r in records) == tries
    limited = [r for r in records if r["verdict"] == "denied"]
    assert all(r["message"].endswith("per-source rate limit") for r in limited)
    assert len(limited) < 30  # bounded: the repeats were summed
    assert len([r for r in records if r["verdict"] == "granted"]) == served
    lines = [r.message for r in syslog.records() if r.tag == "daytime" and "127.0.0.66" in
             r.message and "refused" in r.message]  # fmt: skip
    assert 0 < len(lines) < 30
    assert any(" more connections from 127.0.0.66 in " in line for line in lines)


@pytest.fixture
def silent_dns() -> Iterator[SilentDNS]:
    dns = SilentDNS()
    try:
        yield dns
    finally:
        dns.close()


def test_a_dead_dns_server_slows_only_the_clients_whose_rules_need_names(
    workdir: Path, daemons: tuple[Path, Path], silent_dns: SilentDNS, syslog: SyslogCapture
) -> None:
    names, plain = free_port("127.0.0.1"), free_port("127.0.0.1")
    inetd = (
        f"127.0.0.1:{names} stream tcp nowait root internal daytime\n"
        f"127.0.0.1:{plain} stream tcp nowait root internal time\n"
    )
    config = '[serve]\nwrap = "all"\n[lookups]\ndns_timeout = 1.5\n'
    allow = "daytime: .e2e.test\ntime: 127.0.0.64 127.0.0.2\n"
    run = ServeRun(workdir, inetd, config=config, allow=allow, deny="ALL: ALL\n")
    with running(run):
        import threading

        slow: list[float] = []

        def needs_name() -> None:
            slow.append(tcp_client("127.0.0.1", names, "127.0.0.64", timeout=10).elapsed)

        threads = [threading.Thread(target=needs_name) for _ in range(10)]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        # meanwhile: address-only rules, from the very address whose name hangs, and others
        fast = [tcp_client("127.0.0.1", plain, src, timeout=5)
                for src in ("127.0.0.64", "127.0.0.2", "127.0.0.64")]  # fmt: skip
        named = tcp_client("127.0.0.1", names, "127.0.0.2", timeout=5)  # good2.e2e.test
        for thread in threads:
            thread.join(10)
        again = tcp_client("127.0.0.1", names, "127.0.0.64", timeout=5)  # negative cache
        wait_until(lambda: len([r for r in run.json_records()
                                if r["client_addr"] == "127.0.0.64"]) == 13)  # fmt: skip
    assert all(len(reply.data) == 4 and reply.elapsed < 0.5 for reply in fast)
    assert named.data.endswith(b"\r\n") and named.elapsed < 1.0
    assert len(slow) == 10 and all(1.3 < t < 3.0 for t in slow)  # decided at the timeout
    assert again.elapsed < 0.5 and again.data == b""
    assert silent_dns.queries >= 1
    refused = [r for r in run.json_records() if r["client_addr"] == "127.0.0.64"
               and r["daemon"] == "daytime"]  # fmt: skip
    assert len(refused) == 11 and all(r["verdict"] == "denied" for r in refused)
    silent_dns.release()


def test_ten_thousand_connections_leak_nothing(
    workdir: Path, daemons: tuple[Path, Path]
) -> None:
    daytime, spawned = free_port("127.0.0.1"), free_port("127.0.0.1")
    inetd = (
        f"127.0.0.1:{daytime} stream tcp nowait root internal daytime\n"
        f"127.0.0.1:{spawned} stream tcp nowait root /usr/sbin/tcpd /bin/true\n"
    )
    config = '[serve]\nwrap = "all"\n[limits]\nrate = 100000\nburst = 100000\n'
    run = ServeRun(workdir, inetd, config=config, deny="ALL: 127.0.0.3\n")

    def batch(count: int) -> None:
        for number in range(count):
            if number % 10 == 0:
                tcp_client("127.0.0.1", spawned, "127.0.0.2", timeout=5)
            elif number % 10 == 1:
                assert tcp_client("127.0.0.1", daytime, "127.0.0.3", timeout=5).data == b""
            else:
                assert tcp_client("127.0.0.1", daytime, "127.0.0.2", timeout=5).data

    with running(run):
        batch(1000)  # warm up: caches, allocator arenas
        wait_until(lambda: not run.children(), what="children reaped")
        fds, rss = run.fds(), run.rss_kib()
        batch(9000)
        wait_until(lambda: not run.children(), what="children reaped")
        time.sleep(0.2)
        fds_after, rss_after = run.fds(), run.rss_kib()
    assert fds_after == fds
    assert rss_after - rss < 8 * 1024, (rss, rss_after)  # KiB
    assert len(run.json_records()) == 10_000
