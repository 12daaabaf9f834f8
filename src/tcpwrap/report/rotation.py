"""Rotated log sets and the year of classic syslog lines (which print none).

What it does: `rotation_order(paths)` puts the members of each rotated set (`messages`,
`messages.1`, `messages.2.gz`, `messages-20260301`, ...) oldest first, sets in the order
given. `first_years(paths, mtimes, zones)` gives each file the year of its first classic line:
the *last* line of a file was written no later than the file was last modified (its mtime)
and, within a rotated set, no later than the first line of the next newer file; the number of
year ends the file crosses (a month going back, Dec → Jan) comes from a scan of its stamps
(`month_samples`), so the first line's year is the last line's minus that. Copying a set
(equal mtimes) or a file modified long after its last line therefore still comes out right.

Hazards: the scan reads each file once more before parsing: all of a file up to `_FULL` bytes,
then one stamp per `_STEP` bytes (seeks; gzip files are decompressed, keeping one stamp per
chunk). A log crossing seven months or more within one `_STEP` of a larger file can be
mis-dated; a file with no classic stamp gets None (the parser falls back to the mtime rule).
I/O errors give None, never an exception (the real open reports them).
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import BinaryIO

from tcpwrap.report.sources import MONTHS, YearInference, Zone

_FULL = 1 << 20  # files up to this size are scanned line by line
_STEP = 1 << 16  # beyond: one stamp per this many bytes
_CHUNK = 1 << 18
_STAMP = re.compile(rb"(?m)^([A-Z][a-z][a-z]) {1,2}(\d{1,2}) [0-2]\d:[0-5]\d:[0-6]\d ")
_ROTATED = re.compile(r"(.+?)(?:\.(\d{1,4})|-(\d{8}))?(?:\.gz)?")

MonthDay = tuple[int, int]


def rotation_key(path: str) -> tuple[str, int]:
    """(set, age) of a log file: `messages.2.gz` → (`messages`, 2), `messages` → age 0;
    dated names (`messages-20260301`) are older than numbered ones, older dates older."""
    head, name = os.path.split(path)
    m = _ROTATED.fullmatch(name)
    if m is None:  # pragma: no cover - the pattern matches any non-empty name
        return path, 0
    base, num, day = m.groups()
    if num is not None:
        return os.path.join(head, base), int(num)
    if day is not None:
        return os.path.join(head, base), 100_000_000 - int(day)  # older date: larger age
    return os.path.join(head, base), 0


def rotation_order(paths: Sequence[str]) -> list[str]:
    """Members of each rotated set oldest first; sets (and "-") in the order given."""
    sets: dict[str, list[str]] = {}
    for p in paths:
        key = p if p == "-" else rotation_key(p)[0]
        sets.setdefault(key, []).append(p)
    out: list[str] = []
    for members in sets.values():
        out.extend(sorted(members, key=lambda p: -rotation_key(p)[1]) if len(members) > 1
                   else members)
    return out


def _stamps(data: bytes) -> list[MonthDay]:
    out = []
    for mon, day in _STAMP.findall(data):
        month = MONTHS.get(mon.decode())
        if month is not None:
            out.append((month, int(day)))
    return out


def _first_last(data: bytes) -> list[MonthDay]:
    """The first and the last stamp of a chunk."""
    first = _stamps(data[:4096])[:1]
    last = _stamps(data[-4096:])[-1:] if len(data) > 4096 else []
    return first + last


def month_samples(path: str) -> list[MonthDay] | None:
    """(month, day) of the classic stamps of `path`, in file order: all of them for small
    files, samples for big ones (always the first and the last)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(2)
            f.seek(0)
            if magic == b"\x1f\x8b":
                return _gzip_samples(f)
            size = os.fstat(f.fileno()).st_size
            if size <= _FULL:
                return _stamps(f.read())
            out: list[MonthDay] = []
            for pos in range(0, size, _STEP):
                f.seek(pos)
                out.extend(_stamps(f.read(4096))[:1])
            f.seek(max(0, size - 4096))
            out.extend(_stamps(f.read())[-1:])
            return out
    except (OSError, EOFError, zlib.error):
        return None


def _gzip_samples(raw: BinaryIO) -> list[MonthDay] | None:
    out: list[MonthDay] = []
    total = 0
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as g:
            small = b""
            while True:
                chunk = g.read1(_CHUNK)
                if not chunk:
                    break
                total += len(chunk)
                if total <= _FULL:
                    small += chunk
                    continue
                if small:
                    out.extend(_stamps(small))
                    small = b""
                out.extend(_first_last(chunk))
            out.extend(_stamps(small))
    except (OSError, EOFError, zlib.error):
        pass  # a truncated file: what was read still counts
    return out


def year_ends(samples: Sequence[MonthDay]) -> int:
    """How many year ends the month sequence crosses (by the parser's own rule)."""
    years = YearInference(datetime(2000, 1, 1), 0)
    last = 0
    for month, _ in samples:
        last = years.year_for(month)
    return last


def last_year(last: MonthDay, ref: date) -> int:
    """The year of a last line dated `last` written no later than `ref` (a day's slack for
    the zones of file time and line)."""
    month, day = last
    try:
        when = date(ref.year, month, day)
    except ValueError:  # Feb 29 in a year without it: the year before cannot have it either
        return ref.year
    return ref.year if when <= ref + timedelta(days=1) else ref.year - 1


def first_years(paths: Sequence[str], mtimes: dict[str, float],
                zones: dict[str, Zone]) -> dict[str, int]:
    """Path → year of its first classic line, for the files whose year could be worked out.

    Files of one rotated set are chained newest to oldest: an older file ends no later than
    the next newer one begins.
    """
    sets: dict[str, list[str]] = {}
    for p in paths:
        if p != "-" and p in mtimes:
            sets.setdefault(rotation_key(p)[0], []).append(p)
    out: dict[str, int] = {}
    for members in sets.values():
        members.sort(key=lambda p: rotation_key(p)[1])  # newest first
        bound: date | None = None  # the first line of the next newer file
        for p in members:
            zone = zones[p]
            ref = datetime.fromtimestamp(mtimes[p], zone.tz).date()
            if bound is not None and bound < ref:
                ref = bound
            samples = month_samples(p)
            if not samples:
                continue
            first = last_year(samples[-1], ref) - year_ends(samples)
            out[p] = first
            try:
                bound = date(first, *samples[0])
            except ValueError:
                bound = date(first, samples[0][0], 28)
    return out
