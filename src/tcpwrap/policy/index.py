"""The compiled index: which rules can possibly match this connection, in line order.

What it does: for each table, files every rule whose daemon list is plain names or ALL and whose
client list is a flat list of address-or-name tokens (exact, `.suffix`, `prefix.`, `[v6]`,
`net/mask`, CIDR, `[v6]/len`, ALL) under dictionary keys, remembering for each key the smallest
line that carries it. Everything else (EXCEPT, wildcards, KNOWN/LOCAL, `user@`, `daemon@`, ports,
`/file`, `@netgroup`) stays on a short ordered residual list. `Candidates` then yields rule
positions in increasing line order: residual rules, index hits for the address, index hits for
the host name once it is known, and -- while the name is not known -- the first rule that would
make the original look it up. Every candidate is evaluated in full by the matcher, so the
answer (and every lookup it causes) equals a naive line-by-line scan; a property test checks it.

Appends: `extend_index(index, rules, start)` files rules[start:] into a copy of `index` and
returns the new index; the old one is left untouched (copy-on-write: only the groups and
residual lists the new rules touch are copied), so a decision still running on the previous
policy never sees positions its table does not have. `build_index(rules)` is the same walk
from an empty index, so an appended index equals a fresh one (a test compares them).

hosts_ctl's shortcut over this index is policy/quick.py.

Hazards: a wrong key here would silently change verdicts; keys are built with the very same
folding and address parsing as the matcher (cstr, patterns). `KeyTable` is shared with the
`/file` index (patternfile.py).
Errors: none.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator, Sequence

from tcpwrap._record import field, record
from tcpwrap.policy.cstr import INADDR_NONE, dot_quad_addr, fold, strip_mapped
from tcpwrap.policy.patterns import (
    CLIENT,
    AddressOrName,
    AllWord,
    Bracket6,
    ClientHost,
    DaemonName,
    Exact,
    FileList,
    HostPattern,
    NetMask,
    PatternList,
    Prefix,
    StringMatcher,
    Suffix,
    parse_ipv6,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    K = TypeVar("K")
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it


# What the index reads of rules and tables. policy/rules.py defines Rule and Table (a Table
# holds its TableIndex); this module does not import it, so the two never import each other.
class IndexedRule(Protocol):
    """What the index files of a rule (policy.rules.Rule)."""

    @property
    def daemons(self) -> PatternList: ...
    @property
    def clients(self) -> PatternList: ...


class IndexedTable(Protocol):
    """What a daemon plan reads of a table (policy.rules.Table)."""

    @property
    def rules(self) -> Sequence[IndexedRule]: ...
    @property
    def index(self) -> TableIndex: ...

INF = 1 << 62
ALL_DAEMONS = "\x00all"  # group key for daemon list ALL


class IndexContext(Protocol):
    def daemon(self) -> str: ...

    def addr(self, side: int) -> str: ...

    def name_if_ready(self, side: int) -> str | None: ...


def _keep_min(table: dict[K, int], key: K, pos: int) -> None:
    if key not in table:
        table[key] = pos


@record(slots=True)
class KeyTable:
    """Smallest position per key, for one kind of subject (address or name).

    Positions only ever get added (a key keeps the first position filed for it), so a reader
    that knows only positions below some bound may ignore larger answers: `lookup` returns
    the smallest position over all keys, which is below the bound exactly when a token below
    it matches.
    """

    exact: dict[object, int] = field(default_factory=dict)
    prefix: dict[object, int] = field(default_factory=dict)
    suffix: dict[object, int] = field(default_factory=dict)
    v6: dict[object, int] = field(default_factory=dict)
    used: bool = False  # any key at all
    # How many dots the prefix and suffix keys have: a subject is probed only at the dots
    # where a key of that shape exists (only membership is tested: safe while keys are added)
    prefix_dots: set[int] = field(default_factory=set)
    suffix_dots: set[int] = field(default_factory=set)
    # The smallest position of any exact key, and of any other key: a reader that already
    # has a hit at or below one of them can skip those keys (policy/quick.py)
    exact_floor: int = INF
    other_floor: int = INF

    def copy(self) -> KeyTable:
        return KeyTable(
            dict(self.exact),
            dict(self.prefix),
            dict(self.suffix),
            dict(self.v6),
            self.used,
            set(self.prefix_dots),
            set(self.suffix_dots),
            self.exact_floor,
            self.other_floor,
        )

    def add(self, matcher: StringMatcher, pos: int) -> None:
        """File an Exact, Prefix, Suffix or (valid) Bracket6 matcher; others are ignored."""
        if isinstance(matcher, Exact):
            self.add_exact(matcher.token, pos)
        elif isinstance(matcher, Prefix):
            self.add_prefix(matcher.token, pos)
        elif isinstance(matcher, Suffix):
            self.add_suffix(matcher.token, pos)
        elif isinstance(matcher, Bracket6) and matcher.value is not None:
            _keep_min(self.v6, matcher.value, pos)
            if pos < self.other_floor:
                self.other_floor = pos
            self.used = True

    def add_exact(self, token: str, pos: int) -> None:
        """File a folded exact token (sets `used` too)."""
        if token not in self.exact:
            self.exact[token] = pos
            if pos < self.exact_floor:
                self.exact_floor = pos
        self.used = True

    def add_prefix(self, token: str, pos: int) -> None:
        """File a folded `prefix.` token (sets `used` too)."""
        if token not in self.prefix:
            self.prefix_dots.add(token.count("."))  # before the key: readers see both
            self.prefix[token] = pos
            if pos < self.other_floor:
                self.other_floor = pos
        self.used = True

    def add_suffix(self, token: str, pos: int) -> None:
        """File a folded `.suffix` token (sets `used` too)."""
        if token not in self.suffix:
            self.suffix_dots.add(token.count("."))
            self.suffix[token] = pos
            if pos < self.other_floor:
                self.other_floor = pos
        self.used = True

    def merged(self, other: KeyTable) -> KeyTable:
        """Both tables' keys, each at the smaller of its positions."""
        out = self.copy()
        for mine, theirs in (
            (out.exact, other.exact),
            (out.prefix, other.prefix),
            (out.suffix, other.suffix),
            (out.v6, other.v6),
        ):
            for key, pos in theirs.items():
                known = mine.get(key)
                if known is None or pos < known:
                    mine[key] = pos
        out.used = self.used or other.used
        out.prefix_dots |= other.prefix_dots
        out.suffix_dots |= other.suffix_dots
        out.exact_floor = min(self.exact_floor, other.exact_floor)
        out.other_floor = min(self.other_floor, other.other_floor)
        return out

    def size(self) -> int:
        return len(self.exact) + len(self.prefix) + len(self.suffix) + len(self.v6)

    def lookup(self, subject: str) -> int:
        if not self.used:
            return INF
        return self.lookup_text(fold(strip_mapped(subject)))

    def lookup_text(self, text: str) -> int:
        """lookup() of a subject already folded and stripped of `::ffff:` (strip_mapped)."""
        best = self.exact.get(text, INF)
        if self.prefix_dots or self.suffix_dots or self.v6:
            other = self.lookup_other(text)
            if other < best:
                best = other
        return best

    def lookup_other(self, text: str) -> int:
        """lookup_text() without the exact keys: prefixes, suffixes and [v6] forms."""
        best = INF
        prefix_dots, suffix_dots = self.prefix_dots, self.suffix_dots
        if (prefix_dots or suffix_dots) and "." in text:
            # text[: dot + 1] at the k-th dot has k dots; text[dot:] has dots - k + 1
            dots = text.count(".")
            start = 0
            for k in range(1, dots + 1):
                dot = text.find(".", start)
                if k in prefix_dots:
                    hit = self.prefix.get(text[: dot + 1], INF)
                    if hit < best:
                        best = hit
                if dot and dots - k + 1 in suffix_dots:
                    hit = self.suffix.get(text[dot:], INF)
                    if hit < best:
                        best = hit
                start = dot + 1
        if self.v6 and ":" in text:
            value = parse_ipv6(text)  # (folding does not change what an IPv6 text parses to)
            if value is not None:
                hit = self.v6.get(value, INF)
                if hit < best:
                    best = hit
        return best


