"""hosts_ctl's verdict without a Decision: the index, plus residual rules evaluated in place.

What it does: `ctl_verdict(policy, daemon, client_name, client_addr, user, env)` gives the
verdict `evaluate()` gives for libwrap's hosts_ctl() query (four strings, every fact given, so
nothing can be looked up; dry run), whenever no options have to run. For each table, the index
gives the first rule its keys match (index.quick_table); rules the index cannot file (EXCEPT,
wildcards, KNOWN/LOCAL, user@host, daemon@host, ports, `/file` lists, @netgroup, ...) that
come before that rule are evaluated in line order against `CtlFacts`, a MatchContext holding
the four strings. A `/file` list is asked from the environment as the evaluator asks it, and
its compiled index answers from the address and the name at once (patternfile.PatternFile).
When the deciding rule has options, the answer is UNDECIDED and the full evaluator must run.

Diagnostics are not produced here: hosts_ctl() returns only the verdict, and everything that
only warns (an unreadable or self-including `/file`, skipped lines) leaves the verdict as the
evaluator's (the rule does not match; the scan goes on). Callers that need the diagnostics
call the evaluator. tests/property/test_ctl_quick.py checks verdict equality with the full
evaluation on generated tables, files and queries.

Hazards: none (pure; the environment is the caller's). A verdict that read the environment
(a `/file` list, a netgroup) is reported as such (`GRANTED_ENV`/`DENIED_ENV`): it can change
while the policy does not, so it must not be memoised with the policy.
"""

from __future__ import annotations

from tcpwrap.policy.cstr import INADDR_NONE, dot_quad_addr, fold, strip_mapped
from tcpwrap.policy.index import INF, DaemonPlan, daemon_plan
from tcpwrap.policy.patterns import CLIENT, parse_ipv6
from tcpwrap.policy.rules import match_denies

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    from tcpwrap.policy.environment import Environment
    from tcpwrap.policy.patternfile import PatternFile
    from tcpwrap.policy.rules import Policy, Table

    FileOpener = Callable[[str], PatternFile | str | None]

UNKNOWN: Final = "unknown"
STRING_LENGTH: Final = 127  # as match.STRING_LENGTH: tcpd's 128-byte request strings
FILE_DEPTH_LIMIT: Final = 32  # as match.FILE_DEPTH_LIMIT

DENIED, GRANTED = 0, 1  # decided by the tables alone: may be memoised with the policy
DENIED_ENV, GRANTED_ENV = 2, 3  # decided after reading the environment: not to be memoised
UNDECIDED = -1  # the deciding rule has options: run the evaluator

_MATCH, _NO_MATCH, _ERROR, _OPTIONS = 1, 0, -1, -2


class CtlFacts:
    """The MatchContext of a hosts_ctl() query: every fact is one of the four strings.

    Equal to what the evaluator's run reads for `library.ctl.ctl_connection(...)`: the client
    address and name as given ("" = unknown), no server endpoint (address and name unknown,
    no port), the user as given, no lookups possible.
    """

    __slots__ = (
        "address", "daemon_text", "deny_table", "env", "env_read", "file_stack", "name_text",
        "open_file", "restrictive", "user_text",
    )  # fmt: skip

    def __init__(
        self,
        daemon: str,
        address: str,
        name: str,
        user: str,
        env: Environment,
        open_file: FileOpener | None = None,
    ) -> None:
        self.daemon_text = daemon
        self.address = address
        self.name_text = name
        self.user_text = user
        self.env = env
        self.open_file = env.pattern_file if open_file is None else open_file
        self.env_read = False  # a /file or a netgroup was read
        self.file_stack: list[str] = []
        self.deny_table = False  # which table _table() is scanning
        self.restrictive = False  # MatchContext.restrictive: set per rule by _table()

    def daemon(self) -> str:
        return self.daemon_text

    def server_port(self) -> int | None:
        return None

    def addr(self, side: int) -> str:
        return self.address if side == CLIENT else UNKNOWN

    def name(self, side: int) -> str:
        return self.name_text if side == CLIENT else UNKNOWN

    def name_if_ready(self, side: int) -> str | None:
        return self.name_text if side == CLIENT else UNKNOWN  # known: no lookup can happen

    def user(self) -> str:
        return self.user_text

    def innetgr(self, group: str, host: str) -> bool:
        self.env_read = True
        return self.env.innetgr(group, host)

    def enter_file(self, path: str) -> PatternFile | None:
        # as match._Run.enter_file, without its warnings (see the module docstring)
        if path in self.file_stack or len(self.file_stack) >= FILE_DEPTH_LIMIT:
            return None
        self.env_read = True
        content = self.open_file(path)
        if content is None or isinstance(content, str):
            return None
        self.file_stack.append(path)
        return content

    def leave_file(self, path: str) -> None:
        self.file_stack.pop()

    def file_matches(self, path: str) -> bool:
        """FileList(path).match(self, CLIENT) in one call."""
        stack = self.file_stack
        if path in stack or len(stack) >= FILE_DEPTH_LIMIT:
            return False
        self.env_read = True
        content = self.open_file(path)
        if content is None or isinstance(content, str):
            return False
        matched = content.match_known(self.address, self.name_text)
        if matched is None:  # residual tokens (nested files among them): in full
            stack.append(path)
            matched = content.match(self, CLIENT)  # (nothing here raises: no lookups)
            stack.pop()
        return matched or (content.cut_at is not None and self.restrictive)  # as FileList


