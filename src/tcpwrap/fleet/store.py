"""The fleet's data in Redis: bans in a sorted set scored by expiry, events on a stream, and
the ban policy as atomic scripts.

What it does: `FleetStore` wraps a `redis.asyncio.Redis` client for one site:
- `ban(token, seconds, node, reason)`: the BAN script: counts the source's offence, makes its
  ban last `seconds * growth^(earlier offences)` (at most `ban_max`), `ZADD GT` into the bans
  (a longer ban is never shortened), and appends a `ban` event; returns the expiry in force.
  Expiry needs no sweeper: readers take only the scores after now (`ZRANGEBYSCORE`), and
  expired members are dropped by the same reads (`ZREMRANGEBYSCORE`).
- `hit(token, node, record)`: the HIT script: appends the hit (the node's JSON record) to the
  site's log stream, which `tcpwrap report --redis` reads and the nodes do not follow; when
  the policy is on (`ban_after > 0`) it counts the source's hits and nodes within `window`
  and bans it (as BAN) once both thresholds are met. One script per call, so two nodes can
  never both decide, or both miss, a ban.
- `unban(token, node)`, `bans()` (all bans in force), `tail(after, block)` (ban-stream
  entries after an id, waiting up to `block` ms: how nodes learn within a second), `last_id()`.
`parse_ban()`/`parse_event()` turn what Redis holds back into values, refusing anything that
is not exactly what this module writes.

Hazards: Redis is shared: everything read from it is hostile data, never a command: tokens
must be canonical (proto.prefix), expiries finite and plausible, names short and printable,
records bounded; anything else is returned as a problem text for the caller to log, and
skipped. Scripts take their keys as KEYS (cluster-safe) and use Redis' own clock, so every
node gets the same expiry.
Errors: Redis errors (`redis.exceptions.RedisError`, OSError) propagate to the agent, which
treats them as an outage.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from tcpwrap.fleet.settings import NAME_PATTERN, FleetConfig, SiteKeys
from tcpwrap.proto.prefix import token_key

RECORD_LIMIT = 4096  # bytes of a hit's JSON record
REASON_LIMIT = 200
PAGE = 5000  # log entries read at a time
_NAME = re.compile(NAME_PATTERN)
_PRINTABLE = re.compile(r"[\x20-\x7e]{0,200}")
_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")

# The one ban both scripts make: count the source's offence, make the ban last
# seconds * growth^(earlier offences) (at least `seconds`, at most `max`), never shorten a
# longer ban (ZADD GT), and tell the nodes (an event). Returns the expiry in force.
_BAN_FUNCTION = """
local function ban(bans, events, offences, token, seconds, growth, max, memory, node,
                   reason, maxlen, now)
  local n = redis.call('INCR', offences)
  redis.call('EXPIRE', offences, math.floor(memory))
  local duration = seconds * (growth ^ (n - 1))
  if duration > max then duration = max end
  if duration < seconds then duration = seconds end
  redis.call('ZADD', bans, 'GT', now + duration, token)
  local expiry = redis.call('ZSCORE', bans, token)
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'kind', 'ban', 'token', token,
    'expires', expiry, 'node', node, 'reason', reason, 'time', tostring(now))
  return expiry
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: bans, events, offences; ARGV: token, seconds, growth, max, memory, node, reason, maxlen
_BAN = (
    _BAN_FUNCTION
    + """
return ban(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], now)
"""
)

# KEYS: log, hits, bans, offences, events; ARGV: token, node, record, maxlen, ban_after,
# from_hosts, window, seconds, growth, max, memory
_HIT = (
    _BAN_FUNCTION
    + """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'hit',
  'token', ARGV[1], 'node', ARGV[2], 'record', ARGV[3], 'time', tostring(now))
local after = tonumber(ARGV[5])
if after <= 0 then return '' end
local window = tonumber(ARGV[7])
redis.call('ZADD', KEYS[2], now, ARGV[2] .. ' ' .. id)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
redis.call('EXPIRE', KEYS[2], math.ceil(window) + 1)
local members = redis.call('ZRANGE', KEYS[2], 0, -1)
local nodes, distinct = {}, 0
for _, member in ipairs(members) do
  local node = string.match(member, '^(%S+) ')
  if node and not nodes[node] then nodes[node] = true; distinct = distinct + 1 end
end
if #members < after or distinct < tonumber(ARGV[6]) then return '' end
local current = redis.call('ZSCORE', KEYS[3], ARGV[1])
if current and tonumber(current) > now then return current end
local reason = 'fleet policy: ' .. #members .. ' hits from ' .. distinct .. ' hosts in ' ..
  ARGV[7] .. ' s'
return ban(KEYS[3], KEYS[5], KEYS[4], ARGV[1], tonumber(ARGV[8]), tonumber(ARGV[9]),
  tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[2], reason, ARGV[4], now)
"""
)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the fleet's stream."""

    id: str
    kind: str  # "hit" | "ban" | "unban"
    token: str
    node: str
    time: float
    expires: float | None = None  # bans
    reason: str = ""  # bans
    record: str | None = None  # hits: the node's JSON record


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, bytes):
        if len(value) > limit:
            return None
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return None
    return None


