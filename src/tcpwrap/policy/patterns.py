"""Pattern grammar: list tokens -> frozen pattern objects that know how to match.

What it does: compiles each daemon-list and client-list token into one of the pattern kinds of
hosts_access(5) as Debian 7.6.q ships it (docs/rules.md): string forms (ALL, KNOWN, `.suffix`,
`prefix.`, `*`/`?` globs, `[v6]`, exact), port numbers, `net/mask`, `n.n.n.n/len`, `[v6]/len`,
`@netgroup`, `/file`, KNOWN/LOCAL host keywords, `user@host`, `daemon@host`, and EXCEPT lists.
Matching asks a `MatchContext` for facts; asking for a name or a user may interrupt the
evaluation (the context raises), which is how lookups stay lazy and rule-driven. A `/file`
token asks the context for the file's compiled form (a `FileMatcher`, patternfile.py), which
the environment builds once per file version.

Hazards: tokens come from admin files; host names and user names they are compared with come
from the network. Nothing here interprets them beyond comparison. Matching order inside a token
is the original's, because it decides which lookups happen (observable in logs and DNS).
Errors: none; malformed patterns simply never match, like the original.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tcpwrap._record import field, record
from tcpwrap.policy.cstr import (
    INADDR_NONE,
    dot_quad_addr,
    fold,
    not_inaddr,
    scan_uint,
    split_at,
    strip_mapped,
)
from tcpwrap.policy.facts import PARANOID, UNKNOWN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it

CLIENT = 0
SERVER = 1



class MatchContext(Protocol):
    """What a pattern may ask about the connection being decided.

    `restrictive`: whether a match of the token being evaluated makes the verdict stricter (a
    rule that denies, outside an EXCEPT, or one that grants, inside one). The scanner sets it
    per rule; PatternList flips it inside EXCEPT. Only address wildcards read it (names_too).
    """

    restrictive: bool

    def daemon(self) -> str: ...

    def server_port(self) -> int | None: ...

    def addr(self, side: int) -> str: ...

    # False only while replaying a log that did not record this address (it existed: the
    # connection had one); a pattern that cannot match any numeric address need not read it.
    def addr_known(self, side: int) -> bool: ...

    def name(self, side: int) -> str: ...  # may trigger a lookup (lazily)

    def name_if_ready(self, side: int) -> str | None: ...  # the name if read before, no lookup

    def user(self) -> str: ...  # may trigger an ident query (lazily)

    def innetgr(self, group: str, host: str) -> bool: ...

    def enter_file(self, path: str) -> FileMatcher | None: ...  # None: no match (missing/loop)

    def leave_file(self, path: str) -> None: ...


class FileMatcher(Protocol):
    """A `/file` list as the matcher sees it: compiled once per file version (patternfile.py).

    `match` must give exactly what evaluating the file's tokens one by one with `host_match`
    gives, and make the same lookups in the same order; the first matching token ends it.
    `cut_at` is not None when only the file's first `cut_at` bytes could be read.
    """

    cut_at: int | None

    def match(self, ctx: MatchContext, side: int) -> bool: ...


def hostname_known(name: str) -> bool:
    folded = fold(name)
    return folded != UNKNOWN and folded != PARANOID


# --------------------------------------------------------------------------- string_match


class StringMatcher:
    """string_match(tok, s): one token compared with a daemon, user, address or name."""

    __slots__ = ()

    def match(self, subject: str) -> bool:
        raise NotImplementedError


@record(frozen=True, slots=True)
class Glob(StringMatcher):
    token: str
    regex: re.Pattern[str] = field(compare=False)

    def match(self, subject: str) -> bool:
        subject = strip_mapped(subject)
        if not subject:
            return self.token == "*"  # noqa: S105 - match_pattern_ylo: only "*" matches ""
        return self.regex.fullmatch(subject) is not None


@record(frozen=True, slots=True)
class Suffix(StringMatcher):
    token: str  # folded, starts with "."

    def match(self, subject: str) -> bool:
        subject = strip_mapped(subject)
        return len(subject) > len(self.token) and fold(subject).endswith(self.token)


@record(frozen=True, slots=True)
class AllWord(StringMatcher):
    def match(self, subject: str) -> bool:
        return True


@record(frozen=True, slots=True)
class KnownWord(StringMatcher):
    def match(self, subject: str) -> bool:
        return fold(strip_mapped(subject)) != UNKNOWN


@record(frozen=True, slots=True)
class Prefix(StringMatcher):
    token: str  # folded, ends with "."

    def match(self, subject: str) -> bool:
        return fold(strip_mapped(subject)).startswith(self.token)


@record(frozen=True, slots=True)
class Bracket6(StringMatcher):
    """`[v6addr]`: numeric IPv6 equality (any textual form)."""

    token: str
    value: int | None  # None: the inside does not parse, never matches

    def match(self, subject: str) -> bool:
        if self.value is None:
            return False
        other = parse_ipv6(strip_mapped(subject))
        return other is not None and other == self.value


@record(frozen=True, slots=True)
class Exact(StringMatcher):
    token: str  # folded

    def match(self, subject: str) -> bool:
        return fold(strip_mapped(subject)) == self.token


@lru_cache(maxsize=4096)
def parse_ipv6(text: str) -> int | None:
    """getaddrinfo(AF_INET6, AI_NUMERICHOST) as a 128-bit value, or None.

    A `%scope` is accepted as glibc accepts it (the scope itself is never compared): a
    decimal number below 2**32 on any address, or an interface name on a link-local or
    link/node-local multicast address when that interface exists (`::1%lo`, `fe80::1%nosuch`
    and `fe80::1%` are not IPv6 addresses to libwrap, `fe80::1%eth0` and `::1%1` are).
    Hazard: whether an interface exists is asked through `interface_exists`, which the
    drivers point at the kernel; the answer is cached with the text, so an interface added or
    removed later is not seen for an address already parsed.
    """
    if ":" not in text or not text.isascii():
        return None
    import ipaddress  # only IPv6 forms need it: keep it off the start-up path

    text, scoped, scope = text.partition("%")
    try:
        value = int(ipaddress.IPv6Address(text))
    except ValueError:
        return None
    if scoped and not _valid_scope(value, scope):
        return None
    return value


_LINK_LOCAL = 0xFE80 << 112  # fe80::/10
_MULTICAST_LOCAL = (0xFF01, 0xFF02)  # ff?1 (node-local) and ff?2 (link-local), any flags


def _no_interface(name: str) -> bool:
    return False


# Whether a network interface of this name exists (glibc: if_nametoindex() != 0). The pure
# core cannot ask the kernel: drivers.environment installs the real check when it is imported,
# which every program and the library do before deciding. Without it no name is known, and a
# scope must be a number.
interface_exists: Callable[[str], bool] = _no_interface


def _valid_scope(value: int, scope: str) -> bool:
    """glibc's __inet6_scopeid_pton(): whether getaddrinfo accepts `address%scope`."""
    top = value >> 112
    local = (value >> 118) == (_LINK_LOCAL >> 118) or (top & 0xFF0F) in _MULTICAST_LOCAL
    if local and scope and interface_exists(scope):
        return True
    return scope[:1].isdigit() and scope.isdigit() and int(scope) <= 0xFFFFFFFF


