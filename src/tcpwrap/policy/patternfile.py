"""`/file` pattern lists, compiled once per file version and indexed like tables.

What it does: `compile_pattern_file(tokens)` turns the whitespace-separated tokens of a pattern
file (docs/rules.md) into a `PatternFile`: exact addresses and names, `prefix.`, `.suffix`, `[v6]`,
IPv4 and IPv6 networks and ALL are filed under dictionary keys with the smallest token position
carrying them (index.KeyTable, the tables' own key tables); every other token (`/nested`,
`@netgroup`, KNOWN, LOCAL, wildcards) stays on an ordered residual list. `PatternFile.match(ctx,
side)` then evaluates, in token order, only the tokens that can matter: the residual ones, the
first one the address matches, and for the name either the first one it matches (once the
name is known) or the first one that would make the original look the name up. Index hits
answer True at once (such a token matches without reading anything new); residual tokens and
name-reading ones are evaluated in full. So it gives exactly what the naive scan
(`PatternFile.naive`, the reference) gives: the same answer and the same lookups in the same
order (tests/property/test_patternfile_equivalence.py).
`load_pattern_file(data, previous)` is what drivers call with a file's bytes: when the new
bytes are the previous bytes plus an append and the previous bytes ended with whitespace (no
token cut in two), only the appended tokens are filed (`PatternFile.extend`).

How versions share one index: the keys, nets, triggers and residual list of a file live in a
`_FileIndex` that only ever grows; each `PatternFile` is a (shared index, token count) pair and
ignores positions at or beyond its count. An append files new tokens at new positions and
returns a new PatternFile, so a decision still running on the previous version keeps seeing
exactly the previous version (readers never iterate a dictionary that may grow; lists are read
by position).

Hazards: a file may hold 100,000+ tokens (ban lists): compiling is linear and done once per
version. `extend` must not run concurrently with another `extend` of the same file (the
drivers hold a lock); reading concurrently with an extension is safe.
Errors: none: malformed tokens never match, as in the original.
"""

from __future__ import annotations

import bisect

