"""Merge the Event streams of many sources into one timeline; drop cross-source duplicates.

What it does: `merge(streams, stats)` interleaves per-source streams by time. Ties keep the order
of the sources on the command line and the order of lines within a source (stable). An event is
a duplicate when another source already gave the same record of the same local host: same
second, local host, service, pid, kind and remote (the same log shipped twice, or a local file
plus a central copy). Repeats *within* one source are kept: the paper's logs have no pid, and two
identical lines in one file are two connections.

Hazards: each source is assumed to be in time order, as logs are; a source that is not still
merges without error: disorder within a buffer of events is mended, beyond that its
out-of-order lines come out late. Memory: one buffer per source; the source of each local host
(capped at _MAX_HOSTS: hosts beyond are never taken for duplicates); the duplicate filter keeps
the keys of the current second only. `merge_batches` gives the same as sorted lists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from operator import itemgetter

from tcpwrap.report.model import Event, Stats

_BATCH = 512  # events buffered per source
_MAX_HOSTS = 100_000  # local hosts whose source is remembered (past that: no duplicate check)

_Key = tuple[str, str, int, str, str]

# Sorting by time alone is sorting by (time, source, line): a source's events come in line
# order and a batch holds the sources' events in source order, and the sort is stable. Float
# keys compare much faster than tuples.
_TIME = itemgetter(0)


def _batches(streams: Sequence[Iterator[Event]],
             note: Callable[[list[Event], int], None] | None = None) -> Iterator[list[Event]]:
    """All events of all streams in (time, source, line) order, as sorted lists.

    Each source is read in buffers of _BATCH events (each buffer sorted, which also mends small
    disorder inside a source). Every round emits, sorted, all buffered events up to the
    smallest last event of the buffers whose source is not yet exhausted: nothing still unread
    can sort before that. Sorting and bisecting run in C, which is why this beats heapq.merge.
    `note(buffer, source)` sees every buffer as it is read.
    """
    iters = list(streams)
    bufs: list[list[Event]] = []
    done: list[bool] = []
    for i, it in enumerate(iters):
        buf = list(islice(it, _BATCH))
        buf.sort(key=_TIME)
        if note is not None:
            note(buf, i)
        bufs.append(buf)
        done.append(len(buf) < _BATCH)
    while True:
        live = [buf[-1] for buf, finished in zip(bufs, done, strict=True)
                if buf and not finished]
        batch: list[Event] = []
        if live:
            cutoff = min(live)
            for i, buf in enumerate(bufs):
                k = bisect_right(buf, cutoff)
                if k == len(buf):
                    batch.extend(buf)
                    bufs[i] = []
                elif k:
                    batch.extend(buf[:k])
                    bufs[i] = buf[k:]
        else:
            for buf in bufs:
                batch.extend(buf)
            if not batch:
                return
            bufs = [[] for _ in bufs]
        batch.sort(key=_TIME)
        yield batch
        for i, buf in enumerate(bufs):
            if not buf and not done[i]:
                fresh = list(islice(iters[i], _BATCH))
                fresh.sort(key=_TIME)
                if note is not None:
                    note(fresh, i)
                bufs[i] = fresh
                done[i] = len(fresh) < _BATCH


def merge(streams: Sequence[Iterator[Event]], stats: Stats) -> Iterator[Event]:
    """All events in time order, cross-source duplicates dropped (counted in `stats`)."""
    for batch in merge_batches(streams, stats):
        yield from batch


def merge_batches(streams: Sequence[Iterator[Event]], stats: Stats) -> Iterator[list[Event]]:
    """`merge` in sorted lists (a few thousand events each): the caller's loop runs over
    lists, with no generator step per event."""
    if not streams:
        return
    if len(streams) == 1:
        yield from _batches(streams)
        return
    # Only local hosts logged by more than one source can have duplicates: a host is marked
    # as soon as a buffer of a second source holds it (buffers are read ahead of the merge),
    # and as long as no host is, batches pass whole. Events of one second are contiguous in
    # the merged order: the keys of that second suffice. A key maps to the source that gave
    # it first, or, once repeated, to counts per source.
    source_of: dict[str, int] = {}  # local host -> the first source that logged it
    multi: set[str] = set()  # local hosts logged by more than one source

    def note(buf: list[Event], src: int) -> None:
        for host in {e[5] for e in buf}:
            first = source_of.get(host)
            if first is None:
                if len(source_of) < _MAX_HOSTS:
                    source_of[host] = src
            elif first != src:
                multi.add(host)

    seen: dict[_Key, int | dict[int, int]] = {}
    current = -1
    for batch in _batches(streams, note):
        if not multi:
            yield batch
            continue
        out: list[Event] = []
        keep = out.append
        for event in batch:
            if event[5] not in multi:
                keep(event)
                continue
            second = int(event[0])
            if second != current:
                current = second
                seen.clear()
            key = (event[5], event[6], event[7], event[8], event[9])
            if _count(seen, key, event[1]):
                keep(event)
            else:
                stats.duplicates += 1
        yield out


def _count(seen: dict[_Key, int | dict[int, int]], key: _Key, src: int) -> bool:
    """Count one record of `key` from `src`; True unless another source already gave it
    as many times."""
    first = seen.get(key)
    if first is None:
        seen[key] = src
        return True
    counts = seen[key] = {first: 1} if isinstance(first, int) else first
    mine = counts.get(src, 0) + 1
    counts[src] = mine
    return mine > max((n for s, n in counts.items() if s != src), default=0)
