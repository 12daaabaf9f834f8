"""hosts_ctl/decide with NUL bytes where C strings end (issue 12 item 7): in a `/file` list's
tokens (a nested list's name, an address), in the four query strings, in a banner's daemon
name. libwrap sees everything before the NUL; so does tcpwrap, and nothing raises."""

from __future__ import annotations

from pathlib import Path

import pytest

import tcpwrap
from harness.oracle import libwrap_ctl
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.library.ctl import decide
from tcpwrap.policy.decision import Verdict


@pytest.fixture
def nul_lists(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "inner").write_bytes(b"192.0.2.7\n")
    (tmp_path / "outer").write_bytes(
        b"192.0.2.1\x00junk 192.0.2.5\n" + str(tmp_path / "inner").encode() + b"\x00zz\n"
    )
    (tmp_path / "hosts.allow").write_bytes(f"sshd: {tmp_path / 'outer'}\n".encode())
    (tmp_path / "hosts.deny").write_bytes(b"ALL: ALL\n")
    return str(tmp_path / "hosts.allow"), str(tmp_path / "hosts.deny")


QUERIES = [
    ("sshd", "unknown", "192.0.2.1", True),  # "192.0.2.1<NUL>junk" is 192.0.2.1 to C
    ("sshd", "unknown", "192.0.2.5", True),
    ("sshd", "unknown", "192.0.2.7", True),  # the nested list, its name cut at the NUL
    ("sshd", "unknown", "192.0.2.8", False),
    ("sshd\x00x", "unknown", "192.0.2.1", True),  # the query strings end at a NUL too
    ("sshd", "unknown", "192.0.2.8\x00", False),
    ("sshd", "unknown", "192.0.2.7\x00.9", True),
]


@pytest.mark.parametrize(("daemon", "name", "addr", "granted"), QUERIES)
def test_nul_bytes_end_strings_as_in_c(
    nul_lists: tuple[str, str], daemon: str, name: str, addr: str, granted: bool
) -> None:
    allow, deny = nul_lists
    assert tcpwrap.hosts_ctl(daemon, name, addr, allow=allow, deny=deny) is granted
    decision = decide(daemon, name, addr, allow=allow, deny=deny)
    assert (decision.verdict is Verdict.GRANT) is granted


@pytest.mark.oracle
@pytest.mark.parametrize(("daemon", "name", "addr", "granted"), QUERIES)
def test_libwrap_agrees(
    nul_lists: tuple[str, str], daemon: str, name: str, addr: str, granted: bool
) -> None:
    wrap = libwrap_ctl().LibWrap(*nul_lists)
    wrap.dry_run.value = 1
    fields = (daemon, name, addr, "unknown")
    assert bool(wrap.lib.hosts_ctl(*(f.encode("latin-1") for f in fields))) is granted


def test_a_banner_for_a_daemon_name_with_a_nul(tmp_path: Path) -> None:
    (tmp_path / "sshd").write_bytes(b"hello\n")
    assert SystemEnvironment().banner(str(tmp_path), "sshd\x00junk") == b"hello\n"
