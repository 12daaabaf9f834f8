"""Every option acted on by tcpwrap-tcpd on a live socket: spawn, twist, banners, setenv,
umask, nice, severity, keepalive, linger, user/group, aclexec (both semantics), option errors.

The wrapper is exec'ed the way inetd does it (accepted socket on fds 0-2), in front of the fake
daemon that reports argv0, uid, gid, umask, nice and $TESTVAR.
"""

from __future__ import annotations

import re

import pytest

from e2e.wrapper.conftest import Kit
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

FAKE = b"FAKEDAEMON argv0=fakedaemon"


def _log(syslog: SyslogCapture) -> list[str]:
    return [f"{r.facility}.{r.severity} {r.message}" for r in syslog.records()]


def test_spawn_expansions(kit: Kit, syslog: SyslogCapture) -> None:
    kit.extra["TCPWRAP_IDENT_PORT"] = "1"  # %u: nothing answers, at once
    letters = "a=%a c=%c d=%d h=%h n=%n s=%s u=%u p=%p r=%r R=%R A=%A H=%H N=%N"
    kit.tables(allow=f"ALL: ALL: spawn echo {letters} > {kit.out}\n")
    got = kit.run(str(kit.fake))
    syslog.wait_for_count(1)
    assert got.received.startswith(FAKE)
    line = kit.read_out()
    pattern = (
        r"a=127\.0\.0\.2 c=127\.0\.0\.2 d=fakedaemon h=127\.0\.0\.2 n=good2\.e2e\.test "
        r"s=fakedaemon@127\.0\.0\.1 u=unknown p=(\d+) r=(\d+) R=(\d+) A=127\.0\.0\.1 "
        r"H=127\.0\.0\.1 N=localhost\n"
    )
    assert re.fullmatch(pattern, line), line
    # the name was looked up by %n: the log shows it
    assert _log(syslog) == ["daemon.info connect from good2.e2e.test (127.0.0.2)"]


def test_spawn_waits_unless_backgrounded_and_has_null_stdio(kit: Kit) -> None:
    kit.tables(allow="ALL: ALL: spawn sleep 1\n")
    assert kit.run(str(kit.fake)).elapsed >= 1.0
    kit.tables(allow="ALL: ALL: spawn (sleep 3) &\n")
    assert kit.run(str(kit.fake)).elapsed < 1.5
    kit.tables(allow=f"ALL: ALL: spawn ls -l /proc/self/fd/ > {kit.out} 2>&1\n")
    got = kit.run(str(kit.fake))
    assert got.received.startswith(FAKE)  # nothing of the spawn reached the client
    assert " 0 -> /dev/null" in kit.read_out()


