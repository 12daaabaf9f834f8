"""`tcpwrap check`'s analysis never raises, whatever the tables contain."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.errors import Kind
from tcpwrap.policy.check import CheckOptions, HostCheck, TableInput, check_policy, is_problem
from tcpwrap.policy.environment import Environment, StaticEnvironment
from tcpwrap.policy.rules import Language, TableSource


class Probe:
    inetd_file = "(null)"
    env: Environment = StaticEnvironment(files={"/f": "/f 192.0.2.1 @g"})

    def dns(self, host: str) -> HostCheck | None:
        return HostCheck(len(host) % 3, (f"{host}: x",))

    def prefetch(self, hosts: Sequence[str]) -> None:
        pass

    def netgroup_empty(self, group: str) -> bool:
        return group != "g"

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        return {"/f": [["/f", "EXCEPT"], ["#", "1.2.3.4/0"]], "/e": "Permission denied"}.get(path)

    def daemon_status(self, daemon: str) -> str | None:
        return {"sshd": "yes", "in.ftpd": "no"}.get(daemon)


TOKENS = st.sampled_from([
    "ALL", "EXCEPT", "except", "sshd", "in.ftpd", "LOCAL", "KNOWN", "FAIL", "paranoid", "@g",
    "/f", "/e", "a@b", "@", "/", ".", "x.", ".x", "192.0.2.1", "192.0.2.", "1.2.3.4/24",
    "1.2.3.4/255.255.255.255", "[::1]", "[::1]/200", "[", "]", "2001:db8::1", "*", "a?",
    "22", "%", "#", ":", "\\", "\t", ",", " ", "spawn echo %h", "allow", "deny", "twist x",
    "setenv A=B", "umask 999", "severity bogus", "user nobody", "aclexec /bin/false",
    "banners /nonexistent", "rfc931 0", "\\:", "=", "\x00", "x" * 700,
])
LINES = st.lists(TOKENS, max_size=8).map(" ".join)
TABLES = st.lists(st.tuples(LINES, st.sampled_from(["\n", "\\\n", ""])), max_size=6).map(
    lambda parts: "".join(a + b for a, b in parts).encode("latin-1")
)


@settings(max_examples=300, deadline=None)
@given(TABLES, TABLES, st.booleans(), st.booleans(), st.sampled_from(list(Language)))
def test_check_never_raises(
    allow: bytes, deny: bytes, verbose: bool, implicit: bool, language: Language
) -> None:
    events = check_policy(
        TableInput("a", TableSource("a", allow), "allow"),
        TableInput("d", TableSource("d", deny), "deny"),
        Probe(),
        CheckOptions(language, implicit, verbose),
    )
    for event in events:
        if is_problem(event):
            assert event.kind in (Kind.WARNING, Kind.ERROR)
            assert event.render()