def _glob_regex(token: str) -> re.Pattern[str]:
    """match_pattern_ylo() as a regular expression that cannot backtrack exponentially.

    The original (and a plain `.*` per `*`) tries every split of the subject between the
    stars: `*a*a*a*a*b` against a 127-character name took seconds, and a client's PTR name is
    attacker-chosen. Here each segment between two runs of stars is found at its leftmost
    place inside an atomic group, which is never revisited: a segment is fixed-length (`?` is
    one character), so its leftmost place leaves the most for the rest and a later place can
    never succeed where it failed. Only the last segment is anchored at the end (fullmatch).
    Cost: O(len(subject) x len(token)).

    The quirk kept (match_pattern_ylo): a run of two or more `*` only ever tries non-empty
    remainders, so `a**` does not match `a`: such a run requires a character after its start.
    """
    runs = re.split(r"(\*+)", token)  # segment, run, segment, run, ..., segment
    parts = [_glob_segment(runs[0])]
    last = len(runs) - 2
    for at in range(1, len(runs), 2):
        if len(runs[at]) >= 2:
            parts.append("(?=.)")
        segment = _glob_segment(runs[at + 1])
        parts.append(f".*{segment}" if at == last else f"(?>.*?{segment})")
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII | re.DOTALL)


def _glob_segment(text: str) -> str:
    return "".join("." if c == "?" else re.escape(c) for c in text)


