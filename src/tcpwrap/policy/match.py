"""evaluate(): the hosts_access algorithm over a Policy, asking for facts, returning a Decision.

What it does: scans the allow table, then the deny table (docs/rules.md), evaluating
candidate rules in line order with the original's lazy, short-circuit list semantics; runs the
deciding rule's options (docs/rules.md) as pure steps that produce actions; keeps the request state
the way tcpd does (values sanitised in place by % expansions, docs/rules.md) and records every
diagnostic with its file:line in the original's order.

How facts are asked for: a run that reaches a fact it does not have (client or server host
name, ident user, an aclexec exit status) stops with a `NeedRequest`. The `Evaluation` hands
it to the driver, takes the answer, and runs again from the start with that fact known. A run
is pure and cheap, so re-running is exact: the new run reaches the same point, reads the fact
there (emitting its lookup warnings at that very place) and goes further. At most one run per
fact. Address-only tables never ask for anything.

Hazards: the decision is security-relevant; on any doubt the original fails closed and so do
we (option errors deny, deny-table errors deny). Network text only reaches actions through
`expand.percent_x`.
Errors: no exception escapes for table content; programmer errors (a Need supplied with the
wrong type) raise TcpwrapError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tcpwrap.errors import Diagnostic, Kind, Origin, TcpwrapError, error, warning
from tcpwrap.policy.cstr import chop, fold, scan_int, scan_octal, split_at, strip_mapped
from tcpwrap.policy.decision import (
    DRY_RUN,
    AclExecResult,
    Connection,
    Decision,
    Endpoint,
    Mode,
    NeedRequest,
    Scan,
    Verdict,
)
from tcpwrap.policy.environment import NO_ENVIRONMENT, Environment
from tcpwrap.policy.expand import BANNER_BUFFER, ExpansionTooLong, percent_x, sanitize
from tcpwrap.policy.facts import PARANOID, UNKNOWN, NameLookup, Need
from tcpwrap.policy.index import Candidates, daemon_plan
from tcpwrap.policy.options import (
    ALLOW_PRIORITY,
    DENY_PRIORITY,
    OPTION_FLAGS,
    AclExec,
    Action,
    Banner,
    ChangeUser,
    Flag,
    KeepAlive,
    Linger,
    Nice,
    Priority,
    SetEnv,
    Spawn,
    Umask,
    parse_severity,
    split_setenv,
)
from tcpwrap.policy.patterns import CLIENT, SERVER, hostname_known
from tcpwrap.policy.rules import Language, Policy, Rule, Table, match_denies

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from tcpwrap.policy.patterns import FileMatcher

STRING_LENGTH: Final = 127  # tcpd's 128-byte request strings
FILE_DEPTH_LIMIT: Final = 32  # nested /file lists (the original recursed until it crashed)
BANNER_CHUNK: Final = 8189  # fgets(ibuf, sizeof(ibuf) - 2): at most 8189 characters a read

MATCH, NO_MATCH, ERROR = Scan.MATCH, Scan.NO_MATCH, Scan.ERROR


class _Restart(Exception):
    """A fact is missing: stop this run and ask the driver."""

    def __init__(self, request: NeedRequest) -> None:
        super().__init__(request.need.value)
        self.request = request


class _Final(Exception):
    """An option decided (allow, deny, error, twist): the scan ends at once."""

    def __init__(self, verdict: Verdict, reason: str, twist: str | None = None) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason
        self.twist = twist


class _Host:
    __slots__ = ("addr", "ask", "name", "port", "resolvable")

    def __init__(
        self, addr: str, name: str, port: int | None, resolvable: bool, ask: bool = False
    ) -> None:
        self.addr = addr  # "" = not yet evaluated (becomes "unknown")
        self.name = name  # "" = not looked up yet
        self.port = port
        self.resolvable = resolvable
        self.ask = ask  # an absent addr/port is asked for (Endpoint.ask_absent)


class _Run:
    """One pass of hosts_access over the request; see the module docstring."""

    __slots__ = (
        "aclexec_count", "aclexec_failed", "aclexec_passed", "acting", "action_origins", "actions",
        "allow_priority", "daemon_text", "delegated", "deny_priority", "diagnostics", "env",
        "evaluation", "file_stack", "header", "hosts", "ident_timeout", "identable", "lookups",
        "mode", "origin", "pid", "restrictive", "user_text",
    )  # fmt: skip

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self.mode = evaluation.mode
        self.env = evaluation.env
        conn = evaluation.connection
        self.daemon_text = conn.daemon[:STRING_LENGTH]
        self.hosts = (_host(conn.client), _host(conn.server))
        self.user_text = "" if conn.user is None else (conn.user[:STRING_LENGTH] or "")
        self.identable = conn.identable
        self.pid = conn.pid
        self.origin: Origin | None = None
        self.restrictive = False  # MatchContext.restrictive: set per rule by _scan
        self.diagnostics: list[Diagnostic] = []
        self.actions: list[Action] = []
        self.action_origins: list[Origin | None] = []  # the rule each action came from
        self.lookups: list[str] = []
        self.allow_priority = ALLOW_PRIORITY
        self.deny_priority = DENY_PRIORITY
        self.ident_timeout = self.mode.ident_timeout
        self.file_stack: list[str] = []
        self.aclexec_failed = False
        self.aclexec_passed = False
        self.aclexec_count = 0
        self.delegated = False
        self.header: list[tuple[str, str, int]] = []
        self.acting = False  # the deciding rule is chosen; its options (or command) run

    # ------------------------------------------------------------------ facts (MatchContext)

    def _fact(self, key: object, request: NeedRequest) -> object:
        facts = self.evaluation.facts
        if key in facts:
            return facts[key]
        if self.acting:
            request = NeedRequest(request.need, request.timeout, request.command,
                                  request.actions, request.key, acting=True)
        raise _Restart(request)

    def daemon(self) -> str:
        return self.daemon_text

    def server_port(self) -> int | None:
        host = self.hosts[SERVER]
        if host.port is None and host.ask:
            port = self._fact(Need.SERVER_PORT, NeedRequest(Need.SERVER_PORT, key=Need.SERVER_PORT))
            if port is not None and not isinstance(port, int):
                raise TcpwrapError(f"server port: expected int or None, got {port!r}")
            host.port = port
        return host.port

    def addr(self, side: int) -> str:
        host = self.hosts[side]
        if not host.addr:
            if host.ask:
                need = Need.CLIENT_ADDR if side == CLIENT else Need.SERVER_ADDR
                value = self._fact(need, NeedRequest(need, key=need))
                if value is not None and not isinstance(value, str):
                    raise TcpwrapError(f"{need.value}: expected str or None, got {value!r}")
                host.addr = (value or UNKNOWN)[:STRING_LENGTH] or UNKNOWN
            else:
                host.addr = UNKNOWN
        return host.addr

    def addr_known(self, side: int) -> bool:
        host = self.hosts[side]
        return bool(host.addr) or not host.ask

    def _addr_seen(self, side: int) -> str:
        """The address for the decision's record: never asks (the verdict is already made)."""
        host = self.hosts[side]
        return (host.addr or UNKNOWN) if host.ask else self.addr(side)

    def name(self, side: int) -> str:
        host = self.hosts[side]
        if not host.name:
            host.name = UNKNOWN
            if host.resolvable:
                need = Need.CLIENT_NAME if side == CLIENT else Need.SERVER_NAME
                lookup = self._fact(need, NeedRequest(need, key=need))
                if not isinstance(lookup, NameLookup):
                    raise TcpwrapError(f"{need.value}: expected a NameLookup, got {lookup!r}")
                self.lookups.append(need.value)
                for text in lookup.warnings:
                    self.warn(text)
                host.name = lookup.name.text()[:STRING_LENGTH] or UNKNOWN
        return host.name

    def name_if_ready(self, side: int) -> str | None:
        # None until a rule has read the name, even when no lookup is possible: peeking must
        # not record a name ("unknown") that the naive scan would never have read.
        return self.hosts[side].name or None

    def user(self) -> str:
        if not self.user_text:
            self.user_text = UNKNOWN
            if self.identable:
                value = self._fact(
                    Need.CLIENT_USER,
                    NeedRequest(Need.CLIENT_USER, timeout=self.ident_timeout, key=Need.CLIENT_USER),
                )
                if value is not None and not isinstance(value, str):
                    raise TcpwrapError(f"ident: expected str or None, got {value!r}")
                self.lookups.append(Need.CLIENT_USER.value)
                self.user_text = (value or UNKNOWN)[:STRING_LENGTH] or UNKNOWN
        return self.user_text

    def innetgr(self, group: str, host: str) -> bool:
        return self.env.innetgr(group, host)

    def enter_file(self, path: str) -> FileMatcher | None:
        if path in self.file_stack or len(self.file_stack) >= FILE_DEPTH_LIMIT:
            self.warn(f"{path}: pattern file includes itself; not matched")
            return None
        content = self.env.pattern_file(path)
        if content is None:
            return None
        if isinstance(content, str):
            self.warn(f"open {path}: {content}")
            return None
        if content.cut_at is not None:
            taken = "a match" if self.restrictive else "no match"
            self.warn(
                f"{path}: longer than {content.cut_at} bytes, the most tcpwrap reads of a "
                f"pattern file: the rest is not read, and a client not found in the part read "
                f"is taken as {taken} here (fail closed)"
            )
        self.file_stack.append(path)
        # The naive evaluation (the reference the index is tested against) scans files naively.
        return content if self.evaluation.use_index else content.naive

    def leave_file(self, path: str) -> None:
        self.file_stack.pop()

    # ------------------------------------------------------------------ diagnostics

    def warn(self, message: str) -> None:
        self.diagnostics.append(warning(message, self.origin))

    def _error(self, message: str) -> _Final:
        self.diagnostics.append(error(message, self.origin))
        return _Final(Verdict.DENY, f"option error: {message}")

    def _act(self, action: Action) -> None:
        self.actions.append(action)
        self.action_origins.append(self.origin)

    def _debug(self, message: str) -> None:
        self.diagnostics.append(Diagnostic(Kind.DEBUG, message))

    # ------------------------------------------------------------------ eval_* and % letters

    def _hostinfo(self, side: int) -> tuple[str, str]:
        """eval_hostinfo(): (value, field) where field names the buffer it came from."""
        host = self.hosts[side]
        if not host.name:
            return self.addr(side), "addr"
        name = self.name(side)
        folded = fold(name)
        if folded != UNKNOWN and folded != PARANOID:
            return name, "name"
        return self.addr(side), "addr"

    def _store(self, side: int, field: str, value: str) -> str:
        setattr(self.hosts[side], field, value)
        return value

    def client_info(self) -> str:
        host = self.hosts[CLIENT]
        if host.ask and not host.addr:  # the verdict is made: nothing more is asked for
            value = host.name if host.name and hostname_known(host.name) else UNKNOWN
        else:
            value, _ = self._hostinfo(CLIENT)
        if self.user_text and self.user_text != UNKNOWN:
            return f"{self.user_text}@{value}"
        return value

    def expand_letter(self, letter: str) -> str:
        if letter in "aA":
            side = CLIENT if letter == "a" else SERVER
            return self._store(side, "addr", sanitize(self.addr(side)))
        if letter in "nN":
            side = CLIENT if letter == "n" else SERVER
            return self._store(side, "name", sanitize(self.name(side)))
        if letter in "hH":
            side = CLIENT if letter == "h" else SERVER
            value, field = self._hostinfo(side)
            return self._store(side, field, sanitize(value))
        if letter == "u":
            self.user_text = sanitize(self.user())
            return self.user_text
        if letter == "d":
            self.daemon_text = sanitize(self.daemon_text)
            return self.daemon_text
        if letter == "c":
            value, field = self._hostinfo(CLIENT)
            if self.user_text and self.user_text != UNKNOWN:
                return sanitize(f"{self.user_text}@{value}")
            return self._store(CLIENT, field, sanitize(value))
        if letter == "s":
            value, _ = self._hostinfo(SERVER)
            if fold(value) != UNKNOWN:
                return sanitize(f"{self.daemon_text}@{value}")
            self.daemon_text = sanitize(self.daemon_text)
            return self.daemon_text
        if letter == "p":
            return str(self.pid)
        if letter in "rR":
            port = self.hosts[CLIENT if letter == "r" else SERVER].port
            return str(port if port is not None else 0)
        return "%"

    # ------------------------------------------------------------------ the scan

    def execute(self) -> Decision:
        verdict, reason, origin, twist = Verdict.GRANT, "no rule matched", None, None
        try:
            if self.mode.header:
                self._header()
            policy = self.evaluation.policy
            result, origin = self._scan(policy.allow)
            if result is MATCH:
                reason = "matched in the allow table"
            else:
                allow_error = result is ERROR
                result, origin = self._scan(policy.deny)
                if result is NO_MATCH:
                    verdict, origin = Verdict.GRANT, None
                    reason = "no rule matched"
                    if allow_error:
                        reason += " (the allow table had an error)"
                elif result is MATCH:
                    verdict, reason = Verdict.DENY, "matched in the deny table"
                else:
                    verdict, reason = Verdict.DENY, "the deny table has an error (fail-closed)"
        except _Final as final:
            verdict, reason, twist = final.verdict, final.reason, final.twist
            origin = self.origin
        except ExpansionTooLong as exc:
            self.warn(str(exc))
            verdict, reason, origin = Verdict.ABORT, "percent_x: expansion too long", self.origin
        self.origin = None
        host, server = self.hosts
        client_addr = self._addr_seen(CLIENT)
        facts = {
            "daemon": self.daemon_text,
            "client_addr": client_addr,
            "server_addr": self._addr_seen(SERVER),
        }
        if host.name:
            facts["client_name"] = host.name
        if server.name:
            facts["server_name"] = server.name
        if self.user_text:
            facts["user"] = self.user_text
        return Decision(
            verdict=verdict,
            origin=origin,
            reason=reason,
            actions=tuple(self.actions),
            action_origins=tuple(self.action_origins),
            diagnostics=tuple(self.diagnostics),
            allow_priority=self.allow_priority,
            deny_priority=self.deny_priority,
            twist=twist,
            delegated=self.delegated,
            client_info=self.client_info(),
            client_addr=client_addr,
            client_name=host.name or None,
            user=self.user_text or None,
            ident_timeout=self.ident_timeout,
            lookups=tuple(self.lookups),
            facts=facts,
            header=tuple(self.header),
        )

    def _header(self) -> None:
        """tcpdmatch's header: evaluated (and sanitised in place) before the tables."""
        rows = (
            ("client:   hostname", "n"),
            ("client:   address ", "a"),
            ("client:   username", "u"),
            ("server:   hostname", "N"),
            ("server:   address ", "A"),
        )
        for label, letter in rows:
            value = self.expand_letter(letter)
            if fold(value) != UNKNOWN:
                self.header.append((label, value, len(self.diagnostics)))
        process = self.expand_letter("d")
        if fold(process) != UNKNOWN:
            self.header.append(("server:   process ", process, len(self.diagnostics)))

    def _scan(self, table: Table) -> tuple[Scan, Origin | None]:
        self.origin = None
        if table.open_error is not None:
            self.warn(f"cannot open {table.path}: {table.open_error}")
            return ERROR, None
        notes = table.notes
        rules = table.rules
        if not rules and not notes and table.stop is None:
            return NO_MATCH, None  # empty (or missing): nothing to say
        shown = 0
        matched: Rule | None = None
        positions: Iterable[int]
        # (An empty table has nothing to index; the index starts from the client address, so
        # a client whose address was not logged is scanned rule by rule: only a rule that
        # reads the address asks for it.)
        if self.evaluation.use_index and rules and self.addr_known(CLIENT):
            plan = daemon_plan(table, fold(strip_mapped(self.daemon_text)))
            # Without indexed rules for this daemon, the candidates are its residual rules.
            positions = (
                Candidates(plan.groups, plan.residual, self) if plan.groups else plan.residual
            )
        else:
            positions = range(len(rules))
        deny_table = table is self.evaluation.policy.deny
        for pos in positions:
            rule = rules[pos]
            line = rule.origin.line
            while shown < len(notes) and notes[shown][0] < line:
                self.diagnostics.append(notes[shown][1])
                shown += 1
            self.origin = rule.origin
            self.restrictive = match_denies(rule, deny_table)
            if rule.daemons.match(self) and rule.clients.match(self):
                matched = rule
                break
        if matched is None:
            if shown < len(notes):
                self.diagnostics.extend(note for _, note in notes[shown:])
            if table.stop is not None:
                self.origin = Origin(table.path, table.stop.line)
                self.warn("missing newline or line too long")
                self.warn("all the subsequent rules will be ignored")
                stop_origin = self.origin
                self.origin = None
                return ERROR, stop_origin
            self.origin = None
            return NO_MATCH, None
        if self.mode.verbose:
            self._debug(f"matched:  {table.path} line {matched.origin.line}")
        self.acting = True
        result = MATCH
        if matched.third is not None:
            if matched.options is not None:
                self._options(matched)
                if self.aclexec_passed and not self.mode.debian_aclexec:
                    raise _Final(Verdict.GRANT, "aclexec command succeeded")
                if self.aclexec_failed:
                    self.diagnostics.append(Diagnostic(Kind.INFO, "aclexec returned 1"))
                    result = NO_MATCH
                    self.acting = False  # Debian: the scan goes on, rules are matched again
            elif self.evaluation.policy.language is Language.CLASSIC:
                command = percent_x(matched.third, self)
                self._act(Spawn(command, "classic"))
                if self.mode.verbose:
                    self._debug(f"command: {command}")
        self.origin = None
        return result, matched.origin

    # ------------------------------------------------------------------ options

    def _options(self, rule: Rule) -> None:
        assert rule.options is not None
        for step in rule.options:
            if step.rule_ends_in_colon:
                self.warn('rule ends in ":"')
            if step.error is not None:
                raise self._error(step.error)
            value = step.value
            flags = OPTION_FLAGS[step.name]
            if value is not None and Flag.EXPAND in flags:
                value = chop(percent_x(value, self))
            if self.mode.verbose:
                self._debug(f"option:   {step.key} {value if value is not None else ''}")
            if step.value_error is not None:
                raise self._error(step.value_error)
            self._option(step.name, value)

    def _option(self, name: str, value: str | None) -> None:
        if name == "allow":
            raise _Final(Verdict.GRANT, "allow option")
        if name == "deny":
            raise _Final(Verdict.DENY, "deny option")
        if name == "spawn":
            self._act(Spawn(value or ""))
        elif name == "twist":
            if self.mode.resident:
                raise self._error("twist option in resident process")
            if self.mode.dry_run:
                self.delegated = True
            else:
                raise _Final(Verdict.TWIST, "twist option", twist=value or "")
        elif name == "aclexec":
            self._aclexec(value or "")
        elif name == "banners":
            self._banners(value or "")
        elif name == "setenv":
            var, text = split_setenv(value or "")
            if not var or "=" in var:
                raise self._error("memory allocation failure")
            self._act(SetEnv(var, text))
        elif name == "umask":
            self._act(Umask(scan_octal(value or "") or 0))
        elif name == "nice":
            self._act(Nice(10 if value is None else (scan_int(value) or 0)))
        elif name == "keepalive":
            self._act(KeepAlive())
        elif name == "linger":
            self._act(Linger(scan_int(value or "") or 0))
        elif name == "severity":
            priority: Priority = parse_severity(value or "")
            self.allow_priority = self.deny_priority = priority
        elif name == "rfc931":
            if value is not None:
                self.ident_timeout = scan_int(value) or self.ident_timeout
            self.user()
        elif name == "user":
            assert value is not None
            cut = split_at(value, ".")
            user, group = (value, None) if cut is None else cut
            if group is not None and not self.env.group_exists(group):
                raise self._error(f'unknown group: "{group}"')
            if not self.env.user_exists(user):
                raise self._error(f'unknown user: "{user}"')
            self._act(ChangeUser(user, group))
        elif name == "group":
            assert value is not None
            if not self.env.group_exists(value):
                raise self._error(f'unknown group: "{value}"')
            self._act(ChangeUser(None, value))

    def _aclexec(self, command: str) -> None:
        if self.mode.dry_run:
            return  # dry runs do not execute it: success
        key = ("aclexec", self.aclexec_count)
        self.aclexec_count += 1
        result = self._fact(
            key,
            NeedRequest(Need.ACLEXEC, command=command, actions=tuple(self.actions), key=key),
        )
        if not isinstance(result, AclExecResult):
            raise TcpwrapError(f"aclexec: expected AclExecResult, got {result!r}")
        self._act(AclExec(command))
        failed = not (result.signal is None and result.status == 0)
        if result.signal is not None:
            self.warn(f"process {result.pid} exited with signal {result.signal}")
        if not self.mode.debian_aclexec:
            if failed:
                raise _Final(Verdict.DENY, "aclexec command failed")
            self.aclexec_passed = True
            return
        self.aclexec_failed = failed

    def _banners(self, directory: str) -> None:
        content = self.env.banner(directory, self.daemon_text)
        if content is None:
            return
        if isinstance(content, str):
            self.warn(f"{directory}: {content}")
            return
        text = content.decode("latin-1")
        out: list[str] = []
        start = 0
        while start < len(text) and text[start] == "\0":
            out.append("\0")
            start += 1
        pos = start
        while pos < len(text):
            newline = text.find("\n", pos, pos + BANNER_CHUNK)
            end = newline + 1 if newline >= 0 else min(pos + BANNER_CHUNK, len(text))
            chunk = text[pos:end].split("\0", 1)[0]
            pos = end
            cut = split_at(chunk, "\n")
            if cut is not None:
                chunk = cut[0] + "\r\n"
            out.append(percent_x(chunk, self, BANNER_BUFFER))
        self._act(Banner("".join(out)))


