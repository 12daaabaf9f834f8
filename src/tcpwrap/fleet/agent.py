"""The fleet agent: one node's link to the site's bans in Redis, as a background task.

What it does: `FleetAgent.run()` keeps, for as long as it runs, this node and Redis in step:
- it publishes what the node decides (`publish_hit`: a trap hit, with the node's JSON record;
  `publish_ban`: a ban) through `FleetStore`, from a bounded queue, so no decision ever waits
  on Redis; when Redis decides a ban (the policy, or a repeat offender's longer one) the
  node applies the expiry Redis gives, the same on every node;
- it subscribes: on every (re)connection it takes the whole set of bans in force (a node
  that joins late, or comes back after an outage, starts from the current bans), then
  follows the event stream (XREAD, blocking one second at a time) and applies each ban and
  unban at once to the node's `Bans` (the decisions of `tcpwrap serve`) and to the local
  ban-list file, so the real tcpd and libwrap-linked daemons honour them too;
- Redis down or unreachable: the node keeps its last bans in force (they expire on their
  own), keeps serving and trapping, queues up to `queue` publications (the oldest dropped,
  counted and logged), and reconnects with backoff (0.5 s doubling to 30 s, with jitter);
  back, it publishes the queue and catches up from the set of bans.
`tcpwrap fleet sync` runs the same agent without a server.

Hazards: everything read from Redis is data: a malformed or oversized entry, a token that is
not a canonical address or network, or a ban on the never-ban allow-list changes nothing but
a log line (`fleet: skipped ...`, the value escaped and cut). Credentials never reach a
record (`FleetConfig.shown_url()`).
Errors: Redis and network errors are an outage (logged once per outage), never raised; only
the programmer's errors escape `run()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tcpwrap.fleet.banlist import Bans
from tcpwrap.fleet.settings import FleetConfig
from tcpwrap.fleet.store import Event, FleetStore, parse_ban, parse_event
from tcpwrap.proto.prefix import overlaps

BLOCK_MS = 1000
SYNC_CHUNK = 2000  # bans applied between two turns of the loop during a sync
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class _Hit:
    token: str
    record: str


@dataclass(frozen=True, slots=True)
class _Ban:
    token: str
    seconds: float
    reason: str


def connect(config: FleetConfig) -> Any:
    """A redis.asyncio client for the configured URL (no connection is made yet)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis.from_url(
        config.redis, protocol=2, retry=Retry(NoBackoff(), 0), **config.client_options()
    )