def compile_string(token: str) -> StringMatcher:
    """The string_match() form of a token (docs/rules.md#string-matching, in order)."""
    if "*" in token or "?" in token:
        return Glob(token, _glob_regex(token))
    if token.startswith("."):
        return Suffix(fold(token))
    folded = fold(token)
    if folded == "all":
        return AllWord()
    if folded == "known":
        return KnownWord()
    if token.endswith("."):
        return Prefix(folded)
    if token.startswith("[") and token.endswith("]") and len(token) >= 2:
        return Bracket6(token, parse_ipv6(token[1:-1]))
    return Exact(folded)


# --------------------------------------------------------------------------- host patterns


class HostPattern:
    """host_match(tok, host): a pattern applied to the client or the server endpoint."""

    __slots__ = ()

    def match(self, ctx: MatchContext, side: int) -> bool:
        raise NotImplementedError


@record(frozen=True, slots=True)
class Netgroup(HostPattern):
    group: str  # case-sensitive

    def match(self, ctx: MatchContext, side: int) -> bool:
        return ctx.innetgr(self.group, ctx.name(side))


@record(frozen=True, slots=True)
class FileList(HostPattern):
    path: str

    def match(self, ctx: MatchContext, side: int) -> bool:
        matcher = ctx.enter_file(self.path)
        if matcher is None:
            return False
        try:
            # A list cut at the reader's limit fails closed: what could not be read is taken
            # to match where a match denies, and not to match where it would grant.
            return matcher.match(ctx, side) or (matcher.cut_at is not None and ctx.restrictive)
        finally:
            ctx.leave_file(self.path)


@record(frozen=True, slots=True)
class KnownHost(HostPattern):
    def match(self, ctx: MatchContext, side: int) -> bool:
        name = ctx.name(side)  # the original evaluates the name first
        # An address that was not logged existed all the same: it was not "unknown".
        known_addr = not ctx.addr_known(side) or fold(ctx.addr(side)) != UNKNOWN
        return known_addr and hostname_known(name)


@record(frozen=True, slots=True)
class LocalHost(HostPattern):
    def match(self, ctx: MatchContext, side: int) -> bool:
        name = ctx.name(side)
        return "." not in name and hostname_known(name)


@record(frozen=True, slots=True)
class NetMask(HostPattern):
    """`net/mask`, `n.n.n.n/len` or `[v6]/len`: compared with the address only (docs/rules.md)."""

    net_token: str
    mask_token: str
    v4: tuple[int, int] | None  # (net, mask) when the IPv4 reading is valid
    v6: tuple[int, int] | None  # (net, prefix length) when the IPv6 reading is valid

    def match(self, ctx: MatchContext, side: int) -> bool:
        return self.match_address(ctx.addr(side))

    def match_address(self, address: str) -> bool:
        mapped = strip_mapped(address)
        if len(mapped) != len(address) or ":" not in address:
            if self.v4 is None:
                return False
            value = dot_quad_addr(mapped)
            if value == INADDR_NONE:
                return False
            net, mask = self.v4
            return (value & mask) == net
        if self.v6 is None:
            return False
        value6 = parse_ipv6(address)
        if value6 is None:
            return False
        net6, length = self.v6
        shift = 128 - length
        return (value6 >> shift) == (net6 >> shift)