_UNSEEN: Final = ("(not looked at yet)",)  # DaemonPlan.flat's missing entries
PLANS_LIMIT = 256  # daemon names remembered per policy (then forgotten all at once)
MEMO_LIMIT = 65536  # remembered verdicts per policy version (then forgotten all at once)


class _CtlPlan:
    """Both tables' plans for one daemon name, and what the query's subjects need."""

    __slots__ = (
        "allow", "allow_fixed", "daemon", "deny", "deny_fixed", "memoisable", "names", "v4",
        "v6",
    )  # fmt: skip

    def __init__(self, policy: Policy, daemon: str) -> None:
        self.daemon = daemon[:STRING_LENGTH]
        key = fold(strip_mapped(self.daemon))  # what a DaemonName token is compared with
        self.allow = daemon_plan(policy.allow, key)
        self.deny = daemon_plan(policy.deny, key)
        self.allow_fixed = _fixed(policy.allow, self.allow)
        self.deny_fixed = _fixed(policy.deny, self.deny)
        plans = (self.allow, self.deny)
        self.v4 = any(plan.v4 for plan in plans)
        self.v6 = any(plan.v6 for plan in plans)
        self.names = any(part.name.used for plan in plans for part in plan.parts)
        # False when every query reads a /file list first (a deny table of `ALL: /list`
        # after an allow table with nothing for the daemon): no verdict could be memoised.
        self.memoisable = not (
            self.allow_fixed == _NO_MATCH
            and self.deny_fixed is None
            and _file_first(policy.deny, self.deny)
        )


def _file_first(table: Table, plan: DaemonPlan) -> bool:
    """Whether every query reads a /file list before anything else can decide: the first
    candidate rule is a residual one whose daemon list the index filed and whose first client
    is a /file list (so it is always evaluated, and reads the list first)."""
    if not plan.residual:
        return False
    first = plan.residual[0]
    hosts = plan.flat[first] if first in plan.flat else plan.hosts(first)
    if hosts is None or not hosts or not isinstance(hosts[0], str):
        return False
    rules = table.rules
    return all(part.floor > first for part in plan.parts) and rules[first].third is None


def _fixed(table: Table, plan: DaemonPlan) -> int | None:
    """The table's result when no query can change it (an open error, nothing for the
    daemon), else None."""
    if table.open_error is not None:
        return _ERROR
    if not plan.parts and not plan.residual:
        return _NO_MATCH if table.stop is None else _ERROR
    return None


def ctl_verdict(
    policy: Policy,
    daemon: str,
    client_name: str,
    client_addr: str,
    user: str,
    env: Environment,
    open_file: FileOpener | None = None,
    memo: dict[tuple[str, str, str, str], bool] | None = None,
) -> int:
    """DENIED, GRANTED, DENIED_ENV, GRANTED_ENV or UNDECIDED (see the module docstring).

    `open_file` replaces `env.pattern_file` (a driver's cheaper equivalent for this call).
    `memo`: verdicts of this policy by query; it answers a query it holds, and learns every
    verdict decided by the tables alone (DENIED, GRANTED); cleared at MEMO_LIMIT entries."""
    plans = policy.plans
    plan: _CtlPlan | None = plans.get(daemon)
    if plan is None:
        if len(plans) >= PLANS_LIMIT:
            plans.clear()
        plan = plans[daemon] = _CtlPlan(policy, daemon)
    query: tuple[str, str, str, str] | None = None
    if memo is not None and plan.memoisable:
        query = (daemon, client_name, client_addr, user)
        known = memo.get(query)
        if known is not None:
            return GRANTED if known else DENIED
    address = client_addr[:STRING_LENGTH] or UNKNOWN
    name = client_name[:STRING_LENGTH] or UNKNOWN
    # The subjects as the index compares them (index._Group.address_hit); a network is
    # compared with the IPv4 reading of the address (v4: computed when first needed) or,
    # for an IPv6 address, with its IPv6 reading.
    mapped = strip_mapped(address)
    v4_form = len(mapped) != len(address) or ":" not in address
    address_text = fold(mapped)
    name_text = fold(strip_mapped(name)) if plan.names else ""
    facts: CtlFacts | None = None
    if plan.allow.residual or plan.deny.residual:
        facts = CtlFacts(
            plan.daemon, address, name, user[:STRING_LENGTH] or UNKNOWN, env, open_file
        )
    result = plan.allow_fixed
    if result is None:
        result = _table(policy.allow, plan.allow, address_text, v4_form, name_text, facts)
    if result == _MATCH:
        verdict = GRANTED
    elif result == _OPTIONS:
        return UNDECIDED
    else:
        result = plan.deny_fixed
        if result is None:
            if facts is not None:
                facts.deny_table = True
            result = _table(policy.deny, plan.deny, address_text, v4_form, name_text, facts)
        if result == _OPTIONS:
            return UNDECIDED
        verdict = GRANTED if result == _NO_MATCH else DENIED
    if facts is not None and facts.env_read:
        verdict += DENIED_ENV
    elif query is not None:
        assert memo is not None
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[query] = verdict == GRANTED
    return verdict


