"""proto.inetd_services: inetd.conf lines as `tcpwrap serve` runs them (openbsd-inetd's form)."""

from __future__ import annotations

import pytest

from tcpwrap.proto.inetd_services import Daemon, Family, line_daemon, parse_services


def test_classic_tcpd_line() -> None:
    parsed = parse_services("finger\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\tin.fingerd -w\n")
    (line,) = parsed.lines
    assert (line.line, line.hosts, line.service, line.stream, line.transport) == (
        1, ("*",), "finger", True, "tcp")
    assert (line.family, line.wait, line.max, line.user, line.group) == (
        Family.BOTH, False, None, "nobody", None)
    assert line.args == ("in.fingerd", "-w") and parsed.problems == ()
    assert line_daemon(line, "/usr/sbin") == Daemon(
        "in.fingerd", "/usr/sbin/in.fingerd", ("in.fingerd", "-w"), True)


@pytest.mark.parametrize(("args", "daemon"), [
    ("/usr/sbin/tcpd /usr/sbin/in.telnetd -h", Daemon(
        "in.telnetd", "/usr/sbin/in.telnetd", ("in.telnetd", "-h"), True)),
    ("/usr/local/bin/tcpwrap-tcpd tcpwrap-tcpd /opt/bin/daemon x", Daemon(
        "daemon", "/opt/bin/daemon", ("daemon", "x"), True)),
    ("/usr/local/bin/tcpwrap-tcpd in.fingerd", Daemon(
        "in.fingerd", "/real/in.fingerd", ("in.fingerd",), True)),
    ("/usr/sbin/tcpd sub/x", Daemon("sub/x", "/real/sub/x", ("sub/x",), True)),
    ("/usr/sbin/in.fingerd in.fingerd", Daemon(
        "in.fingerd", "/usr/sbin/in.fingerd", ("in.fingerd",), False)),
    ("/usr/bin/python3 python3 -c pass", Daemon(
        "python3", "/usr/bin/python3", ("python3", "-c", "pass"), False)),
])
def test_which_daemon_a_line_runs(args: str, daemon: Daemon) -> None:
    (line,) = parse_services(f"79 stream tcp nowait root {args}\n").lines
    assert line_daemon(line, "/real") == daemon


def test_hosts_ports_families_and_defaults() -> None:
    text = (
        "127.0.0.1:7931 stream tcp nowait root /bin/true true\n"
        "[::1]:7932 stream tcp6 nowait root /bin/true true\n"
        "127.0.0.1,[::1]:7933 dgram udp46 wait.40 root:daemon /bin/true true\n"
        "10.0.0.1:\n"
        "7934 stream tcp4,rcvbuf=64k,sndbuf=1m nowait.10 nobody.nogroup /bin/true true\n"
        "*:\n"
        "echo stream tcp nowait root internal\n"
        "7935 dgram udp wait root internal time\n"
    )
    parsed = parse_services(text)
    assert parsed.problems == ()
    hosts = [(line.hosts, line.service, line.family) for line in parsed.lines]
    assert hosts == [
        (("127.0.0.1",), "7931", Family.BOTH),
        (("::1",), "7932", Family.V6),
        (("127.0.0.1", "::1"), "7933", Family.DUAL),
        (("10.0.0.1",), "7934", Family.V4),
        (("*",), "echo", Family.BOTH),
        (("*",), "7935", Family.BOTH),
    ]
    third, fourth = parsed.lines[2], parsed.lines[3]
    assert (third.wait, third.max, third.user, third.group) == (True, 40, "root", "daemon")
    assert (fourth.rcvbuf, fourth.sndbuf) == (65536, 1 << 20)
    assert (fourth.max, fourth.group) == (10, "nogroup")
    assert parsed.lines[4].internal and parsed.lines[4].args == ()
    assert parsed.lines[5].args == ("time",)
    assert line_daemon(parsed.lines[4], "/x") == Daemon("echo", "internal", (), False)


@pytest.mark.parametrize(("text", "problem"), [
    ("finger stream tcp nowait root\n", "incomplete line"),
    ("finger raw tcp nowait root /bin/x x\n", "socket type 'raw' is not supported"),
    ("finger stream rpc/tcp nowait root /bin/x x\n", "protocol 'rpc/tcp' is not supported"),
    ("finger stream sctp nowait root /bin/x x\n", "unknown protocol 'sctp'"),
    ("finger dgram tcp nowait root /bin/x x\n", "socket type dgram does not go with protocol tcp"),
    ("finger stream tcp,rcvbuf=huge nowait root /bin/x x\n", "bad socket buffer option"),
    ("finger stream tcp sometimes root /bin/x x\n", "bad wait/nowait field 'sometimes'"),
    ("finger stream tcp nowait.x root /bin/x x\n", "bad wait/nowait field"),
    ("finger stream tcp nowait :wheel /bin/x x\n", "bad user field"),
    ("finger stream tcp nowait root bin/x x\n", "must be an absolute path"),
    ("finger stream tcp nowait root /bin/x\n", "argv[0] is required"),
    ("ftp stream tcp nowait root internal\n", "ftp: not an internal service"),
    ("7 stream tcp nowait root internal gopher\n", "gopher: not an internal service"),
    ("[::1:7 stream tcp nowait root /bin/x x\n", "expected"),
    ("a,,b:7 stream tcp nowait root /bin/x x\n", "bad host address specifier"),
])
def test_problems_name_their_line_and_skip_it(text: str, problem: str) -> None:
    parsed = parse_services("# first\n" + text + "echo stream tcp nowait root internal\n")
    assert [line.service for line in parsed.lines] == ["echo"]
    (found,) = parsed.problems
    assert found.line == 2 and problem in found.message, found.message
