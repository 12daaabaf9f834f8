"""`tcpwrap check`: every planted problem is reported with its file and line (policy.check and
tools.check), the JSON shape, the -v listing and the exit statuses."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tcpwrap.cli import main
from tcpwrap.errors import Diagnostic, Kind
from tcpwrap.policy.check import (
    CheckOptions,
    Event,
    HostCheck,
    Listing,
    TableInput,
    check_policy,
    finding,
    is_problem,
)
from tcpwrap.policy.environment import Environment, StaticEnvironment
from tcpwrap.policy.rules import Language, TableSource
from tcpwrap.tools.check import USAGE, physical

WARNING = Kind.WARNING
ERROR = Kind.ERROR


@dataclass
class FakeProbe:
    hosts: dict[str, HostCheck] = field(default_factory=dict)
    netgroups: set[str] = field(default_factory=set)
    files: dict[str, list[list[str]] | str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    inetd: str = "/etc/inetd.conf"
    environment: StaticEnvironment = field(default_factory=StaticEnvironment)
    asked: list[str] = field(default_factory=list)

    @property
    def inetd_file(self) -> str:
        return self.inetd

    @property
    def env(self) -> Environment:
        return self.environment

    def dns(self, host: str) -> HostCheck | None:
        self.asked.append(host)
        if host in self.hosts:
            return self.hosts[host]
        if set(host) <= set("0123456789."):
            return HostCheck(1)  # numeric: one address with a good name
        return HostCheck(0, (f"{host}: host not found",))

    def prefetch(self, hosts: Sequence[str]) -> None:
        pass

    def netgroup_empty(self, group: str) -> bool:
        return group not in self.netgroups

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        return self.files.get(path)

    def daemon_status(self, daemon: str) -> str | None:
        return self.services.get(daemon.lower())


SERVICES = {"sshd": "yes", "in.ftpd": "yes", "in.telnetd": "no", "in.fingerd": "maybe"}


def run_check(
    allow: bytes | None,
    deny: bytes | None = b"",
    probe: FakeProbe | None = None,
    **options: object,
) -> list[Event]:
    probe = probe or FakeProbe(services=dict(SERVICES))
    return check_policy(
        TableInput("hosts.allow", TableSource("hosts.allow", allow), "allow"),
        TableInput("hosts.deny", TableSource("hosts.deny", deny), "deny"),
        probe,
        CheckOptions(**options),  # type: ignore[arg-type]
    )


def findings(events: list[Event]) -> list[tuple[str | None, int | None, Kind, str]]:
    """(file, physical line, kind, message) of each finding, as the default output shows it."""
    shown = [physical(e) for e in events if is_problem(e)]
    return [(e.path, e.line, e.kind, e.message) for e in shown]


def debug_records(events: list[Event]) -> list[str]:
    return [e.message for e in events if isinstance(e, Diagnostic) and e.kind is Kind.DEBUG]


def has(events: list[Event], file: str, line: int | None, severity: Kind, text: str) -> bool:
    return any(
        f == file and n == line and s == severity and text in m for f, n, s, m in findings(events)
    )


# ----------------------------------------------------------------------------- the planted set

BROKEN_ALLOW = (
    b"sshd: 192.0.2.1\n"  # 1 fine
    b"  # in.ftpd: ALL\n"  # 2 indented '#': a live rule
    b"# comment \\\n"  # 3 comment ending in backslash ...
    b"in.ftpd: 192.0.2.5\n"  # 4 ... swallows this rule
    b"in.telnetd: 192.0.2.1\\\n"  # 5 continuation ...
    b"192.0.2.2\n"  # 6 ... glues two addresses
    b"sshd: 2001:db8::1\n"  # 7 unbracketed IPv6
    b"sshd: 192.0.2.1/24 10.0.0.0/255.255.255.255 0.0.0.0/0\n"  # 8 masks
    b"no colon here\n"  # 9 missing ':'
    b"sshd: /etc/nosuchlist /lists/self\n"  # 10 /file missing and recursive
    b"in.fingerd: ALL: /bin/echo hello\n"  # 11 classic shell command under options
    b"sshd: ALL: umask 999\n"  # 12 option error
    b"in.ftpd: EXCEPT 192.0.2.1\n"  # 13 list starting with EXCEPT
    b"in.ftpd: ALL EXCEPT\n"  # 14 ALL EXCEPT with nothing after
    b"in.telnetd: ALL\n"  # 15 matches every in.telnetd client ...
    b"in.telnetd: 192.0.2.9\n"  # 16 ... so this is shadowed
    b"22, in.* : *.example.com 192.0.2.* alph?.example.com\n"  # 17 ports and wildcards: fine
    b"sshd: ALL: spawn echo hi # done\n"  # 18 '#' inside a rule
    b"sshd: 192.000.002.001 192.0.2\n"  # 19 numbers that never match
    b"sshd: [::ffff:192.0.2.1] [2001:db8::zz]\n"  # 20 mapped and invalid IPv6
)
BROKEN_DENY = b"ALL: " + b"x" * 2100 + b"\nsshd: ALL\nALL: ALL"


def broken_probe() -> FakeProbe:
    return FakeProbe(
        services=dict(SERVICES),
        files={"/lists/self": [["192.0.2.3", "/lists/self"]]},
    )


@pytest.fixture(scope="module")
def broken() -> list[Event]:
    return run_check(BROKEN_ALLOW, BROKEN_DENY, broken_probe())


EXPECTED = [
    ("hosts.allow", 2, WARNING, '"#" is not in the first column'),
    ("hosts.allow", 2, WARNING, "#: no such process name in /etc/inetd.conf"),
    ("hosts.allow", 3, WARNING, "comment ends in a backslash, so line 4 is joined"),
    ("hosts.allow", 6, WARNING, 'joins "192.0.2.1" and "192.0.2.2" into one token'),
    ("hosts.allow", 6, WARNING, "in.telnetd: service possibly not wrapped"),
    ("hosts.allow", 7, WARNING, "2001:db8::1: an IPv6 address must be written in brackets"),
    ("hosts.allow", 7, ERROR, 'bad option name: "db8"'),
    ("hosts.allow", 8, WARNING, "192.0.2.1/24: the network part has bits outside the mask"),
    ("hosts.allow", 8, WARNING, "10.0.0.0/255.255.255.255: bad net/mask pattern"),
    ("hosts.allow", 8, WARNING, "255.255.255.255 is not accepted as a mask"),
    ("hosts.allow", 8, WARNING, "0.0.0.0/0: bad net/mask pattern"),
    ("hosts.allow", 9, WARNING, 'missing ":" separator'),
    ("hosts.allow", 10, WARNING, "/etc/nosuchlist: no such pattern file"),
    ("/lists/self", 1, ERROR, "/lists/self: pattern file includes itself"),
    ("hosts.allow", 11, ERROR, 'bad option name: "/bin/echo"'),
    ("hosts.allow", 11, WARNING, "looks like a shell command"),
    ("hosts.allow", 12, ERROR, 'bad umask value: "999"'),
    ("hosts.allow", 13, WARNING, "client list starts with EXCEPT"),
    ("hosts.allow", 14, WARNING, "client list is empty or ends in EXCEPT"),
    ("hosts.allow", 14, WARNING, '"ALL EXCEPT" excludes nothing'),
    ("hosts.allow", 16, WARNING, "this rule can never match: line 15"),
    ("hosts.allow", 18, WARNING, '"# done" is not a comment'),
    ("hosts.allow", 19, WARNING, "192.000.002.001: not an address in the form tcpd compares"),
    ("hosts.allow", 19, WARNING, "192.0.2: not an address in the form tcpd compares"),
    ("hosts.allow", 20, WARNING, "[::ffff:192.0.2.1]: an IPv4-mapped IPv6 pattern never matches"),
    ("hosts.allow", 20, WARNING, "[2001:db8::zz]: not a valid IPv6 address"),
    ("hosts.deny", 1, WARNING, "missing newline or line too long"),
    ("hosts.deny", 1, ERROR, "2106 bytes long"),
    ("hosts.deny", 3, WARNING, "missing newline or line too long"),
]


@pytest.mark.parametrize("expected", EXPECTED, ids=[f"{e[0]}:{e[1]}:{e[3][:30]}" for e in EXPECTED])
def test_planted_problem_is_reported(
    broken: list[Event], expected: tuple[str, int, str, str]
) -> None:
    file, line, severity, text = expected
    assert has(broken, file, line, severity, text), findings(broken)


def test_planted_problems_come_in_file_order(broken: list[Event]) -> None:
    positions = []
    for file, line, severity, text in EXPECTED:
        index = next(
            i for i, (f, n, s, m) in enumerate(findings(broken))
            if f == file and n == line and s == severity and text in m
        )
        positions.append(index)
    assert positions == sorted(positions)


def test_nothing_is_reported_for_the_good_lines(broken: list[Event]) -> None:
    lines = {n for f, n, _, _ in findings(broken) if f == "hosts.allow"}
    assert not lines & {1, 4, 17}  # 4 was swallowed by the comment: reported on line 3
    assert not any("host not found" in m for *_, m in findings(broken))


def test_stop_explanation_says_what_tcpd_does(broken: list[Event]) -> None:
    (message,) = [m for f, n, s, m in findings(broken) if s == ERROR and f == "hosts.deny"]
    assert 'it logs "hosts.deny, line 0: missing newline or line too long"' in message
    assert "the 2 rule line(s) after it" in message
    assert "denies every client that the allow table does not grant" in message


def test_missing_final_newline_in_deny_table() -> None:
    events = run_check(b"", b"in.ftpd: 192.0.2.1\nsshd: ALL")
    assert findings(events) == [
        ("hosts.deny", 2, WARNING, "missing newline or line too long"),
        (
            "hosts.deny",
            2,
            ERROR,
            "the last line has no final newline: tcpd stops reading hosts.deny here and "
            'ignores this line (it logs "hosts.deny, line 1: missing newline or line too long")'
            "; in the deny table this denies every client that the allow table does not grant",
        ),
    ]


def test_rules_after_the_stop_are_still_checked_but_not_for_shadowing() -> None:
    long_line = b"# " + b"x" * 2100 + b"\n"
    events = run_check(long_line + b"ALL: ALL\nsshd: FAIL\nALL: ALL\n")
    assert has(events, "hosts.allow", 3, WARNING, "FAIL is no longer recognized")
    assert not any("can never match" in m for *_, m in findings(events))


# ----------------------------------------------------------------------------- tcpdchk checks


def test_tcpdchk_daemon_user_and_host_checks_in_order() -> None:
    probe = FakeProbe(
        services=dict(SERVICES),
        netgroups={"trusted"},
        hosts={
            "multi.example.com": HostCheck(2),
            "alpha": HostCheck(1, ("alpha: hostname alias", "(official name: alpha.example.com)")),
            "192.0.2.99": HostCheck(1, ("host address 192.0.2.99->name lookup failed",)),
        },
    )
    events = run_check(
        b"ALL: LOCAL @trusted @nosuchgroup\n"
        b"multi@multi.example.com: alpha 192.0.2.99 nosuch.invalid .2.1 192.0.2. host.\n"
        b"KNOWN, unknown, in.nosuchd, in.nosuchd: joe@ALL @g@ALL LOCAL@ALL paranoid@x\n",
        probe=probe,
    )
    assert [(n, m) for _, n, _, m in findings(events)] == [
        (1, "nosuchgroup: unknown or empty netgroup"),
        (2, "host multi.example.com has more than one address"),
        (2, "(consider using an address instead)"),
        (2, "multi: no such process name in /etc/inetd.conf"),
        (2, "alpha: hostname alias"),
        (2, "(official name: alpha.example.com)"),
        (2, "host address 192.0.2.99->name lookup failed"),
        (2, "nosuch.invalid: host not found"),
        (2, ".2.1: network number begins with dot"),
        (2, "host.: domain or host name ends in dot"),
        (3, "KNOWN: daemon name may be reserved word"),
        (3, "in.nosuchd: no such process name in /etc/inetd.conf"),  # reported once
        (3, '@g: user name begins with "@"'),
        (3, "LOCAL: user name may be reserved word"),
        (3, "paranoid: user name may be reserved word"),
        (3, "x: host not found"),
    ]


def test_wildcards_and_ports_are_understood_without_lookups() -> None:
    probe = FakeProbe(services=dict(SERVICES))
    events = run_check(b"22, in.*, ss?d: *.example.com 192.0.2.* alph?.example.com\n", probe=probe)
    assert findings(events) == []
    assert probe.asked == []


def test_pattern_file_context_and_unreadable_file() -> None:
    probe = FakeProbe(
        services=dict(SERVICES),
        files={
            "/l/hosts": [["192.0.2.1", "nosuch2.invalid"], ["#x", "EXCEPT"]],
            "/l/ro": "Permission denied",
        },
    )
    events = run_check(b"sshd: /l/hosts /l/ro\n", probe=probe, implicit_allow=True)
    assert [(f, n, s, m) for f, n, s, m in findings(events)] == [
        ("/l/hosts", 1, WARNING, "nosuch2.invalid: host not found"),
        ("/l/hosts", 2, WARNING, '"#x": a pattern file has no comments; this is a pattern'),
        ("/l/hosts", 2, WARNING, "#x: host not found"),
        ("/l/hosts", 2, WARNING, '"EXCEPT": a pattern file has only whitespace-separated host '
         "patterns (no EXCEPT, no commas); this token is a literal pattern"),
        ("/l/hosts", 2, WARNING, "EXCEPT: host not found"),
        ("hosts.allow", 1, ERROR, "open /l/ro: Permission denied"),
        ("hosts.allow", 1, WARNING, 'implicit "allow" at end of rule'),
    ]


def test_options_are_dry_run_with_the_fictitious_request() -> None:
    events = run_check(
        b"in.ftpd: ALL: setenv A=B x\n"
        b"in.ftpd: ALL: aclexec /bin/false: spawn echo %r %R %x %h %a %u %d %N %A\n"
        b"sshd: ALL: twist echo hi\n"
        b"sshd: ALL: ALLOW\n",
        b"ALL: ALL: spawn (/usr/sbin/safe_finger -l @%h | /usr/bin/mail -s %d-%h root) &\n"
        b"ALL: ALL: allow\n",
        verbose=True,
        implicit_allow=True,
    )
    debug = debug_records(events)
    assert debug == [
        "option:   setenv A=B x",
        "option:   aclexec /bin/false",
        "option:   spawn echo 0 0  client_hostname client_addr user_name daemon_name "
        "server_hostname server_addr",
        "option:   twist echo hi",
        "option:   ALLOW ",
        "option:   spawn (/usr/sbin/safe_finger -l @client_hostname | /usr/bin/mail -s "
        "daemon_name-client_hostname root) &",
        "option:   allow ",
    ]
    access = [e.text for e in events if isinstance(e, Listing) and e.text.startswith("access:")]
    assert access == [f"access:   {v}" for v in
                      ("denied", "granted", "granted", "granted", "denied", "granted")]
    assert [(n, s, m) for f, n, s, m in findings(events) if "can never" not in m] == [
        (1, ERROR, "memory allocation failure"),
        (2, WARNING, "unrecognized %x"),
        (2, WARNING, 'implicit "allow" at end of rule'),
    ]


def test_verbose_listing_format() -> None:
    events = run_check(b"in.fingerd,in.telnetd : .example.com EXCEPT alpha.example.com : ALLOW\n",
                       b"ALL:ALL\n", verbose=True)
    listing = [e.text for e in events if isinstance(e, Listing)]
    assert listing == [
        "",
        ">>> Rule hosts.allow line 1:",
        "daemons:  in.fingerd in.telnetd",
        "clients:  .example.com EXCEPT alpha.example.com",
        "access:   granted",
        "",
        ">>> Rule hosts.deny line 1:",
        "daemons:  ALL",
        "clients:  ALL",
        "access:   denied",
    ]


def test_classic_language_shows_the_command_and_flags_option_words() -> None:
    events = run_check(b"sshd: ALL: allow\nin.ftpd: ALL: echo %d\n", language=Language.CLASSIC,
                       verbose=True)
    assert has(events, "hosts.allow", 1, WARNING, 'the third field looks like options ("allow")')
    assert debug_records(events) == [
        "command:  allow",
        "command:  echo daemon_name",
    ]


def test_cross_table_shadowing_and_aclexec_exception() -> None:
    events = run_check(b"ALL: ALL: deny\n", b"sshd: 192.0.2.1\n")
    assert has(events, "hosts.deny", 1, WARNING, "hosts.allow line 1 already matches")
    events = run_check(b"ALL: ALL: aclexec /bin/check\n", b"sshd: 192.0.2.1\n")
    assert not any("can never match" in m for *_, m in findings(events))


@pytest.mark.parametrize(
    ("earlier", "later", "shadowed"),
    [
        (b"sshd: ALL", b"sshd: 192.0.2.1", True),
        (b"sshd, in.ftpd: 192.0.2.1 192.0.2.2", b"SSHD: 192.0.2.2", True),
        (b"sshd: ALL", b"sshd@192.0.2.1: 192.0.2.7", True),
        (b"sshd: ALL EXCEPT 192.0.2.1", b"sshd: 192.0.2.1", False),
        (b"sshd: .example.com", b"sshd: alpha.example.com", False),
        (b"sshd: 192.0.2.1", b"sshd: 192.0.2.1 192.0.2.2", False),
        (b"sshd: 192.0.2.1", b"sshd: 192.0.2.1 EXCEPT 192.0.2.1", False),
        (b"in.ftpd: ALL", b"sshd: ALL", False),
        (b"sshd: @Trusted", b"sshd: @trusted", False),  # netgroups are case-sensitive
    ],
)
def test_shadowing_is_conservative(earlier: bytes, later: bytes, shadowed: bool) -> None:
    events = run_check(earlier + b"\n" + later + b"\n")
    assert any("can never match" in m for *_, m in findings(events)) is shadowed


def test_unreadable_and_missing_tables() -> None:
    events = check_policy(
        TableInput("a", TableSource("a", None, "Permission denied"), "allow"),
        TableInput("d", TableSource("d", None), "deny", explicit=True),
        FakeProbe(),
    )
    assert findings(events) == [
        ("a", None, ERROR, "cannot open a: Permission denied"),
        ("d", None, WARNING, "d: no such file (tcpd treats a missing table as empty)"),
    ]
    assert findings(run_check(None, None)) == []


def test_render_with_and_without_context() -> None:
    assert finding(ERROR, "m", "f", 3).render() == "error: f, line 3: m"
    assert finding(WARNING, "cannot open f: x", "f").render() == "warning: cannot open f: x"


# ----------------------------------------------------------------------------- the command


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    sbin = tmp_path / "sbin"
    sbin.mkdir()
    for name in ("tcpd", "in.ftpd", "sshd"):
        (sbin / name).write_text("#!/bin/sh\n")
        (sbin / name).chmod(0o755)
    (tmp_path / "inetd.conf").write_text(
        f"ftp stream tcp nowait root {sbin}/tcpd in.ftpd\n"
        f"ssh stream tcp nowait root {sbin}/sshd sshd\n"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(world: Path, *args: str) -> list[str]:
    return ["check", "-i", str(world / "inetd.conf"), "--real-daemon-dir", str(world / "sbin"),
            "--no-dns", *args]


def test_cli_clean_tables_exit_0(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (world / "hosts.allow").write_text("in.ftpd: 192.0.2.1\n")
    (world / "hosts.deny").write_text("ALL: ALL\n")
    assert main(cli(world, "-d")) == 0
    assert capsys.readouterr().out == ""


def test_cli_warnings_only_exit_0_errors_exit_1(
    world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (world / "hosts.allow").write_text("in.ftpd: 192.0.2.1\nin.nosuchd: ALL\n")
    (world / "hosts.deny").write_text("")
    assert main(cli(world, "-d")) == 0
    assert capsys.readouterr().out == (
        f"warning: hosts.allow, line 2: in.nosuchd: no such process name in {world}/inetd.conf\n"
    )
    (world / "hosts.deny").write_text("ALL: ALL: frobnicate\n")
    assert main(cli(world, "-d")) == 1
    assert 'error: hosts.deny, line 1: bad option name: "frobnicate"' in capsys.readouterr().out


def test_cli_json_shape(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    allow = world / "a"
    allow.write_text("in.ftpd: ALL: severity bogus\nsshd: ALL")
    assert main(cli(world, "--json", "--allow", str(allow), "--deny", str(world / "none"))) == 1
    records = json.loads(capsys.readouterr().out)
    assert isinstance(records, list)
    assert all(set(r) == {"file", "line", "severity", "message"} for r in records)
    assert records[0] == {"file": str(allow), "line": 1, "severity": "error",
                          "message": 'bad syslog facility or severity: "bogus"'}
    assert {"file": str(allow), "line": 2, "severity": "warning",
            "message": "missing newline or line too long"} in records
    assert records[-1] == {"file": str(world / "none"), "line": None, "severity": "warning",
                           "message": f"{world}/none: no such file (tcpd treats a missing "
                                      "table as empty)"}


def test_cli_verbose_listing_and_network_file(
    world: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (world / "hosts.allow").write_text("in.ftpd: ALL\n")
    assert main(cli(world, "-d", "-v", "-a")) == 0
    assert capsys.readouterr().out == (
        f"Using network configuration file: {world}/inetd.conf\n"
        "\n>>> Rule hosts.allow line 1:\ndaemons:  in.ftpd\nclients:  ALL\n"
        'warning: hosts.allow, line 1: implicit "allow" at end of rule\n'
        "access:   granted\n"
    )


def test_cli_unopenable_inetd_conf(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-d", "-i", "/nonexistent"]) == 1
    assert capsys.readouterr().err == "open /nonexistent: No such file or directory\n"


@pytest.mark.parametrize("argv", [["-x"], ["operand"], ["-d", "extra"]])
def test_cli_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", *argv])
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.endswith(USAGE)
    assert USAGE == (
        "usage: tcpdchk [-a] [-d] [-i inet_conf] [-v]\n"
        '\t-a: report rules with implicit "ALLOW" at end\n'
        "\t-d: use allow/deny files in current directory\n"
        "\t-i: location of inetd.conf file\n"
        "\t-v: list all rules\n"
    )


def test_cli_unreadable_table_is_an_error(world: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (world / "hosts.allow").mkdir()  # a directory reads as empty, like tcpd
    assert main(cli(world, "-d")) == 0
    assert capsys.readouterr().out == ""
    plain = world / "plain"
    plain.write_text("")
    table = plain / "hosts.deny"  # open() fails with ENOTDIR (not ENOENT), also for root
    assert main(cli(world, "-d", "--deny", str(table))) == 1
    assert capsys.readouterr().out == f"error: cannot open {table}: Not a directory\n"


def test_shadowing_scales_to_denyhosts_tables() -> None:
    lines = [f"ALL: 10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(20000)]
    lines.append("sshd: 10.0.0.5")  # covered by line 6 (ALL: 10.0.0.5)
    events = run_check(b"", ("\n".join(lines) + "\n").encode(), FakeProbe(services=SERVICES))
    assert [(n, m[:44]) for f, n, s, m in findings(events)] == [
        (20001, "this rule can never match: line 6 (ALL : 10.")
    ]


def test_system_probe_dns_checks_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from tcpwrap.drivers.inetd import InetdAnalysis
    from tcpwrap.drivers.lookup import HostAddresses
    from tcpwrap.policy.facts import KnownName, NameLookup, UnknownName
    from tcpwrap.tools import check

    looked: list[str] = []

    def fake_find(host: str, *, timeout: float) -> HostAddresses:
        looked.append(host)
        if host == "gone":
            return HostAddresses(host, (), ("gone: host not found",))
        return HostAddresses(host, ("192.0.2.1", "192.0.2.2"), ("x: hostname alias",))

    def fake_verify(address: str, *, timeout: float) -> NameLookup:
        if address.endswith(".2"):
            return NameLookup(UnknownName())
        return NameLookup(KnownName("a.example"), ("some warning",))

    monkeypatch.setattr(check, "find_inet_addr", fake_find)
    monkeypatch.setattr(check, "verify_host_name", fake_verify)
    probe = check.SystemProbe(InetdAnalysis(None), limit=2)
    assert probe.dns("x") == HostCheck(2, (
        "x: hostname alias", "some warning", "host address 192.0.2.2->name lookup failed"
    ))
    assert probe.dns("gone") == HostCheck(0, ("gone: host not found",))
    assert probe.dns("x") is not None  # cached, not counted again
    assert probe.dns("third") is None and probe.skipped == 1
    assert looked == ["x", "gone"]
    assert check.SystemProbe(InetdAnalysis(None), dns=False).dns("x") is None
    assert probe.inetd_file == "(null)"


def test_colon_inside_a_command_and_ipv6_in_option_values() -> None:
    events = run_check(
        b"sshd: ALL: spawn echo 2001:db8::1\n"
        b'in.ftpd: ALL: twist /bin/echo "421 Error: go away"\n'
        b"in.fingerd: ALL: spawn echo a\\:b\n"
        b"ALL: ::1\n"
    )
    hint = 'the value of "{}" ends at the next ":", which starts a new option'
    assert has(events, "hosts.allow", 1, WARNING, hint.format("spawn"))
    assert not has(events, "hosts.allow", 1, WARNING, "must be written in brackets")
    assert has(events, "hosts.allow", 2, WARNING, hint.format("twist"))
    assert not any(n == 3 for _, n, _, _ in findings(events))
    assert has(events, "hosts.allow", 4, WARNING, "::1: an IPv6 address must be written")


def test_progress_line_after_a_second_rewritten_in_place_and_erased() -> None:
    from tcpwrap.tools.check import Progress

    out = io.StringIO()
    progress = Progress(out)
    progress("hosts.deny", 0, 100_000)
    progress.close()
    assert out.getvalue() == ""  # under a second: nothing shown, nothing to erase
    progress.start -= Progress.DELAY
    progress("hosts.deny\x1b", 8192, 100_000)
    progress("hosts.deny\x1b", 100_000, 100_000)
    progress.close()
    assert out.getvalue() == (
        "\r\x1b[Ktcpwrap check: hosts.deny?: line 8,192 of 100,000"
        "\r\x1b[Ktcpwrap check: hosts.deny?: line 100,000 of 100,000\r\x1b[K"
    )


def test_progress_is_reported_per_table_and_per_pattern_file() -> None:
    calls: list[tuple[str, int, int]] = []
    probe = FakeProbe(services=dict(SERVICES), files={"/l": [["192.0.2.1"]] * 9000})
    deny = b"ALL: 192.0.2.2\n" * 9000 + b"ALL: /l\n"
    run_check(b"sshd: 192.0.2.1\n", deny, probe, progress=lambda *a: calls.append(a))
    assert calls == [
        ("hosts.allow", 0, 1), ("hosts.allow", 1, 1),
        ("hosts.deny", 0, 9001), ("hosts.deny", 8192, 9001),
        ("/l", 8192, 9000), ("hosts.deny", 9001, 9001),
    ]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_only_on_a_terminal(
    world: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    from tcpwrap.tools.check import Progress

    (world / "hosts.deny").write_bytes(b"ALL: 192.0.2.2\n" * 20_000)
    err = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(Progress, "DELAY", 0.0)
    main(cli(world, "-d"))
    shown = err.getvalue()
    if terminal:
        assert "tcpwrap check: hosts.deny: line 16,384 of 20,000" in shown
        assert shown.endswith("\r\x1b[K")
    else:
        assert shown == ""


def test_prefetch_looks_ahead_without_changing_answers_order_or_limit() -> None:
    from tcpwrap.drivers.inetd import analyze_inetd
    from tcpwrap.tools.check import SystemProbe

    class Recorded(SystemProbe):
        def __init__(self, limit: int) -> None:
            super().__init__(analyze_inetd(None, for_check=True), limit=limit)
            self.looked_up: list[str] = []

        def _lookup(self, host: str, timeout: float | None) -> HostCheck:
            self.looked_up.append(host)
            return HostCheck(1, (host,))

    hosts = [f"192.0.2.{i}" for i in range(1, 31)]
    ahead = Recorded(limit=20)
    ahead.prefetch(hosts + hosts)
    assert sorted(ahead.looked_up) == sorted(hosts[:20])  # distinct, within the limit
    plain = Recorded(limit=20)
    for probe in (ahead, plain):
        answers = [probe.dns(h) for h in ["x.example", *hosts]]
        assert answers[0] == HostCheck(1, ("x.example",))
        assert answers[1:20] == [HostCheck(1, (h,)) for h in hosts[:19]]
        assert answers[20:] == [None] * 11  # the limit counts what was asked, in order
        assert probe.skipped == 11
    assert ahead.looked_up[20:] == ["x.example"]  # asked, not prefetched: looked up then
    assert Recorded(limit=20).prefetch(hosts[:3]) is None  # a few: looked up when asked


@pytest.mark.parametrize(("delay", "parallel"), [(0.0, False), (0.002, True)])
def test_prefetch_runs_lookups_in_parallel_only_when_they_are_slow(
    delay: float, parallel: bool
) -> None:
    # Answers from /etc/hosts (fast): one worker, threads would only fight over the GIL;
    # answers over the network (slow): many in flight. The answers are the same either way.
    import threading
    import time

    from tcpwrap.drivers.inetd import analyze_inetd
    from tcpwrap.tools.check import SystemProbe

    class Timed(SystemProbe):
        def __init__(self) -> None:
            super().__init__(analyze_inetd(None, for_check=True), limit=0)
            self.lock = threading.Lock()
            self.running = 0
            self.most = 0

        def _lookup(self, host: str, timeout: float | None) -> HostCheck:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            if delay:
                time.sleep(delay)
            with self.lock:
                self.running -= 1
            return HostCheck(1, (host,))

    hosts = [f"192.0.2.{i}" for i in range(1, 101)]
    probe = Timed()
    probe.prefetch(hosts)
    assert (probe.most > 1) is parallel
    assert [probe.dns(h) for h in hosts] == [HostCheck(1, (h,)) for h in hosts]


def test_prefetch_survives_a_first_lookup_that_never_answers_in_time() -> None:
    # A dead DNS server: the first lookup outlives the timeout. The look-ahead gives up on
    # it (no answer, not "local"), goes on with the rest, and `dns` asks again itself.
    import time

    from tcpwrap.drivers.inetd import analyze_inetd
    from tcpwrap.tools.check import SystemProbe

    class Dead(SystemProbe):
        def _lookup(self, host: str, timeout: float | None) -> HostCheck:
            if host == "192.0.2.1" and timeout is None:
                time.sleep(0.3)
            return HostCheck(1, (host,))

    hosts = [f"192.0.2.{i}" for i in range(1, 21)]
    probe = Dead(analyze_inetd(None, for_check=True), timeout=0.05, limit=0)
    probe.prefetch(hosts)
    assert [probe.dns(h) for h in hosts] == [HostCheck(1, (h,)) for h in hosts]


def test_table_bytes_are_printed_as_they_are(world: Path) -> None:
    import subprocess

    # a zero-width space (UTF-8 e2 80 8b) inside an address, and e-acute in an option
    (world / "hosts.allow").write_bytes(b"sshd: 192.0.2.\xe2\x80\x8b1: severity bogus\xc3\xa9\n")
    (world / "hosts.deny").write_bytes(b"ALL: 10.0.0.\xff\n")
    for mode in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "tcpwrap.cli", *cli(world, "-d", "-v", *mode)],
            cwd=world, capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        if mode:  # JSON escapes them: one code point per byte
            assert '"bad syslog facility or severity: \\"bogus\\u00c3\\u00a9\\""' in (
                done.stdout.decode("ascii")
            )
            continue
        assert b"clients:  192.0.2.\xe2\x80\x8b1\n" in done.stdout
        assert b'bad syslog facility or severity: "bogus\xc3\xa9"' in done.stdout
        assert b"clients:  10.0.0.\xff\n" in done.stdout


def test_cli_reports_a_pattern_file_over_the_limit(
    world: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 12 item 10: the list the runtime cuts (and fails closed on) is an error naming the
    # list's line where it was cut; --debian (tcpdchk's voice) says nothing
    import tcpwrap.tools.check as check_tool

    monkeypatch.setattr(check_tool, "PATTERN_FILE_LIMIT", 28)
    (world / "bans").write_bytes(b"192.0.2.1 192.0.2.2\n192.0.2.33 192.0.2.4\n")
    (world / "hosts.allow").write_text("")
    (world / "hosts.deny").write_text(f"ALL: {world / 'bans'}\n")
    assert main(cli(world, "-d")) == 1
    out = capsys.readouterr().out
    assert f"error: {world / 'bans'}, line 2: {world / 'bans'} is longer than 28 bytes" in out
    assert "split the list into several files" in out
    assert main(cli(world, "-d", "--debian")) == 0
    assert "longer than" not in capsys.readouterr().out


def test_pattern_file_tokens_as_fscanf_reads_them(tmp_path: Path) -> None:
    # C whitespace only (a non-breaking space is part of a token), a NUL ends a token, and a
    # NUL in the file's name ends the name (no ValueError)
    from tcpwrap.drivers.inetd import InetdAnalysis
    from tcpwrap.tools.check import SystemProbe

    (tmp_path / "bans").write_bytes(b"192.0.2.1\xa0x 10.0.0.\x00junk\n\x00z 1.2.3.4\n")
    probe = SystemProbe(InetdAnalysis(None), dns=False)
    assert probe.pattern_file(str(tmp_path / "bans")) == [
        ["192.0.2.1\xa0x", "10.0.0."], ["1.2.3.4"], []
    ]
    assert probe.pattern_file(str(tmp_path / "bans") + "\x00.old") == probe.pattern_file(
        str(tmp_path / "bans")
    )
