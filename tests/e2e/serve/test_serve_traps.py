"""Trap ports: a storm of hits from dozens of sources is logged (each hit, or counted in a
summary), runs the booby trap once per source, bans every source in a ban list, and the ban
holds for serve and for the real tcpd reading the same hosts.deny (`ALL: /path/banned`)."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from e2e.conftest import EtcTables
from e2e.serve.servekit import ServeRun, running, wait_until
from e2e.wrapper.wrapkit import REAL_TCPD, free_port, run_inetd_style, tcp_client, udp_client
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

SOURCES = [f"127.0.4.{n}" for n in range(1, 41)]  # forty attackers
HITS_EACH = 50


def _hit(port: int, source: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5,
                                      source_address=(source, 0)) as sock:  # fmt: skip
            sock.settimeout(5)
            return sock.recv(10) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False


def test_trap_storm(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture, etc_tables: EtcTables
) -> None:
    fake, _ = daemons
    banned = workdir / "banned"
    hits = workdir / "hits"
    traps = [free_port("127.0.0.1") for _ in range(3)]
    udp_trap = free_port("127.0.0.1", socket.SOCK_DGRAM)
    service = free_port("127.0.0.1")
    listen = ", ".join(f'"127.0.0.1:{p}"' for p in traps) + f', "udp:127.0.0.1:{udp_trap}"'
    config = (
        "[log]\naggregate_interval = 1\n[limits]\nrate = 5\nburst = 10\n"
        "[[trap]]\n"
        f"listen = [{listen}]\n"
        f'spawn = "/bin/echo %a %d >> {hits}"\n'
        "spawn_interval = 3600\n"
        "ban_seconds = 600\n"
        f'ban_list = "{banned}"\n'
    )
    etc_tables.write(deny=f"ALL: {banned}\n")
    inetd = f"127.0.0.1:{service} stream tcp nowait root /usr/sbin/tcpd {fake}\n"
    run = ServeRun(workdir, inetd, config=config, allow=None, deny=None, tables_in_etc=True)
    jobs = [(traps[i % 3], source) for source in SOURCES for i in range(HITS_EACH)]
    with running(run):
        before = tcp_client("127.0.0.1", service, "127.0.4.1")
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            closed = list(pool.map(lambda job: _hit(*job), jobs))
        storm = time.monotonic() - started
        udp_client("127.0.0.1", udp_trap, "127.0.5.1", b"probe", timeout=0.3)
        wait_until(lambda: banned.exists() and len(banned.read_text().split()) == 40,
                   what="forty bans")  # fmt: skip
        wait_until(lambda: hits.exists() and len(hits.read_text().splitlines()) >= 41,
                   timeout=20, what="one booby trap per source")  # fmt: skip
        # the bans hold at once for serve, on another port, for every attacker
        after = [tcp_client("127.0.0.1", service, source) for source in SOURCES[:5]]
        bystander = tcp_client("127.0.0.1", service, "127.0.0.2")
        # ... and for the real tcpd reading the same /etc/hosts.deny
        tcpd_banned = run_inetd_style(REAL_TCPD, [str(fake)], {}, client="127.0.4.7")
        tcpd_fine = run_inetd_style(REAL_TCPD, [str(fake)], {}, client="127.0.0.2")
    assert all(closed) and len(jobs) == 2000
    assert before.data.startswith(b"FAKEDAEMON")  # before its trap hit, 127.0.4.1 was welcome
    assert all(reply.data == b"" for reply in after)
    assert bystander.data.startswith(b"FAKEDAEMON")
    assert tcpd_banned.received == b"" and tcpd_fine.received.startswith(b"FAKEDAEMON")
    assert sorted(banned.read_text().split()) == sorted(SOURCES)
    expiries = dict(line.split() for line in (workdir / "banned.expires").read_text().splitlines())
    assert set(expiries) == set(SOURCES)
    assert all(time.time() + 590 < float(e) < time.time() + 610 for e in expiries.values())
    # the booby trap ran once per source (spawn_interval), with % expansions, UDP included
    lines = hits.read_text().splitlines()
    assert sorted(lines) == sorted([f"{s} trap" for s in SOURCES] + ["127.0.5.1 trap"])
    # UDP sources are not banned (they are forged at will) unless udp_bans = true
    assert "127.0.5.1" not in banned.read_text()
    # every hit is in the JSON log: one record each, or counted in a summary record
    records = run.json_records()
    trap_records = [r for r in records if r["trap"]]
    assert sum(r["count"] for r in trap_records) == 2001
    assert all(r["event"] == "trap" and r["verdict"] == "denied" and r["daemon"] == "trap"
               for r in trap_records)  # fmt: skip
    assert len(trap_records) < 2001  # the repeats were summed, not written one by one
    messages = [r.message for r in syslog.records() if r.tag == "trap"]
    assert sum(1 for m in messages if m.startswith("banned ")) == 40
    assert any(" more trap hits from " in m for m in messages)
    assert storm < 60
