"""Deciding a logged connection again under other tables, with only the facts the log recorded.

What it does: `Replayer.decide(daemon, addr, name, user)` builds the engine's `Connection` from
the fields a log line recorded and runs the one matcher (`policy.match.Evaluation`) with tcpd's
live semantics. Whatever the log did not record is not guessed: the endpoints are made with
`Endpoint.ask_absent` and a resolvable client, so a rule that reads a fact the log lacks makes
the matcher stop with a `Need` (client name, client address, user, server name, address or
port, an aclexec exit status). Without `Lookups` that need ends the replay of the record as
*undecidable*, with the need as the reason (a need of the deciding rule's options, a %
expansion or `rfc931`, changes no verdict and gets "no answer"); with `Lookups` a client name
or address is asked of DNS (reverse + double-reverse for a name, forward for an address:
exactly one address or undecidable). The ident user is never asked: RFC 1413 identifies a
live connection, and the logged one is gone. Results are memoised per distinct field tuple
(logs repeat clients).

The quick path: a record that logged the client address is first decided by hosts_ctl's
quick path (policy.quick.ctl_rule: the compiled index, residual rules evaluated in place;
without a name, every rule the evaluator would evaluate before the index's hit) against
`LoggedFacts`, the facts the evaluator's run reads for the same connection; a read of a fact
the log lacks stops it with that fact (undecidable, as the evaluator's need). The full
evaluation runs when the deciding rule has options, when the log lacks the address (or
logged an empty name), and for a record without a name under `Lookups` (DNS answers it).
tests/property/test_replay_quick.py checks outcome, deciding rule and reason against the
full evaluation.

Hazards: every field comes from a log and is hostile; it is only compared by the engine (and
truncated there as tcpd truncates). DNS answers today may differ from those the wrapper got.
Errors: none raised for log content; table problems are the engine's diagnostics.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from tcpwrap._record import record
from tcpwrap.errors import Origin
from tcpwrap.policy.decision import Connection, Endpoint, Mode, NeedRequest, Verdict
from tcpwrap.policy.environment import NO_ENVIRONMENT, Environment
from tcpwrap.policy.facts import NameLookup, Need, UnknownName
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.patterns import CLIENT
from tcpwrap.policy.quick import GRANTED, UNDECIDED, CtlFacts, ctl_rule
from tcpwrap.policy.rules import Policy

# tcpd's own semantics (not hosts_ctl's dry run): a twist ends the scan as a twist, an aclexec
# needs its command's exit status.
REPLAY_MODE = Mode(dry_run=False)
MEMO_LIMIT = 200_000
QUICK_LIMIT = 4096  # shared Replayed values of the quick path (then forgotten all at once)


class Outcome(enum.Enum):
    """What happened (or would happen) to a connection."""

    GRANTED = "granted"
    DENIED = "denied"
    TWIST = "twist"  # the real server is replaced by the rule's command


OUTCOME_OF_VERDICT = {
    Verdict.GRANT: Outcome.GRANTED,
    Verdict.DENY: Outcome.DENIED,
    Verdict.TWIST: Outcome.TWIST,
    Verdict.ABORT: Outcome.DENIED,  # percent_x overflow: tcpd exits, the server never runs
}


class Missing(enum.Enum):
    """Why a record cannot be decided: the fact a rule needed and the log lacks."""

    CLIENT_NAME = "client host name not logged"
    CLIENT_ADDR = "client address not logged"
    CLIENT_USER = "client user not logged"
    SERVER_NAME = "server host name not logged"
    SERVER_ADDR = "server address not logged"
    SERVER_PORT = "server port not logged"
    ACLEXEC = "aclexec command's exit status unknown"
    ADDR_LOOKUP = "client address: DNS gave not exactly one"


MISSING_OF_NEED = {
    Need.CLIENT_NAME: Missing.CLIENT_NAME,
    Need.CLIENT_ADDR: Missing.CLIENT_ADDR,
    Need.CLIENT_USER: Missing.CLIENT_USER,
    Need.SERVER_NAME: Missing.SERVER_NAME,
    Need.SERVER_ADDR: Missing.SERVER_ADDR,
    Need.SERVER_PORT: Missing.SERVER_PORT,
    Need.ACLEXEC: Missing.ACLEXEC,
}


# What is supplied for a fact asked for by the deciding rule's options ("no answer").
ACTING_ANSWERS: dict[Need, NameLookup | None] = {
    Need.CLIENT_NAME: NameLookup(UnknownName()),
    Need.SERVER_NAME: NameLookup(UnknownName()),
    Need.CLIENT_USER: None,
    Need.CLIENT_ADDR: None,
    Need.SERVER_ADDR: None,
    Need.SERVER_PORT: None,
}


@record(frozen=True, slots=True)
class Replayed:
    """One record decided again: an outcome and its deciding rule, or (outcome None) what was
    missing."""

    outcome: Outcome | None  # None: undecidable
    origin: Origin | None = None  # the deciding rule (None: no rule matched)
    missing: Missing | None = None


@record(frozen=True, slots=True)
class Lookups:
    """Live answers for what a log lacks: `name(addr)` and `addresses(name)` (blocking)."""

    name: Callable[[str], NameLookup]
    addresses: Callable[[str], tuple[str, ...]]


def dns_lookups(timeout: float) -> Lookups:
    """The blocking DNS drivers with `timeout` seconds per lookup, answers memoised."""
    from tcpwrap.drivers.lookup import find_inet_addr, verify_host_name

    names: dict[str, NameLookup] = {}
    addrs: dict[str, tuple[str, ...]] = {}

    def name(addr: str) -> NameLookup:
        found = names.get(addr)
        if found is None:
            found = names[addr] = verify_host_name(addr, timeout=timeout)
        return found

    def addresses(host: str) -> tuple[str, ...]:
        found = addrs.get(host)
        if found is None:
            found = addrs[host] = find_inet_addr(host, timeout=timeout).addresses
        return found

    return Lookups(name, addresses)


class _Lacking(Exception):
    """A rule read a fact the log lacks: the quick path stops (the evaluator's `Need`)."""

    def __init__(self, need: Need) -> None:
        super().__init__(need.value)
        self.need = need


class LoggedFacts(CtlFacts):
    """What the evaluator's run reads for a replayed record that logged the client address
    (`Replayer._evaluate`'s connection): the address and name as logged (name "": not logged,
    `Need.CLIENT_NAME`), the user as logged (not logged: `Need.CLIENT_USER`), no server side
    logged (its name, address or port: the matching need). A need raises `_Lacking`."""

    __slots__ = ()

    def __init__(
        self, daemon: str, address: str, name: str, user: str | None, env: Environment
    ) -> None:
        super().__init__(daemon, address, name, "" if user is None else user, env)

    def server_port(self) -> int | None:
        raise _Lacking(Need.SERVER_PORT)

    def addr(self, side: int) -> str:
        if side == CLIENT:
            return self.address
        raise _Lacking(Need.SERVER_ADDR)

    def addr_known(self, side: int) -> bool:
        return side == CLIENT  # an absent server address is asked for, so not "known"

    def name(self, side: int) -> str:
        if side == CLIENT and self.name_text:
            return self.name_text
        raise _Lacking(Need.CLIENT_NAME if side == CLIENT else Need.SERVER_NAME)

    def name_if_ready(self, side: int) -> str | None:
        return (self.name_text or None) if side == CLIENT else None

    def file_matches(self, path: str) -> bool:
        # (quick.ctl_rule evaluates rules in full when the name is unknown: never without it)
        assert self.name_text, "a /file list's quick match needs the name"
        return super().file_matches(path)

    def user(self) -> str:
        if not self.user_text:  # ("": not logged; a logged user is never empty here)
            raise _Lacking(Need.CLIENT_USER)
        return self.user_text


class SampleFacts(LoggedFacts):
    """`LoggedFacts` for a generated sample (`server_logged`): no server side at all, as
    hosts_ctl (CtlFacts): its address and name "unknown", no port."""

    __slots__ = ()

    # the server side as CtlFacts has it; the client's name and the user as LoggedFacts
    server_port = CtlFacts.server_port
    addr = CtlFacts.addr
    addr_known = CtlFacts.addr_known

    def name(self, side: int) -> str:
        return super().name(side) if side == CLIENT else CtlFacts.name(self, side)

    def name_if_ready(self, side: int) -> str | None:
        return super().name_if_ready(side) if side == CLIENT else CtlFacts.name_if_ready(self, side)


def is_address(text: str) -> bool:
    """Whether a logged client is a numeric address (IPv4 dotted quad or IPv6)."""
    from ipaddress import ip_address

    if text.strip("0123456789abcdefABCDEF.:"):
        return False  # a character no address has: a name (the common case, and cheap)
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


class Replayer:
    """Decides records against one compiled policy; memoises per distinct fields."""

    def __init__(
        self,
        policy: Policy,
        env: Environment = NO_ENVIRONMENT,
        lookups: Lookups | None = None,
        *,
        server_logged: bool = False,
    ) -> None:
        self.policy = policy
        self.env = env
        self.lookups = lookups
        # False (logs): the server's name, address and port are facts the log lacks.
        # True (generated samples): no server side at all, as hosts_ctl and tcpdmatch.
        self.server_logged = server_logged
        self._memo: dict[tuple[str, str | None, str | None, str | None], Replayed] = {}
        self._facts = SampleFacts if server_logged else LoggedFacts
        # One Replayed per outcome and rule (and per missing fact), shared by the records the
        # quick path decides
        self._quick: dict[tuple[int, int], Replayed] = {}
        self._missing = {need: Replayed(None, missing=m) for need, m in MISSING_OF_NEED.items()}

    def decide(
        self, daemon: str, addr: str | None, name: str | None, user: str | None
    ) -> Replayed:
        """The outcome for the fields as logged (None = not logged)."""
        key = (daemon, addr, name, user)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            found = self._memo[key] = self.decide_once(daemon, addr, name, user)
        return found

    def decide_once(
        self, daemon: str, addr: str | None, name: str | None, user: str | None
    ) -> Replayed:
        """`decide` without the memo, for a caller that memoises itself."""
        if addr and (name or (name is None and self.lookups is None)):  # the quick path
            try:
                verdict, origin = ctl_rule(
                    self.policy, daemon, name, addr, user, self.env, self._facts
                )
            except _Lacking as lacking:
                return self._missing[lacking.need]
            if verdict != UNDECIDED:
                # (keyed by the origin's identity: hashing an Origin runs Python code)
                key = (verdict, id(origin))
                found = self._quick.get(key)
                if found is None or found.origin is not origin:
                    if len(self._quick) >= QUICK_LIMIT:
                        self._quick.clear()  # (new Origin objects: a table's cut-off line)
                    outcome = Outcome.GRANTED if verdict == GRANTED else Outcome.DENIED
                    found = self._quick[key] = Replayed(outcome, origin)
                return found
        return self._evaluate(daemon, addr, name, user)

    def _evaluate(
        self, daemon: str, addr: str | None, name: str | None, user: str | None
    ) -> Replayed:
        """The full evaluation with tcpd's live semantics (the reference)."""
        server = Endpoint() if self.server_logged else Endpoint(resolvable=True, ask_absent=True)
        connection = Connection(
            daemon,
            client=Endpoint(addr=addr, name=name, resolvable=True, ask_absent=True),
            server=server,
            user=user,
            identable=user is None,
        )
        # The index looks the client address up first; without one, scan rule by rule (the
        # reference scan, equal to the index by the property tests) so that only a rule that
        # really reads the address asks for it.
        evaluation = Evaluation(
            self.policy, connection, REPLAY_MODE, self.env, use_index=addr is not None
        )
        while (request := evaluation.next_need()) is not None:
            answer = self._answer(request, addr, name)
            if isinstance(answer, Missing):
                return Replayed(None, missing=answer)
            evaluation.supply(answer)
        decision = evaluation.decision
        return Replayed(OUTCOME_OF_VERDICT[decision.verdict], decision.origin)

    def _answer(
        self, request: NeedRequest, addr: str | None, name: str | None
    ) -> Missing | NameLookup | str | None:
        need = request.need
        if request.acting and need in ACTING_ANSWERS:
            # For a % expansion or `rfc931` of the deciding rule: the verdict is made, and
            # tcpd's lookup (which the log did not record) would change only that text.
            return ACTING_ANSWERS[need]
        lookups = self.lookups
        if lookups is not None:
            if need is Need.CLIENT_NAME and addr is not None:
                return lookups.name(addr)  # no name or no answer: "unknown", as tcpd had it
            if need is Need.CLIENT_ADDR and name is not None:
                addresses = lookups.addresses(name)
                return addresses[0] if len(addresses) == 1 else Missing.ADDR_LOOKUP
        return MISSING_OF_NEED[need]