class FleetAgent:
    def __init__(
        self,
        config: FleetConfig,
        bans: Bans,
        ban_list: str,
        *,
        notice: Say,
        error: Say,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.bans = bans
        self.ban_list = ban_list
        self.notice = notice
        self.error = error
        self.changed = changed
        self.queue: deque[_Hit | _Ban] = deque()  # hits (the log, the policy)
        self.urgent: deque[_Hit | _Ban] = deque()  # bans: published before any waiting hit
        self.dropped = 0
        self.connected = False
        self.last_id = "0-0"
        self.synced = asyncio.Event()  # set after each full sync (tests, `fleet sync --once`)
        self._wake = asyncio.Event()
        self.applied = 0
        self.skipped = 0

    # ------------------------------------------------------------------ publishing

    def _enqueue(self, item: _Hit | _Ban) -> None:
        queue = self.urgent if isinstance(item, _Ban) else self.queue
        if len(self.queue) + len(self.urgent) >= self.config.queue:
            (self.queue or self.urgent).popleft()  # a hit goes before a ban does
            self.dropped += 1
            if self.dropped in (1, 10, 100) or not self.dropped % 1000:
                self.error(f"fleet: Redis away, {self.dropped} publications dropped so far")
        queue.append(item)
        self._wake.set()

    def publish_hit(self, token: str, record: str) -> None:
        if not overlaps(token, self.bans.never):
            self._enqueue(_Hit(token, record))

    def publish_ban(self, token: str, seconds: float, reason: str) -> None:
        if not overlaps(token, self.bans.never):
            self._enqueue(_Ban(token, seconds, reason))

    async def _flush(self, store: FleetStore) -> None:
        while self.urgent or self.queue:
            queue = self.urgent or self.queue
            item = queue[0]
            if isinstance(item, _Hit):
                expiry = await store.hit(item.token, self.config.node, item.record)
            else:
                expiry = await store.ban(item.token, item.seconds, self.config.node, item.reason)
            queue.popleft()
            if expiry is not None:
                self.apply(item.token, expiry, "redis")

    # ------------------------------------------------------------------ applying

    def apply(self, token: str, expiry: float, origin: str) -> None:
        """Apply a ban from the fleet here: memory and the local ban list."""
        if overlaps(token, self.bans.never):
            self.skipped += 1
            self.error(f"fleet: skipped a ban of {token} from {origin}: on the never-ban list")
            return
        ban = self.bans.apply(token, expiry, self.ban_list, time.time())
        if ban is not None and ban.new:
            self.applied += 1
            self.notice(f"fleet: banned {token} until {_clock(ban.expires)} ({origin})")
        if ban is not None:
            self.changed()

    def lift(self, token: str, origin: str) -> None:
        if self.bans.lift(token):
            self.notice(f"fleet: ban of {token} lifted ({origin})")
            self.changed()

    def _event(self, event: Event) -> None:
        if event.kind == "ban" and event.expires is not None:
            self.apply(event.token, event.expires, f"{event.node}: {event.reason}")
        elif event.kind == "unban":
            self.lift(event.token, event.node)

    def _skip(self, problem: str) -> None:
        self.skipped += 1
        self.error(f"fleet: skipped {problem}")

    async def _sync(self, store: FleetStore) -> None:
        """Take every ban in force (a late joiner, or after an outage), then follow from the
        stream's current end. Bans lifted while we were away are lifted here too."""
        mark = await store.last_id()
        now = time.time()
        found: list[tuple[str, float]] = []
        for member, score in await store.bans(now, self.bans.max_entries):
            parsed = parse_ban(member, score)
            if isinstance(parsed, str):
                self._skip(parsed)
            elif overlaps(parsed[0], self.bans.never):
                self._skip(f"a ban of {parsed[0]} from redis: on the never-ban list")
            else:
                found.append(parsed)
        # one write per file per chunk (a fleet may hold 100,000 bans), and the loop serves
        # between chunks: a late joiner's sync never stalls its connections
        new = 0
        for start in range(0, len(found), SYNC_CHUNK):
            chunk = found[start : start + SYNC_CHUNK]
            results = self.bans.apply_many(chunk, self.ban_list, time.time())
            new += sum(1 for ban in results if ban is not None and ban.new)
            await asyncio.sleep(0)
        self.applied += new
        seen = {token for token, _ in found}
        ban_file = self.bans.file(self.ban_list, now)
        lifted = self.bans.lift_many([t for t in ban_file.expiries if t not in seen])
        if new or lifted:
            self.notice(
                f"fleet: took {len(found)} bans in force from redis ({new} new here, "
                f"{len(lifted)} lifted meanwhile)"
            )
            self.changed()
        self.last_id = mark
        self.synced.set()

    # ------------------------------------------------------------------ the loop

    async def run(self, *, once: bool = False) -> None:
        """Until cancelled (or, with `once`, one full sync): see the module docstring."""
        backoff = 0.0
        away_since: float | None = None
        while True:
            client = connect(self.config)
            try:
                store = FleetStore(client, self.config)
                await self._flush(store)
                await self._sync(store)
                if away_since is not None:
                    self.notice(
                        f"fleet: {self.config.shown_url()} back after "
                        f"{time.monotonic() - away_since:.0f} s"
                    )
                elif not self.connected:
                    self.notice(
                        f"fleet: connected to {self.config.shown_url()}, site "
                        f"{self.config.site}, node {self.config.node}"
                    )
                self.connected, away_since, backoff = True, None, 0.0
                if once:
                    return
                await _first_failure(self._publish(store), self._follow(store))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected or away_since is None:
                    self.error(
                        f"fleet: {self.config.shown_url()}: {_why(exc)}; keeping the last "
                        f"{len(self.bans.active)} bans, retrying"
                    )
                    away_since = time.monotonic()
                self.connected = False
                if once:
                    raise
            finally:
                await _close(client)
            backoff = min(BACKOFF_MAX, backoff * 2 or BACKOFF_FIRST)
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter

    async def _publish(self, store: FleetStore) -> None:
        """Publish at once what the node decides (its own connection: never behind a read)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush(store)

    async def _follow(self, store: FleetStore) -> None:
        while True:
            entries = await store.tail(self.last_id, BLOCK_MS)
            for entry_id, fields in entries:
                event = parse_event(entry_id, fields)
                if isinstance(event, str):
                    self._skip(event)
                else:
                    self._event(event)
                if isinstance(entry_id, bytes):
                    self.last_id = entry_id.decode("ascii", "replace")


def _clock(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _why(exc: BaseException) -> str:
    # never the URL or a credential: only the kind of failure and its short text
    text = str(exc).split("\n", 1)[0][:120]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):  # a dead connection may fail to close: no matter
        await client.aclose()


async def _first_failure(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run the loops together; the first to fail stops the others and its error is raised."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
