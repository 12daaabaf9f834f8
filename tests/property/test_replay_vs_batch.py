"""Differential: every record `tcpwrap replay` decides gets the verdict `tcpwrap match --batch`
gives for the same fields (hypothesis over random tables and records), and the real command
agrees on a fixed set. A record replay calls undecidable is one where some rule needed what the
record lacks: with a name/user it lacks, batch's "unknown" would be a guess, so it is not
compared; twist outcomes are not compared either (batch is hosts_ctl's dry run, which leaves a
twist's verdict to its table, where tcpd replaces the server)."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.tables import load_policy
from tcpwrap.policy.rules import Language
from tcpwrap.tools.batch import run_batch
from tcpwrap.tools.replaying import Outcome, Replayer

CLIENTS = [
    "192.0.2.1", "192.0.2.", "192.0.2.0/255.255.255.128", "10.0.0.0/8", "[2001:db8::]/32",
    ".example.org", "a.example.org", "*.example.org", "ALL", "KNOWN", "UNKNOWN", "PARANOID",
    "LOCAL", "root@ALL", "eve@192.0.2.", "ALL EXCEPT 192.0.2.5",
    ".example.org EXCEPT b.example.org", "192.0.2.* EXCEPT 192.0.2.200",
]
DAEMONS = ["ALL", "in.fingerd", "in.telnetd", "in.*", "ALL EXCEPT in.fingerd", "sshd"]
OPTIONS = [
    "", ": allow", ": deny", ": spawn /bin/true", ": severity auth.info", ": twist /bin/false",
    ": spawn echo %n %u : deny", ": rfc931 : allow",
]
RECORD_DAEMONS = ["in.fingerd", "in.telnetd", "sshd"]
ADDRS = ["192.0.2.1", "192.0.2.5", "192.0.2.200", "10.1.2.3", "2001:db8::1", "198.51.100.1"]
NAMES = [None, "a.example.org", "b.example.org", "c.example.net", "local"]
USERS = [None, "root", "eve"]

rule = st.builds(
    lambda d, c, o: f"{d}: {c} {o}".rstrip() + "\n",
    st.sampled_from(DAEMONS), st.sampled_from(CLIENTS), st.sampled_from(OPTIONS),
)
table = st.lists(rule, max_size=6).map("".join)
record = st.tuples(
    st.sampled_from(RECORD_DAEMONS), st.sampled_from(ADDRS), st.sampled_from(NAMES),
    st.sampled_from(USERS),
)
_counter = itertools.count()


def batch_verdicts(allow: str, deny: str, lines: list[str]) -> list[str]:
    out, err = io.StringIO(), io.StringIO()
    run_batch(io.BytesIO("".join(lines).encode("latin-1")), out, err, allow, deny,
              Language.OPTIONS)
    assert err.getvalue() == ""
    return out.getvalue().split()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table, table, st.lists(record, min_size=1, max_size=12))
def test_replayed_verdicts_equal_match_batch(
    tmp_path: Path, allow: str, deny: str, records: list[tuple[str, str, str | None, str | None]]
) -> None:
    n = next(_counter)
    allow_path, deny_path = tmp_path / f"allow{n}", tmp_path / f"deny{n}"
    allow_path.write_text(allow)
    deny_path.write_text(deny)
    replayer = Replayer(load_policy(str(allow_path), str(deny_path)), SystemEnvironment())
    compared: list[tuple[str, str]] = []
    for daemon, addr, name, user in records:
        result = replayer.decide(daemon, addr, name, user)
        if result.outcome in (Outcome.GRANTED, Outcome.DENIED):
            assert result.outcome is not None
            line = f"{daemon} {name or 'unknown'} {addr} {user or 'unknown'}\n"
            compared.append((line, result.outcome.value))
        elif result.outcome is None:
            # undecidable only for what the record lacks
            assert result.missing is not None
            lacks = {"client host name not logged": name is None,
                     "client user not logged": user is None}
            assert lacks.get(result.missing.value, False), result.missing
    if compared:
        verdicts = batch_verdicts(str(allow_path), str(deny_path), [c[0] for c in compared])
        assert verdicts == [c[1] for c in compared], (allow, deny, compared)


def test_the_real_command_agrees(tmp_path: Path) -> None:
    allow = tmp_path / "hosts.allow"
    deny = tmp_path / "hosts.deny"
    allow.write_text("in.fingerd: .example.org EXCEPT b.example.org\nALL: root@ALL\n")
    deny.write_text("ALL: 192.0.2.0/255.255.255.128 UNKNOWN\nin.telnetd: ALL\n")
    replayer = Replayer(load_policy(str(allow), str(deny)), SystemEnvironment())
    lines, expected = [], []
    for daemon, addr, name, user in itertools.product(
        RECORD_DAEMONS, ADDRS, ["a.example.org", "b.example.org", "c.example.net"],
        ["root", "eve"],
    ):
        result = replayer.decide(daemon, addr, name, user)
        assert result.outcome is not None
        lines.append(f"{daemon} {name} {addr} {user}\n")
        expected.append(result.outcome.value)
    answer = subprocess.run(
        [sys.executable, "-m", "tcpwrap.cli", "match", "--batch", "--allow", str(allow),
         "--deny", str(deny)],
        input="".join(lines), capture_output=True, text=True, check=True, timeout=60,
    )
    assert answer.stdout.split() == expected
    assert set(expected) == {"granted", "denied"}