def _number(value: Any) -> float | None:
    text = _text(value, 40)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def shown(value: object) -> str:
    """A hostile value for a log line: escaped and short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_ban(member: Any, score: Any) -> tuple[str, float] | str:
    """(token, expiry) from a member of the bans set, or the problem as text."""
    token = _text(member, 64)
    if token is None or token_key(token) is None:
        return f"not a ban token: {shown(member)}"
    try:
        expiry = float(score)
    except (TypeError, ValueError):
        return f"bad expiry for {token}: {shown(score)}"
    if not math.isfinite(expiry):
        return f"bad expiry for {token}: {shown(score)}"
    return token, expiry


def parse_event(entry_id: Any, fields: Any) -> Event | str:
    """An Event from a stream entry, or the problem as text."""
    ident = _text(entry_id, 64) or ""
    if not _STREAM_ID.fullmatch(ident):
        ident = shown(entry_id)
    if not isinstance(fields, dict) or len(fields) > 16:
        return f"event {ident}: not a field map"
    kind = _text(fields.get(b"kind"), 10)
    token = _text(fields.get(b"token"), 64)
    node = _text(fields.get(b"node"), 64)
    when = _number(fields.get(b"time"))
    if kind not in ("hit", "ban", "unban"):
        return f"event {ident}: unknown kind {shown(fields.get(b'kind'))}"
    if token is None or token_key(token) is None:
        return f"event {ident}: not a ban token: {shown(fields.get(b'token'))}"
    if node is None or not _NAME.fullmatch(node):
        return f"event {ident}: bad node name {shown(fields.get(b'node'))}"
    if when is None:
        return f"event {ident}: bad time {shown(fields.get(b'time'))}"
    if kind == "ban":
        expires = _number(fields.get(b"expires"))
        reason = _text(fields.get(b"reason"), REASON_LIMIT * 2) or ""
        if expires is None:
            return f"event {ident}: bad expiry {shown(fields.get(b'expires'))}"
        if not _PRINTABLE.fullmatch(reason):
            reason = shown(reason)
        return Event(ident, kind, token, node, when, expires, reason[:REASON_LIMIT])
    if kind == "hit":
        raw = fields.get(b"record")
        record = None
        if isinstance(raw, bytes) and len(raw) <= RECORD_LIMIT:
            record = raw.decode("utf-8", "replace")
        return Event(ident, kind, token, node, when, record=record)
    return Event(ident, kind, token, node, when)


class FleetStore:
    def __init__(self, client: Any, config: FleetConfig) -> None:
        self.client = client
        self.config = config
        self.keys: SiteKeys = config.keys()
        self._ban = client.register_script(_BAN)
        self._hit = client.register_script(_HIT)

    async def ban(
        self, token: str, seconds: float, node: str, reason: str, *, growth: float | None = None
    ) -> float:
        """Ban `token` for `seconds` (times `growth` per earlier offence; growth 1: exactly
        `seconds`, as a manual ban); the expiry in force."""
        config = self.config
        keys = self.keys
        expiry = await self._ban(
            keys=[keys.bans, keys.events, keys.offences(token)],
            args=[
                token, seconds, config.growth if growth is None else growth,
                config.ban_max if growth is None else max(seconds, config.ban_max), config.memory,
                node, reason[:REASON_LIMIT], config.stream_max,
            ],
        )  # fmt: skip
        return float(expiry)

    async def hit(self, token: str, node: str, record: str) -> float | None:
        config = self.config
        keys = self.keys
        expiry = await self._hit(
            keys=[keys.log, keys.hits(token), keys.bans, keys.offences(token), keys.events],
            args=[
                token, node, record[:RECORD_LIMIT], config.stream_max, config.ban_after,
                config.from_hosts, config.window, config.ban_seconds, config.growth,
                config.ban_max, config.memory,
            ],
        )  # fmt: skip
        return float(expiry) if expiry not in (b"", "", None) else None

    async def unban(self, token: str, node: str, now: float) -> bool:
        keys = self.keys
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.bans, token)
            pipe.xadd(
                keys.events,
                {"kind": "unban", "token": token, "node": node, "time": repr(now)},
                maxlen=self.config.stream_max,
                approximate=True,
            )
            removed, _ = await pipe.execute()
        return bool(removed)

    async def bans(self, now: float, limit: int) -> list[tuple[Any, Any]]:
        """Every (member, score) in force, at most `limit` (expired ones are dropped from
        Redis on the way). One read, not pages by offset: another node removing expired
        members between two pages would shift the offsets and make this one skip bans."""
        await self.client.zremrangebyscore(self.keys.bans, "-inf", now)
        page = await self.client.zrangebyscore(
            self.keys.bans, now, "+inf", start=0, num=limit, withscores=True
        )
        return list(page)

    async def last_id(self) -> str:
        entries = await self.client.xrevrange(self.keys.events, count=1)
        if not entries:
            return "0-0"
        return _text(entries[0][0], 64) or "0-0"

    async def tail(self, after: str, block: int, count: int = 1000) -> list[tuple[Any, Any]]:
        """Stream entries after `after`, waiting up to `block` milliseconds for the first."""
        reply = await self.client.xread({self.keys.events: after}, count=count, block=block)
        if not reply:
            return []
        _stream, entries = reply[0]
        return list(entries)

    async def history(self, start: str = "-", count: int = PAGE) -> list[tuple[Any, Any]]:
        """The merged log: trap hits of every node, oldest first, from `start` on."""
        return list(await self.client.xrange(self.keys.log, min=start, count=count))
