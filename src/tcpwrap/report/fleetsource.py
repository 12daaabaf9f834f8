"""`tcpwrap report --redis URL`: the fleet's event stream as one more source of the report.

What it does: `fleet_lines(url, site)` reads the site's event stream from Redis (every entry,
oldest first, in pages) and yields the JSON record each trap hit carries (tcpwrap's own
connection-log line, with the node's name as its host), so the report's cross-host findings
(probes spread across hosts, bursts) work on what the whole fleet saw. The password comes
from `$TCPWRAP_REDIS_PASSWORD`, never from the command line.

Hazards: the stream is shared data: entries that are not this format's are counted as
problems and skipped (fleet.store.parse_event); a record is at most 4 KiB; at most `limit`
entries are read.
Errors: a Redis that cannot be reached is one problem text in `problems`; nothing is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from tcpwrap.fleet.settings import FleetConfig, shown_url

LIMIT = 10_000_000


def fleet_lines(url: str, site: str, problems: list[str], limit: int = LIMIT) -> Iterator[str]:
    """The hits' JSON lines of the fleet's stream (read at once, then yielded)."""
    lines: list[str] = []
    try:
        asyncio.run(_read(FleetConfig(redis=url, site=site), lines, problems, limit))
    except Exception as exc:  # the Redis client's errors, OSError: an unreachable source
        first = str(exc).splitlines()[0][:120] if str(exc) else ""
        problems.append(f"{shown_url(url)}: {type(exc).__name__}: {first}")
    yield from lines


async def _read(config: FleetConfig, lines: list[str], problems: list[str], limit: int) -> None:
    from tcpwrap.fleet.agent import connect
    from tcpwrap.fleet.store import FleetStore, parse_event

    client = connect(config)
    try:
        store = FleetStore(client, config)
        start = "-"
        skipped = 0
        while len(lines) < limit:
            page = await store.history(start)
            for entry_id, fields in page:
                event = parse_event(entry_id, fields)
                if isinstance(event, str):
                    skipped += 1
                elif event.kind == "hit" and event.record is not None:
                    lines.append(event.record)
            if len(page) < 2:
                break
            last = page[-1][0].decode("ascii", "replace")
            millis, _, sequence = last.partition("-")
            start = f"{millis}-{int(sequence or 0) + 1}"
        if skipped:
            problems.append(f"{config.shown_url()} site {config.site}: {skipped} malformed "
                            "events skipped")
    finally:
        await client.aclose()
