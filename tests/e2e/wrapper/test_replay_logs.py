"""`tcpwrap replay` on logs the real wrapper wrote on this machine, checked against the wrapper.

The wrapper (tcpwrap-tcpd, exec'ed inetd-style on live sockets, names from the namespace's
dnsmasq) serves a few clients under tables T1 and logs to syslog (captured from /dev/log and
written out as syslogd would, with a host name) and to its JSON log. Replaying those logs:
- under T1 itself nothing flips; the client whose name tcpd looked up and did not find was
  logged by address only, so a name rule makes it undecidable, and `--lookups` (the same real
  DNS) decides it;
- under an edited T2 the flips are exactly the verdicts the real wrapper then gives under T2
  for the same clients (run for real afterwards): the prediction is what tcpd does.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from e2e.wrapper.conftest import Kit
from harness.syslog_capture import SyslogCapture
from tcpwrap.cli import main

pytestmark = pytest.mark.e2e

T1_ALLOW = "in.fingerd: .e2e.test\nin.telnetd: 127.0.0.2\n"
T2_ALLOW = "in.fingerd: .e2e.test EXCEPT good2.e2e.test\nin.telnetd: 127.0.0.2 127.0.0.18\n"
DENY = "ALL: ALL\n"
CLIENTS = ("127.0.0.2", "127.0.0.18", "127.0.0.5")  # good2.e2e.test, solo2, no PTR
DAEMONS = ("in.fingerd", "in.telnetd")
_BSD = re.compile(rb"<\d{1,3}>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (.*)", re.S)


def serve_all(kit: Kit) -> dict[tuple[str, str], str]:
    """Each daemon for each client through the real wrapper: the verdict it gave."""
    real = kit.dir / "real"
    real.mkdir(exist_ok=True)
    for name in DAEMONS:
        if not (real / name).exists():
            (real / name).symlink_to(kit.fake)
    env = kit.env(real_daemon_dir=str(real))
    verdicts = {}
    for daemon in DAEMONS:
        for client in CLIENTS:
            got = kit.run(daemon, client=client, env=env)
            verdicts[daemon, client] = "granted" if got.received.startswith(b"FAKEDAEMON") else (
                "denied")
    return verdicts


def syslog_file(capture: SyslogCapture, path: Path) -> int:
    """The captured datagrams as syslogd writes them: stamp, host, tag[pid]: message."""
    lines = []
    for raw in capture.raw():
        m = _BSD.match(raw.rstrip(b"\0\n"))
        if m is not None:
            lines.append(m.group(1) + b" testhost " + m.group(2) + b"\n")
    path.write_bytes(b"".join(lines))
    return len(lines)


def replay(capsys: pytest.CaptureFixture[str], kit: Kit, *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["replay", "--json", "--allow", str(kit.allow), "--deny", str(kit.deny),
                   *args])
    return status, json.loads(capsys.readouterr().out)


def test_replay_of_the_wrappers_own_logs(
    kit: Kit, syslog: SyslogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    kit.tables(allow=T1_ALLOW, deny=DENY)
    t1 = serve_all(kit)
    assert t1 == {
        ("in.fingerd", "127.0.0.2"): "granted", ("in.fingerd", "127.0.0.18"): "denied",
        ("in.fingerd", "127.0.0.5"): "denied", ("in.telnetd", "127.0.0.2"): "granted",
        ("in.telnetd", "127.0.0.18"): "denied", ("in.telnetd", "127.0.0.5"): "denied",
    }
    log = kit.dir / "syslog"
    assert syslog_file(syslog, log) >= 6
    text = log.read_text()
    assert "in.fingerd" in text and "connect from good2.e2e.test (127.0.0.2)" in text
    packed = kit.dir / "syslog.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))

    # Under the tables that wrote them: nothing flips. 127.0.0.5 has no name; tcpd looked it up
    # for `.e2e.test` and logged the address only: without --lookups that is undecidable.
    status, doc = replay(capsys, kit, str(packed))
    assert status == 0
    assert doc["summary"] == {
        "records": 6, "unchanged": 5, "to_denied": 0, "to_granted": 0, "undecidable": 1}
    assert doc["undecidable_reasons"] == {"client host name not logged": 1}
    status, doc = replay(capsys, kit, "--lookups", "--timeout", "5", str(log))
    assert status == 0
    assert doc["summary"]["unchanged"] == 6
    # tcpwrap's own JSON log of the same runs says the same
    status, doc = replay(capsys, kit, "--lookups", str(kit.json))
    assert (status, doc["summary"]["records"], doc["summary"]["unchanged"]) == (0, 6, 6)

    # Under T2: the predicted flips ...
    kit.tables(allow=T2_ALLOW, deny=DENY)
    status, doc = replay(capsys, kit, "--lookups", str(log))
    assert status == 1
    predicted = dict(t1)
    for flip in doc["flips"]:
        predicted[flip["daemon"], flip["client_addr"]] = flip["new"]
    assert {(f["daemon"], f["client_addr"], f["old"], f["new"]) for f in doc["flips"]} == {
        ("in.fingerd", "127.0.0.2", "granted", "denied"),
        ("in.telnetd", "127.0.0.18", "denied", "granted"),
    }
    allow = str(kit.allow)
    assert {f["rule"] for f in doc["flips"]} == {f"{kit.deny}:1", f"{allow}:2"}
    # ... are what the real wrapper does under T2
    assert serve_all(kit) == predicted
