"""The library's one decision step, shared by the blocking and the asyncio drivers.

What it does: `Check` wraps a `policy.match.Evaluation` and turns each fact the matcher asks
for into a `Task` (a value naming the I/O to do: `LookupName`, `AskIdent`, `RunAclExec`).
`Check` does no I/O itself: a driver runs the task (`drive()` here with the blocking
`drivers.lookup` / `drivers.ident`; `library.async_sockets` with their asyncio twins) and hands
the answer back with `supply()`. `conclude()` logs the decision's diagnostics and, in live mode,
returns the actions still to be carried out; `carry_out()` performs them the way libwrap does in
a resident process (drivers.execute): spawn runs during the call and is waited for, setenv/umask/
nice change this very process, banners go to the socket (nowhere for hosts_ctl), keepalive and
linger set socket options, user/group names are validated but this process keeps its identity.

Logging: every record goes to the standard `logging` logger "tcpwrap" with tcp_wrappers'
original text (`warning: /etc/hosts.allow, line 3: ...`, `error: ...: twist option in resident
process`, `aclexec returned 1`); nothing is ever written to stdout or stderr from here.
Levels: warnings at WARNING, errors at ERROR (tcpd logs both at LOG_ERR), `aclexec returned`
at INFO, the verbose records at DEBUG.

Hazards: live mode runs the admin's shell commands (network values only through the % allow
list) and changes process-global state (environment, umask, niceness) for every thread.
Errors: none raised for lookups or commands; failures are logged with the original texts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from tcpwrap.drivers import execute
from tcpwrap.errors import Diagnostic, Kind, Origin
from tcpwrap.policy.decision import AclExecResult, Decision, NeedRequest
from tcpwrap.policy.facts import NameLookup, Need, UnknownName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import Action

LOG = logging.getLogger("tcpwrap")
IDENT_PORT = 113
DNS_TIMEOUT = 5.0
AclExecStyle = Literal["documented", "debian"]
Address = tuple[str, int]  # printable address, port

_LEVELS = {
    Kind.WARNING: logging.WARNING,
    Kind.ERROR: logging.ERROR,
    Kind.INFO: logging.INFO,
    Kind.DEBUG: logging.DEBUG,
}


def log_diagnostic(diag: Diagnostic) -> None:
    LOG.log(_LEVELS[diag.kind], "%s", diag.render())


def log_warning(message: str, origin: Origin | None = None) -> None:
    where = f"{origin}: " if origin is not None else ""
    LOG.warning("warning: %s%s", where, message)


@dataclass(frozen=True, slots=True)
class Settings:
    """How the library answers the matcher's questions."""

    dns_timeout: float | None = DNS_TIMEOUT  # None: as long as the resolver takes
    ident_timeout: float | None = None  # None: the rule's (rfc931 N, default 10 s)
    ident_port: int = IDENT_PORT


@dataclass(frozen=True, slots=True)
class LookupName:
    """Reverse + forward lookup (double-reverse verification) of a numeric address."""

    address: str
    timeout: float | None


@dataclass(frozen=True, slots=True)
class AskIdent:
    """RFC 931 query to the client's identd about the connection client -> server."""

    client: Address
    server: Address
    timeout: float
    port: int


@dataclass(frozen=True, slots=True)
class RunAclExec:
    """Carry out `before` (the actions due first, in order), then run the aclexec command."""

    command: str
    before: tuple[Action, ...]


Task = LookupName | AskIdent | RunAclExec


class Check:
    """One library decision in progress: pure; the driver does the task I/O."""

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
        self.performed = 0  # actions already carried out (those due before an aclexec)

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
        if need.need is Need.CLIENT_USER:
            if self.client is None or self.server is None:
                self.evaluation.supply(None)
                return None
            timeout = self.settings.ident_timeout
            if timeout is None:
                timeout = need.timeout if need.timeout is not None else 10.0
            return AskIdent(self.client, self.server, timeout, self.settings.ident_port)
        before = need.actions[self.performed :]
        self.performed = len(need.actions)
        return RunAclExec(need.command or "", before)

    def supply(self, answer: NameLookup | str | AclExecResult | None) -> None:
        self.evaluation.supply(answer)

    @property
    def live(self) -> bool:
        return not self.evaluation.mode.dry_run

    def conclude(self) -> tuple[Decision, tuple[Action, ...], tuple[Origin | None, ...]]:
        """Log the diagnostics; return the decision and the actions left to carry out."""
        decision = self.evaluation.decision
        for diag in decision.diagnostics:
            log_diagnostic(diag)
        if not self.live:
            return decision, (), ()
        done = self.performed
        return decision, decision.actions[done:], decision.action_origins[done:]


def carry_out(
    actions: tuple[Action, ...],
    origins: tuple[Origin | None, ...],
    *,
    fd: int | None,
    sock: object | None,
) -> None:
    """Perform actions in order as a resident libwrap process does (see the module doc)."""
    for index, action in enumerate(actions):
        origin = origins[index] if index < len(origins) else None

        def warn(message: str, where: Origin | None = origin) -> None:
            log_warning(message, where)

        execute.perform(
            action,
            fd=fd,
            sock=sock,  # type: ignore[arg-type]  # a socket or asyncio's TransportSocket
            warn=warn,
            drop_users=False,
        )


def run_aclexec(task: RunAclExec, *, fd: int | None, sock: object | None) -> AclExecResult:
    """The actions due before the aclexec, then the command (stdio on /dev/null)."""
    carry_out(task.before, (), fd=fd, sock=sock)
    return execute.aclexec(task.command, None, log_warning)


def answer(
    task: Task, *, fd: int | None, sock: object | None
) -> NameLookup | str | AclExecResult | None:
    """Do one task with the blocking drivers."""
    if isinstance(task, LookupName):
        from tcpwrap.drivers import lookup

        return lookup.verify_host_name(task.address, timeout=task.timeout)
    if isinstance(task, AskIdent):
        from tcpwrap.drivers import ident

        return ident.lookup_user(
            task.client,
            task.server,
            timeout=task.timeout,
            ident_port=task.port,
            on_warning=log_diagnostic,
        )
    return run_aclexec(task, fd=fd, sock=sock)


def drive(check: Check, *, fd: int | None = None, sock: object | None = None) -> Decision:
    """The blocking driver: answer every task, then act (live mode) and return the decision."""
    while (task := check.next_task()) is not None:
        check.supply(answer(task, fd=fd, sock=sock))
    decision, actions, origins = check.conclude()
    carry_out(actions, origins, fd=fd, sock=sock)
    return decision
