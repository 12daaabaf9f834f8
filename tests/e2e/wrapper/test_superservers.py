"""tcpwrap-tcpd under the real openbsd-inetd and xinetd: allowed and refused, TCP, UDP, ::1.

Each super-server runs in the foreground with a generated configuration whose services listen
on high ports of 127.0.0.1 / ::1, running `tcpwrap-tcpd DAEMON` in front of the fake daemon,
the UDP daemon and the real `in.fingerd`. Clients bind their source address: 127.0.0.2 is
allowed, 127.0.0.3 is refused by hosts.deny.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from e2e.wrapper.conftest import Kit
from e2e.wrapper.wrapkit import (
    Service,
    free_port,
    running_inetd,
    running_xinetd,
    tcp_client,
    udp_client,
    wait_no_process,
)
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

Runner = Callable[..., AbstractContextManager[object]]
SERVERS: dict[str, Runner] = {"openbsd-inetd": running_inetd, "xinetd": running_xinetd}


@pytest.fixture(params=sorted(SERVERS))
def superserver(request: pytest.FixtureRequest) -> Runner:
    return SERVERS[request.param]


def _messages(syslog: SyslogCapture, tag: str) -> list[str]:
    return [f"{r.facility}.{r.severity} {r.message}" for r in syslog.records() if r.tag == tag]


def test_tcp_allowed_and_refused(kit: Kit, syslog: SyslogCapture, superserver: Runner) -> None:
    kit.tables(deny="ALL: 127.0.0.3\n")
    port = free_port("127.0.0.1")
    services = [Service("127.0.0.1", port, (str(kit.fake), "one"))]
    with superserver(services, kit.env(), kit.dir):
        ok = tcp_client("127.0.0.1", port, "127.0.0.2")
        no = tcp_client("127.0.0.1", port, "127.0.0.3")
        syslog.wait_for(lambda r: "refused connect" in r.message)
    assert ok.data.startswith(b"FAKEDAEMON argv0=fakedaemon argc=2 uid=0 ")
    assert b"umask=0022" in ok.data and ok.data.endswith(b" arg1=one\n")
    assert no.data == b"" and not no.timed_out
    assert no.elapsed >= 0.2
    assert _messages(syslog, "fakedaemon") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
    ]
    records = kit.records()
    assert [(r.event, r.verdict, r.client.addr) for r in records] == [
        ("connect", "granted", "127.0.0.2"),
        ("refused", "denied", "127.0.0.3"),
    ]
    assert records[1].rule is not None and records[1].rule.file == str(kit.deny)


def test_udp_allowed_keeps_datagram_refused_drains_it(
    kit: Kit, syslog: SyslogCapture, superserver: Runner
) -> None:
    kit.tables(deny="ALL: 127.0.0.3\n")
    port = free_port("127.0.0.1", 2)
    services = [Service("127.0.0.1", port, (str(kit.udp),), proto="udp")]
    with superserver(services, kit.env(), kit.dir):
        ok = udp_client("127.0.0.1", port, "127.0.0.2", b"ping-1")
        # xinetd loses a datagram that arrives before the previous "wait" server has exited
        # (its own behaviour, without any wrapper): let the daemon finish first.
        wait_no_process(kit.udp)
        time.sleep(0.1)  # and the super-server notice it
        no = udp_client("127.0.0.1", port, "127.0.0.3", b"ping-2", timeout=1.5)
        # no loop: the refused datagram was drained, so the super-server waits quietly
        syslog.wait_for(lambda r: "refused" in r.message)
        time.sleep(1.0)
        refused = [m for m in _messages(syslog, "udpdaemon") if "refused" in m]
        assert refused == ["daemon.warning refused connect from 127.0.0.3 (127.0.0.3)"]
        # and the service still works afterwards
        again = udp_client("127.0.0.1", port, "127.0.0.2", b"ping-3")
    # the daemon read the very datagram the wrapper peeked at
    assert ok.data == b"UDPDAEMON argv0=udpdaemon got=ping-1"
    assert no.timed_out and no.data == b""
    assert again.data == b"UDPDAEMON argv0=udpdaemon got=ping-3"
    assert _messages(syslog, "udpdaemon") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
    ]


def test_ipv6_loopback(kit: Kit, syslog: SyslogCapture, superserver: Runner) -> None:
    port = free_port("::1")
    services = [Service("::1", port, (str(kit.fake),))]
    with superserver(services, kit.env(), kit.dir):
        kit.tables(allow="ALL: [::1]: severity notice\n", deny="ALL: ALL\n")
        ok = tcp_client("::1", port, "::1")
        kit.tables(deny="ALL: [::1]/128\n")
        no = tcp_client("::1", port, "::1")
        syslog.wait_for(lambda r: "refused" in r.message)
    assert ok.data.startswith(b"FAKEDAEMON argv0=fakedaemon")
    assert no.data == b""
    assert _messages(syslog, "fakedaemon") == [
        "daemon.notice connect from ::1 (::1)",
        "daemon.warning refused connect from ::1 (::1)",
    ]


def test_real_in_fingerd(kit: Kit, syslog: SyslogCapture, superserver: Runner) -> None:
    """The real Debian in.fingerd behind the wrapper; the real finger client talks to it."""
    kit.tables(allow="in.fingerd: 127.0.0.2\n", deny="ALL: ALL\n")
    port = free_port("127.0.0.1")
    services = [Service("127.0.0.1", port, ("in.fingerd",))]
    with superserver(services, kit.env(), kit.dir):
        ok = tcp_client("127.0.0.1", port, "127.0.0.2", send=b"\r\n")
        no = tcp_client("127.0.0.1", port, "127.0.0.3", send=b"\r\n")
        syslog.wait_for(lambda r: "refused" in r.message)
    assert ok.data and not ok.timed_out  # in.fingerd answered (its listing of users)
    assert no.data == b""
    assert _messages(syslog, "in.fingerd") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
    ]


# ------------------------------------------------------------------ the three invocation forms


@pytest.fixture
def swap_dirs(kit: Kit) -> Iterator[tuple[Path, Path]]:
    """The paper's swap install: .../wrapped/in.fingerd -> tcpwrap-tcpd, real one elsewhere."""
    from e2e.wrapper.wrapkit import WRAPPER

    wrapped, real = kit.dir / "wrapped", kit.dir / "real"
    wrapped.mkdir()
    real.mkdir()
    (wrapped / "in.fingerd").symlink_to(WRAPPER)
    (real / "in.fingerd").symlink_to(kit.fake)
    yield wrapped, real


