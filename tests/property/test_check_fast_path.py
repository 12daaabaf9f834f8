"""`tcpwrap check`'s fast paths (policy/check/walk.py: plain tables read without a CheckLine
per line, `daemon: a.b.c.d` lines checked without parsing) give exactly the events of the
full path, whatever else the tables hold, in both modes."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.check import CheckOptions, HostCheck, TableInput, check_policy, walk
from tcpwrap.policy.environment import Environment, StaticEnvironment
from tcpwrap.policy.rules import TableSource


class Probe:
    inetd_file = "/etc/inetd.conf"
    env: Environment = StaticEnvironment()

    def dns(self, host: str) -> HostCheck | None:
        if host.endswith(".9"):
            return None
        return HostCheck(1, (f"host address {host}->name lookup failed",) if "7" in host else ())

    def prefetch(self, hosts: Sequence[str]) -> None:
        pass

    def netgroup_empty(self, group: str) -> bool:
        return True

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        return [["192.0.2.7", "10.0.0.1"], ["x.example", "192.0.2.07"]] if path == "/f" else None

    def daemon_status(self, daemon: str) -> str | None:
        return {"sshd": "yes", "in.ftpd": "no"}.get(daemon.lower())


DAEMONS = st.sampled_from(["ALL", "all", "sshd", "SSHD", "in.ftpd", "nosuchd", "22", "local",
                           "FAIL", "except", ".x", "x.", "a@b", "sshd, in.ftpd"])
CLIENTS = st.sampled_from(["192.0.2.7", "192.0.2.9", "10.0.0.1", "0.0.0.0", "192.0.2.07",
                           "192.0.2.", "ALL", "/f", "10.0.0.1 192.0.2.7", "ALL EXCEPT 10.0.0.1"])
SPACE = st.sampled_from(["", " ", "\t", "  "])
LINES = st.one_of(
    st.builds(lambda d, s1, s2, c, s3, o: f"{d}{s1}:{s2}{c}{s3}{o}\n",
              DAEMONS, SPACE, SPACE, CLIENTS, SPACE, st.sampled_from(["", ": allow", ": deny"])),
    st.sampled_from(["# DenyHosts: Tue Dec  1 10:00:00 2026 | ALL: 192.0.2.7\n", "\n",
                     "sshd: 192.0.2.7\r\n", "ALL: 192.0.2.7 # x\n", "sshd 192.0.2.7\n"]),
)
TABLES = st.lists(LINES, max_size=12).map(lambda lines: "".join(lines).encode())


def events(allow: bytes, deny: bytes, options: CheckOptions) -> list[object]:
    return list(check_policy(
        TableInput("a", TableSource("a", allow), "allow"),
        TableInput("d", TableSource("d", deny), "deny"),
        Probe(),
        options,
    ))


NEVER = re.compile(r"(?!)")


@settings(max_examples=300, deadline=None)
@given(TABLES, TABLES, st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_fast_paths_give_the_full_paths_events(
    allow: bytes, deny: bytes, verbose: bool, implicit: bool, debian: bool, final: bool
) -> None:
    if not final:
        deny = deny.rstrip(b"\n")  # the last line without its newline
    options = CheckOptions(implicit_allow=implicit, verbose=verbose, debian=debian)
    fast = events(allow, deny, options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(walk, "plain_split", lambda data: None)  # every table line by line
        by_lines = events(allow, deny, options)
        patch.setattr(walk, "_PLAIN_RULE", NEVER)  # and every rule through the full path
        patch.setattr(walk, "_PLAIN_PIECE", NEVER)
        full = events(allow, deny, options)
    assert fast == by_lines == full
