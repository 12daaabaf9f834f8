"""Times for people and for JSON: an Event's time in the zone its line was written in.

What it does: `iso(ts, off)` gives ISO-8601 with offset; `stamp(ts, off)` gives
"YYYY-MM-DD HH:MM:SS" for timelines. Pure; no errors beyond those of datetime on absurd input,
which callers never pass (times come from parsed, validated stamps).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_ZONES: dict[int, timezone] = {}


def _zone(off: int) -> timezone:
    z = _ZONES.get(off)
    if z is None:
        z = _ZONES[off] = timezone(timedelta(seconds=off))
    return z


def iso(ts: float, off: int) -> str:
    dt = datetime.fromtimestamp(ts, _zone(off))
    return dt.isoformat(timespec="seconds" if dt.microsecond == 0 else "milliseconds")


def stamp(ts: float, off: int) -> str:
    return datetime.fromtimestamp(ts, _zone(off)).strftime("%Y-%m-%d %H:%M:%S")