def test_spawn_in_deny_runs_before_refusal(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(deny=f"ALL: ALL: spawn echo spawned for %d %a > {kit.out}\n")
    got = kit.run(str(kit.fake))
    assert got.received == b"" and got.status == 0
    assert kit.read_out() == "spawned for fakedaemon 127.0.0.2\n"
    assert _log(syslog) == ["daemon.warning refused connect from 127.0.0.2 (127.0.0.2)"]


def test_twist(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(deny="ALL: ALL: twist /bin/echo 421 go away %h %a %d\n")
    got = kit.run(str(kit.fake))
    assert got.received == b"421 go away 127.0.0.2 127.0.0.2 fakedaemon\n"
    assert got.status == 0 and got.elapsed < 1.5  # no refusal pause: sh replaced the wrapper
    syslog.wait_for_count(1)
    assert _log(syslog) == [
        "daemon.warning twist 127.0.0.2 to /bin/echo 421 go away 127.0.0.2 127.0.0.2 fakedaemon"
    ]
    assert [(r.event, r.verdict) for r in kit.records()] == [("twist", "twisted")]
    assert kit.records()[0].traps == ("twist",)


def test_twist_talks_to_the_client(kit: Kit) -> None:
    kit.tables(allow="ALL: ALL: twist read line; echo got $line from %a\n")
    got = kit.run(str(kit.fake), send=b"hello\n")
    assert got.received == b"got hello from 127.0.0.2\n"


def test_banners_then_allow_and_polite_refusal(kit: Kit, syslog: SyslogCapture) -> None:
    banners = kit.dir / "banners"
    banners.mkdir()
    (banners / "fakedaemon").write_text("Welcome %h to %d\nline2\n")
    kit.tables(allow=f"ALL: ALL: banners {banners}\n")
    got = kit.run(str(kit.fake))
    assert got.received.startswith(b"Welcome 127.0.0.2 to fakedaemon\r\nline2\r\n" + FAKE)
    (banners / "fakedaemon").write_text("Go away %a\n")
    kit.tables(allow=f"ALL: ALL: banners {banners} : deny\n")
    refused = kit.run(str(kit.fake))
    assert refused.received == b"Go away 127.0.0.2\r\n"
    assert _log(syslog)[-1] == "daemon.warning refused connect from 127.0.0.2 (127.0.0.2)"


def test_setenv_umask_nice_reach_the_daemon(kit: Kit) -> None:
    kit.tables(allow="ALL: ALL: setenv TESTVAR hello %a : umask 077 : nice 7\n")
    got = kit.run(str(kit.fake))
    assert b" umask=0077 nice=7 TESTVAR=hello 127.0.0.2\n" in got.received
    kit.tables(allow="ALL: ALL: umask 0 : nice\n")  # nice without a value: 10
    assert b" umask=0000 nice=10 " in kit.run(str(kit.fake)).received


def test_severity_in_both_tables(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(
        allow="ALL: 127.0.0.2: severity local0.alert\n", deny="ALL: ALL: severity auth.crit\n"
    )
    kit.run(str(kit.fake), client="127.0.0.2")
    kit.run(str(kit.fake), client="127.0.0.3")
    kit.tables(allow="ALL: ALL: severity notice\n")
    kit.run(str(kit.fake), client="127.0.0.2")
    syslog.wait_for_count(3)
    assert _log(syslog) == [
        "local0.alert connect from 127.0.0.2 (127.0.0.2)",
        "auth.crit refused connect from 127.0.0.3 (127.0.0.3)",
        "daemon.notice connect from 127.0.0.2 (127.0.0.2)",
    ]


PROBE = (
    "/usr/bin/python3 -I -S -c 'import socket,struct;s=socket.socket(fileno=0);"
    "o=s.getsockopt;S=socket.SOL_SOCKET;"
    'print(o(S,socket.SO_KEEPALIVE),struct.unpack("ii",o(S,socket.SO_LINGER,8)))\''
)


def test_keepalive_and_linger_are_set_on_the_socket(kit: Kit) -> None:
    kit.tables(allow=f"ALL: ALL: twist {PROBE}\n")
    assert kit.run(str(kit.fake)).received == b"0 (0, 0)\n"
    kit.tables(allow=f"ALL: ALL: keepalive : linger 7 : twist {PROBE}\n")
    assert kit.run(str(kit.fake)).received == b"1 (1, 7)\n"


def test_user_option_really_drops_privileges(kit: Kit, syslog: SyslogCapture) -> None:
    """Documented deviation: Debian's tcpd only validates the names (uid stays 0, T10)."""
    kit.tables(allow="ALL: ALL: user nobody\n")
    got = kit.run(str(kit.fake))
    assert b" uid=65534 euid=65534 gid=65534 " in got.received
    kit.tables(allow="ALL: ALL: user nobody.nogroup\n")
    got = kit.run(str(kit.fake))
    assert b" uid=65534 euid=65534 gid=65534 ngroups=1 " in got.received
    kit.tables(allow="ALL: ALL: group nogroup\n")
    assert b" uid=0 euid=0 gid=65534 ngroups=1 " in kit.run(str(kit.fake)).received
    # spawn after user runs unprivileged too
    kit.tables(allow=f"ALL: ALL: user nobody : spawn id -u > {kit.dir}/uid\n")
    kit.dir.chmod(0o777)
    kit.run(str(kit.fake))
    assert (kit.dir / "uid").read_text() == "65534\n"


def test_user_option_validate_only_is_debians(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(allow="ALL: ALL: user nobody.nogroup\n")
    got = kit.run(str(kit.fake), env=kit.env(user_option="validate"))
    assert b" uid=0 euid=0 gid=0 " in got.received
    kit.tables(allow="ALL: ALL: user no-such-user\n")
    refused = kit.run(str(kit.fake), env=kit.env(user_option="validate"))
    assert refused.received == b""
    assert _log(syslog)[-2:] == [
        f'daemon.err error: {kit.allow}, line 1: unknown user: "no-such-user"',
        "daemon.warning refused connect from 127.0.0.2 (127.0.0.2)",
    ]


def test_option_error_refuses(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(allow="ALL: ALL: bogus\n")
    assert kit.run(str(kit.fake)).received == b""
    assert _log(syslog) == [
        f'daemon.err error: {kit.allow}, line 1: bad option name: "bogus"',
        "daemon.warning refused connect from 127.0.0.2 (127.0.0.2)",
    ]


# ------------------------------------------------------------------ aclexec


@pytest.mark.parametrize(
    ("allow", "deny", "granted"),
    [
        ("ALL: ALL: aclexec /bin/true\n", "ALL: ALL\n", True),
        ("ALL: ALL: aclexec /bin/false\n", None, False),  # Debian: granted (T28b)
        (None, "ALL: ALL: aclexec /bin/true\n", True),  # Debian: refused (T28e)
        (None, "ALL: ALL: aclexec exit 3\n", False),  # Debian: granted (T28d)
        ("ALL: ALL: aclexec kill -9 $$\n", None, False),  # Debian: granted (T41)
    ],
)
def test_aclexec_documented_semantics(
    kit: Kit, allow: str | None, deny: str | None, granted: bool
) -> None:
    """hosts_options(5): exit 0 allows, anything else refuses (the default)."""
    kit.tables(allow=allow, deny=deny)
    assert kit.run(str(kit.fake)).received.startswith(FAKE) is granted
    assert kit.records()[0].traps == ("aclexec",)


def test_aclexec_documented_stdio_is_dev_null(kit: Kit) -> None:
    kit.tables(allow=f"ALL: ALL: aclexec echo to-client; ls -l /proc/self/fd/ > {kit.out}\n")
    got = kit.run(str(kit.fake))
    assert got.received.startswith(FAKE)  # "to-client" went to /dev/null
    assert " 0 -> /dev/null" in kit.read_out()
    assert " 1 -> " + str(kit.out) in kit.read_out()


@pytest.mark.parametrize(
    ("allow", "deny", "granted", "logged"),
    [
        ("ALL: ALL: aclexec /bin/false\n", "ALL: ALL\n", False, True),  # T28
        ("ALL: ALL: aclexec /bin/false\n", None, True, True),  # T28b
        ("ALL: ALL: aclexec /bin/true\n", "ALL: ALL\n", True, False),  # T28c
        (None, "ALL: ALL: aclexec /bin/false\n", True, True),  # T28d
        (None, "ALL: ALL: aclexec /bin/true\n", False, False),  # T28e
    ],
    ids=["T28", "T28b", "T28c", "T28d", "T28e"],
)
def test_aclexec_debian_semantics(
    kit: Kit,
    syslog: SyslogCapture,
    allow: str | None,
    deny: str | None,
    granted: bool,
    logged: bool,
) -> None:
    kit.tables(allow=allow, deny=deny)
    got = kit.run(str(kit.fake), env=kit.env(aclexec="debian"))
    assert got.received.startswith(FAKE) is granted
    assert ("daemon.info aclexec returned 1" in _log(syslog)) is logged


def test_aclexec_debian_output_reaches_the_client(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(allow="ALL: ALL: aclexec echo hello-from-aclexec; exit 7\n")  # T40
    got = kit.run(str(kit.fake), env=kit.env(aclexec="debian"))
    assert got.received.startswith(b"hello-from-aclexec\n" + FAKE)
    kit.tables(allow="ALL: ALL: aclexec kill -9 $$\n")  # T41
    kit.run(str(kit.fake), env=kit.env(aclexec="debian"))
    lines = _log(syslog)
    assert lines[:2] == [
        "daemon.info aclexec returned 1",
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
    ]
    assert re.fullmatch(
        rf"daemon\.err warning: {re.escape(str(kit.allow))}, line 1: "
        r"process \d+ exited with signal 9",
        lines[2],
    )
    assert lines[3:] == [
        "daemon.info aclexec returned 1",
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
    ]


def test_expansion_overflow_ends_without_daemon_or_refusal_record(
    kit: Kit, syslog: SyslogCapture
) -> None:
    """T26: percent_x overflow: warning, no daemon, no refusal record, the (configured) pause."""
    kit.tables(allow="ALL: ALL: spawn echo " + "%N" * 1000 + "\n")
    got = kit.run(str(kit.fake))
    assert got.received == b"" and got.status == 0
    assert 0.2 <= got.elapsed < 3
    assert _log(syslog) == [
        f"daemon.err warning: {kit.allow}, line 1: percent_x: expansion too long: "
        "echo localhostlocalhostlocalho..."
    ]
    assert [(r.event, r.verdict) for r in kit.records()] == [("error", None)]