@record(slots=True)
class _Group:
    """The indexed rules of one daemon-list key."""

    always: int = INF
    address: KeyTable = field(default_factory=KeyTable)
    name: KeyTable = field(default_factory=KeyTable)
    v4nets: dict[int, dict[int, int]] = field(default_factory=dict)  # mask -> net -> pos
    v6nets: dict[int, dict[int, int]] = field(default_factory=dict)  # len -> net>>shift -> pos
    triggers: list[int] = field(default_factory=list)  # rules that read the name, sorted
    v4_floor: int = INF  # the smallest position in v4nets, and in v6nets
    v6_floor: int = INF

    def copy(self) -> _Group:
        return _Group(
            self.always,
            self.address.copy(),
            self.name.copy(),
            {mask: dict(nets) for mask, nets in self.v4nets.items()},
            {length: dict(nets) for length, nets in self.v6nets.items()},
            list(self.triggers),
            self.v4_floor,
            self.v6_floor,
        )

    def address_hit(self, address: str) -> int:
        best = self.address.lookup(address)
        if self.v4nets or self.v6nets:
            mapped = strip_mapped(address)
            if len(mapped) != len(address) or ":" not in address:
                value = dot_quad_addr(mapped)
                if value != INADDR_NONE:
                    for mask, nets in self.v4nets.items():
                        hit = nets.get(value & mask)
                        if hit is not None and hit < best:
                            best = hit
            else:
                value6 = parse_ipv6(address)
                if value6 is not None:
                    for length, nets6 in self.v6nets.items():
                        hit = nets6.get(value6 >> (128 - length))
                        if hit is not None and hit < best:
                            best = hit
        return best