def test_swap_install(
    kit: Kit, syslog: SyslogCapture, superserver: Runner, swap_dirs: tuple[Path, Path]
) -> None:
    wrapped, real = swap_dirs
    kit.tables(deny="ALL: 127.0.0.3\n")
    port = free_port("127.0.0.1")
    service = Service(
        "127.0.0.1", port, ("arg",), program=str(wrapped / "in.fingerd"), argv0="in.fingerd"
    )
    with superserver([service], kit.env(real_daemon_dir=str(real)), kit.dir):
        ok = tcp_client("127.0.0.1", port, "127.0.0.2")
        no = tcp_client("127.0.0.1", port, "127.0.0.3")
        syslog.wait_for(lambda r: "refused" in r.message)
    assert ok.data.startswith(b"FAKEDAEMON argv0=in.fingerd argc=2 ")
    assert ok.data.endswith(b" arg1=arg\n")
    assert no.data == b""
    assert _messages(syslog, "in.fingerd") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
    ]


def test_swap_install_without_real_daemon_dir_refuses_to_loop(
    kit: Kit, syslog: SyslogCapture, swap_dirs: tuple[Path, Path]
) -> None:
    wrapped, _ = swap_dirs
    port = free_port("127.0.0.1")
    service = Service(
        "127.0.0.1", port, (), program=str(wrapped / "in.fingerd"), argv0="in.fingerd"
    )
    with running_inetd([service], kit.env(real_daemon_dir=str(wrapped)), kit.dir):
        reply = tcp_client("127.0.0.1", port, "127.0.0.2")
        record = syslog.wait_for(lambda r: r.message.startswith("error:"))
    assert reply.data == b""
    assert "the wrapper would call itself" in record.message


