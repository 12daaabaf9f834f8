"""inetd.conf / xinetd.conf parsing (proto.inetd) and the service analysis (drivers.inetd)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tcpwrap.drivers.inetd import (
    LIBWRAPPED,
    MAYBE,
    NO,
    YES,
    analyze_inetd,
    check_real_daemon_dir,
    daemon_warning,
    world_writable,
)
from tcpwrap.proto.inetd import (
    INCOMPLETE,
    looks_like_xinetd,
    parse_inetd,
    parse_xinetd,
)

# ----------------------------------------------------------------------------- parsing


def test_plain_entry_with_user_and_arguments() -> None:
    parsed = parse_inetd("finger\tstream\ttcp\tnowait\tnobody\t/usr/sbin/tcpd\tin.fingerd -w\n")
    (entry,) = parsed.entries
    assert entry.line == 1
    assert entry.service == "finger"
    assert (entry.socket_type, entry.protocol, entry.user) == ("stream", "tcp", "nobody")
    assert entry.path == "/usr/sbin/tcpd"
    assert entry.args == ("in.fingerd", "-w")
    assert parsed.problems == ()


def test_comments_blank_lines_and_continuations_keep_line_numbers() -> None:
    text = (
        "# a comment\n"
        "\n"
        "telnet stream tcp nowait root \\\n"
        "   /usr/sbin/tcpd in.telnetd\n"
        "   \t\n"
        "ftp stream tcp nowait root /usr/sbin/tcpd in.ftpd\n"
    )
    entries = parse_inetd(text).entries
    assert [(e.line, e.service, e.args[0]) for e in entries] == [
        (4, "telnet", "in.telnetd"),
        (6, "ftp", "in.ftpd"),
    ]


def test_stream_first_field_form_has_no_service_name() -> None:
    (entry,) = parse_inetd("stream tcp nowait root /usr/sbin/tcpd in.rshd\n").entries
    assert entry.service is None
    assert entry.socket_type == "stream"
    assert entry.path == "/usr/sbin/tcpd"


def test_missing_user_field_and_irix_optional_path() -> None:
    (entry,) = parse_inetd("login stream tcp nowait ?/usr/sbin/tcpd in.rlogind\n").entries
    assert entry.user is None
    assert entry.path == "/usr/sbin/tcpd"
    assert entry.args == ("in.rlogind",)


def test_tlid_argument_count_is_skipped() -> None:
    (entry,) = parse_inetd("shell stream tcp nowait root /usr/sbin/tcpd 2 in.rshd -L\n").entries
    assert entry.args == ("in.rshd", "-L")


def test_internal_services_are_skipped_and_short_lines_are_incomplete() -> None:
    parsed = parse_inetd(
        "echo stream tcp nowait root internal\n"
        "daytime stream tcp nowait internal\n"
        "broken stream tcp\n"
        "noargs stream tcp nowait root /usr/sbin/tcpd\n"
    )
    assert parsed.entries == ()
    assert [(p.line, p.message) for p in parsed.problems] == [(3, INCOMPLETE), (4, INCOMPLETE)]


def test_rpc_entries_keep_their_protocol() -> None:
    (entry,) = parse_inetd("rstatd/1-3 dgram rpc/udp wait root /usr/sbin/tcpd rpc.rstatd\n").entries
    assert entry.protocol == "rpc/udp"
    assert entry.service == "rstatd/1-3"


XINETD = """\
# comment
defaults
{
    log_type = SYSLOG daemon info
}

includedir /etc/xinetd.d

service finger
{
    socket_type = stream
    protocol    = tcp
    wait        = no
    user        = nobody
    server      = /usr/sbin/tcpd
    server_args = /usr/sbin/in.fingerd -w
    flags       = NAMEINARGS
}

service telnet {
    disable = yes
    server = /usr/sbin/in.telnetd
}

service ftp
{
    protocol = tcp
    server = /usr/sbin/in.ftpd
    server_args = -l
    server_args += -a
}