def _atoi(text: str) -> int:
    match = re.match(r"[ \t\n\v\f\r]*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def compile_netmask(net_token: str, mask_token: str) -> NetMask:
    v4: tuple[int, int] | None = None
    net = dot_quad_addr(net_token)
    if net != INADDR_NONE:
        mask = dot_quad_addr(mask_token)
        if mask != INADDR_NONE:
            v4 = (net, mask)
        else:  # Debian 14_cidr_support: a prefix length (atoi), 1..32
            bits = _atoi(mask_token)
            if 1 <= bits <= 32:
                v4 = (net, (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF)
    v6: tuple[int, int] | None = None
    if net_token.startswith("[") and net_token.endswith("]"):
        value = parse_ipv6(net_token[1:-1])
        length = _atoi(mask_token)
        if value is not None and 0 <= length <= 128:
            v6 = (value, length)
    return NetMask(net_token, mask_token, v4, v6)


@record(frozen=True, slots=True)
class AddressOrName(HostPattern):
    """Row 6 of host_match: the address first, then (if the token is not numeric) the name."""

    token: str
    matcher: StringMatcher
    names_too: bool  # NOT_INADDR(token), except for address wildcards (see names_too())
    address_too: bool = True  # the token could match some numeric address (address_like)
    # An address wildcard (`192.0.2.*`): compared with the name too only where a match is
    # restrictive (ctx.restrictive), as Debian does; never where it would grant.
    guarded: bool = False

    def match(self, ctx: MatchContext, side: int) -> bool:
        if self.address_too or ctx.addr_known(side):
            if self.matcher.match(ctx.addr(side)):
                return True
        elif isinstance(self.matcher, AllWord):
            return True  # every address, logged or not
        if self.names_too:
            return self.matcher.match(ctx.name(side))
        return self.guarded and ctx.restrictive and self.matcher.match(ctx.name(side))


def host_pattern(token: str) -> HostPattern:
    """The host_match() form of a token, in the original's dispatch order (docs/rules.md).

    Uncached: for callers that compile many distinct tokens once (a `/file` list), where
    going through `compile_host`'s cache would only evict everybody else's entries.
    """
    if token.startswith("@"):
        return Netgroup(token[1:])
    if token.startswith("/"):
        return FileList(token)
    folded = fold(token)
    if folded == "known":
        return KnownHost()
    if folded == "local":
        return LocalHost()
    cut = split_at(token, "/")
    if cut is not None:
        return compile_netmask(*cut)
    matcher = compile_string(token)
    if not_inaddr(token) and address_wildcard(token):
        return AddressOrName(token, matcher, False, address_like(token, matcher), True)
    return AddressOrName(token, matcher, names_too(token), address_like(token, matcher))


compile_host = lru_cache(maxsize=65536)(host_pattern)

_ADDRESS_WILDCARD = "0123456789.*?"
_DIGITS = "0123456789"


def address_wildcard(token: str) -> bool:
    """A wildcard made only of digits, dots, `*` and `?`, with at least one digit and one
    wildcard: it can only be meant for IPv4 addresses (`192.0.2.*`, `10.?.0.1`)."""
    return (
        not token.strip(_ADDRESS_WILDCARD)
        and ("*" in token or "?" in token)
        and any(digit in token for digit in _DIGITS)
    )


_ADDRESS_CHARACTERS = "0123456789abcdefABCDEF.:*?[]"


def address_like(token: str, matcher: StringMatcher) -> bool:
    """Whether `token` could match some printable numeric address (IPv4 or IPv6).

    False for a token with a character no address has (`.example.com`, `unknown`): such a
    token never matches an address, so whether it matches needs no address at all; and for
    ALL, which matches every address (AddressOrName.match says so without reading one).
    """
    if isinstance(matcher, KnownWord):
        return True
    return not isinstance(matcher, AllWord) and not token.strip(_ADDRESS_CHARACTERS)


def names_too(token: str) -> bool:
    """Whether a plain host token is always compared with the host name too.

    The original compares every token with a character outside `0-9 . /` with the name too,
    so `192.0.2.*` matched a client whose (attacker-controlled) PTR is `192.0.2.evil.example`
    (docs/rules.md, case H01). Deliberate fix (docs/compat.md): an address wildcard
    (`address_wildcard`) is compared with the name only where a match denies (restrictive
    positions: a deny rule, or an EXCEPT of a grant), so the fix never opens a hole; where it
    would grant it matches addresses only and causes no lookup. Tokens of wildcards alone
    (`*.*`, `??`) are no address patterns: names too, as in Debian.
    """
    return not_inaddr(token) and not address_wildcard(token)  # see cstr.not_inaddr


# --------------------------------------------------------------------------- list items


class Item:
    """One token of a daemon list or a client list."""

    __slots__ = ()
    token: str

    def match(self, ctx: MatchContext) -> bool:
        raise NotImplementedError


@record(frozen=True, slots=True)
class DaemonName(Item):
    token: str
    matcher: StringMatcher

    def match(self, ctx: MatchContext) -> bool:
        return self.matcher.match(ctx.daemon())


@record(frozen=True, slots=True)
class Port(Item):
    """A decimal number <= 65535 in a daemon list: the server's port (Debian match_port)."""

    token: str
    port: int

    def match(self, ctx: MatchContext) -> bool:
        return ctx.server_port() == self.port


@record(frozen=True, slots=True)
class DaemonAt(Item):
    token: str
    daemon: Item
    host: HostPattern

    def match(self, ctx: MatchContext) -> bool:
        return self.daemon.match(ctx) and self.host.match(ctx, SERVER)


@record(frozen=True, slots=True)
class ClientHost(Item):
    token: str
    host: HostPattern

    def match(self, ctx: MatchContext) -> bool:
        return self.host.match(ctx, CLIENT)


@record(frozen=True, slots=True)
class UserAt(Item):
    token: str
    user: StringMatcher
    host: HostPattern

    def match(self, ctx: MatchContext) -> bool:
        # The host part first: the ident query happens only if it matched.
        return self.host.match(ctx, CLIENT) and self.user.match(ctx.user())


def _daemon_only(token: str) -> Item:
    port = scan_uint(token)
    if port is not None and port <= 65535:
        return Port(token, port)
    return DaemonName(token, compile_string(token))


def compile_daemon_item(token: str) -> Item:
    cut = split_at(token[1:], "@")
    if cut is None:
        return _daemon_only(token)
    daemon_part = token[0] + cut[0]
    return DaemonAt(token, _daemon_only(daemon_part), compile_host(cut[1]))


def compile_client_item(token: str) -> Item:
    cut = split_at(token[1:], "@")
    if cut is None:
        return ClientHost(token, compile_host(token))
    user_part = token[0] + cut[0]
    return UserAt(token, compile_string(user_part), compile_host(cut[1]))


# --------------------------------------------------------------------------- lists

_SEPARATORS = re.compile(r"[, \t\r\n]+")


def split_list(text: str) -> list[str]:
    """strtok(list, ", \\t\\r\\n"): runs of separators vanish."""
    return [tok for tok in _SEPARATORS.split(text) if tok]


@record(frozen=True, slots=True)
class PatternList:
    """A daemon or client list with its EXCEPT structure (docs/rules.md#lists-and-except)."""

    items: tuple[Item | None, ...]  # None marks an EXCEPT token
    next_except: tuple[int, ...]  # for each index, the next EXCEPT index (or len)

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple("EXCEPT" if item is None else item.token for item in self.items)

    def match(self, ctx: MatchContext, start: int = 0) -> bool:
        items = self.items
        for i in range(start, len(items)):
            item = items[i]
            if item is None:
                return False
            if item.match(ctx):
                j = self.next_except[i]
                if j >= len(items):
                    return True
                # A match after EXCEPT undoes the match before it: its polarity flips.
                ctx.restrictive = not ctx.restrictive
                try:
                    return not self.match(ctx, j + 1)
                finally:
                    ctx.restrictive = not ctx.restrictive
        return False


def _build(tokens: list[str], compile_item: Callable[[str], Item]) -> PatternList:
    items: list[Item | None] = []
    excepts = False
    for tok in tokens:
        if len(tok) == 6 and fold(tok) == "except":
            items.append(None)
            excepts = True
        else:
            items.append(compile_item(tok))
    if not excepts:  # the common case, once per rule of a (maybe huge) table
        return PatternList(tuple(items), (len(items),) * len(items))
    next_except = [len(items)] * len(items)
    upcoming = len(items)
    for i in range(len(items) - 1, -1, -1):
        next_except[i] = upcoming
        if items[i] is None:
            upcoming = i
    return PatternList(tuple(items), tuple(next_except))


@lru_cache(maxsize=1024)
def compile_daemon_list(text: str) -> PatternList:
    # Cached: big tables repeat a few daemon lists ("ALL", "sshd") on every line, and the
    # compiled list is immutable, so rules may share it.
    return _build(split_list(text), compile_daemon_item)


def compile_client_list(text: str) -> PatternList:
    return _build(split_list(text), compile_client_item)
