"""Addresses as sources and ban tokens: the prefix arithmetic limits, bans and the fleet share.

What it does: `source_key(address, v4, v6)` reduces a client address to its "source" (an IPv4
/32 and an IPv6 /64 by default; IPv4-mapped addresses count as IPv4; a scope is dropped).
`ban_token()` writes a source as a hosts_access(5) `/file` token (`192.0.2.7`,
`198.51.100.0/24`, `[2001:db8:1:2::]/64`), `token_key()` reads such a token back (None for
anything else: a name, a path, a comment, garbage), and `parse_networks()`/`overlaps()` are
the never-ban allow-list's arithmetic.

Hazards: every input here may come from the network or from a shared store: only numeric
addresses and canonical networks come out; a token is accepted only in the exact form
`ban_token` writes, so nothing else can reach a ban list. Pure: no I/O.
Errors: `parse_networks` raises ValueError naming the bad entry; the rest return None.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

TOKEN_LIMIT = 64  # no canonical token is longer ("[ffff:...:ffff]/128" is 46)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def source_key(address: str, v4: int = 32, v6: int = 64) -> str:
    """The source an address belongs to: `a.b.c.d` or its prefix, `net::/len` for IPv6."""
    if v4 >= 32 and ":" not in address and _DOTTED.match(address):
        return address  # the common case, every connection: no ipaddress objects
    return _source_key(address, v4, v6)


_DOTTED = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z"
)


@lru_cache(maxsize=4096)
def _source_key(address: str, v4: int, v6: int) -> str:
    text = address.partition("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address  # not numeric (unknown): its own source
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        if v4 >= 32:
            return str(ip)
        return f"{ipaddress.IPv4Network((ip, v4), strict=False).network_address}/{v4}"
    return f"{ipaddress.IPv6Network((ip, v6), strict=False).network_address}/{v6}"


def ban_token(address: str, v4: int, v6: int) -> str | None:
    """The ban-list token covering `address` at the given prefixes; None if not numeric."""
    key = source_key(address, v4, v6)
    net, slash, length = key.partition("/")
    try:
        ip = ipaddress.ip_address(net)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return f"[{ip}]/{length or 128}"
    return key if slash else str(ip)


def token_network(token: str) -> Network | None:
    """The network a canonical ban token stands for; None unless `token` is exactly in the
    form `ban_token` writes (so `010.1.1.1`, `1.2.3.4/33` or `[::1]` are refused)."""
    if not token or len(token) > TOKEN_LIMIT or not token.isascii():
        return None
    try:
        if token.startswith("["):
            inside, sep, length = token[1:].partition("]/")
            if not sep or not length.isdigit():
                return None
            network: Network = ipaddress.IPv6Network(f"{inside}/{length}", strict=False)
            canonical = f"[{network.network_address}]/{network.prefixlen}"
        elif "/" in token:
            network = ipaddress.IPv4Network(token, strict=False)
            canonical = f"{network.network_address}/{network.prefixlen}"
        else:
            network = ipaddress.IPv4Network(f"{token}/32")
            canonical = str(network.network_address)
    except ValueError:
        return None
    return network if canonical == token else None


def token_key(token: str) -> str | None:
    """A canonical ban-list token back to its `source_key` form; None if not such a token."""
    network = token_network(token)
    if network is None:
        return None
    if network.version == 4 and network.prefixlen == 32:
        return str(network.network_address)
    return f"{network.network_address}/{network.prefixlen}"


def parse_networks(items: list[str]) -> tuple[Network, ...]:
    """Addresses and networks (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`) -> networks."""
    out: list[Network] = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip("[]").replace("]/", "/"), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or a network") from None
    return tuple(out)


def overlaps(token: str, networks: tuple[Network, ...]) -> bool:
    """Does the ban `token` cover any address of `networks` (or they any of its)?"""
    network = token_network(token)
    if network is None:
        return False
    return any(network.version == other.version and network.overlaps(other) for other in networks)
