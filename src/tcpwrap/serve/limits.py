"""Per-source limits that never switch a service off: token buckets and concurrency counts.

What it does: a client address counts as its "source" (proto.prefix.source_key: an IPv4 /32
and an IPv6 /64 by default; IPv4-mapped addresses count as IPv4). `Limits.admit()`
answers, for one new connection, whether it may proceed or which limit refuses it: the
source's token bucket (a steady `rate` per second with `burst` room), the source's
concurrency (connections being decided or served), the service's children, all children,
and the decisions waiting on lookups. A refusal hits only the source or the service that is
over its limit; nothing ever disables a listener (unlike inetd's `-R`, xinetd's `cps` or
systemd's TriggerLimit, where one flooding source takes the service away from everyone).

Hazards: the sources are attacker-chosen, so the state is bounded: at most `sources` buckets
are kept, the least recently used forgotten first (a forgotten source starts with a full
bucket, which only ever errs towards admitting). Pure: the caller passes the time.
Errors: none.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass

from tcpwrap.proto.prefix import source_key
from tcpwrap.serve.config import LimitConfig

# Accepting again after EMFILE/ENFILE (a listener, the hand-off socket): 50 ms, doubling to 1 s.
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 1.0


class Refusal(enum.Enum):
    """Why a connection was refused before the tables were asked (the log's reason)."""

    RATE = "per-source rate limit"
    PER_SOURCE = "per-source connection limit"
    PER_SERVICE = "per-service child limit"
    CHILDREN = "child limit"
    PENDING = "too many decisions waiting on lookups"
    BANNED = "banned"


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    active: int = 0  # connections of this source being decided or served


class Limits:
    """The counters behind `admit()`; `release()` every admitted connection exactly once."""

    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self._sources: OrderedDict[str, _Bucket] = OrderedDict()
        self.children = 0
        self.pending = 0
        self.service_children: dict[str, int] = {}

    def key(self, address: str) -> str:
        return source_key(address, self.config.prefix_v4, self.config.prefix_v6)

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._sources.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.config.burst), now)
            self._sources[key] = bucket
            if len(self._sources) > self.config.sources:
                self._forget()
        else:
            self._sources.move_to_end(key)
            elapsed = now - bucket.stamp
            if elapsed > 0:
                bucket.tokens = min(
                    float(self.config.burst), bucket.tokens + elapsed * self.config.rate
                )
                bucket.stamp = now
        return bucket

    def _forget(self) -> None:
        # the least recently seen source without connections in progress
        for key, bucket in self._sources.items():
            if bucket.active == 0:
                del self._sources[key]
                return

    def admit(self, source: str, now: float, *, service: str | None) -> Refusal | None:
        """Take a token and a slot for a new connection from `source`, or say why not."""
        bucket = self._bucket(source, now)
        if bucket.tokens < 1.0:
            return Refusal.RATE
        bucket.tokens -= 1.0
        if bucket.active >= self.config.per_source:
            return Refusal.PER_SOURCE
        if service is not None:
            if self.service_children.get(service, 0) >= self.config.per_service:
                return Refusal.PER_SERVICE
            if self.children >= self.config.children:
                return Refusal.CHILDREN
        bucket.active += 1
        return None

    def release(self, source: str) -> None:
        bucket = self._sources.get(source)
        if bucket is not None and bucket.active > 0:
            bucket.active -= 1

    def pending_full(self) -> bool:
        return self.pending >= self.config.pending

    def child_started(self, service: str) -> None:
        self.children += 1
        self.service_children[service] = self.service_children.get(service, 0) + 1

    def child_ended(self, service: str) -> None:
        self.children = max(0, self.children - 1)
        left = self.service_children.get(service, 0) - 1
        if left > 0:
            self.service_children[service] = left
        else:
            self.service_children.pop(service, None)

    def tracked(self) -> int:
        return len(self._sources)
