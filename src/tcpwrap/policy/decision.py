"""The inputs and the output of a decision, as plain values.

What it does: `Connection` says what is known about a connection when deciding starts (daemon,
endpoints, any names or user already given); `Mode` says how options behave (dry run as in
tcpdmatch and hosts_ctl, live as in tcpd, resident as in a library); `Decision` is the result:
verdict, the deciding rule (file:line), the actions the options ask for, diagnostics in the
order the original would log them, and the texts a driver needs for its log line.

Hazards: none (pure values). `Decision.client_info` may contain network-derived text already
sanitised by % expansions, exactly as tcpd would log it.
"""

from __future__ import annotations

import enum

from tcpwrap._record import field, record
from tcpwrap.errors import Diagnostic, Origin
from tcpwrap.policy.facts import UNKNOWN, Need
from tcpwrap.policy.options import ALLOW_PRIORITY, DENY_PRIORITY, Action, Priority


class Verdict(enum.Enum):
    GRANT = "granted"
    DENY = "denied"
    TWIST = "twist"  # live mode: replace the server by `/bin/sh -c command`
    ABORT = "abort"  # percent_x overflow: tcpd sleeps and exits without a verdict record


class Scan(enum.Enum):
    """How one table's scan ended (docs/rules.md#tables-and-the-decision): tcpd's 1, 0, -1."""

    MATCH = "match"
    NO_MATCH = "no match"
    ERROR = "error"  # unreadable table, or a line too long / without its newline


@record(frozen=True, slots=True)
class Endpoint:
    """One side of a connection as known before deciding."""

    addr: str | None = None  # printable address; None = unknown
    port: int | None = None
    name: str | None = None  # a name already known (hosts_ctl, tcpdmatch); None = not yet
    resolvable: bool = False  # a socket address exists, so a lookup may be asked for
    # An absent addr/port is a fact to ask for (Need.CLIENT_ADDR, SERVER_ADDR, SERVER_PORT)
    # instead of "unknown": `tcpwrap replay` finds which rules need what a log did not record.
    ask_absent: bool = False


@record(frozen=True, slots=True)
class Connection:
    daemon: str
    client: Endpoint = Endpoint()
    server: Endpoint = Endpoint()
    user: str | None = None  # a user already known; None = ask ident if `identable`
    identable: bool = False  # stream socket with both endpoints known
    pid: int = 0


@record(frozen=True, slots=True)
class Mode:
    dry_run: bool = True  # tcpdmatch / hosts_ctl: run nothing, twist is "delegated"
    resident: bool = False  # a long-lived library caller: twist is refused
    verbose: bool = False  # produce the "matched:" and "option:" debug records
    header: bool = False  # tcpdmatch: evaluate (and sanitise) its header values first
    # aclexec as hosts_options(5) documents it (exit 0 allows, anything else refuses) instead
    # of Debian's accidental table fall-through (docs/rules.md#aclexec); docs/compat.md.
    debian_aclexec: bool = False
    ident_timeout: int = 10  # RFC931_TIMEOUT until a rule's `rfc931 N` changes it


DRY_RUN = Mode()
LIVE = Mode(dry_run=False)


@record(frozen=True, slots=True)
class NeedRequest:
    """What the matcher needs before it can go on."""

    need: Need
    timeout: float | None = None  # ident timeout in force (rfc931 N)
    command: str | None = None  # the aclexec command
    actions: tuple[Action, ...] = ()  # actions due before the aclexec runs
    key: object = None
    # Asked while the deciding rule's options (or classic command) run, for a % expansion or
    # `rfc931`: the rule is chosen, the answer changes no verdict (tcpwrap replay uses this).
    acting: bool = False


@record(frozen=True, slots=True)
class AclExecResult:
    """How an aclexec command ended: exit status or signal number."""

    pid: int
    status: int | None
    signal: int | None = None


@record(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    origin: Origin | None  # the deciding rule or table line; None = nothing matched
    reason: str  # short human explanation
    actions: tuple[Action, ...] = ()
    action_origins: tuple[Origin | None, ...] = ()  # file:line of each action's rule
    diagnostics: tuple[Diagnostic, ...] = ()
    allow_priority: Priority = ALLOW_PRIORITY
    deny_priority: Priority = DENY_PRIORITY
    twist: str | None = None  # the expanded twist command (live) or None
    delegated: bool = False  # dry run reached a twist (tcpdmatch prints "delegated")
    client_info: str = UNKNOWN  # %c at the end: what the log line shows
    client_addr: str = UNKNOWN
    client_name: str | None = None  # the name if it was looked up (for JSON logs)
    user: str | None = None  # the ident user if it was looked up
    ident_timeout: int = 10
    lookups: tuple[str, ...] = ()  # which facts were looked up, in order
    facts: dict[str, str] = field(default_factory=dict)
    # tcpdmatch's header lines: (label, value, number of diagnostics logged before it)
    header: tuple[tuple[str, str, int], ...] = ()

    @property
    def granted(self) -> bool:
        return self.verdict is Verdict.GRANT

    @property
    def priority(self) -> Priority:
        return self.allow_priority if self.verdict is Verdict.GRANT else self.deny_priority


class Ending(enum.Enum):
    """What a live program does with a connection once its decision is carried out."""

    SERVE = "serve"  # exec the daemon (or start it as a child)
    TWIST = "twist"  # exec `/bin/sh -c command` talking to the client
    REFUSE = "refuse"  # the clean exit: no server runs
    ABORT = "abort"  # percent_x overflow: the clean exit without a verdict record


@record(frozen=True, slots=True)
class Conclusion:
    """The ending of a live decision and the record tcpd writes for it (one text for the
    wrapper, serve's children and the hand-off)."""

    ending: Ending
    priority: Priority | None  # the record's priority (None: ABORT writes no record)
    message: str  # tcpd's text: `connect from ...`, `twist ... to ...`, `refused connect from ...`
    event: str  # the JSON record's event (proto.logrecord.Event)
    verdict: str | None  # the JSON record's verdict


def conclude(decision: Decision, carried_out: bool) -> Conclusion:
    """tcpd's ending for a decision whose actions were (`carried_out`) or were not all done:
    a failed privilege drop refuses, whatever the verdict."""
    verdict = decision.verdict
    if verdict is Verdict.ABORT:
        return Conclusion(Ending.ABORT, None, "", "error", None)
    if verdict is Verdict.GRANT and carried_out:
        who = f"{decision.client_info} ({decision.client_addr})"
        return Conclusion(
            Ending.SERVE, decision.allow_priority, f"connect from {who}", "connect", "granted"
        )
    if verdict is Verdict.TWIST and carried_out:
        text = f"twist {decision.client_info} to {decision.twist or ''}"
        return Conclusion(Ending.TWIST, decision.deny_priority, text, "twist", "twisted")
    who = f"{decision.client_info} ({decision.client_addr})"
    return Conclusion(
        Ending.REFUSE, decision.deny_priority, f"refused connect from {who}", "refused", "denied"
    )
