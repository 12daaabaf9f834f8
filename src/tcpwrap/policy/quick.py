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
For the common client address, a canonical dotted quad, each daemon's plan holds a `_Program`:
the index's prefix and suffix keys as networks, merged with the `net/mask` ones, so the address
costs one dictionary look-up per mask (see `_Program`); other addresses take the index path.
A table whose only keys are exact addresses (DenyHosts, fail2ban) is one dictionary look-up.
The verdict memo the caller may pass (hosts_ctl: one per policy version) is used where it can
pay: not for plans that decide in about the time a memo miss costs (`_CtlPlan.remember`), and
it does not learn verdicts found by exact address keys alone (`_CtlPlan.allow_cheap`).

Diagnostics are not produced here: hosts_ctl() returns only the verdict, and everything that
only warns (an unreadable or self-including `/file`, skipped lines) leaves the verdict as the
evaluator's (the rule does not match; the scan goes on). Callers that need the diagnostics
call the evaluator. tests/property/test_ctl_quick.py checks verdict equality with the full
evaluation on generated tables, files and queries; tests/unit/policy/test_quick.py every pair
of numeric edge tokens and addresses.

Hazards: none (pure; the environment is the caller's). A verdict that read the environment
(a `/file` list, a netgroup) is reported as such (`GRANTED_ENV`/`DENIED_ENV`): it can change
while the policy does not, so it must not be memoised with the policy.
"""

from __future__ import annotations

from bisect import bisect_right

from tcpwrap.errors import Origin
from tcpwrap.policy.cstr import INADDR_NONE, dot_quad_addr, fold, strip_mapped
from tcpwrap.policy.decision import Scan
from tcpwrap.policy.facts import UNKNOWN
from tcpwrap.policy.index import INF, DaemonPlan, daemon_plan
from tcpwrap.policy.patterns import CLIENT, parse_ipv6
from tcpwrap.policy.rules import match_denies

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    from tcpwrap.policy.environment import Environment
    from tcpwrap.policy.index import KeyTable
    from tcpwrap.policy.patternfile import PatternFile
    from tcpwrap.policy.rules import Policy, Table

    FileOpener = Callable[[str], PatternFile | str | None]
    # (floor, exact keys, the key table, prefix keys, suffix keys, always probe)
    _NameProbe = tuple[
        int, dict[object, int], KeyTable, tuple[str, ...] | None, tuple[str, ...] | None, bool
    ]

STRING_LENGTH: Final = 127  # as match.STRING_LENGTH: tcpd's 128-byte request strings
FILE_DEPTH_LIMIT: Final = 32  # as match.FILE_DEPTH_LIMIT

DENIED, GRANTED = 0, 1  # decided by the tables alone: may be memoised with the policy
DENIED_ENV, GRANTED_ENV = 2, 3  # decided after reading the environment: not to be memoised
UNDECIDED = -1  # the deciding rule has options: run the evaluator

# How a table's scan ended, inside this module only: small ints compare fastest on the hot
# path; what leaves the module is a Scan (quick_table) or a verdict above.
_MATCH, _NO_MATCH, _ERROR, _OPTIONS = 1, 0, -1, -2
_SCAN = {_MATCH: Scan.MATCH, _NO_MATCH: Scan.NO_MATCH, _ERROR: Scan.ERROR}


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

    def addr_known(self, side: int) -> bool:
        return True

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
        "allow", "allow_cheap", "allow_exact", "allow_fixed", "allow_program", "allow_rules",
        "daemon", "deny", "deny_cheap", "deny_exact", "deny_fixed", "deny_miss", "deny_program",
        "deny_rules", "memoisable", "names", "remember", "residual", "v4", "v6",
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
        self.residual = bool(self.allow.residual or self.deny.residual)
        # (made for a fixed table too, never asked: a `_Program` of nothing costs nothing)
        self.allow_program = _lookup(self.allow)
        self.deny_program = _lookup(self.deny)
        # False when every query reads a /file list first (a deny table of `ALL: /list`
        # after an allow table with nothing for the daemon): no verdict could be memoised.
        self.memoisable = not (
            self.allow_fixed == _NO_MATCH
            and self.deny_fixed is None
            and _file_first(policy.deny, self.deny)
        )
        # Without residual rules, ctl_verdict decides from these (no CtlFacts, no table
        # results): the rules, to see whether the hit has options, and the verdict when the
        # deny table is looked at and gives no hit.
        self.allow_rules = policy.allow.rules
        self.deny_rules = policy.deny.rules
        self.deny_miss = GRANTED if policy.deny.stop is None else DENIED
        # A program that is one dictionary of exact addresses (DenyHosts, fail2ban) is that
        # dictionary: no call.
        self.allow_exact = self.allow_program.only
        self.deny_exact = self.deny_program.only
        # Whether to use the verdict memo: not when every query can be decided in about the
        # time the memo takes to miss and learn (a tuple, a hash, a store: ~0.2 us cold).
        self.remember = self.memoisable and (
            self.residual
            or _costly(self.allow_fixed, self.allow_program)
            or _costly(self.deny_fixed, self.deny_program)
        )
        # Nor does it learn a verdict whose hits (or misses) came from exact address keys
        # alone (an early match): a hit below these positions cost a look-up or two.
        self.allow_cheap = _cheap_below(self.allow_fixed, self.allow)
        self.deny_cheap = _cheap_below(self.deny_fixed, self.deny)


# What a decision by a _Program may cost before the verdict memo pays, in dictionary look-ups
# (~30 ns each in a cold hosts_ctl()): the memo costs ~0.2 us on every miss (a key tuple, its
# hash, a store in a growing dictionary), about what the cheaper programs take to decide.
MEMO_COST = 12
_V4_COST = 6  # the networks' reading of a dotted quad (split, four look-ups)
_FILTERED_NAME_COST = 2  # exact names, then one startswith()/endswith() screen
_PROBED_NAME_COST = 8  # a name probed at its dots (KeyTable.lookup_other)


def _costly(fixed: int | None, program: _Program | _IndexPath) -> bool:
    """Whether a table's decision can cost more than the verdict memo (MEMO_COST): a program
    with many look-ups, or the general index path."""
    if fixed is not None:
        return False
    if isinstance(program, _IndexPath):
        return True
    cost = len(program.exacts) + len(program.nets)
    if program.guard < INF:
        cost += _V4_COST
    for entry in program.names:
        cost += _PROBED_NAME_COST if entry[5] else _FILTERED_NAME_COST
    return cost > MEMO_COST


def _cheap_below(fixed: int | None, plan: DaemonPlan) -> int:
    """The position below which a table's hit (INF: its miss) was found by its exact address
    keys alone, by `_Program.best` or by `_index_best`: no other key, network or name of the
    plan can give a position that low, so neither looked them up."""
    if fixed is not None:
        return INF + 1  # not looked at
    bound = INF + 1  # (only exact keys: a miss too)
    for part in plan.parts:
        bound = min(bound, part.other_floor, part.v4_floor, part.v6_floor, part.name_floor)
    return bound  # (a hit at the bound itself may be another key's)


PROGRAM_KEY_LIMIT = 4096  # prefix and suffix keys a _Program converts (more: the general path)
FILTER_LIMIT = 32  # name prefix/suffix keys screened with one startswith()/endswith() call
# The octets of a canonical dotted quad: decimal, no sign, no leading zero, at most 255
_OCTETS: Final = {str(octet): octet for octet in range(256)}
_OCTETS_8: Final = {text: octet << 8 for text, octet in _OCTETS.items()}
_OCTETS_16: Final = {text: octet << 16 for text, octet in _OCTETS.items()}
_OCTETS_24: Final = {text: octet << 24 for text, octet in _OCTETS.items()}


def _octets(text: str) -> list[int] | None:
    """The values of "a.b.c" made of canonical octets only, else None."""
    values = []
    for piece in text.split("."):
        value = _OCTETS.get(piece)
        if value is None:
            return None
        values.append(value)
    return values


def canonical_v4(text: str) -> int | None:
    """The value of a canonical dotted quad ("192.0.2.1": four decimal octets, no leading
    zeros), else None. For such a text it equals cstr.dot_quad_addr(), whose value for
    255.255.255.255 is also its error value (INADDR_NONE: no network matches it)."""
    try:  # (both errors are rare: no test on the way is cheaper than the try)
        a, b, c, d = text.split(".")
        return _OCTETS_24[a] | _OCTETS_16[b] | _OCTETS_8[c] | _OCTETS[d]
    except (ValueError, KeyError):  # not four pieces; a piece that is no canonical octet
        return None


class _Program:
    """One table's index keys for one daemon, arranged for the common query: a client
    address written as a canonical dotted quad.

    For such an address the index's text probes (index.KeyTable.lookup_other) reduce to
    networks: a `prefix.` key can equal the address's text up to a dot only when it is made
    of canonical octets (then it is the network of those octets, mask 8, 16 or 24 bits from
    the top), and a `.suffix` key likewise its last octets (mask 8, 16 or 24 bits from the
    bottom); keys with letters, empty or zero-padded octets never equal such a text, and
    [v6] keys need a ':'. So every non-exact address key becomes one dictionary look-up per
    mask on the address's value, merged with the `net/mask` networks, which compare that same
    value (cstr.dot_quad_addr gives it for a canonical text). Exact keys stay text.
    `guard`: the smallest position of any address key but the exact ones, and of any
    network: below it, the program serves any address.
    Name keys: the name is probed at its dots (lookup_other) only when it starts with a
    prefix key or ends with a suffix key (one C call each, for up to FILTER_LIMIT keys).
    Look-ups go by floor (the smallest position they can give) and stop once one cannot beat
    the hit in hand, as `_table` does.
    """

    __slots__ = ("always", "exacts", "guard", "names", "nets", "only", "plan")

    def __init__(
        self,
        plan: DaemonPlan,
        always: int,
        exacts: tuple[dict[object, int], ...],
        nets: tuple[tuple[int, int, dict[int, int]], ...],
        names: tuple[_NameProbe, ...],
        guard: int,
    ) -> None:
        self.plan = plan  # (for the addresses it cannot tell: the index path)
        self.always = always
        self.exacts = exacts
        self.nets = nets  # (floor, mask, network value -> position), by floor
        # (floor, exact keys, the key table, prefixes, suffixes (None: none), always probe),
        # by floor
        self.names = names
        self.guard = guard
        # The exact keys when they are all there is: `best` is then one look-up, for any
        # folded address (no other key, no network, no name: nothing else can match).
        self.only = (
            exacts[0] if len(exacts) == 1 and always == guard == INF and not nets and not names
            else None
        )  # fmt: skip

    @classmethod
    def of(cls, plan: DaemonPlan) -> _Program | None:
        """The program of a table's plan, or None when its keys are too many to convert."""
        always = INF
        exacts: list[dict[object, int]] = []
        nets: list[tuple[int, int, dict[int, int]]] = []
        names: list[_NameProbe] = []
        guard = INF
        for part in plan.parts:
            always = min(always, part.always)
            keys = part.address
            if keys.exact:
                exacts.append(keys.exact)
            guard = min(guard, part.other_floor, part.v4_floor, part.v6_floor)
            if len(keys.prefix) + len(keys.suffix) > PROGRAM_KEY_LIMIT:
                return None
            derived: dict[int, dict[int, int]] = {}
            for key, pos in keys.prefix.items():
                octets = _octets(key[:-1]) if isinstance(key, str) and key[-1:] == "." else None
                if octets is not None and len(octets) <= 3:
                    mask = (0xFFFFFFFF << (32 - 8 * len(octets))) & 0xFFFFFFFF
                    value = 0
                    for octet in octets:
                        value = (value << 8) | octet
                    _keep_first(derived.setdefault(mask, {}), value << (32 - 8 * len(octets)), pos)
            for key, pos in keys.suffix.items():
                octets = _octets(key[1:]) if isinstance(key, str) and key[:1] == "." else None
                if octets is not None and len(octets) <= 3:
                    value = 0
                    for octet in octets:
                        value = (value << 8) | octet
                    _keep_first(derived.setdefault((1 << (8 * len(octets))) - 1, {}), value, pos)
            for mask, table in part.v4nets:
                mine = derived.pop(mask, None)
                if mine is not None and len(table) <= PROGRAM_KEY_LIMIT:
                    for value, pos in table.items():  # one look-up for the mask, not two
                        _keep_first(mine, value, pos)
                    nets.append((min(mine.values()), mask, mine))
                    continue
                if mine is not None:
                    nets.append((min(mine.values()), mask, mine))
                nets.append((part.v4_floor, mask, table))
            for mask, table in derived.items():
                nets.append((min(table.values()), mask, table))
            name = part.name
            if name.used:
                starts = tuple(k for k in name.prefix if isinstance(k, str))
                ends = tuple(k for k in name.suffix if isinstance(k, str))
                probe = bool(name.v6) or (
                    len(starts) + len(ends) > FILTER_LIMIT
                    or len(starts) != len(name.prefix)
                    or len(ends) != len(name.suffix)
                    or not all(k.endswith(".") for k in starts)
                    or not all(k.startswith(".") for k in ends)
                )
                # (None for no keys: a screen with an empty tuple is a call for nothing)
                names.append(
                    (
                        part.name_floor, name.exact, name, None if probe or not starts else starts,
                        None if probe or not ends else ends, probe,
                    )
                )  # fmt: skip
        nets.sort(key=lambda entry: entry[0])
        names.sort(key=lambda entry: entry[0])
        return cls(plan, always, tuple(exacts), tuple(nets), tuple(names), guard)

    def best(self, address: str, name: str, v4_form: bool) -> int:
        """The smallest position the index gives for a folded address and name (`_table`'s
        index part); `_index_best` answers when this program cannot tell (the address is no
        canonical dotted quad and the networks or non-exact keys had to be asked)."""
        hit = self.always
        for exact in self.exacts:
            found = exact.get(address, INF)
            if found < hit:
                hit = found
        if hit > self.guard:  # a key other than an exact one could come first
            try:  # canonical_v4 inline (the call was a third of a cold no-match decision)
                a, b, c, d = address.split(".")
                value = _OCTETS_24[a] | _OCTETS_16[b] | _OCTETS_8[c] | _OCTETS[d]
            except (ValueError, KeyError):  # not four canonical octets
                return _index_best(self.plan, address, v4_form, name)
            if value == INADDR_NONE:
                # (255.255.255.255, inet_addr's error value, matches no network, but its text
                # matches `255.` prefixes: the general path decides it)
                return _index_best(self.plan, address, v4_form, name)
            for floor, mask, nets in self.nets:
                if floor >= hit:
                    break
                found = nets.get(value & mask, INF)
                if found < hit:
                    hit = found
        for floor, exact, keys, starts, ends, probe in self.names:
            if floor >= hit:
                break
            found = exact.get(name, INF)
            if found < hit:
                hit = found
            if (
                probe
                or (ends is not None and name.endswith(ends))
                or (starts is not None and name.startswith(starts))
            ):
                found = keys.lookup_other(name)
                if found < hit:
                    hit = found
        return hit


class _IndexPath:
    """A plan's look-ups when its keys are too many for a `_Program` (PROGRAM_KEY_LIMIT):
    `best` as _Program.best, by `_index_best` for every address."""

    __slots__ = ("plan",)
    only: Final = None  # (never one dictionary)

    def __init__(self, plan: DaemonPlan) -> None:
        self.plan = plan

    def best(self, address: str, name: str, v4_form: bool) -> int:
        return _index_best(self.plan, address, v4_form, name)


def _lookup(plan: DaemonPlan) -> _Program | _IndexPath:
    program = _Program.of(plan)
    return _IndexPath(plan) if program is None else program


def _keep_first(table: dict[int, int], key: int, pos: int) -> None:
    known = table.get(key)
    if known is None or pos < known:
        table[key] = pos


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
    plan: _CtlPlan | None = policy.plans.get(daemon)
    if plan is None:
        plan = _new_plan(policy, daemon)
    query: tuple[str, str, str, str] | None = None
    if plan.remember and memo is not None:
        query = (daemon, client_name, client_addr, user)
        known = memo.get(query)
        if known is not None:
            return GRANTED if known else DENIED
    address = client_addr[:STRING_LENGTH] or UNKNOWN
    # The subjects as the index compares them (index._Group.address_hit); a network is
    # compared with the IPv4 reading of the address (v4: computed when first needed) or,
    # for an IPv6 address, with its IPv6 reading. (strip_mapped and fold inline: this runs
    # on every hosts_ctl() call. `_subjects` is this code for ctl_rule: a call here costs
    # ~5% of a cold hosts_ctl().)
    if ":" in address:
        mapped = strip_mapped(address)
        v4_form = len(mapped) != len(address)
    else:
        mapped, v4_form = address, True
    address_text = mapped.lower() if mapped.isascii() else fold(mapped)
    if not plan.names:
        name_text = ""
    else:
        name = client_name[:STRING_LENGTH] or UNKNOWN
        if ":" in name:
            name_text = fold(strip_mapped(name))
        else:
            name_text = name.lower() if name.isascii() else fold(name)
    if plan.residual:
        verdict = _decide_residual(
            policy, plan, address, address_text, v4_form, client_name, name_text, user, env,
            open_file,
        )  # fmt: skip
        if verdict >= DENIED_ENV or verdict == UNDECIDED:
            return verdict
    else:
        # The index alone decides: `_decide_table` without residual rules, inline, each
        # table's program called directly (or its one dictionary looked up), since a cold
        # hosts_ctl() is little more than this and the inotify poll.
        best = INF
        deny_best = -1  # (not looked at)
        if plan.allow_fixed is None:
            exact = plan.allow_exact
            if exact is not None:
                best = exact.get(address_text, INF)
            else:
                best = plan.allow_program.best(address_text, name_text, v4_form)
        if best < INF:
            if plan.allow_rules[best].third is not None:
                return UNDECIDED
            verdict = GRANTED
        else:
            fixed = plan.deny_fixed
            if fixed is None:
                exact = plan.deny_exact
                if exact is not None:
                    deny_best = exact.get(address_text, INF)
                else:
                    deny_best = plan.deny_program.best(address_text, name_text, v4_form)
                if deny_best >= INF:
                    verdict = plan.deny_miss
                elif plan.deny_rules[deny_best].third is not None:
                    return UNDECIDED
                else:
                    verdict = DENIED
            else:
                verdict = GRANTED if fixed == _NO_MATCH else DENIED
        if query is None or (best < plan.allow_cheap and deny_best < plan.deny_cheap):
            return verdict
    if query is not None and memo is not None:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[query] = verdict == GRANTED
    return verdict


def _decide_residual(
    policy: Policy,
    plan: _CtlPlan,
    address: str,
    address_text: str,
    v4_form: bool,
    client_name: str,
    name_text: str,
    user: str,
    env: Environment,
    open_file: FileOpener | None,
) -> int:
    """ctl_verdict's verdict, unmemoised, when residual rules are evaluated against the
    query's CtlFacts (`_decide_table` for each table in turn)."""
    name = client_name[:STRING_LENGTH] or UNKNOWN
    facts = CtlFacts(plan.daemon, address, name, user[:STRING_LENGTH] or UNKNOWN, env, open_file)
    result = plan.allow_fixed
    if result is None:
        result = _decide_table(
            policy.allow, plan.allow_program, address_text, v4_form, name_text, facts
        )
    if result == _MATCH:
        verdict = GRANTED
    elif result == _OPTIONS:
        return UNDECIDED
    else:
        result = plan.deny_fixed
        if result is None:
            facts.deny_table = True
            result = _decide_table(
                policy.deny, plan.deny_program, address_text, v4_form, name_text, facts
            )
        if result == _OPTIONS:
            return UNDECIDED
        verdict = GRANTED if result == _NO_MATCH else DENIED
    return verdict + DENIED_ENV if facts.env_read else verdict


def _new_plan(policy: Policy, daemon: str) -> _CtlPlan:
    """The plan for `daemon`, made and remembered (at most PLANS_LIMIT per policy)."""
    plans = policy.plans
    if len(plans) >= PLANS_LIMIT:
        plans.clear()
    plan = plans[daemon] = _CtlPlan(policy, daemon)
    return plan


def _subjects(plan: _CtlPlan, address: str, name: str) -> tuple[str, bool, str]:
    """The subjects as the index compares them (index._Group.address_hit): the folded
    address without `::ffff:`, whether networks compare its IPv4 reading (else its IPv6 one),
    and the folded name ("" when no rule of the plan compares names). (ctl_verdict has it
    inline, and strip_mapped and fold inline: it runs on every hosts_ctl() call.)"""
    if ":" in address:
        mapped = strip_mapped(address)
        v4_form = len(mapped) != len(address)
    else:
        mapped, v4_form = address, True
    address_text = mapped.lower() if mapped.isascii() else fold(mapped)
    if not plan.names:
        name_text = ""
    elif ":" in name:
        name_text = fold(strip_mapped(name))
    else:
        name_text = name.lower() if name.isascii() else fold(name)
    return address_text, v4_form, name_text


def ctl_rule(
    policy: Policy,
    daemon: str,
    client_name: str | None,
    client_addr: str,
    user: str | None,
    env: Environment,
    facts_type: Callable[[str, str, str, str | None, Environment], CtlFacts],
) -> tuple[int, Origin | None]:
    """`ctl_verdict`'s verdict (GRANTED or DENIED) with the deciding rule as the evaluator's
    Decision.origin gives it: the matching rule, the deny table's cut-off line when that table
    is cut short, None when no rule matched (or the deny table could not be opened); or
    (UNDECIDED, None) when the deciding rule has options (or, without a name, the index's
    hit does not match in full: never seen; the evaluator then decides).

    For callers whose facts are not hosts_ctl()'s four strings (tools.replaying: what a log
    recorded): residual rules are evaluated against `facts_type(daemon, address, name, user,
    env)` (the strings truncated as the evaluator does; `user` None as given), a CtlFacts
    whose methods may raise to stop the query. `client_name` None: no name known (the facts
    get ""; reading it is theirs to refuse): the index answers for the address only, and
    the rules the evaluator's index.Candidates would evaluate before that hit (residual ones
    and those whose filed tokens read the name, its `triggers`) are evaluated in line order
    against the facts, as the evaluator does. Nothing is memoised; a verdict that read the
    environment is not marked (the caller memoises at its own risk)."""
    plan: _CtlPlan | None = policy.plans.get(daemon)
    if plan is None:
        plan = _new_plan(policy, daemon)
    address = client_addr[:STRING_LENGTH] or UNKNOWN
    named = client_name is not None
    name = (client_name[:STRING_LENGTH] or UNKNOWN) if client_name is not None else ""
    address_text, v4_form, name_text = _subjects(plan, address, name)
    facts: CtlFacts | None = None
    if plan.residual or not named:
        if user is not None:
            user = user[:STRING_LENGTH] or UNKNOWN
        facts = facts_type(plan.daemon, address, name, user, env)
    allow = policy.allow
    best = INF
    if plan.allow_fixed is None:
        best = _first_hit(allow, plan.allow_program, address_text, v4_form, name_text, facts, named)
    if best < 0:
        return UNDECIDED, None
    if best < INF:
        rule = allow.rules[best]
        return (GRANTED, rule.origin) if rule.third is None else (UNDECIDED, None)
    deny = policy.deny
    if plan.deny_fixed is None:
        if facts is not None:
            facts.deny_table = True
        best = _first_hit(deny, plan.deny_program, address_text, v4_form, name_text, facts, named)
        if best < 0:
            return UNDECIDED, None
        if best < INF:
            rule = deny.rules[best]
            return (DENIED, rule.origin) if rule.third is None else (UNDECIDED, None)
    if deny.open_error is not None:
        return DENIED, None
    if deny.stop is not None:
        return DENIED, Origin(deny.path, deny.stop.line)
    return GRANTED, None


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
    return _decide_table(table, _IndexPath(plan), address, v4_form, name, facts)


def _decide_table(
    table: Table,
    program: _Program | _IndexPath,
    address: str,
    v4_form: bool,
    name: str,
    facts: CtlFacts | None,
) -> int:
    """`_table` for a table that could be opened; `program`: its plan's look-ups."""
    best = _first_hit(table, program, address, v4_form, name, facts)
    if best >= INF:
        return _NO_MATCH if table.stop is None else _ERROR
    return _OPTIONS if table.rules[best].third is not None else _MATCH


def _first_hit(
    table: Table,
    program: _Program | _IndexPath,
    address: str,
    v4_form: bool,
    name: str,
    facts: CtlFacts | None,
    named: bool = True,
) -> int:
    """The position of the table's first matching rule (INF: none), the index's hit and the
    residual rules before it. Not `named`: see `ctl_rule`."""
    best = program.best(address, name, v4_form)
    plan = program.plan
    if not named:
        assert facts is not None
        return _unnamed_best(table, plan, best, facts)
    if facts is not None and plan.residual:
        best = _residual_best(table, plan, best, facts)
    return best


def _unnamed_best(table: Table, plan: DaemonPlan, best: int, facts: CtlFacts) -> int:
    """The first rule that matches, the name unknown: `best` (the index's hit for the address
    alone) unless a rule the evaluator evaluates first matches: in line order, each residual
    rule and each rule whose filed tokens read the name (index.Candidates' triggers, up to
    and with `best`: its name token may come before its address token), evaluated in full
    as match._Run._scan does."""
    positions = {pos for pos in plan.residual if pos < best}
    for group in plan.groups:  # (as filed: the groups the evaluator's Candidates reads)
        triggers = group.triggers
        positions.update(triggers[: bisect_right(triggers, best)])
    rules = table.rules
    deny_table = facts.deny_table
    for pos in sorted(positions):
        rule = rules[pos]
        facts.restrictive = match_denies(rule, deny_table)
        if rule.daemons.match(facts) and rule.clients.match(facts):
            return pos
        if pos == best:
            return -1  # (the index's hit does not match in full: cannot happen; stay exact)
    return best


def _index_best(plan: DaemonPlan, address: str, v4_form: bool, name: str) -> int:
    """The smallest position the index gives (see `_table`), for any address."""
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
    return best


def _residual_best(table: Table, plan: DaemonPlan, best: int, facts: CtlFacts) -> int:
    """The first residual rule before the index's first hit that matches, else that hit."""
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
                if facts.file_matches(host) if isinstance(host, str) else host.match(facts, CLIENT):
                    best = pos
                    break
            else:
                continue
            break
        rule = rules[pos]
        if (pos not in generic or rule.daemons.match(facts)) and rule.clients.match(facts):
            best = pos
            break
    return best


def quick_table(
    table: Table, daemon: str, address: str, name: str, facts: CtlFacts | None = None
) -> Scan | None:
    """How one table's scan ends when that is known without running options, or None when the
    first matching rule has options. Without `facts`, None also when a residual rule could
    come first."""
    plan = daemon_plan(table, fold(strip_mapped(daemon)))
    if facts is None and table.open_error is None and plan.residual:
        return None
    mapped = strip_mapped(address)
    v4_form = len(mapped) != len(address) or ":" not in address
    result = _table(table, plan, fold(mapped), v4_form, fold(strip_mapped(name)), facts)
    return None if result == _OPTIONS else _SCAN[result]
