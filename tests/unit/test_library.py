"""The library: hosts_ctl/decide in dry run (unchanged) and live mode, check_socket and its
asyncio twin on loopback sockets with the lookups replaced by recorders, the shared decision
step, logging instead of stdout, and policy edits picked up on the next call."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tcpwrap.library as library
from tcpwrap.drivers import async_lookup, ident, lookup
from tcpwrap.drivers.deciding import AskIdent, Check, LookupName, RunAclExec
from tcpwrap.library.sockets import connection_for, site_of
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import AclExecResult, Mode, Verdict
from tcpwrap.policy.facts import KnownName, NameLookup, ParanoidName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import AclExec, Spawn
from tcpwrap.policy.rules import TableSource

LOGGER = "tcpwrap"


class Tables:
    def __init__(self, root: Path) -> None:
        self.allow = root / "hosts.allow"
        self.deny = root / "hosts.deny"
        self.root = root

    def write(self, allow: str, deny: str = "") -> None:
        self.allow.write_text(allow)
        self.deny.write_text(deny)

    @property
    def paths(self) -> dict[str, str]:
        return {"allow": str(self.allow), "deny": str(self.deny)}


@pytest.fixture
def tables(tmp_path: Path) -> Tables:
    return Tables(tmp_path)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def texts(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(server side, client side) of a loopback TCP connection from 127.0.0.2."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.socket()
    client.bind(("127.0.0.2", 0))
    client.connect(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    with server, client:
        yield server, client


class Recorder:
    """Stands in for the lookup/ident drivers and records what was asked."""

    def __init__(self, name: str = "good.example", user: str | None = "joe") -> None:
        self.name = name
        self.user = user
        self.asked: list[str] = []

    def verify(self, address: str, *, timeout: float | None = None) -> NameLookup:
        self.asked.append(f"name {address}")
        return NameLookup(KnownName(self.name))

    def lookup_user(self, client: object, server: object, **kwargs: object) -> str | None:
        self.asked.append(f"user {client} {server} {kwargs['timeout']}")
        return self.user


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder()
    monkeypatch.setattr(lookup, "verify_host_name", found.verify)
    monkeypatch.setattr(ident, "lookup_user", found.lookup_user)
    return found


# ------------------------------------------------------------------ dry run: unchanged


def test_dry_run_api_unchanged(tables: Tables, logs: pytest.LogCaptureFixture) -> None:
    marker = tables.root / "spawned"
    tables.write(
        f"sshd: 192.0.2.1\nftpd: ALL: spawn touch {marker}\ntelnetd: ALL: twist echo no\n",
        "ALL: ALL\n",
    )
    assert library.hosts_ctl("sshd", "unknown", "192.0.2.1", **tables.paths) is True
    assert library.hosts_ctl("sshd", "unknown", "192.0.2.2", **tables.paths) is False
    assert library.hosts_ctl("ftpd", "x", "192.0.2.2", **tables.paths) is True
    assert library.hosts_ctl("telnetd", "x", "192.0.2.2", **tables.paths) is True  # delegated
    decision = library.decide("telnetd", "x", "192.0.2.2", **tables.paths)
    assert decision.delegated and decision.verdict is Verdict.GRANT
    assert library.decide("ftpd", "x", "192.0.2.2", **tables.paths).actions == (
        Spawn(f"touch {marker}"),
    )
    assert not marker.exists()  # nothing performed
    assert texts(logs) == []  # and the dry run stays silent


# ------------------------------------------------------------------ live mode


def test_live_spawn_runs_during_the_call(tables: Tables, logs: pytest.LogCaptureFixture) -> None:
    marker = tables.root / "spawned"
    tables.write(f"ftpd: ALL: spawn echo %d %a %n >> {marker}\n")
    assert library.hosts_ctl("ftpd", "host.example", "192.0.2.9", live=True, **tables.paths)
    assert marker.read_text() == "ftpd 192.0.2.9 host.example\n"  # already there on return
    assert library.hosts_ctl("ftpd", "b;rm -rf", "192.0.2.9", live=True, **tables.paths)
    assert marker.read_text().splitlines()[1] == "ftpd 192.0.2.9 b_rm_-rf"  # sanitised
    assert texts(logs) == []


def test_live_twist_is_refused(tables: Tables, logs: pytest.LogCaptureFixture) -> None:
    tables.write("telnetd: ALL: twist echo hello\n")
    assert library.hosts_ctl("telnetd", "x", "192.0.2.2", **tables.paths) is True  # dry
    assert library.hosts_ctl("telnetd", "x", "192.0.2.2", live=True, **tables.paths) is False
    assert texts(logs) == [
        (logging.ERROR, f"error: {tables.allow}, line 1: twist option in resident process")
    ]
    decision = library.decide("telnetd", "x", "192.0.2.2", live=True, **tables.paths)
    assert decision.verdict is Verdict.DENY and decision.twist is None


def test_live_diagnostics_go_to_logging_not_stdout(
    tables: Tables, logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    tables.write(
        "no separator here\nftpd: ALL: spawn echo to-stdout; echo to-stderr >&2 : nice 5x\n"
    )
    assert library.hosts_ctl("ftpd", "x", "192.0.2.3", live=True, **tables.paths) is False
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # nor did the spawned shell write to our stdio
    assert texts(logs) == [
        (logging.WARNING, f'warning: {tables.allow}, line 1: missing ":" separator'),
        (logging.ERROR, f'error: {tables.allow}, line 2: bad nice value: "5x"'),
    ]


def test_live_setenv_and_umask_change_this_process(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TCPWRAP_TEST_VAR", raising=False)
    tables.write("ftpd: ALL: setenv TCPWRAP_TEST_VAR from %a : umask 077\n")
    old = os.umask(0o022)
    try:
        assert library.hosts_ctl("ftpd", "x", "192.0.2.4", **tables.paths)
        assert "TCPWRAP_TEST_VAR" not in os.environ  # dry run: untouched
        assert library.hosts_ctl("ftpd", "x", "192.0.2.4", live=True, **tables.paths)
        assert os.environ["TCPWRAP_TEST_VAR"] == "from 192.0.2.4"
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(old)
        monkeypatch.delenv("TCPWRAP_TEST_VAR", raising=False)


def test_live_aclexec_documented_and_debian(tables: Tables, logs: pytest.LogCaptureFixture) -> None:
    log = tables.root / "order"
    tables.write(
        f"ftpd: ALL: spawn echo first >> {log} : aclexec echo second >> {log}; exit %r\n",
        "ALL: ALL\n",
    )
    # documented (hosts_options(5)): exit 0 allows, anything else refuses
    assert library.hosts_ctl("ftpd", "x", "192.0.2.5", live=True, **tables.paths)
    assert log.read_text() == "first\nsecond\n"  # the spawn ran before the aclexec
    assert texts(logs) == []
    # %r is 0 for hosts_ctl (no port); make the command fail instead
    tables.write("ftpd: ALL: aclexec exit 3\n", "")
    assert not library.hosts_ctl("ftpd", "x", "192.0.2.5", live=True, **tables.paths)
    # Debian: a failure turns the allow match into no-match: the (empty) deny table grants
    assert library.hosts_ctl("ftpd", "x", "192.0.2.5", live=True, aclexec="debian", **tables.paths)
    assert texts(logs) == [(logging.INFO, "aclexec returned 1")]
    # and in dry run nothing runs: success
    assert library.hosts_ctl("ftpd", "x", "192.0.2.5", **tables.paths)


# ------------------------------------------------------------------ policy edits


@pytest.mark.parametrize("live", [False, True])
def test_policy_edits_are_picked_up(tables: Tables, live: bool) -> None:
    tables.write("sshd: 192.0.2.1\n", "ALL: ALL\n")
    query = ("sshd", "unknown", "192.0.2.1")
    assert library.hosts_ctl(*query, live=live, **tables.paths) is True
    tables.allow.write_text("sshd: 192.0.2.11\n")  # a different size
    assert library.hosts_ctl(*query, live=live, **tables.paths) is False


@pytest.mark.parametrize("live", [False, True])
def test_racy_edit_same_size_same_mtime(tables: Tables, live: bool) -> None:
    tables.write("sshd: 192.0.2.1\n", "ALL: ALL\n")
    query = ("sshd", "unknown", "192.0.2.1")
    assert library.hosts_ctl(*query, live=live, **tables.paths) is True
    before = tables.allow.stat()
    with open(tables.allow, "r+") as handle:  # same inode, same size
        handle.write("sshd: 192.0.2.2\n")
    os.utime(tables.allow, ns=(before.st_atime_ns, before.st_mtime_ns))  # same second
    after = tables.allow.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert library.hosts_ctl(*query, live=live, **tables.paths) is False
    assert library.hosts_ctl("sshd", "unknown", "192.0.2.2", live=live, **tables.paths) is True


def test_one_policy_fetch_per_call(tables: Tables, monkeypatch: pytest.MonkeyPatch) -> None:
    """A query the quick path leaves to the evaluator (options) still reads the policy once,
    so both look at the same version."""
    from tcpwrap.drivers.tables import PolicyCache

    tables.write("sshd: 192.0.2.1: spawn echo\n", "ALL: ALL\n")
    fetches: list[str] = []
    for method in ("get", "snapshot", "current"):
        real = getattr(PolicyCache, method)
        monkeypatch.setattr(
            PolicyCache,
            method,
            lambda self, real=real, method=method: fetches.append(method) or real(self),
        )
    real_arm = PolicyCache._arm

    def arm(self: PolicyCache) -> None:  # fresh(), when it answers, is a fetch too
        real_arm(self)
        probe = self.fresh
        self.fresh = lambda: (state := probe()) and (fetches.append("fresh") or state)

    monkeypatch.setattr(PolicyCache, "_arm", arm)
    assert library.hosts_ctl("sshd", "unknown", "192.0.2.1", **tables.paths) is True
    assert library.hosts_ctl("sshd", "unknown", "192.0.2.2", **tables.paths) is False
    assert len(fetches) == 2
    fetches.clear()
    assert library.decide("sshd", client_addr="192.0.2.1", **tables.paths).granted
    assert len(fetches) == 1


def test_file_verdicts_are_not_memoised(tables: Tables) -> None:
    """A `/file` list can change while the tables do not: its verdicts follow the file."""
    banned = tables.root / "banned"
    banned.write_text("192.0.2.1\n")
    tables.write("", f"ALL: {banned}\n")
    query = ("sshd", "unknown", "192.0.2.2")
    for _ in range(3):
        assert library.hosts_ctl(*query, **tables.paths) is True
    with banned.open("a") as handle:
        handle.write("192.0.2.2\n")
    assert library.hosts_ctl(*query, **tables.paths) is False
    banned.write_text("")
    assert library.hosts_ctl(*query, **tables.paths) is True
    assert library.policy_cache(**tables.paths).memo == {}


def test_file_decision_polls_the_watch_once(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table check has just polled the shared inotify watch; the /file check reuses that
    poll and still sees an edit made before the call."""
    from tcpwrap.drivers import inotify
    from tcpwrap.drivers.inotify import shared_watch

    if shared_watch() is None:
        pytest.skip("no inotify instance to be had here")
    banned = tables.root / "banned"
    banned.write_text("192.0.2.1\n")
    tables.write("", f"ALL: {banned}\n")
    query = ("sshd", "unknown", "192.0.2.2")
    for _ in range(3):  # compiled, then watched
        assert library.hosts_ctl(*query, **tables.paths) is True
    polls: list[int] = []
    real = inotify._ioctl  # (the one system call of a poll: generation() or a probe)
    monkeypatch.setattr(inotify, "_ioctl", lambda *args: polls.append(1) or real(*args))
    assert library.hosts_ctl(*query, **tables.paths) is True
    assert len(polls) == 1
    with banned.open("a") as handle:
        handle.write("192.0.2.2\n")
    assert library.hosts_ctl(*query, **tables.paths) is False


