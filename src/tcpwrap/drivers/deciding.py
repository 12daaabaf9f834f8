"""The one decision driver: answer the engine's needs, then carry out what it decided.

What it does: `Check` wraps a `policy.match.Evaluation` and turns each fact the matcher asks
for into a `Task`, a value naming the I/O to do (`LookupName`, `AskIdent`, `RunAclExec`); it
does no I/O itself. `drive()` runs a Check to the end with a blocking `Conduct`, and
`drive_async()` with an asyncio `AsyncConduct`: the same loop written twice over one logic,
as dnspython keeps its sync and async resolvers. Every program decides through these two
loops: the wrapper (tcpd.py), the library (`hosts_ctl(live=True)`, `check_socket`,
`check_socket_async`), `tcpwrap try-from` and `tcpwrap serve`.

A conduct is what differs between those programs, and only that:
- where the lookups go (the blocking drivers, their asyncio twins, serve's cache);
- how actions are carried out (the wrapper changes its own process before it execs the
  daemon and really drops privileges; a resident library keeps its identity; serve prepares
  the child it is about to start);
- where aclexec's stdio goes (the client under Debian's semantics, /dev/null documented);
- where diagnostics go (syslog, the `logging` module, stderr).
`BlockingConduct` and `AsyncConduct` are the defaults; programs subclass them.

The loop's order is tcpd's: needs are answered in the order the matcher asks; the actions due
before an aclexec are carried out before its command runs; the decision's diagnostics are
reported before the remaining actions are carried out; nothing is carried out after a
`percent_x` overflow (tcpd exits there). A privilege drop that fails stops the carrying out
and makes the outcome a refusal (fail closed), wherever it happens.

Hazards: live conducts run the admin's shell commands (network values only through the %
allow list, policy.expand) and may change process-global state. Start-up light: the wrapper
imports this on every connection, so the lookup and ident drivers are imported on first use.
Errors: lookups and commands never raise here; failures are diagnostics and values.
"""

from __future__ import annotations

from tcpwrap._record import record
from tcpwrap.drivers.config import DNS_TIMEOUT, IDENT_PORT, RFC931_TIMEOUT
from tcpwrap.drivers.endpoint import Address
from tcpwrap.errors import Diagnostic, Origin, error, warning
from tcpwrap.policy.decision import AclExecResult, Decision, NeedRequest, Verdict
from tcpwrap.policy.facts import NameLookup, Need, UnknownName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import AclExec, Action, Spawn

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Literal, Protocol

    AclExecStyle = Literal["documented", "debian"]
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it
    AclExecStyle = str

ABSENT_NEEDS = frozenset((Need.CLIENT_ADDR, Need.SERVER_ADDR, Need.SERVER_PORT))


@record(frozen=True, slots=True)
class Settings:
    """How a conduct answers the matcher's questions."""

    dns_timeout: float | None = DNS_TIMEOUT  # None: as long as the resolver takes
    ident_timeout: float | None = None  # None: the rule's (rfc931 N, else Mode.ident_timeout)
    ident_port: int = IDENT_PORT


@record(frozen=True, slots=True)
class LookupName:
    """Reverse + forward lookup (double-reverse verification) of a numeric address."""

    address: str
    timeout: float | None


@record(frozen=True, slots=True)
class AskIdent:
    """RFC 931 query to the client's identd about the connection client -> server."""

    client: Address
    server: Address
    timeout: float
    port: int


@record(frozen=True, slots=True)
class RunAclExec:
    """Carry out `before` (the actions due first, in order), then run the aclexec command."""

    command: str
    before: tuple[Action, ...]
    origins: tuple[Origin | None, ...] = ()


Task = LookupName | AskIdent | RunAclExec


@record(frozen=True, slots=True)
class Outcome:
    """A finished decision and whether its actions could all be carried out."""

    decision: Decision
    carried_out: bool = True  # False: a privilege drop failed; the connection is refused

    @property
    def granted(self) -> bool:
        return self.carried_out and self.decision.verdict is Verdict.GRANT


