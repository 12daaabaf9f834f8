"""Connections that exercise every pattern of some tables: the sample `tcpwrap diff` decides.

What it does: `sample(policies)` walks every rule of every given policy and makes, for each
pattern, requests on both sides of what it matches: the first and last address of a network or
prefix and the addresses just outside it, a name inside a `.domain` and the bare domain (which
`.domain` does not match), a wildcard's filled-in form and a near miss, an exact name and a
sub-name of it, the users of `user@host`; plus the host name states every rule can tell apart
(a known name with and without a dot for LOCAL, unknown, paranoid for PARANOID/KNOWN/UNKNOWN)
and a daemon that no rule names. EXCEPT branches are covered because the items on both sides of
an EXCEPT are walked. Requests are `Probe(daemon, addr, name, user)`, all facts given (a name is
`unknown`/`paranoid` for those states), as `tcpwrap match --batch` takes them.

Not exercised (said in docs/replay.md): `/file` lists (their content is I/O), `@netgroup`s,
`daemon@host` server patterns and port numbers (a sample has no server side).
Hazards: tables may be big: the sample is bounded by `limit` (the caller says it was cut).
Errors: none.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from tcpwrap._record import record
from tcpwrap.policy.facts import PARANOID, UNKNOWN
from tcpwrap.policy.patterns import (
    AddressOrName,
    AllWord,
    Bracket6,
    ClientHost,
    DaemonAt,
    DaemonName,
    Exact,
    Glob,
    HostPattern,
    Item,
    NetMask,
    Prefix,
    StringMatcher,
    Suffix,
    UserAt,
)
from tcpwrap.policy.rules import Policy

BASE_ADDR = "192.0.2.1"  # TEST-NET-1: the address paired with sampled names
BASE_NAME = "host.sample.invalid"
LOCAL_NAME = "sample"  # a known name without a dot (LOCAL)
OTHER_DAEMON = "sample-daemon"  # named by no rule
OTHER_USER = "sample-user"
SAMPLE_LIMIT = 200_000


@record(frozen=True, slots=True)
class Probe:
    daemon: str
    addr: str
    name: str
    user: str


def _v4(value: int) -> str | None:
    return str(ipaddress.IPv4Address(value)) if 0 <= value < 2**32 else None


def _v6(value: int) -> str | None:
    return str(ipaddress.IPv6Address(value)) if 0 <= value < 2**128 else None


def _network_edges(pattern: NetMask) -> list[str]:
    out: list[str | None] = []
    if pattern.v4 is not None:
        net, mask = pattern.v4
        last = net | (~mask & 0xFFFFFFFF)
        out += [_v4(net), _v4(last), _v4(net - 1), _v4(last + 1)]
    if pattern.v6 is not None:
        net6, length = pattern.v6
        span = (1 << (128 - length)) - 1
        first = net6 & ~span
        out += [_v6(first), _v6(first | span), _v6(first - 1), _v6((first | span) + 1)]
    return [a for a in out if a is not None]


def _prefix_edges(token: str) -> list[str]:
    parts = token.rstrip(".").split(".")
    if not all(p.isdigit() and int(p) < 256 for p in parts) or len(parts) > 3:
        return []
    pad = 4 - len(parts)
    low = ".".join(parts + ["0"] * pad)
    high = ".".join(parts + ["255"] * pad)
    value_low = int(ipaddress.IPv4Address(low))
    value_high = int(ipaddress.IPv4Address(high))
    return [a for a in (low, high, _v4(value_low - 1), _v4(value_high + 1)) if a is not None]


def _filled(token: str, fill: str) -> str:
    return token.replace("*", fill).replace("?", fill[:1])


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _neighbours(address: str) -> list[str]:
    value = ipaddress.ip_address(address)
    to_text = _v4 if value.version == 4 else _v6
    return [a for a in (address, to_text(int(value) - 1), to_text(int(value) + 1)) if a]


def _string_samples(matcher: StringMatcher, token: str) -> tuple[list[str], list[str]]:
    """(addresses, names) on both sides of one string token."""
    if isinstance(matcher, Exact):
        if _is_address(token):
            return _neighbours(token), []
        return [], [token, f"x.{token}", f"{token}x"]
    if isinstance(matcher, Suffix):
        bare = token[1:]
        return [], [f"h{token}", bare, f"h{bare}"] if bare else [f"h{token}"]
    if isinstance(matcher, Prefix):
        edges = _prefix_edges(token)
        return (edges, []) if edges else ([], [f"{token}x", f"x{token}"])
    if isinstance(matcher, Bracket6):
        return (_neighbours(token[1:-1]) if _is_address(token[1:-1]) else []), []
    if isinstance(matcher, Glob):
        candidates = [_filled(token, "1"), _filled(token, "x"), _filled(token, "1x1"), "x" + token]
        addresses = [c for c in candidates if _is_address(c)]
        names = [c for c in candidates if not _is_address(c) and "*" not in c and "?" not in c]
        return addresses, names
    return [], []


def _host_samples(pattern: HostPattern) -> tuple[list[str], list[str]]:
    if isinstance(pattern, NetMask):
        return _network_edges(pattern), []
    if isinstance(pattern, AddressOrName):
        return _string_samples(pattern.matcher, pattern.token)
    return [], []  # KNOWN, LOCAL (name states below), /file, @netgroup


def _user_samples(matcher: StringMatcher, token: str) -> list[str]:
    if isinstance(matcher, AllWord):
        return []
    if isinstance(matcher, Glob):
        return [_filled(token, "x")]
    return [token]


def _daemon_samples(item: Item) -> list[str]:
    if isinstance(item, DaemonAt):
        return _daemon_samples(item.daemon)
    if isinstance(item, DaemonName):
        matcher = item.matcher
        if isinstance(matcher, Glob):
            return [_filled(item.token, "x"), "x" + item.token]
        if isinstance(matcher, Suffix | Prefix | Exact):
            return [item.token, f"{item.token}x"]
    return []


def _add(seen: dict[str, None], values: Iterable[str]) -> None:
    for value in values:
        if len(value) <= 255:
            seen.setdefault(value, None)


def sample(policies: Iterable[Policy], limit: int = SAMPLE_LIMIT) -> tuple[list[Probe], bool]:
    """The probes for every pattern of `policies`, and whether `limit` cut them short."""
    daemons: dict[str, None] = {OTHER_DAEMON: None}
    addresses: dict[str, None] = {BASE_ADDR: None}
    names: dict[str, None] = {BASE_NAME: None, LOCAL_NAME: None}
    users: dict[str, None] = {UNKNOWN: None}
    for policy in policies:
        for table in (policy.allow, policy.deny):
            for rule in table.rules:
                for d in rule.daemons.items:
                    if d is not None:
                        _add(daemons, _daemon_samples(d))
                for c in rule.clients.items:
                    host: HostPattern | None = None
                    if isinstance(c, ClientHost):
                        host = c.host
                    elif isinstance(c, UserAt):
                        host = c.host
                        _add(users, (OTHER_USER, *_user_samples(c.user, c.token.split("@", 1)[0])))
                    if host is not None:
                        found_addresses, found_names = _host_samples(host)
                        _add(addresses, found_addresses)
                        _add(names, found_names)
    # Each address with no name, a failed verification and a known name; each name with the
    # base address. Users are crossed with the base address's clients only, and with every
    # client as "unknown" (no ident answer).
    clients: list[tuple[str, str]] = []
    for addr in addresses:
        clients += [(addr, UNKNOWN), (addr, PARANOID), (addr, BASE_NAME)]
    clients += [(BASE_ADDR, name) for name in names if name != BASE_NAME]
    probes: list[Probe] = []
    for daemon in daemons:
        for addr, name in clients:
            probes.append(Probe(daemon, addr, name, UNKNOWN))
            if len(probes) >= limit:
                return probes, True
        for user in users:
            if user == UNKNOWN:
                continue
            for name in names:
                probes.append(Probe(daemon, BASE_ADDR, name, user))
            for addr in addresses:
                probes.append(Probe(daemon, addr, UNKNOWN, user))
            if len(probes) >= limit:
                return probes[:limit], True
    return probes, False
