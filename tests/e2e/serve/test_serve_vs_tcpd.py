"""The same inetd.conf and tables under openbsd-inetd + the real /usr/sbin/tcpd and under
`tcpwrap serve`: the same client-visible bytes and the same syslog records (facility,
severity, tag and message; pid and time aside, and the 5 s pause of tcpd's refusals).

One table set covers every scenario; each scenario has its own daemon name (a symlink to
the fake daemon, so the name tcpd logs and matches is the link's) and client address, so all
clients run at once under the real tcpd (whose refusals each hold for 5 s).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.conftest import EtcTables
from e2e.serve.servekit import ServeRun, running
from e2e.wrapper.wrapkit import (
    REAL_TCPD,
    Reply,
    Service,
    free_port,
    running_inetd,
    tcp_client,
    udp_client,
)
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Row:
    name: str  # the daemon name (symlink to the fake daemon)
    client: str
    proto: str = "tcp"
    send: bytes = b""


ROWS = (
    Row("in.a", "127.0.0.2"),
    Row("in.a", "127.0.0.5"),
    Row("in.spawn", "127.0.0.2"),
    Row("in.banner", "127.0.0.2"),
    Row("in.sev", "127.0.0.2"),
    Row("in.env", "127.0.0.2"),
    Row("in.bogus", "127.0.0.2"),
    Row("in.twist", "127.0.0.2"),
    Row("in.names", "127.0.0.2"),
    Row("in.names", "127.0.0.3"),
    Row("in.names", "127.0.0.4"),
    Row("in.udp", "127.0.0.2", "udp", b"hello"),
    Row("in.udp", "127.0.0.5", "udp", b"nope"),
)


def _tables(directory: Path) -> tuple[str, str]:
    allow = (
        "in.a: 127.0.0.2\n"
        f"in.spawn: ALL: spawn echo spawned %d %a %h >> {directory}/spawn.out\n"
        f"in.banner: ALL: banners {directory}/banners\n"
        "in.sev: ALL: severity local0.alert\n"
        "in.env: ALL: setenv TESTVAR hello-%a : umask 077\n"
        "in.bogus: ALL: bogus\n"
        "in.twist: ALL: twist /bin/echo 421 go away %a %d\n"
        "in.names: .e2e.test EXCEPT PARANOID\n"
        "in.udp: ALL EXCEPT 127.0.0.5\n"
    )
    deny = "in.a in.names in.udp: ALL\n"
    return allow, deny


@pytest.fixture
def world(workdir: Path, daemons: tuple[Path, Path]) -> Path:
    fake, udp = daemons
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    for row in ROWS:
        link = bin_dir / row.name
        if not link.exists():
            link.symlink_to(udp if row.proto == "udp" else fake)
    banners = workdir / "banners"
    banners.mkdir()
    (banners / "in.banner").write_text("Welcome %a to %d\n")
    return workdir


def _inetd_conf(world: Path, ports: dict[str, int]) -> str:
    lines = []
    for name, port in ports.items():
        program = f"{REAL_TCPD} {world}/bin/{name}"
        if name == "in.udp":
            lines.append(f"127.0.0.1:{port} dgram udp wait root {program}")
        else:
            lines.append(f"127.0.0.1:{port} stream tcp nowait root {program} x")
    return "\n".join(lines) + "\n"


def _play(ports: dict[str, int]) -> dict[Row, Reply]:
    def one(row: Row) -> Reply:
        port = ports[row.name]
        if row.proto == "udp":
            return udp_client("127.0.0.1", port, row.client, row.send, timeout=8)
        return tcp_client("127.0.0.1", port, row.client, row.send, timeout=15)

    tcp_rows = [row for row in ROWS if row.proto == "tcp"]
    with ThreadPoolExecutor(len(tcp_rows)) as pool:
        replies = dict(zip(tcp_rows, pool.map(one, tcp_rows), strict=True))
    for row in ROWS:  # a wait service: one datagram at a time
        if row.proto == "udp":
            replies[row] = one(row)
            time.sleep(0.3)
    return replies


def _records(syslog: SyslogCapture) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in syslog.records():
        if record.tag in ("inetd", "tcpwrap-serve"):
            continue
        out.setdefault(record.tag, []).append(
            f"{record.facility}.{record.severity} {record.message}"
        )
    return {tag: sorted(lines) for tag, lines in out.items()}


def _run_both(
    world: Path,
    syslog: SyslogCapture,
    etc_tables: EtcTables,
    wait: Callable[[SyslogCapture], None],
) -> Iterator[tuple[str, dict[Row, Reply], dict[str, list[str]], str]]:
    allow, deny = _tables(world)
    etc_tables.write(allow, deny)
    names = dict.fromkeys(row.name for row in ROWS)
    ports = {
        name: free_port("127.0.0.1", 2 if name == "in.udp" else 1) for name in names
    }
    text = _inetd_conf(world, ports)
    services = [Service("127.0.0.1", p, (), proto="udp" if n == "in.udp" else "tcp")
                for n, p in ports.items()]  # fmt: skip
    spawn_out = world / "spawn.out"
    with running_inetd(services, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, world, text=text):
        replies = _play(ports)
        wait(syslog)
        time.sleep(0.5)
    yield "tcpd", replies, _records(syslog), _read(spawn_out)
    syslog.clear()
    spawn_out.unlink(missing_ok=True)
    run = ServeRun(world, text, allow=None, deny=None, tables_in_etc=True)
    with running(run):
        replies = _play(ports)
        wait(syslog)
        time.sleep(0.5)
    yield "serve", replies, _records(syslog), _read(spawn_out)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_same_bytes_and_same_records(
    world: Path, syslog: SyslogCapture, etc_tables: EtcTables
) -> None:
    def wait(capture: SyslogCapture) -> None:
        capture.wait_for(lambda r: r.tag == "in.udp" and "refused" in r.message, timeout=15)

    runs = {
        label: (replies, records, spawned)
        for label, replies, records, spawned in _run_both(world, syslog, etc_tables, wait)
    }
    tcpd_replies, tcpd_records, tcpd_spawned = runs["tcpd"]
    serve_replies, serve_records, serve_spawned = runs["serve"]
    for row in ROWS:
        assert serve_replies[row].data == tcpd_replies[row].data, row
    assert serve_records == tcpd_records
    assert serve_spawned == tcpd_spawned != ""
    # the scenarios did what they say (so the comparison compared something)
    assert tcpd_replies[ROWS[0]].data.startswith(b"FAKEDAEMON argv0=in.a argc=2 uid=0 ")
    assert tcpd_replies[Row("in.twist", "127.0.0.2")].data == b"421 go away 127.0.0.2 in.twist\n"
    assert tcpd_replies[Row("in.banner", "127.0.0.2")].data.startswith(
        b"Welcome 127.0.0.2 to in.banner\r\nFAKEDAEMON")
    assert b"umask=0077 " in tcpd_replies[Row("in.env", "127.0.0.2")].data
    assert b"TESTVAR=hello-127.0.0.2" in tcpd_replies[Row("in.env", "127.0.0.2")].data
    assert tcpd_replies[Row("in.udp", "127.0.0.2", "udp", b"hello")].data == (
        b"UDPDAEMON argv0=in.udp got=hello")
    assert "local0.alert connect from 127.0.0.2 (127.0.0.2)" in tcpd_records["in.sev"]
    assert any("host name/address mismatch" in line for line in tcpd_records["in.names"])
    # refusals: tcpd holds the connection 5 s, serve closes it at once
    refused = Row("in.a", "127.0.0.5")
    assert tcpd_replies[refused].elapsed >= 4.5 > 1.0 > serve_replies[refused].elapsed
    assert os.path.exists(REAL_TCPD)