class Check:
    """One decision in progress: pure; a drive loop does the I/O its tasks name."""

    def __init__(
        self,
        evaluation: Evaluation,
        settings: Settings | None = None,
        *,
        client: Address | None = None,
        server: Address | None = None,
    ) -> None:
        self.evaluation = evaluation
        self.settings = settings if settings is not None else Settings()
        self.client = client
        self.server = server
        self.performed = 0  # actions already handed out (those due before an aclexec)

    def next_task(self) -> Task | None:
        """The next piece of I/O the decision needs, or None when it is made."""
        while (need := self.evaluation.next_need()) is not None:
            task = self._task(need)
            if task is not None:
                return task
        return None

    def _task(self, need: NeedRequest) -> Task | None:
        if need.need is Need.CLIENT_NAME or need.need is Need.SERVER_NAME:
            endpoint = self.client if need.need is Need.CLIENT_NAME else self.server
            if endpoint is None:  # nothing to look up: answered at once
                self.evaluation.supply(NameLookup(UnknownName()))
                return None
            return LookupName(endpoint[0], self.settings.dns_timeout)
        if need.need in ABSENT_NEEDS:  # only asked with Endpoint.ask_absent: no answer here
            self.evaluation.supply(None)
            return None
        if need.need is Need.CLIENT_USER:
            if self.client is None or self.server is None:
                self.evaluation.supply(None)
                return None
            timeout = self.settings.ident_timeout
            if timeout is None:
                timeout = need.timeout if need.timeout is not None else float(RFC931_TIMEOUT)
            return AskIdent(self.client, self.server, timeout, self.settings.ident_port)
        done = self.performed
        self.performed = len(need.actions)
        return RunAclExec(need.command or "", need.actions[done:])

    def supply(self, answer: NameLookup | str | AclExecResult | None) -> None:
        self.evaluation.supply(answer)

    @property
    def live(self) -> bool:
        return not self.evaluation.mode.dry_run

    def conclude(self) -> tuple[Decision, tuple[Action, ...], tuple[Origin | None, ...]]:
        """The decision and the actions still to carry out (none in dry run)."""
        decision = self.evaluation.decision
        if not self.live or decision.verdict is Verdict.ABORT:
            return decision, (), ()
        done = self.performed
        return decision, decision.actions[done:], decision.action_origins[done:]


# ----------------------------------------------------------------------------- the conducts


class Conduct(Protocol):
    """What a blocking program does for a decision (see the module docstring)."""

    def lookup_name(self, task: LookupName) -> NameLookup: ...

    def ask_ident(self, task: AskIdent) -> str | None: ...

    def aclexec(self, command: str) -> AclExecResult: ...

    def carry_out(self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]) -> bool:
        """Perform actions in order; False (and stop) when a privilege drop failed."""
        ...

    def report(self, diagnostic: Diagnostic) -> None: ...


class AsyncConduct(Protocol):
    """The asyncio twin of `Conduct`."""

    async def lookup_name(self, task: LookupName) -> NameLookup: ...

    async def ask_ident(self, task: AskIdent) -> str | None: ...

    async def aclexec(self, command: str) -> AclExecResult: ...

    async def carry_out(
        self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]
    ) -> bool: ...

    def report(self, diagnostic: Diagnostic) -> None: ...


FAILED_TO_RUN = AclExecResult(0, 1)  # aclexec skipped because the actions before it failed


def drive(check: Check, conduct: Conduct) -> Outcome:
    """Answer every task with a blocking conduct, then carry out the decision's actions."""
    carried = True
    while (task := check.next_task()) is not None:
        if isinstance(task, LookupName):
            check.supply(conduct.lookup_name(task))
        elif isinstance(task, AskIdent):
            check.supply(conduct.ask_ident(task))
        else:
            carried = carried and conduct.carry_out(task.before, task.origins)
            check.supply(conduct.aclexec(task.command) if carried else FAILED_TO_RUN)
    decision, actions, origins = check.conclude()
    for diagnostic in decision.diagnostics:
        conduct.report(diagnostic)
    if carried and actions:
        carried = conduct.carry_out(actions, origins)
    return Outcome(decision, carried)


async def drive_async(check: Check, conduct: AsyncConduct) -> Outcome:
    """`drive()` with an asyncio conduct: the same steps, awaited."""
    carried = True
    while (task := check.next_task()) is not None:
        if isinstance(task, LookupName):
            check.supply(await conduct.lookup_name(task))
        elif isinstance(task, AskIdent):
            check.supply(await conduct.ask_ident(task))
        else:
            carried = carried and await conduct.carry_out(task.before, task.origins)
            check.supply(await conduct.aclexec(task.command) if carried else FAILED_TO_RUN)
    decision, actions, origins = check.conclude()
    for diagnostic in decision.diagnostics:
        conduct.report(diagnostic)
    if carried and actions:
        carried = await conduct.carry_out(actions, origins)
    return Outcome(decision, carried)


