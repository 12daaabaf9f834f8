"""Name verification against dnsmasq and /etc/hosts, and ident against a scripted identd.

The wrapper runs inetd-style on a live socket (the accepted connection on fds 0-2). Clients
come from the crafted addresses of tests/harness/README.md: 127.0.0.2 (consistent), .3 (PTR
and A disagree), .4 (numeric PTR), .7 (136-character name), .8 (CNAME), 127.0.1.x (hostile
names from /etc/hosts). Tables in /etc are used where the message names the file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.wrapper.conftest import EtcTables, Kit
from harness.identd import IdentServer, error, raw, silent, user
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

FAKE = b"FAKEDAEMON argv0=fakedaemon"


def _log(syslog: SyslogCapture) -> list[str]:
    return [f"{r.facility}.{r.severity} {r.message}" for r in syslog.records()]


def _etc_env(kit: Kit, **more: str | None) -> dict[str, str]:
    return kit.env(allow=None, deny=None, **more)


# ------------------------------------------------------------------ names


def test_consistent_name_logged_only_when_a_rule_needed_it(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(allow="ALL: 127.0.0.2\n", deny="ALL: ALL\n")
    by_address = kit.run(str(kit.fake), client="127.0.0.2")
    kit.tables(allow="ALL: .e2e.test\n", deny="ALL: ALL\n")
    by_name = kit.run(str(kit.fake), client="127.0.0.2")
    syslog.wait_for_count(2)
    assert by_address.received.startswith(FAKE) and by_name.received.startswith(FAKE)
    assert _log(syslog) == [
        "daemon.info connect from 127.0.0.2 (127.0.0.2)",
        "daemon.info connect from good2.e2e.test (127.0.0.2)",
    ]
    first, second = kit.records()
    assert first.lookups == () and first.client.name is None
    assert second.client.name == "good2.e2e.test" and second.lookups != ()


def test_address_mismatch_warns_with_file_and_line_and_matches_paranoid(
    kit: Kit, syslog: SyslogCapture, etc_tables: EtcTables
) -> None:
    etc_tables.write(deny="ALL: PARANOID\n")
    refused = kit.run(str(kit.fake), client="127.0.0.3", env=_etc_env(kit))
    accepted = kit.run(str(kit.fake), client="127.0.0.2", env=_etc_env(kit))
    syslog.wait_for_count(3)
    assert refused.received == b"" and accepted.received.startswith(FAKE)
    assert _log(syslog) == [
        "daemon.err warning: /etc/hosts.deny, line 1: host name/address mismatch: "
        "127.0.0.3 != liar.e2e.test",
        "daemon.warning refused connect from 127.0.0.3 (127.0.0.3)",
        "daemon.info connect from good2.e2e.test (127.0.0.2)",
    ]


@pytest.mark.parametrize(
    ("client", "warning"),
    [
        ("127.0.0.4", "host name/name mismatch: reverse lookup results in non-FQDN 127.0.0.44"),
        (
            "127.0.0.7",
            "can't verify hostname: getaddrinfo(" + "c" * 63 + "." + "d" * 63 + ", AF_INET) failed",
        ),
        ("127.0.0.8", "host name/name mismatch: alias.e2e.test != canon.e2e.test"),
        ("127.0.0.9", "can't verify hostname: getaddrinfo(nofwd.e2e.test, AF_INET) failed"),
    ],
)
def test_paranoid_names(
    kit: Kit, syslog: SyslogCapture, etc_tables: EtcTables, client: str, warning: str
) -> None:
    etc_tables.write(allow="ALL: PARANOID: spawn echo %n > " + str(kit.out) + "\n")
    got = kit.run(str(kit.fake), client=client, env=_etc_env(kit))
    syslog.wait_for_count(2)
    assert got.received.startswith(FAKE)
    assert _log(syslog) == [
        f"daemon.err warning: /etc/hosts.allow, line 1: {warning}",
        f"daemon.info connect from {client} ({client})",
    ]
    assert kit.read_out() == "paranoid\n"


@pytest.mark.parametrize(
    ("client", "name_seen"),
    [
        ("127.0.1.1", "a_b__id_.hosts.test"),  # a;b$(id).hosts.test
        ("127.0.1.2", "x_id__y_z_w_v.hosts.test"),  # x`id`|y&z>w<v.hosts.test
        ("127.0.1.3", "100%n%h%d.hosts.test"),  # % is allowed, and never re-expanded
        ("127.0.1.4", "Mixed.CASE.hosts.test"),
    ],
)
def test_hostile_names_reach_the_shell_only_sanitised(
    kit: Kit, syslog: SyslogCapture, client: str, name_seen: str
) -> None:
    witness = kit.dir / "pwned"
    kit.tables(allow=f"ALL: ALL: spawn echo %h %n %h > {kit.out}; touch {witness}.%h\n")
    got = kit.run(str(kit.fake), client=client)
    syslog.wait_for_count(1)
    assert got.received.startswith(FAKE)
    # %h is the address until %n has looked the name up, then the (sanitised) name
    assert kit.read_out() == f"{client} {name_seen} {name_seen}\n"
    assert sorted(p.name for p in kit.dir.iterdir() if p.name.startswith("pwned")) == [
        f"pwned.{name_seen}"
    ]
    # the cached value stays sanitised: the log line shows what the shell saw (docs/rules.md)
    assert _log(syslog) == [f"daemon.info connect from {name_seen} ({client})"]


def test_overlong_hostile_name_from_hosts_file_is_paranoid(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(allow=f"ALL: ALL: spawn echo %n > {kit.out}\n")
    kit.run(str(kit.fake), client="127.0.1.5")
    syslog.wait_for_count(2)
    truncated = ("f" * 60 + "$(reboot)." + "g" * 66 + ".hosts.test")[:127]
    assert _log(syslog)[0] == (
        f"daemon.err warning: {kit.allow}, line 1: can't verify hostname: "
        f"getaddrinfo({truncated}, AF_INET) failed"
    )
    assert kit.read_out() == "paranoid\n"


def test_unresolvable_name_is_unknown_without_warning(kit: Kit, syslog: SyslogCapture) -> None:
    kit.tables(deny="ALL: UNKNOWN\n")
    for client in ("127.0.0.5", "127.0.0.6"):  # NXDOMAIN; PTR glibc refuses
        assert kit.run(str(kit.fake), client=client).received == b""
    syslog.wait_for_count(2)
    assert _log(syslog) == [
        "daemon.warning refused connect from 127.0.0.5 (127.0.0.5)",
        "daemon.warning refused connect from 127.0.0.6 (127.0.0.6)",
    ]


def test_dns_timeout_is_explicit(kit: Kit, syslog: SyslogCapture) -> None:
    """127.0.0.64's PTR query goes to a dead server: glibc alone would wait ~10 s."""
    kit.tables(allow=f"ALL: ALL: spawn echo %n > {kit.out}\n")
    got = kit.run(str(kit.fake), client="127.0.0.64", env=kit.env(dns_timeout="1"))
    assert got.received.startswith(FAKE)
    assert got.elapsed < 4
    assert kit.read_out() == "unknown\n"


