"""Merge the Event streams of many sources into one timeline; drop cross-source duplicates.

What it does: `merge(streams, stats)` interleaves per-source streams by time. Ties keep the order
of the sources on the command line and the order of lines within a source (stable). An event is
a duplicate when another source already gave the same record of the same local host: same
second, local host, service, pid, kind and remote (the same log shipped twice, or a local file
plus a central copy). Repeats *within* one source are kept: the paper's logs have no pid, and two
identical lines in one file are two connections.

Hazards: each source is assumed to be in time order, as logs are; a source that is not still
merges without error, only its out-of-order lines come out late. Memory: the duplicate filter
keeps the keys of the last few seconds only.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator, Sequence
from operator import itemgetter

from tcpwrap.report.model import Event, Stats

_WINDOW = 3  # seconds of keys kept for duplicate detection

_Key = tuple[int, str, str, int, str, str]


def merge(streams: Sequence[Iterator[Event]], stats: Stats) -> Iterator[Event]:
    if not streams:
        return
    if len(streams) == 1:
        yield from streams[0]
        return
    seen: dict[_Key, dict[int, int]] = {}
    order: deque[tuple[int, _Key]] = deque()
    for event in heapq.merge(*streams, key=itemgetter(0)):
        second = int(event[0])
        while order and order[0][0] < second - _WINDOW:
            seen.pop(order.popleft()[1], None)
        key = (second, event[3], event[4], event[5], event[6], event[7])
        counts = seen.get(key)
        if counts is None:
            seen[key] = {event[11]: 1}
            order.append((second, key))
            yield event
            continue
        src = event[11]
        mine = counts.get(src, 0) + 1
        counts[src] = mine
        if mine > max((n for s, n in counts.items() if s != src), default=0):
            yield event
        else:
            stats.duplicates += 1