# ------------------------------------------------------------------ the shared step


def test_check_step_names_the_io_and_is_pure() -> None:
    text = b"ftpd: .example : rfc931 3 : spawn echo %u : aclexec run %n\n"
    policy = compile_policy(TableSource("allow", text), TableSource("deny", None))
    site = site_of(_FakeSock(("192.0.2.7", 4000), ("192.0.2.1", 21)))
    evaluation = Evaluation(policy, connection_for("ftpd", site), Mode(dry_run=False))
    check = Check(evaluation, client=site.client, server=site.server)
    assert check.next_task() == LookupName("192.0.2.7", 5.0)
    check.supply(NameLookup(KnownName("h.example")))
    assert check.next_task() == AskIdent(("192.0.2.7", 4000), ("192.0.2.1", 21), 3, 113)
    check.supply("joe")
    assert check.next_task() == RunAclExec("run h.example", (Spawn("echo joe"),))
    check.supply(AclExecResult(1, 0))
    assert check.next_task() is None
    decision, actions, _ = check.conclude()
    # the spawn was carried out before the aclexec; what is left is the aclexec's own record
    assert decision.verdict is Verdict.GRANT and actions == (AclExec("run h.example"),)


def test_check_step_without_endpoints_answers_itself() -> None:
    policy = compile_policy(TableSource("allow", b"ALL: KNOWN\n"), TableSource("deny", None))
    site = site_of(_FakeSock(OSError(107, "Transport endpoint is not connected"), None))
    assert site.warnings == ["can't get client address: Transport endpoint is not connected"]
    check = Check(Evaluation(policy, connection_for("x", site)))
    assert check.next_task() is None
    assert check.conclude()[0].verdict is Verdict.GRANT  # no rule matched unknown


