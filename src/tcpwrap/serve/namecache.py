"""Host names for `tcpwrap serve`: double-reverse verification without blocking, cached.

What it does: `NameCache.lookup(address, timeout)` gives the `NameLookup` of
`drivers.async_lookup.verify_host_name` (the wrapper's exact algorithm and warnings), but a
result is reused for `ttl` seconds (a verified name) or `negative_ttl` seconds (unknown or
paranoid, including a lookup that timed out), and concurrent connections from one address
share a single lookup in flight. The resolver runs in the loop's executor, which the server
sizes for a dead DNS server (each stuck lookup holds a thread until glibc gives up; the
connection itself is decided at its timeout).

Hazards: names are attacker-controlled text; they are only stored and returned. The cache is
bounded (`size` entries, least recently used out first), so a scan from many addresses cannot
grow it. glibc does not tell record TTLs, so the lifetimes are ours (docs/serve.md).
Errors: none raised: a failing lookup is an `UnknownName`, as in the drivers.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from tcpwrap.policy.facts import KnownName, NameLookup

Lookup = Callable[[str, float | None], Awaitable[NameLookup]]


async def _verify(address: str, timeout: float | None) -> NameLookup:
    from tcpwrap.drivers.async_lookup import verify_host_name

    return await verify_host_name(address, timeout=timeout)


class NameCache:
    def __init__(
        self,
        ttl: float,
        negative_ttl: float,
        size: int,
        clock: Callable[[], float],
        lookup: Lookup = _verify,
    ) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.size = size
        self.clock = clock
        self._lookup = lookup
        self._entries: OrderedDict[str, tuple[float, NameLookup]] = OrderedDict()
        self._flight: dict[str, asyncio.Future[NameLookup]] = {}
        self.hits = 0
        self.misses = 0

    async def lookup(self, address: str, timeout: float | None) -> NameLookup:
        entry = self._entries.get(address)
        if entry is not None:
            expires, result = entry
            if expires > self.clock():
                self._entries.move_to_end(address)
                self.hits += 1
                return result
            del self._entries[address]
        flight = self._flight.get(address)
        if flight is not None:
            self.hits += 1
            return await asyncio.shield(flight)
        self.misses += 1
        future: asyncio.Future[NameLookup] = asyncio.get_running_loop().create_future()
        self._flight[address] = future
        try:
            result = await self._lookup(address, timeout)
        except BaseException as exc:
            # cancelled (the server stops) or a bug: waiters get the same, nothing is cached
            if not future.done():
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            raise
        finally:
            self._flight.pop(address, None)
        if not future.done():
            future.set_result(result)
        self._store(address, result)
        return result

    def _store(self, address: str, result: NameLookup) -> None:
        if self.size <= 0:
            return
        life = self.ttl if isinstance(result.name, KnownName) else self.negative_ttl
        if life <= 0:
            return
        self._entries[address] = (self.clock() + life, result)
        self._entries.move_to_end(address)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