from tcpwrap.policy.cstr import INADDR_NONE, dot_quad_addr, fold, strip_mapped
from tcpwrap.policy.index import INF, KeyTable
from tcpwrap.policy.patterns import (
    AddressOrName,
    AllWord,
    Bracket6,
    Exact,
    HostPattern,
    MatchContext,
    NetMask,
    Prefix,
    Suffix,
    compile_host,
    host_pattern,
    parse_ipv6,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_NUMERIC = "0123456789."
_C_SPACE = b" \t\n\v\f\r"  # fscanf("%s") separators; bytes.split() splits on exactly these


def split_tokens(data: bytes) -> list[str]:
    """The file's tokens as fscanf("%s") reads them (C isspace separators, bytes kept 1:1).

    fscanf keeps NUL bytes in a token, but everything that uses it (string comparisons, the
    fopen() of a nested `/file`) stops at the first one: a token is what comes before it. A
    token that starts with a NUL is the empty string to C, which matches nothing: left out.
    """
    if b"\x00" in data:
        cut = (token.split(b"\x00", 1)[0] for token in data.split())
        return [token.decode("latin-1") for token in cut if token]
    return [token.decode("latin-1") for token in data.split()]


def whole_tokens(data: bytes, limit: int) -> tuple[bytes, int | None]:
    """The first `limit` bytes of a pattern file read as `limit + 1` bytes, cut back to whole
    tokens, and `limit` when the file was longer (else `data` as it is and None). A token cut
    in two by the limit could match what the whole one would not: it is left out."""
    if len(data) <= limit:
        return data, None
    end = limit
    if data[end] not in _C_SPACE:
        end = max(data.rfind(bytes([space]), 0, end) for space in _C_SPACE) + 1
    return data[:end], limit


class _FileIndex:
    """Everything known about one file's tokens; grows by appends only (see the header)."""

    __slots__ = (
        "address",
        "always",
        "count",
        "first_keyed",
        "name",
        "nets4",
        "nets6",
        "residual",
        "tokens",
        "triggers",
    )

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.count = 0  # tokens filed so far
        self.address = KeyTable()  # keys compared with the address
        self.name = KeyTable()  # keys compared with the name (tokens with NOT_INADDR text)
        self.always = INF  # the first ALL
        self.first_keyed = INF  # the first token the address alone can match
        # (mask or prefix length, {net: position}); new masks are appended, never inserted
        self.nets4: list[tuple[int, dict[int, int]]] = []
        self.nets6: list[tuple[int, dict[int, int]]] = []
        self.triggers: list[int] = []  # indexed tokens that read the name, in order
        self.residual: list[tuple[int, HostPattern]] = []  # evaluated one by one, in order

    def add(self, tokens: Iterable[str]) -> None:
        pos = self.count
        for token in tokens:
            self.tokens.append(token)
            self._file(token, pos)
            pos += 1
        self.count = pos  # last: readers of the new version need everything filed

    def _file(self, token: str, pos: int) -> None:
        if not token.strip(_NUMERIC):
            # Digits and dots only (addresses, `a.b.c.` prefixes, `.b.c` suffixes): the common
            # ban-list token. host_pattern() would make an Exact/Prefix/Suffix compared with
            # the address only (NOT_INADDR is false); file it without building the objects.
            keys = self.address
            if token[0] == ".":
                keys.add_suffix(token, pos)
            elif token[-1] == ".":
                keys.add_prefix(token, pos)
            else:  # KeyTable.add_exact, inline (100,000 tokens a compile)
                if token not in keys.exact:
                    keys.exact[token] = pos
                    if pos < keys.exact_floor:
                        keys.exact_floor = pos
                keys.used = True
            if pos < self.first_keyed:
                self.first_keyed = pos
            return
        pattern = host_pattern(token)
        if isinstance(pattern, NetMask):
            if pattern.v4 is not None:
                net, mask = pattern.v4
                _keep(self.nets4, mask, net, pos)
                self.first_keyed = min(self.first_keyed, pos)
            if pattern.v6 is not None:
                net6, length = pattern.v6
                _keep(self.nets6, length, net6 >> (128 - length), pos)
                self.first_keyed = min(self.first_keyed, pos)
            return  # neither: never matches and reads nothing
        if not isinstance(pattern, AddressOrName) or not isinstance(
            pattern.matcher, Exact | Prefix | Suffix | AllWord | Bracket6
        ):
            self.residual.append((pos, pattern))
            return
        matcher = pattern.matcher
        if isinstance(matcher, AllWord):
            self.always = min(self.always, pos)  # matches on the address: never reads the name
            self.first_keyed = min(self.first_keyed, pos)
            return
        self.address.add(matcher, pos)
        self.first_keyed = min(self.first_keyed, pos)
        if pattern.names_too:
            self.name.add(matcher, pos)
            self.triggers.append(pos)

    def address_hit(self, address: str, count: int) -> int:
        """The first position below `count` whose token matches `address` (INF if none)."""
        best = self.always
        keys = self.address
        mapped = strip_mapped(address)
        if keys.used:  # KeyTable.lookup, flattened: this runs on every decision
            text = fold(mapped)
            hit = keys.exact.get(text, INF)
            if hit < best:
                best = hit
            if keys.prefix_dots or keys.suffix_dots or keys.v6:
                hit = keys.lookup_other(text)
                if hit < best:
                    best = hit
        if self.nets4 or self.nets6:
            if len(mapped) != len(address) or ":" not in address:
                value = dot_quad_addr(mapped)
                if value != INADDR_NONE:
                    for mask, nets in self.nets4:  # a list: safe while an append adds masks
                        found = nets.get(value & mask)
                        if found is not None and found < best:
                            best = found
            else:
                value6 = parse_ipv6(address)
                if value6 is not None:
                    for length, nets6 in self.nets6:
                        found = nets6.get(value6 >> (128 - length))
                        if found is not None and found < best:
                            best = found
        return best if best < count else INF


def _keep(nets: list[tuple[int, dict[int, int]]], width: int, net: int, pos: int) -> None:
    for known, table in nets:
        if known == width:
            if net not in table:
                table[net] = pos
            return
    nets.append((width, {net: pos}))


class PatternFile:
    """One version of a compiled pattern file: what `Environment.pattern_file` returns."""

    __slots__ = ("_index", "count", "cut_at")

    def __init__(self, index: _FileIndex, count: int, cut_at: int | None = None) -> None:
        self._index = index
        self.count = count  # tokens of this version: positions >= count do not exist here
        # The file was longer than the reader's limit: only its first `cut_at` bytes (whole
        # tokens) are here. What could not be read may hold a match (FileList.match).
        self.cut_at = cut_at

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self._index.tokens[: self.count])

    @property
    def naive(self) -> NaiveScan:
        """The reference matcher: every token in order, as the original does."""
        return NaiveScan(self)

    def extend(self, tokens: Iterable[str]) -> PatternFile:
        """This file with `tokens` appended, as a new version (this one stays as it is)."""
        index = self._index
        if index.count != self.count:  # not the newest version: it cannot grow in place
            fresh = compile_pattern_file(self.tokens)
            index = fresh._index
        index.add(tokens)
        return PatternFile(index, index.count)

    def match(self, ctx: MatchContext, side: int) -> bool:
        """host_match() of the file: the first matching token, exactly as the naive scan."""
        count = self.count
        if not count:
            return False
        index = self._index
        residual = index.residual
        if not residual or residual[0][0] >= count:
            # Only indexed tokens: which one matches first cannot matter (each one reads only
            # the address, or the name when it is already known), so the file matches when any
            # does. Unless the name is unknown and a name-reading token comes before every
            # address match (the loop below finds that token and makes it read the name).
            name = ctx.name_if_ready(side)
            if name is not None:
                if index.first_keyed < count and index.address_hit(ctx.addr(side), count) < INF:
                    return True
                return index.name.used and index.name.lookup(name) < count
            if not index.triggers or index.triggers[0] >= count:
                return index.first_keyed < count and (
                    index.address_hit(ctx.addr(side), count) < INF
                )
        at = 0  # next residual entry
        residual_next = residual[0][0] if residual else INF
        if residual_next >= count:
            residual_next = INF
        address_next = INF
        if index.first_keyed < count:
            address_next = index.address_hit(ctx.addr(side), count)
        name_known = ctx.name_if_ready(side) is not None
        name_next = self._name_next(ctx, side, -1)
        last = -1
        while True:
            pos = min(residual_next, name_next, address_next)
            if pos >= INF:
                return False
            if pos > last:
                last = pos
                if pos == residual_next:
                    if residual[at][1].match(ctx, side):
                        return True
                elif pos == address_next or name_known:
                    # An index hit: the token matches the address, or the name already read,
                    # so evaluating it would read nothing new and say True.
                    return True
                elif compile_host(index.tokens[pos]).match(ctx, side):  # a trigger
                    return True
            if residual_next == pos:
                at += 1
                residual_next = residual[at][0] if at < len(residual) else INF
                if residual_next >= count:
                    residual_next = INF
            if address_next == pos:
                address_next = INF  # the address hit is the first: no later one is needed
            if name_next == pos:
                if name_known:
                    name_next = INF
                else:
                    name_known = ctx.name_if_ready(side) is not None
                    name_next = self._name_next(ctx, side, pos)
            elif not name_known and ctx.name_if_ready(side) is not None:
                # A residual token (KNOWN, @group, a nested file ...) read the name: from
                # here on the name index answers instead of the triggers.
                name_known = True
                name_next = self._name_next(ctx, side, pos)

    def match_known(self, address: str, name: str) -> bool | None:
        """match() for a context where the address and the name are both known (nothing can
        be looked up): from the index alone, or None when residual tokens must be evaluated."""
        count = self.count
        if not count:
            return False
        index = self._index
        residual = index.residual
        if residual and residual[0][0] < count:
            return None
        if index.first_keyed < count and index.address_hit(address, count) < INF:
            return True
        return index.name.used and index.name.lookup(name) < count

    def _name_next(self, ctx: MatchContext, side: int, after: int) -> int:
        """The first name hit after `after` once the name is known, else the next trigger."""
        index = self._index
        name = ctx.name_if_ready(side)
        if name is not None:
            hit = index.name.lookup(name)
            return hit if after < hit < self.count else INF
        triggers = index.triggers
        at = bisect.bisect_right(triggers, after)
        if at < len(triggers) and triggers[at] < self.count:
            return triggers[at]
        return INF


