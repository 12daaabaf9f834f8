"""The asyncio twin of `lookup.verify_host_name`: double-reverse verification (docs/lookup.md).

What it does: `await verify_host_name(address, timeout=...)` does the reverse lookup
(`lookup.reverse_lookup` in the loop's executor, because getnameinfo would hold the GIL) and
the forward lookup (`loop.getaddrinfo`) under one `asyncio.timeout_at` deadline,
and hands the answers to the same pure functions as the blocking driver (`lookup.endpoint`,
`lookup.forward_name`, `lookup.conclude`), so both reach identical verdicts and warnings.

Hazards: the loop runs the C resolver in its default executor; a call that outlives the
timeout cannot be cancelled and keeps an executor thread busy until the resolver gives up
(glibc: about 10 s with the default resolv.conf). Timeouts conclude as in the blocking driver:
`unknown` during the reverse lookup, `paranoid` + `can't verify hostname` during the forward
lookup. Names are hostile text and only returned.

Errors: none raised for lookup failures (absence is a value); warnings come back as texts.
"""

from __future__ import annotations

import asyncio
import socket

from tcpwrap.drivers.config import DNS_TIMEOUT
from tcpwrap.drivers.lookup import (
    Forward,
    ParsedAddress,
    conclude,
    forward_from_addrinfo,
    forward_name,
    host_bytes,
    lookup_failed,
    parse_address,
    reverse_lookup,
)
from tcpwrap.policy.facts import NameLookup, UnknownName


async def _reverse(loop: asyncio.AbstractEventLoop, ep: ParsedAddress) -> str | None:
    # Not loop.getnameinfo(): CPython 3.11's getnameinfo keeps the GIL while glibc waits,
    # which would stall the whole event loop (see lookup.reverse_lookup).
    return await loop.run_in_executor(None, reverse_lookup, ep)


async def _forward(loop: asyncio.AbstractEventLoop, ep: ParsedAddress, name: str) -> Forward | None:
    try:
        infos = await loop.getaddrinfo(
            host_bytes(name),
            None,
            family=ep.family,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE | socket.AI_CANONNAME,
        )
    except Exception as exc:
        if lookup_failed(exc):
            return None
        raise
    return forward_from_addrinfo(ep, infos)


async def verify_host_name(address: str, *, timeout: float | None = DNS_TIMEOUT) -> NameLookup:
    """The verified name of numeric `address` (docs/lookup.md), within `timeout` seconds (None: no
    limit but the resolver's own)."""
    ep = parse_address(address)
    if ep is None:
        return NameLookup(UnknownName())
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            reverse = await _reverse(loop, ep)
    except TimeoutError:
        return NameLookup(UnknownName())
    name = forward_name(ep, reverse)
    forward: Forward | None = None
    if name is not None:
        try:
            async with asyncio.timeout_at(deadline):
                forward = await _forward(loop, ep, name)
        except TimeoutError:
            forward = None
    return conclude(ep, reverse, forward)