def _daemon_keys(daemons: PatternList) -> list[str] | None:
    keys: list[str] = []
    for item in daemons.items:
        if not isinstance(item, DaemonName):
            return None  # EXCEPT, ports, daemon@host
        matcher = item.matcher
        if isinstance(matcher, AllWord):
            keys.append(ALL_DAEMONS)
        elif isinstance(matcher, Exact):
            keys.append(matcher.token)
        else:
            return None
    return keys


def _client_tokens(clients: PatternList) -> tuple[list[AddressOrName | NetMask], bool] | None:
    """The rule's client tokens if all are indexable, and whether any reads the name."""
    out: list[AddressOrName | NetMask] = []
    reads_name = False
    for item in clients.items:
        if not isinstance(item, ClientHost):
            return None  # EXCEPT or user@host
        host = item.host
        if isinstance(host, NetMask):
            out.append(host)
        elif isinstance(host, AddressOrName) and isinstance(
            host.matcher, Exact | Suffix | Prefix | AllWord | Bracket6
        ):
            out.append(host)
            reads_name = reads_name or host.names_too
        else:
            return None
    return out, reads_name


def _file(group: _Group, token: AddressOrName | NetMask, pos: int) -> None:
    if isinstance(token, NetMask):
        if token.v4 is not None:
            net, mask = token.v4
            _keep_min(group.v4nets.setdefault(mask, {}), net, pos)
            group.v4_floor = min(group.v4_floor, pos)
        if token.v6 is not None:
            net6, length = token.v6
            shift = 128 - length
            _keep_min(group.v6nets.setdefault(length, {}), net6 >> shift, pos)
            group.v6_floor = min(group.v6_floor, pos)
        return
    matcher = token.matcher
    if isinstance(matcher, AllWord):
        group.always = min(group.always, pos)
        return
    group.address.add(matcher, pos)
    if token.names_too:
        group.name.add(matcher, pos)


@record(slots=True)
class TableIndex:
    groups: dict[str, _Group]
    residual: dict[str, list[int]]  # daemon key (or ALL_DAEMONS, or "" = any) -> positions
    # What policy/quick.py derives from the groups per daemon key, made on first use. The
    # index itself never changes (appends make a new one), so neither do these.
    plans: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, ctx: IndexContext) -> Candidates:
        return Candidates.of(self, ctx)


def build_index(rules: Sequence[IndexedRule]) -> TableIndex:
    """The index of a table's rules (positions are indexes into `rules`)."""
    return extend_index(None, rules, 0)


