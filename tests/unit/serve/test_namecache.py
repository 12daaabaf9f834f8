"""serve.namecache: one lookup per address in flight, results kept for their lifetime."""

from __future__ import annotations

import asyncio

from tcpwrap.policy.facts import KnownName, NameLookup, ParanoidName, UnknownName
from tcpwrap.serve.namecache import NameCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_shared_in_flight_cached_then_expired() -> None:
    clock = Clock()
    calls: list[str] = []

    async def lookup(address: str, timeout: float | None) -> NameLookup:
        calls.append(address)
        await asyncio.sleep(0.01)
        return NameLookup(KnownName("h.example") if address == "192.0.2.1" else UnknownName())

    async def main() -> None:
        cache = NameCache(60, 10, 100, clock, lookup)
        results = await asyncio.gather(*(cache.lookup("192.0.2.1", 1.0) for _ in range(20)))
        assert all(r.name == KnownName("h.example") for r in results)
        assert calls == ["192.0.2.1"]
        await cache.lookup("192.0.2.2", 1.0)
        clock.now = 30.0
        await cache.lookup("192.0.2.1", 1.0)  # still fresh (60 s)
        await cache.lookup("192.0.2.2", 1.0)  # negative: 10 s, looked up again
        assert calls == ["192.0.2.1", "192.0.2.2", "192.0.2.2"]
        assert cache.hits == 20 and cache.misses == 3

    asyncio.run(main())


def test_bounded_and_warnings_kept() -> None:
    clock = Clock()

    async def lookup(address: str, timeout: float | None) -> NameLookup:
        return NameLookup(ParanoidName(), ("host name/address mismatch: x != y",))

    async def main() -> None:
        cache = NameCache(60, 10, 3, clock, lookup)
        for n in range(10):
            await cache.lookup(f"192.0.2.{n}", 1.0)
        assert len(cache) == 3
        again = await cache.lookup("192.0.2.9", 1.0)
        assert again.warnings == ("host name/address mismatch: x != y",)  # logged every time

    asyncio.run(main())


def test_cancelled_lookup_caches_nothing() -> None:
    clock = Clock()

    async def lookup(address: str, timeout: float | None) -> NameLookup:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    async def main() -> None:
        cache = NameCache(60, 10, 3, clock, lookup)
        task = asyncio.create_task(cache.lookup("192.0.2.1", 1.0))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert len(cache) == 0

    asyncio.run(main())