class _FakeSock:
    type = socket.SOCK_STREAM

    def __init__(self, peer: object, local: object) -> None:
        self.peer = peer
        self.local = local

    def getpeername(self) -> object:
        if isinstance(self.peer, OSError):
            raise self.peer
        return self.peer

    def getsockname(self) -> object:
        return self.local


# ------------------------------------------------------------------ check_socket


def test_check_socket_address_rule_needs_no_lookup(
    tables: Tables, tcp_pair: tuple[socket.socket, socket.socket], recorder: Recorder
) -> None:
    tables.write("svc: 127.0.0.2\n", "ALL: ALL\n")
    decision = library.check_socket(tcp_pair[0], "svc", **tables.paths)
    assert decision.granted and decision.lookups == () and recorder.asked == []
    assert decision.client_addr == "127.0.0.2"


def test_check_socket_name_and_user_rules_look_up_once(
    tables: Tables, tcp_pair: tuple[socket.socket, socket.socket], recorder: Recorder
) -> None:
    tables.write("svc: joe@.example : rfc931 2\n", "ALL: ALL\n")
    decision = library.check_socket(tcp_pair[0], "svc", **tables.paths)
    client = tcp_pair[1].getsockname()
    server = tcp_pair[0].getsockname()
    assert decision.granted
    assert decision.lookups == ("client name", "client user")
    assert recorder.asked == [
        "name 127.0.0.2",  # user@host: the host part first
        f"user {client} {server} 10",  # at the default timeout (rfc931 2 comes after the match)
    ]
    assert decision.client_info == "joe@good.example"
    recorder.asked.clear()
    assert not library.check_socket(tcp_pair[0], "svc", ident=False, **tables.paths).granted
    assert recorder.asked == ["name 127.0.0.2"]  # the user is "unknown" without asking