# ------------------------------------------------------------------ ident


@pytest.fixture
def identd(kit: Kit) -> Iterator[IdentServer]:
    with IdentServer("127.0.0.2", 0, user("joe")) as server:
        kit.extra["TCPWRAP_IDENT_PORT"] = str(server.port)
        yield server


def test_rfc931_option_logs_user(kit: Kit, syslog: SyslogCapture, identd: IdentServer) -> None:
    kit.tables(allow="ALL: ALL: rfc931\n")
    got = kit.run(str(kit.fake))
    syslog.wait_for_count(1)
    assert got.received.startswith(FAKE)
    assert _log(syslog) == ["daemon.info connect from joe@127.0.0.2 (127.0.0.2)"]
    # the query: "<client port>,<server port>\r\n", from the server's address
    assert len(identd.requests) == 1
    cport, sport = identd.requests[0].decode().strip().split(",")
    assert cport.isdigit() and sport.isdigit()
    assert identd.peers[0][0] == "127.0.0.1"
    assert kit.records()[0].client.user == "joe"


@pytest.mark.parametrize(
    ("reply", "granted"),
    [(user("joe"), True), (error(), False), (user("jim"), False)],
    ids=["joe", "error", "other-user"],
)
def test_user_at_host_pattern(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer, reply: object, granted: bool
) -> None:
    identd.reply = reply  # type: ignore[assignment]
    kit.tables(allow="ALL: joe@127.0.0.2\n", deny="ALL: ALL\n")
    got = kit.run(str(kit.fake))
    syslog.wait_for_count(1)
    assert got.received.startswith(FAKE) is granted
    assert len(identd.requests) == 1


