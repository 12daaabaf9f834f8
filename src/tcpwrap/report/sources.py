"""Input sources: files, .gz files and stdin → bounded text lines; year and zone of the lines.

What it does: `open_source` opens a path (or "-" for stdin) as bytes, recognising gzip by its
magic number rather than by name; `read_lines` turns a byte stream into text lines in large
chunks, never holding more than one chunk plus one capped line; `YearInference` gives classic
syslog lines (which carry no year) a year, following the months across a year end; `Zone`
converts wall-clock times of lines without an offset to epoch seconds and back.

Hazards: input is hostile. A line longer than `max_len` is not kept: it is yielded as None (the
parser counts it as unparsed). Bytes that are not UTF-8 are replaced. A truncated or corrupt gzip
stream, or a read error, ends that source early and is reported through the `problems` list,
never raised. An unknown time zone raises `ReportError` (a usage error, found before reading).
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import BinaryIO, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tcpwrap.errors import TcpwrapError

MAX_LINE = 4096
CHUNK = 1 << 18
_GZIP_MAGIC = b"\x1f\x8b"


class ReportError(TcpwrapError):
    """A usage problem of `tcpwrap report` (bad option value, unknown zone)."""


def open_source(path: str) -> tuple[BinaryIO, float]:
    """Open `path` ("-" is stdin) for reading bytes; return the stream and a reference time.

    The reference time (the file's mtime, or now for stdin) anchors year inference: the last
    line of a log was written no later than its file was modified. Raises OSError.
    """
    if path == "-":
        raw: BinaryIO = sys.stdin.buffer
        ref = datetime.now().timestamp()
    else:
        raw = open(path, "rb")  # noqa: SIM115 - the caller owns and closes it
        try:
            ref = os.fstat(raw.fileno()).st_mtime
        except OSError:
            ref = datetime.now().timestamp()
    if isinstance(raw, io.BufferedReader):
        head = raw.peek(2)[:2]
        stream: BinaryIO = raw
    else:  # an unbuffered stdin: read the magic bytes and put them back
        first = raw.read(2)
        head = first
        stream = cast(BinaryIO, _Prefixed(first, raw))
    if head == _GZIP_MAGIC:
        return cast(BinaryIO, _Gzip(stream)), ref
    return stream, ref


class _Gzip(gzip.GzipFile):
    """A gzip reader that also closes the file it reads (GzipFile leaves it open)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw, mode="rb")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._raw is not sys.stdin.buffer:
                self._raw.close()


class _Prefixed(io.RawIOBase):
    """A stream with some bytes already read put back in front."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix, b""
            return data
        return self._rest.read(size)


def read_lines(
    stream: BinaryIO, problems: list[str], name: str, max_len: int = MAX_LINE
) -> Iterator[str | None]:
    """Yield the lines of `stream` without their line ends; None for an over-long line."""
    pending = b""
    skipping = False  # inside an over-long line, discarding up to its newline
    # read1: one underlying read per call, so a truncated .gz still yields all it had
    read = getattr(stream, "read1", stream.read)
    while True:
        try:
            chunk = read(CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            problems.append(f"{name}: input ends early: {_reason(exc)}")
            chunk = b""
        if not chunk:
            break
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk = chunk[nl + 1 :]
            skipping = False
        data = pending + chunk if pending else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
        else:
            pending = data[cut + 1 :]
            text = data[:cut].decode("utf-8", "replace")
            lines = text.split("\n")
            if "\r" not in text and max(map(len, lines)) <= max_len:
                yield from lines  # the usual chunk: checked in C, no Python step per line
            else:
                yield from [None if len(line) > max_len else line.removesuffix("\r")
                            for line in lines]
        if len(pending) > max_len * 4:
            # An over-long line: report it once, skip to its end.
            yield None
            pending = b""
            skipping = True
    if pending and not skipping:
        line = pending.decode("utf-8", "replace")
        yield None if len(line) > max_len else line.removesuffix("\r")


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200] if text else type(exc).__name__


MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


class YearInference:
    """The year of each classic syslog line of one source, in reading order.

    The first line's year is `first_year` when given; otherwise the reference time's year, or the
    year before when the line's month lies after the reference month (a log cannot be written
    after its file was last modified). Later lines follow the months: a drop of more than six
    months (Dec → Jan) starts the next year; a jump of nine months or more forward (a stray Dec
    line after Jan ones) belongs to the previous year; smaller jumps are time going on.
    """

    __slots__ = ("_first", "_month", "_ref_month", "_ref_year", "_year")

    def __init__(self, ref: datetime, first_year: int | None = None) -> None:
        self._ref_year = ref.year
        self._ref_month = ref.month
        self._first = first_year
        self._year: int | None = None
        self._month = 0

    def observe(self, year: int, month: int) -> None:
        """A line printed its year: later lines without one follow from there."""
        self._year = year
        self._month = month

    def year_for(self, month: int) -> int:
        if self._year is None:
            if self._first is not None:
                self._year = self._first
            else:
                self._year = self._ref_year if month <= self._ref_month else self._ref_year - 1
            self._month = month
            return self._year
        delta = month - self._month
        if delta < -6:
            self._year += 1
            self._month = month
        elif delta >= 9:
            return self._year - 1
        else:
            self._month = month
        return self._year


class Zone:
    """A time zone for lines that carry none: "UTC", "+01:00", an IANA name, or "local"."""

    __slots__ = ("_cache", "name", "tz")

    def __init__(self, spec: str) -> None:
        self.name = spec
        self.tz: tzinfo | None = parse_zone(spec)
        self._cache: dict[int, int] = {}

    def to_epoch(
        self, year: int, month: int, day: int, hour: int, minute: int
    ) -> tuple[float, int]:
        """Epoch seconds of a wall-clock minute in this zone and its UTC offset (seconds)."""
        if self.tz is None:
            ts = datetime(year, month, day, hour, minute).timestamp()
        else:
            ts = datetime(year, month, day, hour, minute, tzinfo=self.tz).timestamp()
        return ts, self.offset_at(ts)[0]

    def offset_at(self, ts: float) -> tuple[int, int]:
        """(UTC offset in seconds, wall-clock hour) at epoch time `ts` in this zone."""
        bucket = int(ts // 900)
        off = self._cache.get(bucket)
        if off is None:
            if self.tz is None:
                dt = datetime.fromtimestamp(bucket * 900).astimezone()
            else:
                dt = datetime.fromtimestamp(bucket * 900, self.tz)
            delta = dt.utcoffset()
            off = int(delta.total_seconds()) if delta is not None else 0
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[bucket] = off
        return off, int((ts + off) // 3600) % 24


def parse_zone(spec: str) -> tzinfo | None:
    """"local" → None (the machine's zone); "UTC"/"Z"; "+HH:MM", "-HHMM"; an IANA name."""
    s = spec.strip()
    if s.lower() == "local":
        return None
    if s.upper() in ("UTC", "Z", "GMT"):
        return UTC
    if s[:1] in "+-" and len(s) > 1:
        digits = s[1:].replace(":", "")
        if digits.isdigit() and len(digits) in (2, 4):
            hours, minutes = int(digits[:2]), int(digits[2:] or 0)
            if hours < 24 and minutes < 60:
                sign = -1 if s[0] == "-" else 1
                return timezone(sign * timedelta(hours=hours, minutes=minutes))
        raise ReportError(f"bad time zone offset: {spec!r}")
    try:
        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ReportError(f"unknown time zone: {spec!r}") from None