def _table(
    table: Table,
    plan: DaemonPlan,
    address: str,
    v4_form: bool,
    name: str,
    facts: CtlFacts | None,
) -> int:
    """One table's first-match result: _MATCH, _NO_MATCH, _ERROR, or _OPTIONS when the first
    matching rule has a third field. `address` and `name` are folded and stripped of
    `::ffff:`; `v4_form`: networks compare the IPv4 reading of the address, else the IPv6 one.
    `facts` None: residual rules are not evaluated."""
    if table.open_error is not None:
        return _ERROR
    best = INF
    v4: int | None = -1  # not computed yet
    for part in plan.parts:
        hit = part.always if part.always < best else best  # an earlier part's hit bounds it
        keys = part.address
        if keys.used:
            found = keys.exact.get(address, INF)
            if found < hit:
                hit = found
            if hit > part.other_floor:
                found = keys.lookup_other(address)
                if found < hit:
                    hit = found
        if v4_form:
            if hit > part.v4_floor:
                if v4 == -1:
                    v4 = dot_quad_addr(address)  # (inet_addr reads hex digits in any case)
                    if v4 == INADDR_NONE:
                        v4 = None
                if v4 is not None:
                    for mask, nets in part.v4nets:
                        found = nets.get(v4 & mask, INF)
                        if found < hit:
                            hit = found
        elif hit > part.v6_floor:
            v6 = parse_ipv6(address)  # (cached; folding changes no IPv6 reading)
            if v6 is not None:
                for length, nets in part.v6nets:
                    found = nets.get(v6 >> (128 - length), INF)
                    if found < hit:
                        hit = found
        if hit > part.name_floor:
            found = part.name.lookup_text(name)
            if found < hit:
                hit = found
        if hit < best:
            best = hit
    if facts is not None and plan.residual:
        # In line order, as the evaluator reaches them: a rule it would not reach is not
        # evaluated (no netgroup query, no file read the original would not make). Rules
        # filed under ALL or this daemon's key have a daemon list that matches (index.py);
        # only the others (EXCEPT, wildcards, daemon@host, ports) have theirs matched.
        rules = table.rules
        generic, flat = plan.generic, plan.flat
        for pos in plan.residual:
            if pos >= best:
                break
            facts.restrictive = match_denies(rules[pos], facts.deny_table)
            hosts = flat.get(pos, _UNSEEN)
            if hosts is _UNSEEN:
                hosts = plan.hosts(pos)
            if hosts is not None:
                for host in hosts:
                    if (
                        facts.file_matches(host)
                        if isinstance(host, str)
                        else host.match(facts, CLIENT)
                    ):
                        best = pos
                        break
                else:
                    continue
                break
            rule = rules[pos]
            if (pos not in generic or rule.daemons.match(facts)) and rule.clients.match(facts):
                best = pos
                break
    if best >= INF:
        return _NO_MATCH if table.stop is None else _ERROR
    return _OPTIONS if table.rules[best].third is not None else _MATCH


def quick_table(
    table: Table, daemon: str, address: str, name: str, facts: CtlFacts | None = None
) -> int | None:
    """One table's first-match result when it is known without running options: 1 (MATCH),
    0 (NO-MATCH), -1 (ERROR), or None when the first matching rule has options. Without
    `facts`, None also when a residual rule could come first."""
    plan = daemon_plan(table, fold(strip_mapped(daemon)))
    if facts is None and table.open_error is None and plan.residual:
        return None
    mapped = strip_mapped(address)
    v4_form = len(mapped) != len(address) or ":" not in address
    result = _table(table, plan, fold(mapped), v4_form, fold(strip_mapped(name)), facts)
    return None if result == _OPTIONS else result