class BlockingConduct:
    """The blocking drivers: `drivers.lookup`, `drivers.ident`, `drivers.execute`.

    `fd`/`sock`: the client connection banners, keepalive and linger act on (None: nowhere).
    `drop_users`: carry out `user`/`group` by really dropping privileges (the wrapper, before
    it execs the daemon); False validates them only (a resident process keeps its identity).
    `aclexec_stdio`: the fd an aclexec command gets as stdio (None: /dev/null).
    `on_diagnostic`: where warnings and errors go. `traps` lists, in order, the booby traps
    sprung (`spawn`, `aclexec`) for the JSON log.
    """

    def __init__(
        self,
        settings: Settings,
        on_diagnostic: Callable[[Diagnostic], None],
        *,
        fd: int | None = None,
        sock: socket.socket | None = None,
        drop_users: bool = False,
        aclexec_stdio: int | None = None,
    ) -> None:
        self.settings = settings
        self.on_diagnostic = on_diagnostic
        self.fd = fd
        self.sock = sock
        self.drop_users = drop_users
        self.aclexec_stdio = aclexec_stdio
        self.traps: list[str] = []

    def report(self, diagnostic: Diagnostic) -> None:
        self.on_diagnostic(diagnostic)

    def lookup_name(self, task: LookupName) -> NameLookup:
        from tcpwrap.drivers.lookup import verify_host_name

        return verify_host_name(task.address, timeout=task.timeout)

    def ask_ident(self, task: AskIdent) -> str | None:
        from tcpwrap.drivers.ident import lookup_user

        return lookup_user(
            task.client,
            task.server,
            timeout=task.timeout,
            ident_port=task.port,
            on_warning=self.on_diagnostic,
        )

    def aclexec(self, command: str) -> AclExecResult:
        from tcpwrap.drivers.execute import aclexec

        self.traps.append("aclexec")
        return aclexec(command, self.aclexec_stdio, self._warn_plain)

    def _warn_plain(self, message: str) -> None:
        self.on_diagnostic(warning(message))

    def carry_out(self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]) -> bool:
        from tcpwrap.drivers.execute import PrivilegeError, perform

        for index, action in enumerate(actions):
            origin = origins[index] if index < len(origins) else None

            def warn(message: str, where: Origin | None = origin) -> None:
                self.on_diagnostic(warning(message, where))

            if isinstance(action, Spawn):
                self.traps.append("spawn")
            if isinstance(action, AclExec):
                continue  # already run while deciding
            try:
                perform(action, fd=self.fd, sock=self.sock, warn=warn, drop_users=self.drop_users)
            except PrivilegeError as exc:
                self.on_diagnostic(error(str(exc), origin))
                return False
        return True


async def ask_ident_async(task: AskIdent, on_warning: Callable[[Diagnostic], None]) -> str | None:
    """The ident query of `task` with the asyncio driver (for every asyncio conduct)."""
    from tcpwrap.drivers import async_ident

    return await async_ident.lookup_user(
        task.client, task.server, timeout=task.timeout, ident_port=task.port, on_warning=on_warning
    )


class ThreadedConduct:
    """An asyncio conduct over the asyncio lookup drivers; what may wait on a process
    (aclexec, spawn) runs the blocking conduct's code in a worker thread."""

    def __init__(self, blocking: BlockingConduct) -> None:
        self.blocking = blocking
        self.settings = blocking.settings

    def report(self, diagnostic: Diagnostic) -> None:
        self.blocking.report(diagnostic)

    async def lookup_name(self, task: LookupName) -> NameLookup:
        from tcpwrap.drivers import async_lookup

        return await async_lookup.verify_host_name(task.address, timeout=task.timeout)

    async def ask_ident(self, task: AskIdent) -> str | None:
        return await ask_ident_async(task, self.blocking.on_diagnostic)

    async def aclexec(self, command: str) -> AclExecResult:
        import asyncio

        return await asyncio.to_thread(self.blocking.aclexec, command)

    async def carry_out(
        self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]
    ) -> bool:
        import asyncio

        if not actions:
            return True
        return await asyncio.to_thread(self.blocking.carry_out, actions, origins)