@pytest.fixture
def etc_inetd_conf() -> Iterator[Path]:
    """/etc/inetd.conf of the private namespace, restored afterwards."""
    import os

    assert os.environ.get("TCPWRAP_NS") == "1"
    path = Path("/etc/inetd.conf")
    saved = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if saved is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(saved)


def test_dropin_without_daemon_argument(
    kit: Kit, syslog: SyslogCapture, etc_inetd_conf: Path
) -> None:
    """`... /path/tcpwrap-tcpd in.fingerd` in /etc/inetd.conf: tcpd's argv[0] is lost by the
    script interpreter; the wrapper finds `in.fingerd` again from /etc/inetd.conf."""
    from e2e.wrapper.wrapkit import WRAPPER

    real = kit.dir / "real"
    real.mkdir()
    (real / "in.fingerd").symlink_to(kit.fake)
    (real / "in.tftpd").symlink_to(kit.udp)
    kit.tables(deny="ALL: 127.0.0.3\n")
    tcp_port, udp_port = free_port("127.0.0.1"), free_port("127.0.0.1", 2)
    text = (
        "# the classic line with /usr/sbin/tcpd replaced by tcpwrap-tcpd\n"
        f"127.0.0.1:{tcp_port} stream tcp nowait root {WRAPPER} in.fingerd -x\n"
        f"127.0.0.1:{udp_port} dgram udp wait root {WRAPPER} in.tftpd\n"
    )
    services = [  # only what inetd must listen on; the file is `text`
        Service("127.0.0.1", tcp_port, ()),
        Service("127.0.0.1", udp_port, (), proto="udp"),
    ]
    env = kit.env(real_daemon_dir=str(real))
    with running_inetd(services, env, kit.dir, conf=etc_inetd_conf, text=text):
        ok = tcp_client("127.0.0.1", tcp_port, "127.0.0.2")
        no = tcp_client("127.0.0.1", tcp_port, "127.0.0.3")
        udp = udp_client("127.0.0.1", udp_port, "127.0.0.2", b"dgram")
        syslog.wait_for(lambda r: "refused" in r.message)
    # inetd gave the script argv ["in.fingerd", "-x"]; the daemon gets them back
    assert ok.data.startswith(b"FAKEDAEMON argv0=in.fingerd argc=2 ")
    assert ok.data.endswith(b" arg1=-x\n")
    assert no.data == b""
    assert udp.data == b"UDPDAEMON argv0=in.tftpd got=dgram"
    assert [f"{r.tag} {r.message}" for r in syslog.records() if r.tag != "inetd"] == [
        "in.fingerd connect from 127.0.0.2 (127.0.0.2)",
        "in.fingerd refused connect from 127.0.0.3 (127.0.0.3)",
        "in.tftpd connect from 127.0.0.2 (127.0.0.2)",
    ]


def test_default_refuse_pause_is_five_seconds(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(deny="ALL: ALL\n")
    port = free_port("127.0.0.1")
    with running_inetd([Service("127.0.0.1", port, (str(kit.fake),))],
                       kit.env(refuse_pause=None), kit.dir):  # fmt: skip
        no = tcp_client("127.0.0.1", port, "127.0.0.2", timeout=15)
    assert no.data == b""
    assert 4.9 <= no.elapsed < 7.0


def test_configuration_error_refuses_and_drains(kit: Kit, syslog: SyslogCapture) -> None:
    """A bad setting fails closed: logged, the datagram read away (no inetd loop), 5 s."""
    kit.tables()
    env = kit.env(dns_timeout="soon")
    got = kit.run(str(kit.udp), proto="udp", env=env, client="127.0.0.2")
    assert got.queued is None and got.status == 0
    assert 4.9 <= got.elapsed < 7
    assert [r.message for r in syslog.records()] == [
        "error: configuration: TCPWRAP_DNS_TIMEOUT: dns_timeout: not a number: 'soon'"
    ]
