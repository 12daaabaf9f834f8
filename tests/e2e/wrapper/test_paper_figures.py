"""The paper's figures as fixtures: figure 6's tables, and figure 9's booby trap for real.

Figure 9 (examples/paper-fig9, classic language): a refused tftp request makes the wrapper run
`finger -l @%h 2>&1 | mail wswietse`, with this machine's real finger client (against the real
in.fingerd on 127.0.0.2:79) and real bsd-mailx, whose /usr/sbin/sendmail is replaced, inside
the namespace only, by a script that writes the message to a file. The paper's /usr/ucb paths
are mapped to /usr/bin. The modern form is the options language's
`spawn (tcpwrap finger -l @%h | mail -s %d-%h root) &`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.wrapper.conftest import Kit
from e2e.wrapper.wrapkit import ROOT, Service, free_port, running_inetd, tcp_client, udp_client
from harness.fingerd import InetdStyle
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "examples"
TFTP_REQUEST = b"\x00\x01/etc/passwd\x00octet\x00"


@pytest.fixture
def mailbox(kit: Kit) -> Iterator[Path]:
    """A fake sendmail bind-mounted over /usr/sbin/sendmail (namespace only)."""
    assert os.environ.get("TCPWRAP_NS") == "1"
    box = kit.dir / "mailbox"
    box.mkdir(mode=0o777)
    box.chmod(0o777)
    fake = kit.dir / "sendmail"
    fake.write_text(f'#!/bin/sh\n{{ echo "sendmail-args: $*"; cat; }} > {box}/mail.$$\n')
    fake.chmod(0o755)
    subprocess.run(["mount", "--bind", str(fake), "/usr/sbin/sendmail"], check=True, timeout=10)
    try:
        yield box
    finally:
        subprocess.run(["umount", "/usr/sbin/sendmail"], check=False, timeout=10)


@pytest.fixture
def fingerd() -> Iterator[InetdStyle]:
    """The real in.fingerd on good2.e2e.test (127.0.0.2) port 79."""
    with InetdStyle(["/usr/sbin/in.fingerd"], "127.0.0.2", 79) as server:
        yield server


def _wait_mail(box: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = sorted(box.iterdir())
        if mails:
            time.sleep(0.3)  # let the writer finish
            return mails[0].read_text(errors="replace")
        time.sleep(0.1)
    raise AssertionError(f"no mail within {timeout}s")


def test_figure6_tables(kit: Kit, syslog: SyslogCapture) -> None:
    """in.ftpd open to all; the open terminal servers refused for the other services."""
    subprocess.run(["ip", "addr", "add", "131.211.112.44/32", "dev", "lo"], check=True)
    try:
        env = kit.env(
            allow=str(EXAMPLES / "paper-fig6" / "hosts.allow"),
            deny=str(EXAMPLES / "paper-fig6" / "hosts.deny"),
        )
        real = kit.dir / "real"
        real.mkdir()
        for name in ("in.ftpd", "in.telnetd"):
            (real / name).symlink_to(kit.fake)
        env["TCPWRAP_REAL_DAEMON_DIR"] = str(real)
        ftp = kit.run("in.ftpd", client="131.211.112.44", env=env)
        telnet_bad = kit.run("in.telnetd", client="131.211.112.44", env=env)
        telnet_ok = kit.run("in.telnetd", client="127.0.0.2", env=env)
    finally:
        subprocess.run(["ip", "addr", "del", "131.211.112.44/32", "dev", "lo"], check=False)
    assert ftp.received.startswith(b"FAKEDAEMON argv0=in.ftpd")
    assert telnet_bad.received == b""
    assert telnet_ok.received.startswith(b"FAKEDAEMON argv0=in.telnetd")
    deny = str(EXAMPLES / "paper-fig6" / "hosts.deny")
    refused = [r for r in kit.records() if r.verdict == "denied"]
    assert len(refused) == 1 and refused[0].rule is not None
    assert (refused[0].rule.file, refused[0].rule.line) == (deny, 3)  # the 131.211.112.44 line


def test_figure9_booby_trap_classic(
    kit: Kit, syslog: SyslogCapture, mailbox: Path, fingerd: InetdStyle
) -> None:
    tables = EXAMPLES / "paper-fig9"
    allow = (tables / "hosts.allow").read_text()
    deny = (tables / "hosts.deny").read_text().replace("/usr/ucb/", "/usr/bin/")
    assert deny == "in.tftpd: ALL: /usr/bin/finger -l @%h 2>&1 | /usr/bin/mail wswietse\n"
    kit.tables(allow=allow, deny=deny)
    real = kit.dir / "real"
    real.mkdir()
    (real / "in.tftpd").symlink_to(kit.udp)
    port = free_port("127.0.0.1", 2)
    env = kit.env(language="classic", real_daemon_dir=str(real))
    with running_inetd([Service("127.0.0.1", port, ("in.tftpd",), proto="udp")], env, kit.dir):
        reply = udp_client("127.0.0.1", port, "127.0.0.2", TFTP_REQUEST, timeout=2)
        mail = _wait_mail(mailbox)
        # LOCAL (.win.tue.nl stands for the paper's own domain): a single-label name is allowed
        local = udp_client("127.0.0.1", port, "127.0.0.18", b"local", timeout=15)
    assert reply.data == b"" and reply.timed_out  # refused: nothing goes back
    assert local.data == b"UDPDAEMON argv0=in.tftpd got=local"
    assert mail.startswith("sendmail-args: ")
    assert "\nTo: wswietse\n" in mail
    # the reverse finger really reached the attacker's (here: our) finger server
    assert mail.endswith("\n\nNo one logged on.\n")  # what in.fingerd answered
    assert fingerd.connections == 1
    tags = [(r.tag, r.message) for r in syslog.records() if r.tag == "in.tftpd"]
    assert tags == [
        ("in.tftpd", "refused connect from good2.e2e.test (127.0.0.2)"),
        ("in.tftpd", "connect from solo2 (127.0.0.18)"),
    ]
    assert kit.records()[0].traps == ("spawn",)


def test_booby_trap_modern_form(
    kit: Kit, syslog: SyslogCapture, mailbox: Path, fingerd: InetdStyle
) -> None:
    tcpwrap = ROOT / ".venv" / "bin" / "tcpwrap"
    kit.tables(
        deny=f"in.tftpd: ALL: spawn ({tcpwrap} finger -l @%h | /usr/bin/mail -s %d-%h root) &\n"
    )
    got = kit.run("in.tftpd", proto="udp", send=TFTP_REQUEST, client="127.0.0.2")
    assert got.queued is None  # drained
    assert got.elapsed < 3  # backgrounded: the wrapper did not wait for finger and mail
    mail = _wait_mail(mailbox)
    assert "\nTo: root\n" in mail
    assert "\nSubject: in.tftpd-127.0.0.2\n" in mail
    # safe_finger's output: every line starts with a space
    body = mail.split("\n\n", 1)[1] if "\n\n" in mail else mail
    finger_lines = [line for line in body.splitlines() if line.strip()]
    assert finger_lines and all(line.startswith(" ") for line in finger_lines)
    assert finger_lines == [" No one logged on."]  # in.fingerd's answer, safe_finger-filtered
    assert fingerd.connections == 1


def test_tcp_service_is_not_booby_trapped(kit: Kit) -> None:
    """The trap is for in.tftpd only: other services just follow the (empty) tables."""
    kit.tables(
        allow=(EXAMPLES / "paper-fig9" / "hosts.allow").read_text(),
        deny=(EXAMPLES / "paper-fig9" / "hosts.deny").read_text(),
    )
    real = kit.dir / "real"
    real.mkdir()
    (real / "in.fingerd").symlink_to(kit.fake)
    port = free_port("127.0.0.1")
    env = kit.env(language="classic", real_daemon_dir=str(real))
    with running_inetd([Service("127.0.0.1", port, ("in.fingerd",))], env, kit.dir):
        got = tcp_client("127.0.0.1", port, "127.0.0.2")
    assert got.data.startswith(b"FAKEDAEMON argv0=in.fingerd")