class NaiveScan:
    """The reference: every token of the file, in order, as the original scans it."""

    __slots__ = ("cut_at", "file")

    def __init__(self, file: PatternFile) -> None:
        self.file = file
        self.cut_at = file.cut_at

    def match(self, ctx: MatchContext, side: int) -> bool:
        tokens = self.file._index.tokens
        return any(compile_host(tokens[pos]).match(ctx, side) for pos in range(self.file.count))


def compile_pattern_file(tokens: Iterable[str]) -> PatternFile:
    index = _FileIndex()
    index.add(tokens)
    return PatternFile(index, index.count)


def load_pattern_file(
    data: bytes, previous: tuple[bytes, PatternFile] | None = None, cut_at: int | None = None
) -> PatternFile:
    """The compiled file for `data`, reusing `previous` (its bytes and file) for an append.

    Incremental only when `data` starts with the previous bytes and those ended with C
    whitespace (or were empty): otherwise the last old token may continue in the new bytes.
    `cut_at`: `data` is the first `cut_at` bytes of a longer file (compiled afresh, marked).
    """
    if cut_at is not None:
        fresh = compile_pattern_file(split_tokens(data))
        return PatternFile(fresh._index, fresh.count, cut_at)
    if previous is not None and previous[1].cut_at is None:
        old, compiled = previous
        if data.startswith(old) and (not old or old[-1] in _C_SPACE):
            if len(data) == len(old):
                return compiled
            return compiled.extend(split_tokens(data[len(old) :]))
    return compile_pattern_file(split_tokens(data))