def _host(endpoint: Endpoint) -> _Host:
    return _Host(
        (endpoint.addr or "")[:STRING_LENGTH],
        (endpoint.name or "")[:STRING_LENGTH],
        endpoint.port,
        endpoint.resolvable and endpoint.name is None,
        endpoint.ask_absent and (not endpoint.addr or endpoint.port is None),
    )


class Evaluation:
    """A decision in progress: ask `next_need()`, `supply()` the answer, read `decision`."""

    def __init__(
        self,
        policy: Policy,
        connection: Connection,
        mode: Mode = DRY_RUN,
        env: Environment = NO_ENVIRONMENT,
        *,
        use_index: bool = True,
    ) -> None:
        self.policy = policy
        self.connection = connection
        self.mode = mode
        self.env = env
        self.use_index = use_index
        self.facts: dict[object, object] = {}
        self._pending: NeedRequest | None = None
        self._decision: Decision | None = None

    def next_need(self) -> NeedRequest | None:
        """Run until a fact is missing (returned) or the decision is made (None)."""
        if self._decision is not None:
            return None
        if self._pending is not None:
            return self._pending
        try:
            self._decision = _Run(self).execute()
        except _Restart as restart:
            self._pending = restart.request
            return restart.request
        return None

    def supply(self, value: object) -> None:
        """The answer to the pending need (NameLookup, str | None, or AclExecResult)."""
        if self._pending is None:
            raise TcpwrapError("supply() without a pending need")
        self.facts[self._pending.key] = value
        self._pending = None

    @property
    def decision(self) -> Decision:
        if self._decision is None:
            raise TcpwrapError("the decision is not made yet: call next_need() first")
        return self._decision

    def run(self, answer: Callable[[NeedRequest], object]) -> Decision:
        """Drive the evaluation to the end with a synchronous fact provider."""
        while (request := self.next_need()) is not None:
            self.supply(answer(request))
        return self.decision


def evaluate(
    policy: Policy,
    connection: Connection,
    mode: Mode = DRY_RUN,
    env: Environment = NO_ENVIRONMENT,
    *,
    use_index: bool = True,
) -> Decision:
    """Decide a connection whose facts are all given (no lookups can be asked for)."""
    evaluation = Evaluation(policy, connection, mode, env, use_index=use_index)
    request = evaluation.next_need()
    if request is not None:
        raise TcpwrapError(f"evaluate(): {request.need.value} is needed; use Evaluation")
    return evaluation.decision
