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

import heapq

from tcpwrap.policy.cstr import fold, strip_mapped
from tcpwrap.policy.index import ALL_DAEMONS, INF
from tcpwrap.policy.patterns import CLIENT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from tcpwrap.policy.environment import Environment
    from tcpwrap.policy.patternfile import PatternFile
    from tcpwrap.policy.rules import Policy, Table

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
        "address", "daemon_text", "env", "env_read", "file_stack", "name_text", "user_text",
    )  # fmt: skip

    def __init__(self, daemon: str, address: str, name: str, user: str, env: Environment) -> None:
        self.daemon_text = daemon
        self.address = address
        self.name_text = name
        self.user_text = user
        self.env = env
        self.env_read = False  # a /file or a netgroup was read
        self.file_stack: list[str] = []

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
        content = self.env.pattern_file(path)
        if content is None or isinstance(content, str):
            return None
        self.file_stack.append(path)
        return content

    def leave_file(self, path: str) -> None:
        self.file_stack.pop()


def ctl_verdict(
    policy: Policy, daemon: str, client_name: str, client_addr: str, user: str, env: Environment
) -> int:
    """DENIED, GRANTED, DENIED_ENV, GRANTED_ENV or UNDECIDED (see the module docstring)."""
    daemon = daemon[:STRING_LENGTH]
    address = client_addr[:STRING_LENGTH] or UNKNOWN
    name = client_name[:STRING_LENGTH] or UNKNOWN
    key = fold(strip_mapped(daemon))  # what a DaemonName token is compared with
    allow, deny = policy.allow, policy.deny
    facts: CtlFacts | None = None
    if allow.index.residual or deny.index.residual:
        facts = CtlFacts(daemon, address, name, user[:STRING_LENGTH] or UNKNOWN, env)
    result = _table(allow, key, address, name, facts)
    if result == _MATCH:
        verdict = GRANTED
    elif result == _OPTIONS:
        return UNDECIDED
    else:
        result = _table(deny, key, address, name, facts)
        if result == _OPTIONS:
            return UNDECIDED
        verdict = GRANTED if result == _NO_MATCH else DENIED
    if facts is not None and facts.env_read:
        verdict += DENIED_ENV
    return verdict


def _table(table: Table, key: str, address: str, name: str, facts: CtlFacts | None) -> int:
    """One table's first-match result: _MATCH, _NO_MATCH, _ERROR, or _OPTIONS when the first
    matching rule has a third field."""
    if table.open_error is not None:
        return _ERROR
    index = table.index
    best = INF
    groups = index.groups
    if groups:
        for group_key in (ALL_DAEMONS, key):
            group = groups.get(group_key)
            if group is not None:
                hit = group.always
                found = group.address_hit(address)
                if found < hit:
                    hit = found
                if group.name.used:
                    found = group.name.lookup(name)
                    if found < hit:
                        hit = found
                if hit < best:
                    best = hit
    residual = index.residual
    if residual and facts is not None:
        keys = ("", ALL_DAEMONS) if key in ("", ALL_DAEMONS) else ("", ALL_DAEMONS, key)
        lists = [(k, positions) for k in keys if (positions := residual.get(k))]
        if lists:
            # In line order, as the evaluator reaches them: a rule it would not reach is not
            # evaluated (no netgroup query, no file read the original would not make). Rules
            # filed under ALL or this daemon's key have a daemon list that matches (index.py);
            # only those of the "" list (EXCEPT, wildcards, daemon@host, ports) are matched.
            rules = table.rules
            if len(lists) == 1:
                list_key, positions = lists[0]
                check_daemons = list_key == ""
                for pos in positions:
                    if pos >= best:
                        break
                    rule = rules[pos]
                    if (not check_daemons or rule.daemons.match(facts)) and rule.clients.match(
                        facts
                    ):
                        best = pos
                        break
            else:
                last = -1  # a rule filed under several daemon keys is in several lists
                for pos in heapq.merge(*(positions for _, positions in lists)):
                    if pos >= best:
                        break
                    if pos == last:
                        continue
                    last = pos
                    rule = rules[pos]
                    if rule.daemons.match(facts) and rule.clients.match(facts):
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
    key = fold(strip_mapped(daemon))
    if facts is None and table.open_error is None:
        residual = table.index.residual
        if residual and (residual.get("") or residual.get(ALL_DAEMONS) or residual.get(key)):
            return None
    result = _table(table, key, address, name, facts)
    return None if result == _OPTIONS else result
