"""Provable shadowing: a rule no connection can reach because an earlier rule matches first.

What it does: keeps the rules seen so far in an index keyed by (daemon token, client token),
`ALL` standing for "any", so that finding an earlier rule that covers a new one costs a few
dict lookups even in a 100,000-line DenyHosts table. A rule E covers a later rule L when every
connection L matches also matches E: both lists free of EXCEPT, and each list of E is `ALL`
or contains every token of L's list (daemon names compared case-insensitively, `d` covering
`d@host`; client tokens compared exactly, since netgroups and paths are case-sensitive).

`report_shadow` files a rule and reports it when an earlier rule of its table, or (for the
deny table) of the allow table, covers it.

Hazards: none (pure). Deliberately conservative: it never guesses (no suffix or network
reasoning), and the index is bounded (`MAX_KEYS` per rule, `MAX_BUCKET` per key), which can
only make it miss a report, never invent one. An allow rule with `aclexec` is not taken as
covering a deny rule (an aclexec failure turns its match into "no match").
Errors: none raised; a shadowed rule is a warning on the `Report`.
"""

from __future__ import annotations

from tcpwrap._record import record
from tcpwrap.policy.check.events import Report
from tcpwrap.policy.cstr import fold, split_at

ANY = "\x00ALL"
MAX_KEYS = 256
MAX_BUCKET = 64


@record(frozen=True, slots=True)
class Seen:
    """A rule tcpd really reads."""

    path: str
    line: int
    daemons: tuple[str, ...]
    clients: tuple[str, ...]
    aclexec: bool = False  # an aclexec failure turns its match into "no match" for the table


def _has_except(tokens: tuple[str, ...]) -> bool:
    return any(fold(t) == "except" for t in tokens)


def _is_all(tokens: tuple[str, ...]) -> bool:
    return any(fold(t) == "all" for t in tokens)


def covers(earlier: tuple[str, ...], later: tuple[str, ...], *, daemon: bool) -> bool:
    """Does every request matched by list `later` provably match list `earlier`?"""
    if not later or _has_except(earlier) or _has_except(later):
        return False
    if _is_all(earlier):
        return True
    have = {fold(t) for t in earlier} if daemon else set(earlier)
    for token in later:
        if (fold(token) if daemon else token) in have:
            continue
        if daemon:
            cut = split_at(token[1:], "@")
            if cut is not None and fold(token[0] + cut[0]) in have:
                continue
        return False
    return True


class ShadowIndex:
    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], list[Seen]] = {}
        # daemon key -> client key -> the first rule filed under both (and without aclexec)
        self._heads: dict[str, dict[str, Seen]] = {}
        self._plain_heads: dict[str, dict[str, Seen]] = {}

    def add(self, seen: Seen) -> None:
        if _has_except(seen.daemons) or _has_except(seen.clients):
            return
        if not seen.daemons or not seen.clients:
            return
        daemons = {ANY} if _is_all(seen.daemons) else {fold(t) for t in seen.daemons}
        clients = {ANY} if _is_all(seen.clients) else set(seen.clients)
        if len(daemons) * len(clients) > MAX_KEYS:
            return
        for d in daemons:
            for c in clients:
                bucket = self._buckets.setdefault((d, c), [])
                if len(bucket) < MAX_BUCKET:
                    bucket.append(seen)
                self._head(seen, d, c)

    def find_single(self, daemon: str, client: str, *, skip_aclexec: bool = False) -> Seen | None:
        """`find` for a rule with one plain daemon name (folded, no `@`; ANY for ALL) and one
        client token (not ALL or EXCEPT).

        Every rule filed under a key such a rule looks up covers it, so the answer is the
        earliest of the first rules filed under four keys: a few dict lookups.
        """
        heads = self._plain_heads if skip_aclexec else self._heads
        if not heads:
            return None
        best: Seen | None = None
        for d in (ANY, daemon):
            clients = heads.get(d)
            if clients is None:
                continue
            for c in (ANY, client):
                seen = clients.get(c)
                if seen is not None and (best is None or seen.line < best.line):
                    best = seen
        return best

    def _head(self, seen: Seen, daemon: str, client: str) -> None:
        """Remember the first rule filed under (daemon, client), and the first without aclexec."""
        for heads in (self._heads, self._plain_heads) if not seen.aclexec else (self._heads,):
            clients = heads.get(daemon)
            if clients is None:
                heads[daemon] = {client: seen}
            elif client not in clients:
                clients[client] = seen

    def add_single(self, seen: Seen, daemon: str, client: str) -> None:
        """`add` for a rule with one daemon token (folded, or ANY for ALL) and one client
        token (not EXCEPT or ALL)."""
        key = (daemon, client)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [seen]
        elif len(bucket) < MAX_BUCKET:
            bucket.append(seen)
        self._head(seen, daemon, client)

    def find(self, later: Seen, *, skip_aclexec: bool = False) -> Seen | None:
        """The earliest indexed rule that covers `later`, or None."""
        if not later.daemons or not later.clients:
            return None
        if _has_except(later.daemons) or _has_except(later.clients):
            return None
        first = later.daemons[0]
        daemon_keys = {ANY, fold(first)}
        cut = split_at(first[1:], "@")
        if cut is not None:
            daemon_keys.add(fold(first[0] + cut[0]))
        candidates: dict[int, Seen] = {}
        for d in daemon_keys:
            for c in (ANY, later.clients[0]):
                for seen in self._buckets.get((d, c), ()):
                    candidates.setdefault(id(seen), seen)
        for seen in sorted(candidates.values(), key=lambda s: s.line):
            if skip_aclexec and seen.aclexec:
                continue
            if covers(seen.daemons, later.daemons, daemon=True) and covers(
                seen.clients, later.clients, daemon=False
            ):
                return seen
        return None


def report_shadow(
    report: Report,
    seen: Seen,
    role: str,
    table: ShadowIndex,
    allow: ShadowIndex,
    single: tuple[str, str] | None = None,
) -> None:
    """Report `seen` if an earlier rule covers it, then file it in `table` (its own table).

    `single`: (folded daemon, client) when `seen` is one plain daemon name and one client
    token, neither ALL nor EXCEPT (DenyHosts lines: the keyed fast path).
    """
    earlier = table.find(seen) if single is None else table.find_single(*single)
    if earlier is not None:
        report.extra_warn(
            f"this rule can never match: line {earlier.line} ({' '.join(earlier.daemons)}"
            f" : {' '.join(earlier.clients)}) already matches every connection it would "
            f"match, and the first matching rule ends the scan of {seen.path}"
        )
    elif role == "deny":
        if single is None:
            earlier = allow.find(seen, skip_aclexec=True)
        else:
            earlier = allow.find_single(*single, skip_aclexec=True)
        if earlier is not None:
            report.extra_warn(
                f"this rule can never match: {earlier.path} line {earlier.line} "
                f"already matches every connection it would match, and a match "
                f"in the allow table decides before the deny table is read"
            )
    if single is None:
        table.add(seen)
    else:
        table.add_single(seen, *single)
