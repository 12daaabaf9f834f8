"""The logs a command reads: in which order, which year and zone each one is in, parsed.

What it does: `Inputs.build(files, years, zones)` takes the input files and the `[FILE=]YEAR`
and `[FILE=|HOST=]ZONE` option values, orders the files as one sequence (a rotated set oldest
first, report.rotation) and plans the year of each file's first classic line. `streams(stats,
stack)` opens every file (plain, .gz, `-` for stdin), reads it (report.sources) and parses it in
its year and zone (report.parse), ready for report.merge. `tcpwrap report`, `tcpwrap replay` and
`tcpwrap diff --logs` read logs through it, so they see the same records.

Hazards: the files are hostile and may be huge: everything streams; a file is opened only when
`streams` is called, and closed by the caller's ExitStack.
Errors: a bad year or zone raises ReportError (exit 2); a file that cannot be opened is appended
to `Stats.problems` (the caller decides the exit status) and the rest are read.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime

from tcpwrap._record import record
from tcpwrap.report.model import Event, Stats
from tcpwrap.report.parse import SourceParser
from tcpwrap.report.rotation import first_years, rotation_order
from tcpwrap.report.sources import ReportError, YearInference, Zone, open_source, read_lines

LineFilter = Callable[[Iterator[str | None]], Iterator[str | None]]


def add_options(group: argparse._ActionsContainer) -> None:
    """`--year [FILE=]YEAR` and `--tz [FILE=|HOST=]ZONE`, whose values `Inputs.build` reads."""
    group.add_argument("--year", action="append", default=[], metavar="[FILE=]YEAR",
                       help="year of the first classic syslog line (default: the last line is "
                            "no later than the file's modification time, or than the next newer "
                            "file of its rotated set); later lines follow the months")
    group.add_argument("--tz", action="append", default=[], metavar="[FILE=|HOST=]ZONE",
                       help="time zone of lines without one: UTC, +01:00, Europe/Amsterdam or "
                            "local (the default); per input file, or per logging host, so night "
                            "is that host's night")


def per_file(values: list[str], what: str) -> tuple[str | None, dict[str, str]]:
    """`[KEY=]VALUE` option values → (the default, {key: value}); the last one wins."""
    default: str | None = None
    per: dict[str, str] = {}
    for v in values:
        key, sep, value = v.rpartition("=")
        if not value:
            raise ReportError(f"bad {what} {v!r}")
        if sep:
            per[key] = value
        else:
            default = value
    return default, per


def year(text: str | None) -> int | None:
    """A `--year` value (None: not given)."""
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 9999:
        raise ReportError(f"bad year {text!r}")
    return int(text)


@record(frozen=True, slots=True)
class Inputs:
    """The files in reading order (`Event.src` indexes `paths`) and each one's year and zone."""

    paths: list[str]
    first_year: dict[str, int]  # the year of a file's first classic line, where known
    zones: dict[str, Zone]  # per file (--tz FILE=ZONE)
    host_zones: dict[str, Zone]  # per logging host (--tz HOST=ZONE)
    default_zone: Zone

    @classmethod
    def build(cls, files: list[str], years: list[str], zones: list[str]) -> Inputs:
        paths = rotation_order(files)
        default_tz, tz_per_key = per_file(zones, "--tz")
        default_year, year_per_file = per_file(years, "--year")
        # --tz X=ZONE: X is an input file, or else the local host whose lines are in ZONE
        file_zones = {p: Zone(z) for p, z in tz_per_key.items() if p in paths}
        host_zones = {h: Zone(z) for h, z in tz_per_key.items() if h not in paths}
        default_zone = Zone(default_tz or "local")
        given = {p: y for p in paths
                 if (y := year(year_per_file.get(p, default_year))) is not None}
        planned: dict[str, int] = {}
        if default_year is None:
            # the files whose year is not given: from their mtimes and their rotated sets
            mtimes: dict[str, float] = {}
            for p in paths:
                if p != "-" and p not in given:
                    try:
                        mtimes[p] = os.stat(p).st_mtime
                    except OSError:
                        continue  # reported when it is opened
            planned = first_years(list(mtimes), mtimes,
                                  {p: file_zones.get(p, default_zone) for p in mtimes})
        return cls(paths, {**planned, **given}, file_zones, host_zones, default_zone)

    def streams(
        self, stats: Stats, stack: ExitStack, wrap: LineFilter | None = None
    ) -> list[Iterator[Event]]:
        """One parsed event stream per file that could be opened (`wrap` sees its lines)."""
        streams: list[Iterator[Event]] = []
        for i, path in enumerate(self.paths):
            try:
                stream, ref = open_source(path)
            except OSError as exc:
                stats.problems.append(f"{path}: cannot open: {exc.strerror or exc}")
                continue
            if path != "-":
                stack.callback(stream.close)
            zone = self.zones.get(path, self.default_zone)
            years = YearInference(datetime.fromtimestamp(ref, zone.tz),
                                  self.first_year.get(path))
            lines = read_lines(stream, stats.problems, path)
            if wrap is not None:
                lines = wrap(lines)
            streams.append(SourceParser(i, path, years, zone, stats, self.host_zones)
                           .events(lines))
        return streams
