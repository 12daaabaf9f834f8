"""`tcpwrap report`: read connection logs of many hosts, merge them, find the probes.

What it does: `configure` declares the options; `run` opens every input (files, .gz, "-" for
stdin), parses and merges them as one stream, applies the filters, feeds the detector (and the
timeline and picture collectors), then prints the ranked summary (or JSON) and writes the HTML
page when asked. Progress goes to stderr, only when stderr is a terminal.

Hazards: inputs are hostile and may be huge: everything streams; memory grows with remote hosts,
not lines. An input that cannot be opened or ends early is reported (stderr, and in the report)
and the exit status becomes 1, but the report is still produced from the rest. Bad option values
raise `ReportError` (exit 2 via tcpwrap.cli). Exit 0 otherwise, findings or not.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from itertools import chain

from tcpwrap.report.detect import Detector, Thresholds, rank
from tcpwrap.report.inputs import Inputs, add_options
from tcpwrap.report.merge import merge_batches
from tcpwrap.report.model import Event, Stats
from tcpwrap.report.parse import SourceParser
from tcpwrap.report.query import VERDICTS, Query, parse_time
from tcpwrap.report.render_html import Marks, page
from tcpwrap.report.render_json import render as render_json
from tcpwrap.report.render_text import clean, summary, timeline
from tcpwrap.report.sources import ReportError, YearInference


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Merge the connection logs (tcpd/syslog, RFC 5424, journalctl -o json, tcpwrap JSON, "
        "xinetd) of many hosts into one timeline and point at remote hosts that probe them."
    )
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="log files, plain or gzip; '-' or none reads stdin")
    g = parser.add_argument_group("input")
    add_options(g)  # --year, --tz
    g.add_argument("--redis", action="append", default=[], metavar="URL",
                   help="also read a fleet's event stream (tcpwrap serve [fleet]); "
                        "password from $TCPWRAP_REDIS_PASSWORD")
    g.add_argument("--site", default="default", metavar="NAME",
                   help="the fleet's site for --redis (default: default)")
    f = parser.add_argument_group("filters")
    f.add_argument("--since", metavar="TIME", help="ignore events before TIME (ISO-8601)")
    f.add_argument("--until", metavar="TIME", help="ignore events after TIME (ISO-8601)")
    f.add_argument("--remote", action="append", default=[], metavar="HOST",
                   help="only this remote host, .domain or address prefix (repeatable); "
                        "also shows its timeline")
    f.add_argument("--local", action="append", default=[], metavar="HOST",
                   help="only events logged by this local host (repeatable)")
    f.add_argument("--service", action="append", default=[], metavar="NAME",
                   help="only this service, e.g. finger or in.fingerd (repeatable)")
    f.add_argument("--verdict", action="append", default=[], choices=VERDICTS,
                   help="only events with this verdict (repeatable)")
    o = parser.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the report as JSON")
    o.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    o.add_argument("--timeline", action="store_true",
                   help="print the merged timeline of the (filtered) events")
    o.add_argument("--limit", type=int, default=1000, metavar="N",
                   help="at most N timeline lines (default 1000)")
    o.add_argument("--top", type=int, default=20, metavar="N",
                   help="at most N suspects in the terminal summary (default 20)")
    o.add_argument("--examples", type=int, default=5, metavar="N",
                   help="unparsed lines to show (default 5)")
    o.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress on stderr (auto: when stderr is a terminal)")
    d = Thresholds()
    t = parser.add_argument_group("finding thresholds")
    t.add_argument("--burst-count", type=int, default=d.burst_count, metavar="N",
                   help="burst: this many connections of one remote host (default 3) ...")
    t.add_argument("--burst-window", type=float, default=d.burst_window, metavar="SECONDS",
                   help="... within this many seconds (default 300)")
    t.add_argument("--spread-hosts", type=int, default=d.spread_hosts, metavar="N",
                   help="spread: this many local hosts reached (default 3) ...")
    t.add_argument("--spread-window", type=float, default=d.spread_window, metavar="SECONDS",
                   help="... within this many seconds (default 3600)")
    t.add_argument("--night", default=f"{d.night_start}-{d.night_end}", metavar="START-END",
                   help="night hours, wall clock (default 22-6)")
    t.add_argument("--night-min", type=int, default=d.night_min, metavar="N",
                   help="night: connections needed from a host never seen by day (default 2)")
    t.add_argument("--rare-watch", default=",".join(d.rare_watch), metavar="LIST",
                   help="services that are always rare (default systat,netstat)")
    t.add_argument("--rare-max-clients", type=int, default=d.rare_max_clients, metavar="N",
                   help="rare: a service used by at most N remote hosts (default 2) ...")
    t.add_argument("--rare-share", type=float, default=d.rare_share, metavar="FRACTION",
                   help="... and by at most this share of connections (default 0.01)")
    t.add_argument("--rare-min-total", type=int, default=d.rare_min_total, metavar="N",
                   help="connections needed before statistical rarity applies")
    t.add_argument("--retry-min", type=int, default=d.retry_min, metavar="N",
                   help="retry: refusals needed (default 4) ...")
    t.add_argument("--retry-tolerance", type=float, default=d.retry_tolerance,
                   metavar="FRACTION",
                   help="... at a period regular to within this fraction (default 0.1)")
    t.add_argument("--spoof-min", type=int, default=d.spoof_min, metavar="N",
                   help="spoof: name/address mismatch warnings needed (default 1)")
    t.add_argument("--persist-days", type=int, default=d.persist_days, metavar="N",
                   help="persistent: a host seen on this many days (default 3) ...")
    t.add_argument("--persist-visits", type=int, default=d.persist_visits, metavar="N",
                   help="... in this many visits, 30 min of quiet apart (default 6)")
    t.add_argument("--evidence", type=int, default=d.evidence, metavar="N",
                   help="evidence lines kept per finding (default 20)")


def thresholds(args: argparse.Namespace) -> Thresholds:
    try:
        start_text, end_text = str(args.night).split("-", 1)
        start, end = int(start_text), int(end_text)
    except ValueError:
        raise ReportError(f"bad --night {args.night!r}: use START-END hours, e.g. 22-6") from None
    if not (0 <= start <= 24 and 0 <= end <= 24):
        raise ReportError(f"bad --night {args.night!r}: hours are 0-24")
    for name in ("burst_count", "spread_hosts", "night_min", "retry_min", "spoof_min",
                 "persist_days", "persist_visits"):
        if getattr(args, name) < 1:
            raise ReportError(f"--{name.replace('_', '-')} must be at least 1")
    if args.burst_count < 2 or args.spread_hosts < 2 or args.retry_min < 3:
        raise ReportError("--burst-count and --spread-hosts need >= 2, --retry-min >= 3")
    return Thresholds(
        burst_count=args.burst_count,
        burst_window=args.burst_window,
        spread_hosts=args.spread_hosts,
        spread_window=args.spread_window,
        night_start=start % 24,
        night_end=end % 24,
        night_min=args.night_min,
        rare_watch=tuple(s.strip() for s in str(args.rare_watch).split(",") if s.strip()),
        rare_max_clients=args.rare_max_clients,
        rare_share=args.rare_share,
        rare_min_total=args.rare_min_total,
        retry_min=args.retry_min,
        retry_tolerance=args.retry_tolerance,
        spoof_min=args.spoof_min,
        persist_days=args.persist_days,
        persist_visits=args.persist_visits,
        evidence=max(0, min(args.evidence, 10_000)),
    )


class _Progress:
    """Counts lines and redraws one stderr status line at most twice a second."""

    def __init__(self) -> None:
        self.lines = 0
        self.start = time.monotonic()
        self.shown = 0.0

    def wrap(self, lines: Iterator[str | None]) -> Iterator[str | None]:
        n = 0
        for line in lines:
            n += 1
            if n & 0x3FFF == 0:
                self.lines += 0x4000
                self._show()
            yield line
        self.lines += n & 0x3FFF

    def _show(self) -> None:
        now = time.monotonic()
        if now - self.shown >= 0.5:
            self.shown = now
            rate = self.lines / max(now - self.start, 1e-6)
            sys.stderr.write(f"\r{self.lines:,} lines, {rate:,.0f} lines/s ")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r" + " " * 50 + "\r")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    limits = thresholds(args)
    inputs = Inputs.build(args.files or ([] if args.redis else ["-"]), args.year, args.tz)
    host_zones = inputs.host_zones
    default_zone = inputs.default_zone
    query = Query.build(
        since=parse_time(args.since, default_zone.tz) if args.since else None,
        until=parse_time(args.until, default_zone.tz) if args.until else None,
        remotes=args.remote,
        locals_=args.local,
        services=args.service,
        verdicts=args.verdict,
    )
    stats = Stats(max_examples=max(0, min(args.examples, 1000)))
    show_progress = args.progress == "always" or (
        args.progress == "auto" and sys.stderr.isatty())
    progress = _Progress() if show_progress else None
    status = 0
    with ExitStack() as stack:
        streams = inputs.streams(stats, stack, None if progress is None else progress.wrap)
        for j, url in enumerate(args.redis, len(inputs.paths)):
            from tcpwrap.fleet.settings import shown_url
            from tcpwrap.report.fleetsource import fleet_lines

            name = f"{shown_url(url)} site {args.site}"
            years = YearInference(datetime.now(default_zone.tz), None)
            lines = iter(fleet_lines(url, args.site, stats.problems))
            streams.append(SourceParser(j, name, years, default_zone, stats,
                                        host_zones).events(lines))
        detector = Detector(limits)
        marks = Marks() if args.html else None
        show_timeline = args.timeline or bool(args.remote)
        kept: list[Event] = []
        dropped = 0
        match = None if query.empty else query.match
        feed = detector.feed
        merged = merge_batches(streams, stats)
        # The generational GC would rescan the growing per-host state again and again while
        # millions of short-lived event tuples pass; nothing here makes reference cycles.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            if match is None and marks is None and not show_timeline:
                for batch in merged:
                    deque(map(feed, batch), maxlen=0)  # the loop in C
            else:
                for event in chain.from_iterable(merged):
                    if match is not None and not match(event):
                        continue
                    feed(event)
                    if marks is not None:
                        marks.add(event)
                    if show_timeline:
                        if len(kept) < args.limit:
                            kept.append(event)
                        else:
                            dropped += 1
        finally:
            if gc_was_enabled:
                gc.enable()
    if progress is not None:
        progress.done()
    if stats.problems:
        status = 1
        for problem in stats.problems:
            sys.stderr.write(f"tcpwrap report: {clean(problem)}\n")
    stats.local_hosts = set(detector.local_hosts)
    findings = detector.findings()
    suspects = rank(findings)
    rare = detector.rare_services()
    if args.html:
        text = page(stats, suspects, marks or Marks(), len(inputs.paths) + len(args.redis), rare)
        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise ReportError(f"cannot write {args.html}: {exc.strerror or exc}") from None
    if args.json:
        _emit(render_json(stats, findings))
        return status
    text = summary(stats, suspects, len(inputs.paths) + len(args.redis), max(args.top, 0), rare)
    if show_timeline:
        text += "\nTimeline:\n" + timeline(kept, dropped)
    _emit(text)
    return status


def _emit(text: str) -> None:
    """Write the report to stdout; a reader that went away (`| head`) ends it quietly.

    After a broken pipe, stdout is pointed at /dev/null so the interpreter's final flush
    cannot raise again at exit.
    """
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass  # stdout is no real file (a test's capture): nothing left to flush
