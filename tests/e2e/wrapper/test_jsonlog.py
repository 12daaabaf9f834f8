"""The wrapper's JSON log: one valid `ConnectionRecord` line per connection, with the verdict,
the deciding file:line, the lookups made and the traps fired."""

from __future__ import annotations

import json

import pytest

from e2e.wrapper.conftest import Kit
from harness.identd import IdentServer, user
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


def test_one_record_per_connection(kit: Kit, syslog: SyslogCapture) -> None:
    with IdentServer("127.0.0.2", 0, user("joe")) as identd:
        kit.extra["TCPWRAP_IDENT_PORT"] = str(identd.port)
        kit.tables(
            allow=(
                f"# comment\nALL: 127.0.0.9\nALL: .e2e.test: rfc931 : spawn echo %u > {kit.out}\n"
            ),
            deny="ALL: 127.0.0.3 : spawn (true) &\nALL: 127.0.0.4: twist echo go away\n",
        )
        kit.run(str(kit.fake), client="127.0.0.2")
        kit.run(str(kit.fake), client="127.0.0.3")
        kit.run(str(kit.fake), client="127.0.0.4")
        kit.run(str(kit.fake), client="127.0.0.5")
    lines = kit.json.read_text().splitlines()
    assert len(lines) == 4
    assert all(isinstance(json.loads(line), dict) for line in lines)
    granted, refused, twisted, plain = kit.records()

    assert (granted.event, granted.verdict) == ("connect", "granted")
    assert granted.daemon == "fakedaemon"
    assert granted.rule is not None and (granted.rule.file, granted.rule.line) == (
        str(kit.allow),
        3,
    )
    assert (granted.client.addr, granted.client.name, granted.client.user) == (
        "127.0.0.2",
        "good2.e2e.test",
        "joe",
    )
    assert granted.server.addr == "127.0.0.1" and granted.server.port
    assert granted.client.port
    assert granted.traps == ("spawn",)
    assert granted.lookups == ("client name", "client user")
    assert granted.time.utcoffset() is not None

    assert (refused.event, refused.verdict, refused.client.addr) == (
        "refused",
        "denied",
        "127.0.0.3",
    )
    assert refused.rule is not None and (refused.rule.file, refused.rule.line) == (str(kit.deny), 1)
    assert refused.traps == ("spawn",)
    # .e2e.test (line 3) needed 127.0.0.3's name: a lookup was made
    assert refused.lookups == ("client name",)

    assert (twisted.event, twisted.verdict, twisted.traps) == ("twist", "twisted", ("twist",))
    assert twisted.rule is not None and twisted.rule.line == 2

    assert (plain.verdict, plain.rule, plain.traps) == ("granted", None, ())
    assert plain.lookups == ("client name",)  # .e2e.test needed its name (NXDOMAIN)
    assert plain.client.name == "unknown"  # looked up, no name (%n)
    # every record has a matching syslog line
    assert len([r for r in syslog.records() if "connect from" in r.message]) == 3


def test_unwritable_json_log_is_reported_and_does_not_refuse(
    kit: Kit, syslog: SyslogCapture
) -> None:
    kit.tables()
    env = kit.env(json_log=str(kit.dir / "no-such-dir" / "log.jsonl"))
    got = kit.run(str(kit.fake), env=env)
    assert got.received.startswith(b"FAKEDAEMON")
    assert any(
        r.message.startswith("warning: json log ") and "No such file or directory" in r.message
        for r in syslog.records()
    )