def test_no_identd_means_unknown(kit: Kit, syslog: SyslogCapture) -> None:
    kit.extra["TCPWRAP_IDENT_PORT"] = "1"  # nothing listens: connection refused at once
    kit.tables(allow="ALL: KNOWN@ALL\n", deny="ALL: ALL\n")
    got = kit.run(str(kit.fake))
    assert got.received == b"" and got.elapsed < 2


def test_hostile_ident_reply_is_sanitised(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer
) -> None:
    identd.reply = user(b"ev;il$(x)`id`|&> trailing words", b"UNIX,US-ASCII")
    kit.tables(allow=f"ALL: ALL: spawn echo u=%u > {kit.out}\n")
    kit.run(str(kit.fake))
    syslog.wait_for_count(1)
    assert kit.read_out() == "u=ev_il__x__id____\n"
    assert _log(syslog) == ["daemon.info connect from ev_il__x__id____@127.0.0.2 (127.0.0.2)"]


@pytest.mark.parametrize(
    "reply",
    [
        raw(b"{c},{s}:USERID::joe\r\n"),  # empty OS field
        raw(b"1 , 2 : USERID : UNIX : joe\r\n"),  # wrong ports
        raw(b"\x00\xff\r\n"),
    ],
    ids=["no-os", "ports", "binary"],
)
def test_malformed_ident_replies_give_unknown(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer, reply: object
) -> None:
    identd.reply = reply  # type: ignore[assignment]
    kit.tables(allow=f"ALL: ALL: rfc931 3 : spawn echo %u > {kit.out}\n")
    got = kit.run(str(kit.fake))
    assert got.received.startswith(FAKE)
    assert kit.read_out() == "unknown\n"


def test_flooding_identd_is_cut_like_tcpd(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer
) -> None:
    """No newline, 5000 bytes: like tcpd's fgets, the first 511 bytes are the line, and the
    user is cut to 127 characters."""
    identd.reply = raw(b"{c} , {s} : USERID : UNIX : " + b"j" * 5000)
    kit.tables(allow=f"ALL: ALL: rfc931 3 : spawn echo %u > {kit.out}\n")
    kit.run(str(kit.fake))
    assert kit.read_out() == "j" * 127 + "\n"


def test_slow_identd_times_out_per_rfc931_option(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer
) -> None:
    identd.reply = silent()
    kit.tables(allow=f"ALL: ALL: rfc931 1 : spawn echo %u > {kit.out}\n")
    got = kit.run(str(kit.fake))
    assert got.received.startswith(FAKE)
    assert 0.9 <= got.elapsed < 3.0
    assert kit.read_out() == "unknown\n"


def test_configured_ident_timeout_is_the_default_for_rfc931(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer
) -> None:
    """`ident_timeout` replaces tcpd's 10 s for rules that say `rfc931` without a number."""
    identd.reply = silent()
    kit.tables(allow=f"ALL: ALL: rfc931 : spawn echo %u > {kit.out}\n")
    got = kit.run(str(kit.fake), env=kit.env(ident_timeout="1"))
    assert got.received.startswith(FAKE)
    assert 0.9 <= got.elapsed < 3.0
    assert kit.read_out() == "unknown\n"


def test_dripping_identd_is_bounded_by_the_same_timeout(
    kit: Kit, syslog: SyslogCapture, identd: IdentServer
) -> None:
    identd.reply = raw(b"{c} , {s} : USERID : UNIX : joe\r\n", drip=0.2)
    kit.tables(allow=f"ALL: ALL: rfc931 1 : spawn echo %u > {kit.out}\n")
    got = kit.run(str(kit.fake))
    assert got.elapsed < 3.0
    assert kit.read_out() == "unknown\n"
