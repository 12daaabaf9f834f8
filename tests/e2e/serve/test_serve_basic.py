"""`tcpwrap serve` with real clients: TCP and UDP, IPv4 and IPv6, allowed and refused, a `wait`
UDP service, the internal services, tcpd lines checked in-process, the records it writes."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import pytest

from e2e.serve.servekit import ServeRun, running, wait_until
from e2e.wrapper.wrapkit import free_port, tcp_client, udp_client
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


def _messages(syslog: SyslogCapture, tag: str) -> list[str]:
    return [f"{r.facility}.{r.severity} {r.message}" for r in syslog.records() if r.tag == tag]


def test_tcpd_lines_are_checked_in_process(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    fake, _ = daemons
    port = free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait root /usr/sbin/tcpd {fake} one\n"
    run = ServeRun(workdir, inetd, deny="ALL: 127.0.0.3\n")
    with running(run):
        server_pid = run.pid
        ok = tcp_client("127.0.0.1", port, "127.0.0.2")
        no = tcp_client("127.0.0.1", port, "127.0.0.3")
        syslog.wait_for(lambda r: "refused connect" in r.message)
        wait_until(lambda: len(run.json_records()) == 2, what="two JSON records")
    assert ok.data.startswith(b"FAKEDAEMON argv0=fakedaemon argc=2 uid=0 ")
    assert ok.data.endswith(b" arg1=one\n")
    assert no.data == b"" and not no.timed_out
    assert no.elapsed < 1.0  # refused at once: no process, no 5 s pause
    assert _messages(syslog, "fakedaemon") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
    ]
    granted, refused = run.json_records()
    assert (granted["daemon"], granted["client_addr"], granted["verdict"], granted["trap"]) == (
        "fakedaemon", "127.0.0.2", "granted", False)
    assert (refused["client_addr"], refused["verdict"], refused["event"]) == (
        "127.0.0.3", "denied", "refused")
    assert refused["rule"] == {"file": str(run.deny), "line": 1}
    # the connect record carries the pid of the daemon that served it (tcpd's exec keeps its
    # pid); a refusal, the server's own
    pids = {r.message.split()[0]: r.pid for r in syslog.records() if r.tag == "fakedaemon"}
    assert pids["refused"] == server_pid == refused["pid"]
    assert pids["connect"] != server_pid and pids["connect"] == granted["pid"]


def test_child_gets_the_connection_and_nothing_else(
    workdir: Path, daemons: tuple[Path, Path]
) -> None:
    port = free_port("127.0.0.1")
    script = workdir / "show.sh"
    script.write_text("#!/bin/sh\nls /proc/self/fd | sort -n | tr '\\n' ' '; echo; env | sort\n")
    script.chmod(0o755)
    inetd = f"127.0.0.1:{port} stream tcp nowait root /usr/sbin/tcpd {script}\n"
    run = ServeRun(workdir, inetd, allow="ALL: ALL: setenv GREETING hello %a\n")
    with running(run):
        reply = tcp_client("127.0.0.1", port, "127.0.0.2")
    fds, *env = reply.data.decode().splitlines()
    # 0-2 the connection, 3 the directory `ls` itself opened; nothing of the server's
    assert fds.split() == ["0", "1", "2", "3"]
    assert "GREETING=hello 127.0.0.2" in env
    assert not any(line.startswith(("NOTIFY_SOCKET=", "LISTEN_", "TCPWRAP")) for line in env)
    assert any(line.startswith("PATH=") for line in env)


def test_user_and_group_of_the_line(workdir: Path, daemons: tuple[Path, Path]) -> None:
    fake, _ = daemons
    port = free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait nobody:nogroup /usr/sbin/tcpd {fake}\n"
    run = ServeRun(workdir, inetd)
    with running(run):
        reply = tcp_client("127.0.0.1", port, "127.0.0.2")
    assert b" uid=65534 " in reply.data and b" gid=65534 " in reply.data


def test_ipv6_allowed_and_refused(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    fake, _ = daemons
    port = free_port("::1")
    port2 = free_port("2001:db8:1::5")
    inetd = (
        f"[::1]:{port} stream tcp6 nowait root /usr/sbin/tcpd {fake} v6\n"
        f"[2001:db8:1::5]:{port2} stream tcp6 nowait root /usr/sbin/tcpd {fake} v6b\n"
    )
    run = ServeRun(workdir, inetd, deny="ALL: [2001:db8::]/32\n")
    with running(run):
        ok = tcp_client("::1", port, "::1")
        no = tcp_client("2001:db8:1::5", port2, "2001:db8::1")
        syslog.wait_for(lambda r: "refused" in r.message)
    assert ok.data.endswith(b" arg1=v6\n")
    assert no.data == b""
    assert _messages(syslog, "fakedaemon") == [
        "daemon.info connect from ::1 (::1)",
        "daemon.warning refused connect from 2001:db8::1 (2001:db8::1)",
    ]


def test_udp_wait_service(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    _, udp = daemons
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    inetd = f"127.0.0.1:{port} dgram udp wait root /usr/sbin/tcpd {udp}\n"
    run = ServeRun(workdir, inetd, deny="ALL: 127.0.0.3\n")
    with running(run):
        ok = udp_client("127.0.0.1", port, "127.0.0.2", b"ping-1")
        no = udp_client("127.0.0.1", port, "127.0.0.3", b"ping-2", timeout=1.0)
        # the refused datagram was drained: the next allowed request gets its own answer
        again = udp_client("127.0.0.1", port, "127.0.0.2", b"ping-3")
    assert ok.data == b"UDPDAEMON argv0=udpdaemon got=ping-1"
    assert no.timed_out and no.data == b""
    assert again.data == b"UDPDAEMON argv0=udpdaemon got=ping-3"
    assert _messages(syslog, "udpdaemon") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
    ]


def test_a_wait_udp_socket_is_not_watched_while_its_child_runs(
    workdir: Path, daemons: tuple[Path, Path]
) -> None:
    port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    slow = workdir / "slow.py"
    slow.write_text(
        "import socket, time\n"
        "s = socket.socket(fileno=0)\n"
        "got = []\n"
        "s.settimeout(1.5)\n"
        "try:\n"
        "    while True:\n"
        "        data, peer = s.recvfrom(100)\n"
        "        got.append(data)\n"
        "        s.sendto(b'one child saw ' + b','.join(got), peer)\n"
        "except OSError:\n"
        "    pass\n"
    )
    inetd = f"127.0.0.1:{port} dgram udp wait root /usr/bin/python3 python3 {slow}\n"
    run = ServeRun(workdir, inetd)
    with running(run):
        first = udp_client("127.0.0.1", port, "127.0.0.2", b"a")
        second = udp_client("127.0.0.1", port, "127.0.0.2", b"b")
        wait_until(lambda: not run.children(), timeout=10, what="the wait child to exit")
        time.sleep(0.1)
        third = udp_client("127.0.0.1", port, "127.0.0.2", b"c")
    assert first.data == b"one child saw a"
    assert second.data == b"one child saw a,b"  # the same child: the server did not fork again
    assert third.data == b"one child saw c"  # watched again after the child exited


def test_internal_services_tcp_and_udp(workdir: Path, syslog: SyslogCapture) -> None:
    ports = {name: free_port("127.0.0.1") for name in ("echo", "discard", "daytime", "chargen",
                                                         "time")}  # fmt: skip
    udp_ports = {n: free_port("127.0.0.1", socket.SOCK_DGRAM) for n in ("echo", "time")}
    inetd = "".join(
        f"127.0.0.1:{port} stream tcp nowait root internal {name}\n" for name, port in ports.items()
    ) + "".join(
        f"127.0.0.1:{port} dgram udp wait root internal {name}\n"
        for name, port in udp_ports.items()
    )
    run = ServeRun(workdir, inetd, config='[serve]\nwrap = "all"\n', deny="echo: 127.0.0.3\n")
    with running(run):
        echo = tcp_client("127.0.0.1", ports["echo"], "127.0.0.2", send=b"hello\r\n", timeout=1)
        refused = tcp_client("127.0.0.1", ports["echo"], "127.0.0.3", send=b"x")
        daytime = tcp_client("127.0.0.1", ports["daytime"], "127.0.0.2")
        stamp = tcp_client("127.0.0.1", ports["time"], "127.0.0.2")
        with socket.create_connection(("127.0.0.1", ports["chargen"]), timeout=5,
                                      source_address=("127.0.0.2", 0)) as sock:  # fmt: skip
            data = b""
            while len(data) < 10_000:
                data += sock.recv(4096)
        with socket.create_connection(("127.0.0.1", ports["discard"]), timeout=5,
                                      source_address=("127.0.0.2", 0)) as sock:  # fmt: skip
            sock.sendall(b"x" * 100_000)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(10) == b""
        udp_echo = udp_client("127.0.0.1", udp_ports["echo"], "127.0.0.2", b"datagram")
        udp_time = udp_client("127.0.0.1", udp_ports["time"], "127.0.0.2", b"?")
        udp_refused = udp_client("127.0.0.1", udp_ports["echo"], "127.0.0.3", b"no", timeout=0.5)
    assert echo.data == b"hello\r\n"  # the idle limit ended it (the client kept it open)
    assert refused.data == b"" and refused.elapsed < 1.0
    assert time.strftime("%Y").encode() in daytime.data and daytime.data.endswith(b"\r\n")
    (seconds,) = struct.unpack("!I", stamp.data)
    assert abs(seconds - 2_208_988_800 - time.time()) < 5
    lines = data.split(b"\r\n")
    assert len(lines[0]) == 72 and lines[0] == bytes(range(32, 104))
    assert lines[1] == bytes(range(33, 105))
    assert udp_echo.data == b"datagram"
    assert abs(struct.unpack("!I", udp_time.data)[0] - 2_208_988_800 - time.time()) < 5
    assert udp_refused.timed_out
    assert "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)" in _messages(
        syslog, "echo")


def test_lines_without_tcpd_are_not_checked_unless_wrap_all(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    fake, _ = daemons
    port = free_port("127.0.0.1")
    inetd = f"127.0.0.1:{port} stream tcp nowait root {fake} fakedaemon plain\n"
    run = ServeRun(workdir, inetd, deny="ALL: ALL\n")
    with running(run):
        reply = tcp_client("127.0.0.1", port, "127.0.0.2")
    assert reply.data.endswith(b" arg1=plain\n")  # as inetd without -l: served, not logged
    assert _messages(syslog, "fakedaemon") == []
    run = ServeRun(workdir, inetd, config='[serve]\nwrap = "all"\n', deny="ALL: ALL\n")
    with running(run):
        refused = tcp_client("127.0.0.1", port, "127.0.0.2")
        syslog.wait_for(lambda r: r.tag == "fakedaemon")
    assert refused.data == b""
    assert _messages(syslog, "fakedaemon") == [
        "daemon.warning refused connect from 127.0.0.2 (127.0.0.2)"
    ]


def test_exec_failure_is_logged_after_connect_and_closes_only_that_connection(
    workdir: Path, daemons: tuple[Path, Path], syslog: SyslogCapture
) -> None:
    fake, _ = daemons
    port, port2 = free_port("127.0.0.1"), free_port("127.0.0.1")
    inetd = (
        f"127.0.0.1:{port} stream tcp nowait root /usr/sbin/tcpd {workdir}/in.nosuchd\n"
        f"127.0.0.1:{port2} stream tcp nowait root /usr/sbin/tcpd {fake}\n"
    )
    run = ServeRun(workdir, inetd)
    with running(run):
        broken = tcp_client("127.0.0.1", port, "127.0.0.2")
        fine = tcp_client("127.0.0.1", port2, "127.0.0.2")
        syslog.wait_for(lambda r: r.message.startswith("error:"))
    assert broken.data == b"" and fine.data.startswith(b"FAKEDAEMON")
    assert _messages(syslog, "in.nosuchd") == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        f"daemon.err error: cannot execute {workdir}/in.nosuchd: No such file or directory",
    ]


def test_bad_lines_are_skipped_with_file_and_line(workdir: Path, syslog: SyslogCapture) -> None:
    port = free_port("127.0.0.1")
    inetd = (
        "# comment\n"
        "nosuchservice stream tcp nowait root /bin/true true\n"
        f"127.0.0.1:{port} stream tcp nowait root internal echo\n"
        "echo stream udp nowait root /bin/true true\n"
    )
    run = ServeRun(workdir, inetd)
    with running(run):
        syslog.wait_for(lambda r: "listening on" in r.message)
    errors = [r.message for r in syslog.records() if r.tag == "tcpwrap-serve"]
    assert any(f"{run.inetd}, line 2: unknown service 'nosuchservice'" in m for m in errors)
    assert any(f"{run.inetd}, line 4: socket type stream does not go with protocol udp" in m
               for m in errors)  # fmt: skip
    assert any(f"listening on 127.0.0.1:{port}/tcp" in m for m in errors)


def test_bad_configuration_does_not_start(workdir: Path) -> None:
    run = ServeRun(workdir, "", config="[limits]\nrate = -1\n")
    result = __import__("subprocess").run(run.argv(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{run.config}, line 2: [limits] rate: must be a number from 0.01" in result.stderr
