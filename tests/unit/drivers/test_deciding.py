"""The one decision driver (drivers.deciding): its loop order, with a recording conduct.

Both loops (`drive`, `drive_async`) run the same scenarios and must record the same steps.
"""

from __future__ import annotations

import asyncio

import pytest

from tcpwrap.drivers.deciding import (
    AskIdent,
    Check,
    LookupName,
    Outcome,
    Settings,
    drive,
    drive_async,
)
from tcpwrap.errors import Diagnostic, Origin
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import AclExecResult, Connection, Endpoint, Mode, Verdict
from tcpwrap.policy.facts import KnownName, NameLookup
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import Action, ChangeUser, Spawn
from tcpwrap.policy.rules import TableSource

CLIENT = ("192.0.2.7", 4000)
SERVER = ("192.0.2.1", 21)


class Recorder:
    """A blocking conduct that records every step and answers from fixed values."""

    def __init__(self, *, fail_user: bool = False, aclexec_status: int = 0) -> None:
        self.steps: list[tuple[str, object]] = []
        self.fail_user = fail_user
        self.aclexec_status = aclexec_status

    def lookup_name(self, task: LookupName) -> NameLookup:
        self.steps.append(("name", task.address))
        return NameLookup(KnownName("h.example"))

    def ask_ident(self, task: AskIdent) -> str | None:
        self.steps.append(("ident", task.timeout))
        return "joe"

    def aclexec(self, command: str) -> AclExecResult:
        self.steps.append(("aclexec", command))
        return AclExecResult(1, self.aclexec_status)

    def carry_out(self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]) -> bool:
        for action in actions:
            self.steps.append(("act", action))
            if isinstance(action, ChangeUser) and self.fail_user:
                return False
        return True

    def report(self, diagnostic: Diagnostic) -> None:
        self.steps.append(("report", diagnostic.render()))


class AsyncRecorder:
    def __init__(self, inner: Recorder) -> None:
        self.inner = inner

    async def lookup_name(self, task: LookupName) -> NameLookup:
        return self.inner.lookup_name(task)

    async def ask_ident(self, task: AskIdent) -> str | None:
        return self.inner.ask_ident(task)

    async def aclexec(self, command: str) -> AclExecResult:
        return self.inner.aclexec(command)

    async def carry_out(
        self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]
    ) -> bool:
        return self.inner.carry_out(actions, origins)

    def report(self, diagnostic: Diagnostic) -> None:
        self.inner.report(diagnostic)


LIVE = Mode(dry_run=False)


def _check(allow: bytes, mode: Mode = LIVE, settings: Settings | None = None) -> Check:
    policy = compile_policy(TableSource("allow", allow), TableSource("deny", None))
    connection = Connection(
        "ftpd",
        client=Endpoint(CLIENT[0], CLIENT[1], resolvable=True),
        server=Endpoint(SERVER[0], SERVER[1], resolvable=True),
        identable=True,
    )
    return Check(Evaluation(policy, connection, mode), settings, client=CLIENT, server=SERVER)


def _both(allow: bytes, **kw: object) -> tuple[Outcome, list[tuple[str, object]]]:
    """Run the blocking and the asyncio loop; they must agree step for step."""
    sync = Recorder(**kw)  # type: ignore[arg-type]
    outcome = drive(_check(allow), sync)
    twin = Recorder(**kw)  # type: ignore[arg-type]
    async_outcome = asyncio.run(drive_async(_check(allow), AsyncRecorder(twin)))
    assert twin.steps == sync.steps
    assert async_outcome == outcome
    return outcome, sync.steps


def test_needs_in_order_actions_before_aclexec_then_report_then_the_rest() -> None:
    rule = b"ftpd: .example : rfc931 3 : spawn echo %u : aclexec run %n : setenv X y\n"
    outcome, steps = _both(rule)
    assert outcome.granted
    assert steps[:4] == [
        ("name", "192.0.2.7"),
        ("ident", 3),
        ("act", Spawn("echo joe")),
        ("aclexec", "run h.example"),
    ]
    kinds = [kind for kind, _ in steps[4:]]
    assert "report" not in kinds or kinds.index("report") < kinds.index("act")
    assert steps[-1][0] == "act"  # setenv, after the diagnostics


def test_a_failed_privilege_drop_before_aclexec_skips_it_and_refuses() -> None:
    outcome, steps = _both(b"ftpd: ALL : user nobody : aclexec run : spawn x\n", fail_user=True)
    assert not outcome.granted and outcome.carried_out is False
    assert all(kind != "aclexec" for kind, _ in steps)
    assert ("act", Spawn("x")) not in steps


def test_a_failed_privilege_drop_after_deciding_refuses_a_grant() -> None:
    outcome, steps = _both(b"ftpd: ALL : user nobody : spawn x\n", fail_user=True)
    assert outcome.decision.verdict is Verdict.GRANT
    assert not outcome.granted
    assert ("act", Spawn("x")) not in steps  # carrying out stopped at the failure


def test_the_ident_timeout_setting_overrides_the_rule() -> None:
    recorder = Recorder()
    check = _check(b"ftpd: joe@ALL : rfc931 3\n", settings=Settings(ident_timeout=1.5))
    drive(check, recorder)
    assert ("ident", 1.5) in recorder.steps


def test_percent_x_overflow_carries_nothing_out() -> None:
    recorder = Recorder()
    rule = b"ftpd: ALL : setenv A b : spawn " + b"%a" * 1000 + b"\n"  # 9,000 characters
    outcome = drive(_check(rule), recorder)
    assert outcome.decision.verdict is Verdict.ABORT
    assert [kind for kind, _ in recorder.steps] == ["report"]  # the overflow warning only


@pytest.mark.parametrize("mode", [Mode(), Mode(dry_run=True, resident=True)])
def test_dry_run_carries_nothing_out(mode: Mode) -> None:
    recorder = Recorder()
    outcome = drive(_check(b"ftpd: ALL : spawn echo x\n", mode), recorder)
    assert outcome.granted and recorder.steps == []