def test_check_socket_live_banner_and_spawn(
    tables: Tables, tcp_pair: tuple[socket.socket, socket.socket], recorder: Recorder
) -> None:
    banners = tables.root / "banners"
    banners.mkdir()
    (banners / "svc").write_text("hello %a from %d\n")
    marker = tables.root / "spawned"
    tables.write(f"svc: ALL: banners {banners} : spawn echo %c %n %c > {marker} : deny\n")
    server, client = tcp_pair
    decision = library.check_socket(server, "svc", live=True, ident=False, **tables.paths)
    assert decision.verdict is Verdict.DENY
    assert marker.read_text() == "127.0.0.2 good.example good.example\n"  # %n looks it up
    client.settimeout(5)
    assert client.recv(100) == b"hello 127.0.0.2 from svc\r\n"
    # dry run: nothing sent, nothing spawned
    marker.unlink()
    assert not library.check_socket(server, "svc", ident=False, **tables.paths).granted
    assert not marker.exists()
    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(100)


def test_check_socket_udp_peer(tables: Tables, recorder: Recorder) -> None:
    tables.write("dns: 192.0.2.53 : spawn echo %u\n", "ALL: ALL\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        granted = library.check_socket(udp, "dns", peer=("192.0.2.53", 5353), **tables.paths)
        assert granted.granted and granted.user == "unknown"  # never ident over UDP
        refused = library.check_socket(udp, "dns", peer=("192.0.2.54", 53), **tables.paths)
        assert not refused.granted
    assert recorder.asked == []


def test_check_socket_unconnected_without_peer_warns(
    tables: Tables, logs: pytest.LogCaptureFixture
) -> None:
    tables.write("", "ALL: ALL\n")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        decision = library.check_socket(udp, "dns", **tables.paths)
    assert not decision.granted and decision.client_addr == "unknown"
    assert texts(logs) == [
        (logging.WARNING, "warning: can't get client address: Transport endpoint is not connected")
    ]


# ------------------------------------------------------------------ the asyncio twin


def test_async_twin_does_not_block_the_loop(
    tables: Tables, monkeypatch: pytest.MonkeyPatch, recorder: Recorder
) -> None:
    tables.write("svc: .example\n", "ALL: ALL\n")

    async def slow_verify(address: str, *, timeout: float | None = None) -> NameLookup:
        recorder.asked.append(f"async name {address}")
        await asyncio.sleep(0.5)
        return NameLookup(ParanoidName())

    monkeypatch.setattr(async_lookup, "verify_host_name", slow_verify)
    ticks: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def main() -> list[bool]:
        results: list[bool] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            decision = await library.check_socket_async(writer, "svc", ident=False, **tables.paths)
            results.append(decision.granted)
            writer.close()

        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        stop.set()
        await tick
        return results

    assert asyncio.run(main()) == [False]  # paranoid is not .example
    assert recorder.asked == ["async name 127.0.0.1"]  # the blocking driver was not used
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 15 and max(gaps) < 0.2


def test_async_twin_live_spawn(tables: Tables) -> None:
    marker = tables.root / "spawned"
    tables.write(f"svc: 127.0.0.1 : spawn echo %a %d > {marker}\n", "ALL: ALL\n")

    async def main() -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            decision = await library.check_socket_async(
                writer, "svc", live=True, ident=False, **tables.paths
            )
            done.set_result(decision.granted and marker.exists())
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        _, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        result = await done
        writer.close()
        server.close()
        await server.wait_closed()
        return result

    assert asyncio.run(main()) is True
    assert marker.read_text() == "127.0.0.1 svc\n"


def test_public_names_are_lazy() -> None:
    """`import tcpwrap` loads no library, socket or asyncio code until a name is used."""
    import subprocess
    import sys

    code = (
        "import sys, tcpwrap\n"
        "assert not [m for m in sys.modules if m.startswith('tcpwrap.')], sys.modules\n"
        "assert 'asyncio' not in sys.modules\n"
        "from tcpwrap.library.sockets import check_socket\n"
        "assert tcpwrap.check_socket is check_socket\n"
        "assert 'asyncio' not in sys.modules\n"
        "from tcpwrap.library.async_sockets import check_socket_async\n"
        "assert tcpwrap.check_socket_async is check_socket_async\n"
        "assert {'check_socket', 'check_socket_async', 'hosts_ctl'} <= set(tcpwrap.__all__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_async_twin_compiles_tables_off_the_loop(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big table edit costs seconds to compile: the loop must not wait for it."""
    import tcpwrap.library.async_sockets as async_sockets

    tables.write("svc: 127.0.0.1\n", "ALL: ALL\n")
    real = library.policy_cache(**tables.paths)

    class SlowCache:
        def get(self) -> object:
            time.sleep(0.4)  # stands in for recompiling a 100k-line table
            return real.get()

    monkeypatch.setattr(async_sockets, "policy_cache", lambda *args: SlowCache())
    ticks: list[float] = []

    async def main() -> bool:
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        tick = asyncio.create_task(ticker())
        with socket.create_server(("127.0.0.1", 0)) as listener:
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            with server, client:
                decision = await library.check_socket_async(server, "svc", **tables.paths)
        stop.set()
        await tick
        return decision.granted

    assert asyncio.run(main()) is True
    assert max(b - a for a, b in itertools.pairwise(ticks)) < 0.2
