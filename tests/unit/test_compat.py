"""Each deliberate deviation from Debian 7.6.q (docs/compat.md) pinned by a test.

Deviations already pinned elsewhere are listed in docs/compat.md with their tests; this file
holds the ones that had no test of their own, plus the claims that turned out not to be
deviations (pinned so they stay that way). Tests marked `oracle` also run the real Debian
binaries (tcpdmatch, libwrap.so.0) to show the difference; they skip when those are absent,
unless TCPWRAP_E2E=required.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import ModuleType

import pytest

import tcpwrap
from harness import oracle
from harness.syslog_capture import SyslogCapture
from tcpwrap.cli import main
from tcpwrap.drivers import environment as sysenv
from tcpwrap.drivers import tables as tables_driver
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.lookup import HostAddresses
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Connection, Endpoint, Verdict
from tcpwrap.policy.facts import KnownName, NameLookup
from tcpwrap.policy.match import Evaluation, evaluate
from tcpwrap.policy.options import Banner, ChangeUser
from tcpwrap.policy.rules import TableSource
from tcpwrap.tools import match as match_tool

_need = oracle.need


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    (tmp_path / "inetd.conf").write_text("")
    return tmp_path


def tcpwrap_match(
    directory: Path, allow: str, deny: str, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    (directory / "hosts.allow").write_text(allow)
    (directory / "hosts.deny").write_text(deny)
    status = main([
        "match", "-i", str(directory / "inetd.conf"),
        "--allow", str(directory / "hosts.allow"), "--deny", str(directory / "hosts.deny"),
        *args,
    ])  # fmt: skip
    return status, capsys.readouterr().out


# ------------------------------------------------------------------ (1) user/group options


def test_match_only_validates_user_and_group(
    tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # D09: Debian's tcpdmatch really calls setuid()/setgid() on itself (as root: "denied")
    uid, gid = os.getuid(), os.getgid()
    status, out = tcpwrap_match(tables, "sshd: ALL: user nobody\n", "", "sshd", "192.0.2.1",
                                capsys=capsys)
    assert status == 0 and "access:   granted\n" in out
    assert (os.getuid(), os.getgid()) == (uid, gid)
    status, out = tcpwrap_match(tables, "sshd: ALL: user nosuchuser9\n", "", "sshd", "192.0.2.1",
                                capsys=capsys)
    assert 'error: ' in out and 'unknown user: "nosuchuser9"' in out
    assert "access:   denied\n" in out


def _child_identity(user: str | None, group: str | None) -> tuple[int, int, list[int]]:
    from tcpwrap.drivers.execute import drop_privileges

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read)
            drop_privileges(user, group)
            os.write(write, repr((os.getuid(), os.getgid(), sorted(os.getgroups()))).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as handle:
        text = handle.read()
    os.waitpid(pid, 0)
    import ast

    return ast.literal_eval(text)  # type: ignore[no-any-return]


def test_the_wrapper_really_drops_privileges() -> None:
    # Debian's tcpd only validates the names (inverted dry-run test, docs/compat.md §1, T10/T10b)
    if os.getuid() != 0:
        pytest.skip("needs root to change identity")
    import grp
    import pwd

    nobody = pwd.getpwnam("nobody")
    nogroup = grp.getgrnam("nogroup").gr_gid
    uid, gid, groups = _child_identity("nobody", None)
    assert (uid, gid) == (nobody.pw_uid, nobody.pw_gid)
    assert 0 not in groups  # root's supplementary groups are gone (initgroups)
    assert _child_identity("nobody", "nogroup") == (nobody.pw_uid, nogroup, [nogroup])
    uid, gid, groups = _child_identity(None, "nogroup")
    assert (uid, gid, groups) == (0, nogroup, [nogroup])


def test_user_option_yields_the_change_user_action() -> None:
    policy = compile_policy(TableSource("a", b"sshd: ALL: user nobody.nogroup\n"),
                            TableSource("d", None))
    decision = evaluate(policy, Connection("sshd", Endpoint("192.0.2.1")))
    assert decision.actions == (ChangeUser("nobody", "nogroup"),)


# ------------------------------------------------------------------ (2) self-including /file


def test_self_including_file_on_disk(tmp_path: Path) -> None:
    # G06: Debian recurses until it crashes (SIGSEGV)
    loop = tmp_path / "loop"
    loop.write_text(f"198.51.100.9 {loop}\n")
    policy = compile_policy(TableSource("a", f"sshd: {loop}\n".encode()), TableSource("d", None))
    decision = evaluate(policy, Connection("sshd", Endpoint("192.0.2.1")), env=SystemEnvironment())
    assert decision.granted and decision.origin is None
    assert [d.render() for d in decision.diagnostics] == [
        f"warning: a, line 1: {loop}: pattern file includes itself; not matched"
    ]


# ------------------------------------------------------------------ (3) address wildcards


def test_address_wildcard_never_reads_the_name() -> None:
    # H01: Debian's 192.0.2.* also matched a client whose PTR was 192.0.2.evil2.dns.test
    policy = compile_policy(TableSource("a", b"in.ftpd: 192.0.2.*\n"), TableSource("d", None))
    client = Connection("in.ftpd", Endpoint("203.0.113.74", resolvable=True))
    evaluation = Evaluation(policy, client)
    assert evaluation.next_need() is None  # no lookup is even asked for
    assert evaluation.decision.origin is None
    named = Connection("in.ftpd", Endpoint("203.0.113.74", name="192.0.2.evil2.dns.test"))
    assert evaluate(policy, named).origin is None
    # a pattern with a letter still reads the name, as in Debian
    policy = compile_policy(TableSource("a", b"in.ftpd: 192.0.2.e*\n"), TableSource("d", None))
    assert evaluate(policy, named).origin is not None


# ------------------------------------------------------------------ (4) tcpdmatch output


def test_match_prints_diagnostics_inline_and_the_rule(
    tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    allow = "bad line\nsshd: ALL: spawn echo %z\n"
    status, out = tcpwrap_match(tables, allow, "", "sshd", "192.0.2.1", capsys=capsys)
    path = tables / "hosts.allow"
    assert status == 0
    assert out == (
        "warning: sshd: no such process name in " + str(tables / "inetd.conf") + "\n"
        "client:   address  192.0.2.1\n"
        "server:   process  sshd\n"
        f'warning: {path}, line 1: missing ":" separator\n'
        f"matched:  {path} line 2\n"
        f"warning: {path}, line 2: unrecognized %z\n"
        "option:   spawn echo\n"
        "access:   granted\n"
        f"rule:     {path}, line 2\n"
    )


def test_match_debian_keeps_stdout_and_logs_the_rest(
    tables: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[str] = []
    monkeypatch.setattr(match_tool.Printer, "_log", lambda self, d: logged.append(d.render()))
    allow = "bad line\nsshd: ALL: spawn echo %z\n"
    status, out = tcpwrap_match(tables, allow, "", "--debian", "sshd", "192.0.2.1", capsys=capsys)
    path = tables / "hosts.allow"
    assert status == 0
    assert out == "client:   address  192.0.2.1\nserver:   process  sshd\naccess:   granted\n"
    assert logged == [
        "warning: sshd: no such process name in " + str(tables / "inetd.conf"),
        f'warning: {path}, line 1: missing ":" separator',
        f"matched:  {path} line 2",
        f"warning: {path}, line 2: unrecognized %z",
        "option:   spawn echo",
    ]


# ------------------------------------------------------------------ NUL bytes: not a deviation
# docs/rules.md: the text before a NUL is joined with the next line, and the scan goes on. A
# DenyHosts list with a NUL run (a crash during an append) keeps working: it must not deny
# everyone (issue 12). tests/unit/policy/test_tables_libwrap.py compares many such tables
# with libwrap; this runs the real tcpdmatch on the DenyHosts shape.

NUL_DENY = (
    b"# DenyHosts: Mon Jan  1 00:00:00 2024 | sshd: 192.0.2.7\nsshd: 192.0.2.7\n"
    + b"\x00" * 4000 + b"sshd: 192.0.2.8\n"
    + b"sshd: 192.0.2.9\nALL: 192.0.2.10 \x00junk\n: 192.0.2.11\n"
)


@pytest.mark.oracle
@pytest.mark.parametrize("client", ["192.0.2.7", "192.0.2.8", "192.0.2.9", "192.0.2.10",
                                    "192.0.2.11", "198.51.100.1"])
def test_nul_runs_are_read_as_tcpdmatch_reads_them(tmp_path: Path, client: str) -> None:
    import sys

    tcpdmatch = oracle.binary("tcpdmatch")
    (tmp_path / "hosts.allow").write_bytes(b"")
    (tmp_path / "hosts.deny").write_bytes(NUL_DENY)
    (tmp_path / "inetd.conf").write_bytes(b"")
    theirs = subprocess.run(
        [tcpdmatch, "-d", "-i", "inetd.conf", "sshd", client],
        cwd=tmp_path, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    ours = subprocess.run(
        [sys.executable, "-c", "from tcpwrap.cli import main; raise SystemExit(main())",
         "match", "--debian", "-d", "-i", "inetd.conf", "sshd", client],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert ours.stdout == theirs.stdout
    # 192.0.2.8 follows the NUL run on its line: lost, as in Debian; the rest still works
    granted = client in ("192.0.2.8", "192.0.2.11", "198.51.100.1")
    assert (b"access:   granted" in ours.stdout) is granted


# ------------------------------------------------------------------ (6) size caps


def test_pattern_file_and_banner_caps(tmp_path: Path) -> None:
    env = SystemEnvironment()
    big = tmp_path / "patterns"
    with big.open("wb") as handle:
        handle.write(b"192.0.2.1" + b" " * (sysenv.PATTERN_FILE_LIMIT - 9))
        handle.write(b"192.0.2.2\n")  # beyond the cap: never read
    compiled = env.pattern_file(str(big))
    assert not isinstance(compiled, str) and compiled is not None
    assert compiled.tokens == ("192.0.2.1",)
    banners = tmp_path / "banners"
    banners.mkdir()
    (banners / "sshd").write_bytes(b"x" * sysenv.BANNER_LIMIT + b"tail\n")
    data = env.banner(str(banners), "sshd")
    assert isinstance(data, bytes) and len(data) == sysenv.BANNER_LIMIT
    assert data.endswith(b"x")


def test_table_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # tables are read up to TABLE_LIMIT (256 MiB); the cut-off line then lacks its newline,
    # which fails closed like any other missing newline
    monkeypatch.setattr(tables_driver, "TABLE_LIMIT", 32)
    deny = tmp_path / "hosts.deny"
    deny.write_text("ALL: 10.0.0.1\nALL: 10.0.0.2\nALL: 10.0.0.3\n")
    source = tables_driver.read_table(str(deny))
    assert source.data == b"ALL: 10.0.0.1\nALL: 10.0.0.2\nALL:"
    policy = compile_policy(TableSource("a", None), source)
    assert evaluate(policy, Connection("sshd", Endpoint("192.0.2.1"))).verdict is Verdict.DENY


# ------------------------------------------------------------------ (7) percent_x overflow


def test_match_overflow_prints_no_access_line_and_returns_at_once(
    tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon = "d" * 127
    started = time.monotonic()
    status, out = tcpwrap_match(tables, "ALL: ALL: spawn " + "%d" * 100 + "\n", "", daemon,
                                "192.0.2.1", capsys=capsys)
    assert time.monotonic() - started < 2  # Debian's tcpdmatch sleeps 5 s first
    assert status == 0
    assert "percent_x: expansion too long: " + "d" * 30 + "..." in out
    assert "access:" not in out


# ------------------------------------------------------------------ (8) not a deviation


def test_twist_on_a_second_address_is_still_delegated(
    tables: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checked against Debian's tcpdmatch with a two-address name in a private /etc/hosts:
    # both predictions print "delegated" (the resident check is skipped in dry runs).
    monkeypatch.setattr(match_tool, "find_inet_addr", lambda host, timeout: HostAddresses(
        host, ("192.0.2.10", "192.0.2.11")))
    monkeypatch.setattr(match_tool, "verify_host_name",
                        lambda address, timeout: NameLookup(KnownName("multi.test")))
    status, out = tcpwrap_match(tables, "sshd: ALL: twist /bin/echo hi\n", "", "--debian",
                                "sshd", "multi.test", capsys=capsys)
    monkeypatch.undo()
    assert status == 0
    assert out == (
        "client:   hostname multi.test\nclient:   address  192.0.2.10\n"
        "server:   process  sshd\naccess:   delegated\n\n"
        "client:   hostname multi.test\nclient:   address  192.0.2.11\n"
        "server:   process  sshd\naccess:   delegated\n"
    )


# ------------------------------------------------------------------ (9) hosts_ctl strings

LONG = [
    # (allow table, daemon, name, address, user, granted)
    ("ALL: .example\n", "sshd", "a" * 127 + ".example", "192.0.2.1", "unknown", False),
    ("ALL: " + "a" * 127 + "\n", "sshd", "a" * 127 + ".example", "192.0.2.1", "unknown", True),
    ("ALL: " + "a" * 128 + "\n", "sshd", "a" * 200, "192.0.2.1", "unknown", False),
    ("d" * 127 + ": ALL\n", "d" * 200, "x", "192.0.2.1", "unknown", True),
    ("ALL: " + "1" * 127 + "\n", "sshd", "unknown", "1" * 200, "unknown", True),
    ("ALL: " + "u" * 127 + "@ALL\n", "sshd", "x", "192.0.2.1", "u" * 300, True),
    # a str is Latin-1 text: one character is one byte, as in the tables
    ("ALL: " + "\xe9" * 127 + "\n", "sshd", "\xe9" * 130, "192.0.2.1", "unknown", True),
    ("ALL: " + "\xe9" * 128 + "\n", "sshd", "\xe9" * 130, "192.0.2.1", "unknown", False),
]


def _write(directory: Path, allow: str) -> tuple[str, str]:
    allow_path, deny_path = directory / "hosts.allow", directory / "hosts.deny"
    allow_path.write_bytes(allow.encode("latin-1"))
    deny_path.write_bytes(b"ALL: ALL\n")
    return str(allow_path), str(deny_path)


@pytest.mark.parametrize(("allow", "daemon", "name", "addr", "user", "granted"), LONG)
def test_hosts_ctl_cuts_strings_at_127(
    tmp_path: Path, allow: str, daemon: str, name: str, addr: str, user: str, granted: bool
) -> None:
    allow_path, deny_path = _write(tmp_path, allow)
    assert tcpwrap.hosts_ctl(daemon, name, addr, user, allow=allow_path, deny=deny_path) is granted


def _libwrap_module() -> ModuleType:
    return oracle.libwrap_ctl()


@pytest.mark.oracle
@pytest.mark.parametrize(("allow", "daemon", "name", "addr", "user", "granted"), LONG)
def test_libwrap_cuts_the_same_latin1_strings_at_127_bytes(
    tmp_path: Path, allow: str, daemon: str, name: str, addr: str, user: str, granted: bool
) -> None:
    module = _libwrap_module()
    allow_path, deny_path = _write(tmp_path, allow)
    try:
        wrap = module.LibWrap(allow_path, deny_path)
    except OSError as exc:
        _need(f"libwrap.so.0 ({exc})", False)
    wrap.dry_run.value = 1
    fields = (daemon, name, addr, user)
    assert bool(wrap.lib.hosts_ctl(*(f.encode("latin-1") for f in fields))) is granted


# ------------------------------------------------------------------ banners on disk


def test_banner_file_through_the_system_environment(tmp_path: Path) -> None:
    (tmp_path / "sshd").write_bytes(b"hello %d\n")
    policy = compile_policy(TableSource("a", f"sshd: ALL: banners {tmp_path}\n".encode()),
                            TableSource("d", None))
    decision = evaluate(policy, Connection("sshd", Endpoint("192.0.2.1")), env=SystemEnvironment())
    assert decision.actions == (Banner("hello sshd\r\n"),)


# ------------------------------------------------------------------ byte fidelity


def test_match_prints_table_bytes_unchanged(tmp_path: Path) -> None:
    # Debian (and upstream's tcpdmatch on a terminal) print the table's bytes as they are
    import sys

    (tmp_path / "hosts.allow").write_bytes(b"sshd: ALL: bogus\xc3\xa9\n")
    (tmp_path / "hosts.deny").write_bytes(b"")
    (tmp_path / "inetd.conf").write_bytes(b"")
    result = subprocess.run(
        [sys.executable, "-c", "from tcpwrap.cli import main; raise SystemExit(main())",
         "match", "-i", "inetd.conf", "--allow", "hosts.allow", "--deny", "hosts.deny",
         "sshd", "192.0.2.1"],
        cwd=tmp_path, capture_output=True, timeout=60, check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )  # fmt: skip
    assert b'bad option name: "bogus\xc3\xa9"' in result.stdout


def test_match_debian_logs_table_bytes_unchanged(tmp_path: Path, syslog: SyslogCapture) -> None:
    # tcpdmatch's syslog record carries the table's bytes (c3 a9), not their UTF-8 re-encoding
    # (c3 83 c2 a9, which the capture would show as "bogusÃ©")
    import sys

    (tmp_path / "hosts.allow").write_bytes(b"sshd: ALL: bogus\xc3\xa9\n")
    (tmp_path / "hosts.deny").write_bytes(b"")
    (tmp_path / "inetd.conf").write_bytes(b"")
    subprocess.run(
        [sys.executable, "-c", "from tcpwrap.cli import main; raise SystemExit(main())",
         "match", "--debian", "-i", "inetd.conf", "--allow", "hosts.allow", "--deny",
         "hosts.deny", "sshd", "192.0.2.1"],
        cwd=tmp_path, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    record = syslog.wait_for(lambda r: "bad option name" in r.message)
    assert record.message.endswith('bad option name: "bogus\u00e9"')


def test_the_wrappers_records_carry_table_bytes(syslog: SyslogCapture) -> None:
    from tcpwrap.drivers.logsink import SyslogSink
    from tcpwrap.errors import error

    sink = SyslogSink("in.fingerd")
    sink.diagnostic(error('bad option name: "bogus\u00c3\u00a9"'))  # the table's c3 a9
    sink.level("info", "connect from caf\u00c3\u00a9 (192.0.2.1)")
    sink.close()
    assert syslog.wait_for(lambda r: "bad option" in r.message).message.endswith('"bogus\u00e9"')
    assert syslog.wait_for(lambda r: "connect" in r.message).message.startswith("connect from café")


def test_match_names_tcpds_line_and_the_physical_one_after_a_nul(
    tables: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 12 item 2: after a NUL-hidden newline tcpd's numbers are one lower; --debian keeps
    # tcpd's (the `matched:` record, checked against libwrap in test_tables_libwrap.py), the
    # default output adds the physical line
    (tables / "hosts.deny").write_bytes(b"sshd: 10.0.0.1\n\x00\x00ALL: 10.0.0.2\nsshd: 10.0.0.3\n")
    (tables / "hosts.allow").write_bytes(b"")
    status = main(["match", "-i", str(tables / "inetd.conf"), "--allow",
                   str(tables / "hosts.allow"), "--deny", str(tables / "hosts.deny"), "sshd",
                   "10.0.0.3"])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0
    assert f"rule:     {tables / 'hosts.deny'}, line 2 (physical line 3)\n" in out