def extend_index(index: TableIndex | None, rules: Sequence[IndexedRule], start: int) -> TableIndex:
    """`index` (built for rules[:start]) plus rules[start:], as a new index; see the header."""
    groups = {} if index is None else dict(index.groups)
    residual = {} if index is None else dict(index.residual)
    own_groups: set[str] = set()  # keys whose group belongs to the new index (copied or new)
    own_lists: set[str] = set()

    def residual_list(key: str) -> list[int]:
        found = residual.get(key)
        if key not in own_lists:
            found = residual[key] = [] if found is None else list(found)
            own_lists.add(key)
        assert found is not None
        return found

    for pos in range(start, len(rules)):
        rule = rules[pos]
        daemon_keys = _daemon_keys(rule.daemons)
        if daemon_keys is None:
            residual_list("").append(pos)
            continue
        keys = daemon_keys if len(daemon_keys) == 1 else list(dict.fromkeys(daemon_keys))
        filed = _client_tokens(rule.clients)
        if filed is None:
            for key in keys:
                residual_list(key).append(pos)
            continue
        tokens, reads_name = filed
        for key in keys:
            group = groups.get(key)
            if key not in own_groups:
                group = groups[key] = _Group() if group is None else group.copy()
                own_groups.add(key)
            assert group is not None
            if reads_name:
                group.triggers.append(pos)
            for token in tokens:
                _file(group, token, pos)
    return TableIndex(groups, residual)


MERGE_LIMIT = 4096  # keys: a daemon's group and the ALL group are merged up to this size


class PlanPart:
    """Index keys answering for one daemon: one group, or the ALL group merged with it.

    The floors are the smallest positions the address's other keys (prefixes, suffixes,
    [v6]), the networks and the name can give: a lookup that cannot beat the position already
    found is skipped (an early match costs one dictionary look-up).
    """

    __slots__ = (
        "address", "always", "floor", "name", "name_floor", "other_floor", "v4_floor", "v4nets",
        "v6_floor", "v6nets",
    )  # fmt: skip

    def __init__(self, group: _Group) -> None:
        self.always = group.always
        self.address = address = group.address
        self.name = name = group.name
        self.v4nets = tuple(group.v4nets.items())
        self.v6nets = tuple(group.v6nets.items())
        self.other_floor = address.other_floor
        self.name_floor = min(name.exact_floor, name.other_floor)
        self.v4_floor = group.v4_floor
        self.v6_floor = group.v6_floor
        self.floor = min(  # the smallest position any key of this part can give
            self.always,
            address.exact_floor,
            self.other_floor,
            self.name_floor,
            self.v4_floor,
            self.v6_floor,
        )


class DaemonPlan:
    """What one table's index holds for one daemon key (made once per index and key): the
    groups to look up (`groups` as filed, `parts` with ALL merged in when small), the residual
    positions in line order, and flat client lists (used by policy/quick.py).

    Made on the first decision after each append (which makes a new index), so it costs no
    more than the number of groups and residual lists: nothing here walks all the keys."""

    __slots__ = ("_rules", "flat", "generic", "groups", "parts", "residual", "v4", "v6")

    def __init__(self, table: IndexedTable, key: str) -> None:
        index = table.index
        groups = [g for k in dict.fromkeys((ALL_DAEMONS, key)) if (g := index.groups.get(k))]
        self.groups = tuple(groups)
        if len(groups) == 2 and sum(_size(g) for g in groups) <= MERGE_LIMIT:
            groups = [_merge(groups[0], groups[1])]
        self.parts = tuple(PlanPart(group) for group in groups)
        self.v4 = any(part.v4nets for part in self.parts)
        self.v6 = any(part.v6nets for part in self.parts)
        residual = index.residual
        generic = residual.get("") or []
        self.generic = frozenset(generic)  # rules whose daemon list the index did not file
        own = [] if key in ("", ALL_DAEMONS) else residual.get(key) or []
        lists = [found for found in (generic, residual.get(ALL_DAEMONS), own) if found]
        # (the index's own sorted list when there is one: never changed once the index exists)
        self.residual: Sequence[int] = (
            lists[0] if len(lists) == 1 else tuple(sorted({pos for lst in lists for pos in lst}))
        )
        # Residual rules whose daemon list the index filed and whose client list is flat
        # (client hosts only, no EXCEPT, no user@): their host patterns, to be tried in order
        # (a `/file` as its path), found on first use (`hosts`); None: not flat.
        self.flat: dict[int, tuple[HostPattern | str, ...] | None] = {}
        self._rules = table.rules

    def hosts(self, pos: int) -> tuple[HostPattern | str, ...] | None:
        """The flat client hosts of the residual rule at `pos` (None: match it in full)."""
        hosts = None if pos in self.generic else _flat_hosts(self._rules[pos].clients)
        self.flat[pos] = hosts
        return hosts


def _flat_hosts(clients: PatternList) -> tuple[HostPattern | str, ...] | None:
    hosts: list[HostPattern | str] = []
    for item in clients.items:
        if type(item) is not ClientHost:
            return None  # EXCEPT (None) or user@host
        host = item.host
        hosts.append(host.path if type(host) is FileList else host)
    return tuple(hosts)


