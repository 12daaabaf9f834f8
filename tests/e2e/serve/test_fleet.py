"""The fleet: three `tcpwrap serve` nodes (127.0.0.11-13) sharing one real redis-server.

A trap hit on node A refuses the same client on B and C within a second, through serve and
through the real tcpd reading B's synced ban list; the ban expires everywhere; the never-ban
list is never banned; Redis can die and come back; hostile entries in Redis change nothing
but a log line; the manual commands and `tcpwrap fleet sync`; the fleet's ban policy and
its repeat offenders; `tcpwrap report --redis` reads what the fleet saw."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import EtcTables
from e2e.serve.servekit import TCPWRAP, ServeRun, running, wait_until
from e2e.wrapper.wrapkit import REAL_TCPD, free_port, run_inetd_style, tcp_client
from harness.redis_server import RedisServer
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

ATTACKER = "127.0.6.1"
FRIEND = "127.0.7.5"  # on the never-ban list
NODES = {"a": "127.0.0.11", "b": "127.0.0.12", "c": "127.0.0.13", "d": "127.0.0.14"}


@pytest.fixture
def redis(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.close()


class Node:
    def __init__(
        self,
        workdir: Path,
        name: str,
        redis_url: str,
        *,
        trap: bool,
        fleet_extra: str = "",
        trap_extra: str = "ban_seconds = 6\n",
    ) -> None:
        self.name = name
        self.address = NODES[name]
        self.dir = workdir / name
        self.dir.mkdir()
        self.service = free_port(self.address)
        self.trap_port = free_port(self.address) if trap else None
        self.banned = self.dir / "banned"
        config = (
            '[serve]\nwrap = "all"\n'
            '[bans]\nnever_ban = ["127.0.7.0/24"]\n'
            "[log]\naggregate_interval = 1\n"
            f'[fleet]\nredis = "{redis_url}"\nsite = "lab"\nnode = "{name}"\n'
            f'ban_list = "{self.banned}"\n{fleet_extra}'
        )
        if trap:
            own_ban = f'ban_list = "{self.banned}"\n' if "ban_seconds" in trap_extra else ""
            config += (
                f'[[trap]]\nlisten = ["{self.address}:{self.trap_port}"]\n{own_ban}{trap_extra}'
            )
        inetd = f"{self.address}:{self.service} stream tcp nowait root internal daytime\n"
        self.run = ServeRun(self.dir, inetd, config=config, deny=f"ALL: {self.banned}\n")

    def ask(self, source: str) -> bytes:
        return tcp_client(self.address, self.service, source, timeout=5).data

    def served(self, source: str) -> bool:
        return self.ask(source).endswith(b"\r\n")

    def hit_trap(self, source: str) -> None:
        assert self.trap_port is not None
        tcp_client(self.address, self.trap_port, source, timeout=5)

    def listed(self) -> list[str]:
        return self.banned.read_text().split() if self.banned.exists() else []

    def expiry(self, token: str) -> float:
        """The expiry the node keeps for `token` (the sidecar's last line for it wins)."""
        lines = (self.dir / "banned.expires").read_text().splitlines()
        return [float(line.split()[1]) for line in lines if line.split()[0] == token][-1]


@pytest.fixture
def nodes(workdir: Path, redis: RedisServer) -> Iterator[dict[str, Node]]:
    made = {name: Node(workdir, name, redis.url, trap=name == "a") for name in "abc"}
    started: list[Node] = []
    try:
        for node in made.values():
            node.run.start()
            started.append(node)
        yield made
    finally:
        for node in started:
            node.run.stop()


def _refused_everywhere(nodes: list[Node], source: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(not node.served(source) for node in nodes):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{source} still served after {timeout}s")


def test_a_trap_hit_on_one_node_bans_on_every_node(
    syslog: SyslogCapture,
    nodes: dict[str, Node],
    etc_tables: EtcTables,
    daemons: tuple[Path, Path],
) -> None:
    fake, _ = daemons
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    assert b.served(ATTACKER) and c.served(ATTACKER)
    a.hit_trap(ATTACKER)
    took = _refused_everywhere([a, b, c], ATTACKER, 1.0)
    assert took < 1.0
    wait_until(
        lambda: b.listed() == [ATTACKER] and c.listed() == [ATTACKER],
        timeout=2,
        what="the ban in B's and C's lists",
    )
    # the same expiry everywhere (Redis' clock)
    expiries = {n.name: n.expiry(ATTACKER) for n in (a, b, c)}
    assert len(set(expiries.values())) == 1, expiries
    # the real tcpd on B, reading B's synced list through /etc/hosts.deny
    etc_tables.write(deny=f"ALL: {b.banned}\n")
    assert run_inetd_style(REAL_TCPD, [str(fake)], {}, client=ATTACKER).received == b""
    assert run_inetd_style(REAL_TCPD, [str(fake)], {}, client="127.0.0.2").received.startswith(
        b"FAKEDAEMON"
    )
    # the never-ban list: the trap hit is logged, nobody is banned
    a.hit_trap(FRIEND)
    time.sleep(1.0)
    assert all(node.served(FRIEND) for node in (a, b, c))
    assert all(FRIEND not in node.listed() for node in (a, b, c))
    # expiry lifts the ban everywhere (ban_seconds = 6), lists included
    wait_until(
        lambda: all(node.served(ATTACKER) for node in (a, b, c)),
        timeout=10,
        what="the ban expired everywhere",
    )
    wait_until(lambda: all(node.listed() == [] for node in (a, b, c)), timeout=3)
    assert run_inetd_style(REAL_TCPD, [str(fake)], {}, client=ATTACKER).received.startswith(
        b"FAKEDAEMON"
    )
    messages = [r.message for r in syslog.records() if r.tag == "tcpwrap-serve"]
    assert any(m.startswith("fleet: banned 127.0.6.1 until ") for m in messages)
    assert any("fleet: connected to redis://127.0.0.1:" in m for m in messages)


def test_redis_dies_decisions_go_on_bans_catch_up(
    syslog: SyslogCapture, nodes: dict[str, Node], redis: RedisServer
) -> None:
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    a.hit_trap("127.0.6.2")
    _refused_everywhere([b, c], "127.0.6.2", 1.0)
    redis.stop()
    # decisions continue on the last list, without waiting on Redis
    started = time.monotonic()
    assert not b.served("127.0.6.2") and b.served("127.0.0.2")
    assert time.monotonic() - started < 0.5
    a.hit_trap("127.0.6.3")  # banned on A at once; B and C cannot know yet
    assert not a.served("127.0.6.3") and b.served("127.0.6.3")
    time.sleep(1.5)
    redis.start()
    _refused_everywhere([b, c], "127.0.6.3", 15.0)  # A's queue reached them after the outage
    assert not b.served("127.0.6.2")  # the ban made before the outage still holds
    messages = [r.message for r in syslog.records() if r.tag == "tcpwrap-serve"]
    assert any("keeping the last" in m and "bans, retrying" in m for m in messages)
    assert any(" back after " in m for m in messages)
    assert not any("secret" in m for m in messages)


def test_hostile_entries_change_nothing_but_a_log_line(
    syslog: SyslogCapture, nodes: dict[str, Node], redis: RedisServer
) -> None:
    b = nodes["b"]
    key = b"tcpwrap:lab:bans"
    far = str(time.time() + 3600).encode()
    for member in (
        b"; rm -rf /",
        b"x" * 1_000_000,
        b"example.com",
        b"/etc/passwd",
        b"10.0.0.1 10.0.0.2",
        b"1.2.3.4\n5.6.7.8",
        b"$(reboot)",
        b"127.0.7.9",
    ):
        assert redis.command(b"ZADD", key, far, member).startswith(b":")
    redis.command(
        b"XADD",
        b"tcpwrap:lab:events",
        b"*",
        b"kind",
        b"ban",
        b"token",
        b"`id`",
        b"node",
        b"evil",
        b"time",
        b"1",
        b"expires",
        far,
    )
    redis.command(
        b"XADD",
        b"tcpwrap:lab:events",
        b"*",
        b"kind",
        b"ban",
        b"token",
        b"127.0.6.9",
        b"node",
        b"a;b",
        b"time",
        b"1",
        b"expires",
        far,
    )
    redis.command(
        b"XADD",
        b"tcpwrap:lab:events",
        b"*",
        b"kind",
        b"exec",
        b"token",
        b"127.0.6.9",
        b"node",
        b"x",
        b"time",
        b"1",
    )
    # one valid ban among them, to show the stream goes on being read
    subprocess.run(
        [
            str(TCPWRAP),
            "fleet",
            "--redis",
            redis.url,
            "--site",
            "lab",
            "ban",
            "127.0.6.4",
            "--for",
            "1h",
        ],
        check=True,
        capture_output=True,
    )
    _refused_everywhere([b], "127.0.6.4", 2.0)
    assert b.listed() == ["127.0.6.4"]
    # a node that joins later takes the bans in force from the set, hostile members included
    late = Node(b.dir.parent, "d", redis.url, trap=False)
    with running(late.run):
        assert late.listed() == ["127.0.6.4"]
        assert not late.served("127.0.6.4")
        assert late.served("127.0.7.9")  # a never-ban address put straight into Redis
    skipped = [r.message for r in syslog.records() if "fleet: skipped" in r.message]
    assert skipped and all(len(m) < 400 for m in skipped)
    assert not any("\n" in m for m in skipped)
    assert any("bad node name b'a;b'" in m for m in skipped)
    assert any("not a ban token: b'; rm -rf /'" in m for m in skipped)


def test_manual_commands_and_sync_for_a_tcpd_only_host(
    nodes: dict[str, Node],
    redis: RedisServer,
    workdir: Path,
    etc_tables: EtcTables,
    daemons: tuple[Path, Path],
) -> None:
    fake, _ = daemons
    c = nodes["c"]
    fleet = [str(TCPWRAP), "fleet", "--redis", redis.url, "--site", "lab"]
    banned = subprocess.run(
        [*fleet, "ban", "198.51.100.0/24", "--for", "10m"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert banned.stdout.startswith("banned 198.51.100.0/24 until ")
    listing = json.loads(
        subprocess.run(
            [*fleet, "list", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    assert [b["token"] for b in listing["bans"]] == ["198.51.100.0/24"]
    assert 590 < listing["bans"][0]["remaining"] <= 600
    # with a node's configuration the command knows the never-ban list ([bans] never_ban)
    refused = subprocess.run(
        [str(TCPWRAP), "fleet", "--config", str(c.run.config), "ban", "127.0.7.1"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 1 and "never-ban" in refused.stderr
    # a host with only the classic wrapper: `fleet sync` keeps its list in step
    host_list = workdir / "tcpd-host-banned"
    with open(workdir / "sync.err", "w") as errors:
        agent = subprocess.Popen([*fleet, "sync", "--ban-list", str(host_list)], stderr=errors)
    try:
        wait_until(lambda: host_list.exists() and "198.51.100.0/24" in host_list.read_text())
        subprocess.run([*fleet, "ban", "127.0.6.5", "--for", "1h"], check=True, capture_output=True)
        wait_until(lambda: "127.0.6.5" in host_list.read_text(), timeout=2)
        etc_tables.write(deny=f"ALL: {host_list}\n")
        assert run_inetd_style(REAL_TCPD, [str(fake)], {}, client="127.0.6.5").received == b""
        subprocess.run([*fleet, "unban", "127.0.6.5"], check=True, capture_output=True)
        wait_until(lambda: "127.0.6.5" not in host_list.read_text(), timeout=2)
        wait_until(lambda: c.served("127.0.6.5"), timeout=2)
    finally:
        agent.terminate()
        agent.wait(10)
    assert agent.returncode == 0
    said = (workdir / "sync.err").read_text()
    assert "tcpwrap fleet: banned 127.0.6.5 until " in said
    assert "tcpwrap fleet: ban of 127.0.6.5 lifted (lab" not in said  # the node, not the site


def test_fleet_policy_and_repeat_offenders(workdir: Path, redis: RedisServer) -> None:
    policy = "ban_after = 3\nfrom_hosts = 2\nwindow = 60\nban_seconds = 2\ngrowth = 2\n"
    a = Node(workdir, "a", redis.url, trap=True, fleet_extra=policy, trap_extra="")
    b = Node(workdir, "b", redis.url, trap=True, fleet_extra=policy, trap_extra="")
    with running(a.run), running(b.run):
        a.hit_trap("127.0.6.6")
        a.hit_trap("127.0.6.6")
        time.sleep(0.5)
        assert a.served("127.0.6.6")  # two hits from one host: not yet
        b.hit_trap("127.0.6.6")  # the third hit, from a second host
        _refused_everywhere([a, b], "127.0.6.6", 1.0)
        first = b.expiry("127.0.6.6") - time.time()
        wait_until(lambda: a.served("127.0.6.6"), timeout=5, what="the first ban's end")
        for node in (a, b, a):
            node.hit_trap("127.0.6.6")
        _refused_everywhere([a, b], "127.0.6.6", 1.0)
        second = b.expiry("127.0.6.6") - time.time()
    assert 1.0 < first <= 2.0
    assert 3.0 < second <= 4.0  # a repeat offender: twice as long


def test_report_reads_the_fleet_stream(
    nodes: dict[str, Node], redis: RedisServer, workdir: Path
) -> None:
    a = nodes["a"]
    for _ in range(3):
        a.hit_trap("127.0.6.7")
    wait_until(
        lambda: (
            b"kind"
            in redis.command(b"XREVRANGE", b"tcpwrap:lab:log", b"+", b"-", b"COUNT", b"1")
        )
    )
    time.sleep(0.5)
    result = subprocess.run(
        [str(TCPWRAP), "report", "--json", "--redis", redis.url, "--site", "lab"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert "127.0.6.7" in text and '"a"' in text  # the hits, from node a


def test_tls_and_a_password_from_a_file(workdir: Path, syslog: SyslogCapture) -> None:
    secret = "s3cret-" + str(time.time_ns())
    server = RedisServer(workdir, tls=True, password=secret)
    server.start()
    try:
        password = workdir / "redis.password"
        password.write_text(secret + "\n")
        password.chmod(0o600)
        tls = f'tls_ca = "{server.ca}"\npassword_file = "{password}"\n'
        a = Node(workdir, "a", server.url, trap=True, fleet_extra=tls)
        b = Node(workdir, "b", server.url, trap=False, fleet_extra=tls)
        with running(a.run), running(b.run):
            syslog.wait_for(lambda r: "fleet: connected" in r.message, timeout=10)
            a.hit_trap("127.0.6.8")
            _refused_everywhere([a, b], "127.0.6.8", 1.0)
            cmdline = Path(f"/proc/{b.run.pid}/cmdline").read_bytes()
        # a node with the wrong password keeps serving and says why, without the password
        password.write_text("wrong\n")
        c = Node(workdir, "c", server.url, trap=False, fleet_extra=tls)
        with running(c.run):
            failed = syslog.wait_for(lambda r: r.message.startswith("error: fleet: rediss://"),
                                     timeout=10)  # fmt: skip
            assert c.served("127.0.6.8")  # it could not learn the ban; it serves all the same
    finally:
        server.close()
    assert secret.encode() not in cmdline
    logged = "\n".join(r.message for r in syslog.records())
    assert secret not in logged and "wrong" not in logged
    assert "fleet: connected to rediss://127.0.0.1:" in logged
    assert "AuthenticationError" in failed.message and "keeping the last 0 bans" in failed.message
