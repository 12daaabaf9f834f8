"""Shared helpers for the rule-engine unit tests: tables from text, plain connections, a
fact provider that records which Needs were asked for, and a fake MatchContext."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import (
    DRY_RUN,
    AclExecResult,
    Connection,
    Decision,
    Endpoint,
    Mode,
    NeedRequest,
)
from tcpwrap.policy.environment import NO_ENVIRONMENT, Environment
from tcpwrap.policy.facts import KnownName, NameLookup, Need
from tcpwrap.policy.match import Evaluation, evaluate
from tcpwrap.policy.patternfile import compile_pattern_file
from tcpwrap.policy.patterns import FileMatcher
from tcpwrap.policy.rules import Language, Policy, TableSource

ALLOW = "hosts.allow"
DENY = "hosts.deny"


def policy(
    allow: str | bytes | None = None,
    deny: str | bytes | None = None,
    language: Language = Language.OPTIONS,
) -> Policy:
    """A policy from table texts (None = the table does not exist)."""

    def source(path: str, text: str | bytes | None) -> TableSource:
        if text is None:
            return TableSource(path, None)
        return TableSource(path, text.encode("latin-1") if isinstance(text, str) else text)

    return compile_policy(source(ALLOW, allow), source(DENY, deny), language)


def conn(
    addr: str | None = "192.0.2.1",
    daemon: str = "sshd",
    *,
    name: str | None = None,
    user: str | None = None,
    resolvable: bool = False,
    identable: bool = False,
    server: Endpoint | None = None,
    port: int | None = None,
) -> Connection:
    """A connection; with `resolvable` the client name is asked for lazily."""
    return Connection(
        daemon,
        client=Endpoint(addr=addr, name=name, resolvable=resolvable, port=port),
        server=server or Endpoint(),
        user=user,
        identable=identable,
        pid=4242,
    )


def decide(
    allow: str | None,
    deny: str | None,
    connection: Connection,
    mode: Mode = DRY_RUN,
    env: Environment = NO_ENVIRONMENT,
    *,
    use_index: bool = True,
) -> Decision:
    return evaluate(policy(allow, deny), connection, mode, env, use_index=use_index)


@dataclass
class Provider:
    """Answers Needs with plain values and records them in order."""

    client: NameLookup = field(default_factory=lambda: NameLookup(KnownName("host.example.com")))
    server: NameLookup = field(default_factory=lambda: NameLookup(KnownName("server.example")))
    user: str | None = "joe"
    aclexec: Callable[[NeedRequest], AclExecResult] = lambda r: AclExecResult(99, 0)
    asked: list[NeedRequest] = field(default_factory=list)

    def __call__(self, request: NeedRequest) -> object:
        self.asked.append(request)
        if request.need is Need.CLIENT_NAME:
            return self.client
        if request.need is Need.SERVER_NAME:
            return self.server
        if request.need is Need.CLIENT_USER:
            return self.user
        return self.aclexec(request)

    @property
    def needs(self) -> list[Need]:
        return [r.need for r in self.asked]


def run(
    pol: Policy,
    connection: Connection,
    provider: Provider,
    mode: Mode = DRY_RUN,
    env: Environment = NO_ENVIRONMENT,
    *,
    use_index: bool = True,
) -> Decision:
    return Evaluation(pol, connection, mode, env, use_index=use_index).run(provider)


def texts(decision: Decision) -> list[str]:
    """The diagnostics as tcpd would log them."""
    return [d.render() for d in decision.diagnostics]


@dataclass
class FakeContext:
    """A MatchContext over plain values; records the lookups patterns force."""

    daemon_name: str = "sshd"
    port: int | None = None
    addrs: tuple[str, str] = ("192.0.2.1", "unknown")
    names: tuple[str, str] = ("host.example.com", "unknown")
    user_name: str = "joe"
    netgroups: dict[str, set[str]] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)
    looked_up: list[str] = field(default_factory=list)
    restrictive: bool = False  # a match grants (an allow rule): address wildcards read no name

    def daemon(self) -> str:
        return self.daemon_name

    def server_port(self) -> int | None:
        return self.port

    def addr(self, side: int) -> str:
        return self.addrs[side]

    def name(self, side: int) -> str:
        self.looked_up.append(f"name{side}")
        return self.names[side]

    def user(self) -> str:
        self.looked_up.append("user")
        return self.user_name

    def innetgr(self, group: str, host: str) -> bool:
        return host in self.netgroups.get(group, set())

    def name_if_ready(self, side: int) -> str | None:
        return self.names[side] if f"name{side}" in self.looked_up else None

    def addr_known(self, side: int) -> bool:
        return True

    def enter_file(self, path: str) -> FileMatcher | None:
        tokens = self.files.get(path)
        return None if tokens is None else compile_pattern_file(tokens)

    def leave_file(self, path: str) -> None:
        pass