def _size(group: _Group) -> int:
    return group.address.size() + group.name.size() + sum(map(len, group.v4nets.values()))


def _merge(first: _Group, second: _Group) -> _Group:
    def nets(
        a: dict[int, dict[int, int]], b: dict[int, dict[int, int]]
    ) -> dict[int, dict[int, int]]:
        out = {width: dict(table) for width, table in a.items()}
        for width, table in b.items():
            mine = out.setdefault(width, {})
            for net, pos in table.items():
                if net not in mine or pos < mine[net]:
                    mine[net] = pos
        return out

    return _Group(
        min(first.always, second.always),
        first.address.merged(second.address),
        first.name.merged(second.name),
        nets(first.v4nets, second.v4nets),
        nets(first.v6nets, second.v6nets),
        [],  # (triggers: the evaluator uses the groups as filed, never a merged one)
        min(first.v4_floor, second.v4_floor),
        min(first.v6_floor, second.v6_floor),
    )


def daemon_plan(table: IndexedTable, key: str) -> DaemonPlan:
    index = table.index  # (an index belongs to one table: its positions are the table's)
    plans = index.plans
    plan = plans.get(key)
    if plan is None:
        if key not in index.groups and key not in index.residual:
            key = ALL_DAEMONS  # nothing of its own: the plan every such daemon shares
            plan = plans.get(key)
        if plan is None:
            plan = plans[key] = DaemonPlan(table, key)
    assert isinstance(plan, DaemonPlan)
    return plan


class Candidates:
    """Rule positions worth evaluating, lowest first; see the module docstring."""

    __slots__ = ("_ctx", "_groups", "_hits", "_name_done", "_residual")

    def __init__(
        self, groups: Sequence[_Group], residual: Iterable[int], ctx: IndexContext
    ) -> None:
        """Candidates from the daemon's groups and its residual positions (sorted; a position
        may repeat)."""
        self._ctx = ctx
        self._groups = groups
        self._residual: Iterator[int] = iter(residual)
        address = ctx.addr(CLIENT)
        best = INF
        for group in groups:
            best = min(best, group.always, group.address_hit(address))
        self._hits = [best]  # a small "heap" of index hits
        self._name_done = False

    @classmethod
    def of(cls, index: TableIndex, ctx: IndexContext) -> Candidates:
        daemon = fold(strip_mapped(ctx.daemon()))  # what a DaemonName token is compared with
        groups = [g for g in (index.groups.get(ALL_DAEMONS), index.groups.get(daemon)) if g]
        lists = [index.residual.get(k) for k in ("", ALL_DAEMONS, daemon)]
        present = [lst for lst in lists if lst]
        residual: Iterable[int] = (
            (present[0] if present else ()) if len(present) <= 1 else heapq.merge(*present)
        )
        return cls(groups, residual, ctx)

    def _name_hits(self, after: int) -> int:
        """Index hits for the host name (once known), else the next rule that reads it."""
        name = self._ctx.name_if_ready(CLIENT)
        best = INF
        for group in self._groups:
            if name is not None:
                hit = group.name.lookup(name)
                if hit <= after:  # cannot happen (see module docstring); stay exact anyway
                    hit = INF
                best = min(best, hit)
            else:
                at = bisect.bisect_right(group.triggers, after)
                if at < len(group.triggers):
                    best = min(best, group.triggers[at])
        return best

    def __iter__(self) -> Iterator[int]:
        residual = next(self._residual, INF)
        name_next = self._name_hits(-1)
        name_known = self._ctx.name_if_ready(CLIENT) is not None
        address_next = self._hits[0]
        last = -1
        while True:
            pos = min(residual, name_next, address_next)
            if pos >= INF:
                return
            if pos > last:
                yield pos
                last = pos
            if residual == pos:
                residual = next(self._residual, INF)
            if address_next == pos:
                address_next = INF
            if name_next == pos:
                if name_known:
                    name_next = INF
                else:
                    name_known = self._ctx.name_if_ready(CLIENT) is not None
                    name_next = self._name_hits(pos)
            elif not name_known and self._ctx.name_if_ready(CLIENT) is not None:
                # A residual rule looked the name up: switch to name hits after it.
                name_known = True
                name_next = self._name_hits(pos)
