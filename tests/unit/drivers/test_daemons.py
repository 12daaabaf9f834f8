"""drivers.daemons.locate: which program the wrapper execs and under which daemon name (tcpd's
rules, docs/wrapper.md "Three ways to invoke it"), in-process; the e2e suites run the same
forms live."""

from __future__ import annotations

from pathlib import Path

from tcpwrap.drivers.config import WrapperConfig
from tcpwrap.drivers.daemons import Located, locate

CONFIG = WrapperConfig(real_daemon_dir="/srv/real")


def _located(args: list[str], config: WrapperConfig = CONFIG) -> Located:
    result = locate(args, config, None)
    assert isinstance(result, Located), result
    return result


def test_daemon_argument_is_looked_up_in_real_daemon_dir() -> None:
    found = _located(["/usr/sbin/tcpwrap-tcpd", "in.fingerd", "-w"])
    assert (found.program, found.daemon, found.argv) == (
        "/srv/real/in.fingerd", "in.fingerd", ["in.fingerd", "-w"],
    )  # fmt: skip


def test_tcpd_name_works_like_ours() -> None:
    assert _located(["tcpd", "in.ftpd"]).program == "/srv/real/in.ftpd"


def test_absolute_daemon_path_is_taken_as_given() -> None:
    found = _located(["tcpwrap-tcpd", "/opt/bin/in.telnetd", "-h"])
    assert (found.program, found.daemon, found.argv) == (
        "/opt/bin/in.telnetd", "in.telnetd", ["in.telnetd", "-h"],
    )  # fmt: skip


def test_swap_install_uses_argv0_as_the_daemon() -> None:
    # installed as /usr/sbin/in.fingerd, the real one moved to real_daemon_dir
    found = _located(["/usr/sbin/in.fingerd", "-w"])
    assert (found.program, found.daemon, found.argv) == (
        "/srv/real/in.fingerd", "in.fingerd", ["in.fingerd", "-w"],
    )  # fmt: skip


def test_no_daemon_is_a_usage_error() -> None:
    result = locate(["tcpwrap-tcpd"], CONFIG, None)
    assert isinstance(result, str) and result.startswith("usage: tcpwrap-tcpd DAEMON")


def test_calling_itself_is_refused(tmp_path: Path) -> None:
    me = tmp_path / "in.fingerd"
    me.write_text("")
    result = locate([str(me)], WrapperConfig(real_daemon_dir=str(tmp_path)), None)
    assert result == f"{me}: the wrapper would call itself (set real_daemon_dir)"