service echo
{
    type = INTERNAL
    id = echo-stream
}
"""


def test_xinetd_blocks_includes_and_names() -> None:
    assert looks_like_xinetd(XINETD)
    assert not looks_like_xinetd("finger stream tcp nowait root /usr/sbin/tcpd in.fingerd\n")
    parsed = parse_xinetd(XINETD)
    assert parsed.includes == (("includedir", "/etc/xinetd.d"),)
    finger, ftp = parsed.entries  # telnet is disabled, echo is internal
    assert finger.line == 9
    assert finger.path == "/usr/sbin/tcpd"
    assert finger.args == ("/usr/sbin/in.fingerd", "-w")
    assert finger.libwrap_name == "in.fingerd"
    assert ftp.args == ("in.ftpd", "-l", "-a")
    assert ftp.libwrap_name == "in.ftpd"
    assert parsed.problems == ()


def test_xinetd_nolibwrap_and_unclosed_block() -> None:
    parsed = parse_xinetd("service x\n{\n server = /bin/x\n flags = NOLIBWRAP\n")
    assert [p.message for p in parsed.problems] == ["xinetd: block is not closed with }"]
    closed = parse_xinetd("service x\n{\n server = /bin/x\n flags = NOLIBWRAP\n}\n")
    (entry,) = closed.entries
    assert entry.libwrap_name is None


# ----------------------------------------------------------------------------- analysis


def _exe(path: Path, mode: int = 0o755) -> str:
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return str(path)


@pytest.fixture
def sbin(tmp_path: Path) -> Path:
    directory = tmp_path / "sbin"
    directory.mkdir()
    for name in ("tcpd", "in.fingerd", "in.telnetd", "in.ftpd", "tcpwrap-tcpd"):
        _exe(directory / name)
    _exe(directory / "in.noexec", 0o644)
    return directory


def _conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "inetd.conf"
    path.write_text(text)
    return str(path)


def _messages(analysis: object) -> list[tuple[int | None, str]]:
    out = []
    for diag in analysis.warnings:  # type: ignore[attr-defined]
        out.append((diag.origin.line if diag.origin else None, diag.message))
    return out


def test_wrapped_services_both_wrappers(tmp_path: Path, sbin: Path) -> None:
    conf = _conf(
        tmp_path,
        f"finger stream tcp nowait nobody {sbin}/tcpd in.fingerd\n"
        f"telnet stream tcp nowait root /opt/tcpwrap/bin/tcpwrap-tcpd in.telnetd\n",
    )
    analysis = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=True)
    assert analysis.status("in.fingerd") == YES
    assert analysis.status("IN.TELNETD") == YES
    # the tcpwrap-tcpd path itself does not exist here
    assert _messages(analysis) == [
        (2, "/opt/tcpwrap/bin/tcpwrap-tcpd: not found: No such file or directory")
    ]
    assert daemon_warning(analysis, "in.fingerd") is None
    assert daemon_warning(analysis, "in.nosuchd") == f"in.nosuchd: no such process name in {conf}"


def test_tcpd_checks(tmp_path: Path, sbin: Path) -> None:
    setuid = sbin / "tcpd-s"
    setuid.mkdir()
    suid_tcpd = _exe(setuid / "tcpd", 0o4755)
    conf = _conf(
        tmp_path,
        f"a stream tcp nowait root {sbin}/tcpd tcpd\n"  # 1 recursion
        f"b stream tcp nowait root {suid_tcpd} in.fingerd\n"  # 2 set-uid
        f"c stream tcp nowait root {sbin}/tcpd {sbin}/in.ftpd {sbin}/in.ftpd\n"  # 3 inserted
        f"d stream tcp nowait root {sbin}/tcpd in.missing\n"  # 4 not found in dir
        f"e stream tcp nowait root {sbin}/tcpd in.noexec\n"  # 5 not executable
        f"f stream rpc/tcp wait root {sbin}/tcpd rpc.rexd\n"  # 6 insecure + rpc/tcp
        f"g stream tcp nowait root {sbin}/nosuch in.g\n"  # 7 path not found
        f"h stream tcp nowait root {sbin}/in.noexec in.noexec\n"  # 8 not executable
        f"i stream tcp\n"  # 9 incomplete
    )
    analysis = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=False)
    assert _messages(analysis) == [
        (9, INCOMPLETE),
        (1, "tcpd is recursively calling itself"),
        (2, f"{suid_tcpd}: file is set-uid or set-gid"),
        (3, f"{sbin}/tcpd inserted before {sbin}/in.ftpd"),
        (4, f"in.missing: not found in {sbin}: No such file or directory"),
        (5, f"{sbin}/in.noexec: not executable"),
        (6, "rpc.rexd may be an insecure service"),
        (6, f"rpc.rexd: not found in {sbin}: No such file or directory"),
        (6, "rpc.rexd: cannot wrap rpc/tcp services"),
        (7, f"{sbin}/nosuch: not found: No such file or directory"),
        (8, f"{sbin}/in.noexec: not executable"),
    ]
    assert analysis.status("in.ftpd") == YES
    assert analysis.status("in.noexec") == NO  # the daemon itself, run directly


def test_unwrapped_and_maybe(tmp_path: Path, sbin: Path) -> None:
    conf = _conf(
        tmp_path,
        f"telnet stream tcp nowait root {sbin}/in.telnetd in.telnetd\n"  # REAL_DAEMON_DIR/arg0
        f"ftp stream tcp nowait root /usr/local/sbin/in.ftpd in.ftpd\n"  # a different file
        f"x stream tcp nowait root /usr/local/sbin/xd xd\n"  # nothing in the daemon dir
    )
    analysis = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=False)
    assert analysis.status("in.telnetd") == NO
    assert analysis.status("in.ftpd") == MAYBE
    assert analysis.status("xd") == NO
    assert daemon_warning(analysis, "in.telnetd") == "in.telnetd: service possibly not wrapped"
    assert daemon_warning(analysis, "in.ftpd") is None


def test_portmap_for_match_and_libwrapped_for_check(tmp_path: Path, sbin: Path) -> None:
    conf = _conf(tmp_path, "")
    match = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=False)
    check = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=True)
    assert match.status("portmap") == NO and match.status("rpcbind") == NO
    assert daemon_warning(match, "portmap") == "portmap: service possibly not wrapped"
    assert all(check.status(name) == YES for name in LIBWRAPPED)
    assert daemon_warning(check, "sshd") is None
    assert daemon_warning(match, "sshd") == f"sshd: no such process name in {conf}"


def test_missing_explicit_file_and_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = analyze_inetd(str(tmp_path / "nope"), for_check=True)
    assert analysis.open_error == "No such file or directory"
    monkeypatch.setattr("tcpwrap.drivers.inetd.DEFAULT_FILES", (str(tmp_path / "absent"),))
    none = analyze_inetd(None, for_check=False)
    assert none.file is None and none.shown_file == "(null)"
    assert daemon_warning(none, "sshd") == "sshd: no such process name in (null)"


def test_default_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _conf(tmp_path, "finger stream tcp nowait nobody /usr/sbin/tcpd in.fingerd\n")
    monkeypatch.setattr("tcpwrap.drivers.inetd.DEFAULT_FILES", (str(tmp_path / "x"), conf))
    analysis = analyze_inetd(None, for_check=False)
    assert analysis.file == conf


def test_xinetd_with_includedir(tmp_path: Path, sbin: Path) -> None:
    include = tmp_path / "xinetd.d"
    include.mkdir()
    (include / "finger").write_text(
        f"service finger\n{{\n server = {sbin}/tcpd\n server_args = in.fingerd\n"
        " flags = NAMEINARGS\n}\n"
    )
    (include / "skip.dpkg-old").write_text("service bad\n{\n server = /x\n}\n")
    (include / "ftp").write_text(f"service ftp\n{{\n server = {sbin}/in.ftpd\n}}\n")
    conf = _conf(tmp_path, f"defaults\n{{\n}}\nincludedir {include}\n")
    analysis = analyze_inetd(conf, real_daemon_dir=str(sbin), for_check=False)
    assert analysis.status("in.fingerd") == YES
    assert analysis.status("in.ftpd") == YES  # xinetd calls libwrap itself
    assert analysis.status("x") is None
    assert _messages(analysis) == []


def test_real_daemon_dir_and_world_writable(tmp_path: Path) -> None:
    assert check_real_daemon_dir(str(tmp_path)) is None
    assert check_real_daemon_dir(str(tmp_path / "no")) == (
        f"REAL_DAEMON_DIR {tmp_path}/no: No such file or directory"
    )
    plain = tmp_path / "f"
    plain.write_text("")
    assert check_real_daemon_dir(str(plain)) == f"REAL_DAEMON_DIR {plain} is not a directory"
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    table = open_dir / "hosts.allow"
    table.write_text("")
    os.chmod(open_dir, 0o777)
    os.chmod(table, 0o666)
    assert world_writable(str(table)) == [f"{table}: world writable", f"{open_dir}: world writable"]
    os.chmod(open_dir, 0o777 | stat.S_ISVTX)
    assert world_writable(str(table)) == [f"{table}: world writable"]
