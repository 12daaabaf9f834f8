"""The report for a terminal: a ranked summary of suspicious remote hosts, and a timeline.

What it does: `summary(...)` lists the suspects, highest score first, each with its findings
and why; then what was read and examples of unparsed lines. `timeline(events)` prints merged
events one per line in the paper's figure style (`<date> <time> <local>: <service>: connect
from <remote>`).

Hazards: log text is hostile and this goes to a terminal: every string passes `clean()`, which
replaces control characters (escape sequences could otherwise drive the terminal) and invisible
characters that reorder or hide text (bidi overrides, zero-width marks). No errors.
"""

from __future__ import annotations

from collections.abc import Iterable

from tcpwrap.report.advice import few_records
from tcpwrap.report.detect import Suspect
from tcpwrap.report.model import CONNECT, REFUSED, SPOOF, TWIST, Event, Stats
from tcpwrap.report.timefmt import stamp

# C0 and C1 controls, and the invisible format characters that reorder or hide text on a
# terminal (bidi overrides and isolates, zero-width marks, line/paragraph separators, BOM).
CONTROL = {c: "?" for c in (*range(0x20), *range(0x7F, 0xA0), 0xAD, *range(0x200B, 0x2010),
                             *range(0x2028, 0x202F), *range(0x2060, 0x2070), 0xFEFF,
                             *range(0xFFF9, 0xFFFC))}
_VERB = {
    CONNECT: "connect from",
    REFUSED: "refused connect from",
    TWIST: "twist",
    SPOOF: "host name/address mismatch:",
}


def clean(text: str, limit: int = 300) -> str:
    out = text.translate(CONTROL)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def timeline_line(e: Event) -> str:
    who = e.remote if e.user is None else f"{e.user}@{e.remote}"
    if e.addr and e.addr != e.remote and e.kind != SPOOF:
        who += f" ({e.addr})"
    return clean(f"{stamp(e.ts, e.off)} {e.local}: {e.service}: {_VERB[e.kind]} {who}")


def timeline(events: Iterable[Event], dropped: int = 0) -> str:
    lines = [timeline_line(e) for e in events]
    if dropped:
        lines.append(f"... {dropped} more events not shown (raise --limit)")
    return "\n".join(lines) + ("\n" if lines else "")


def _zones(stats: Stats) -> str:
    """Local hosts grouped by the zone their lines without an offset were read in."""
    by_zone: dict[str, list[str]] = {}
    for host, zone in sorted(stats.zones.items()):
        by_zone.setdefault(zone, []).append(host)
    if len(by_zone) == 1:
        return clean(next(iter(by_zone)), 60) + " (all hosts; --tz HOST=ZONE to change)"
    return "; ".join(f"{clean(z, 40)}: " + ", ".join(clean(h, 40) for h in hs[:10])
                     + (f" +{len(hs) - 10}" if len(hs) > 10 else "")
                     for z, hs in sorted(by_zone.items()))


def summary(
    stats: Stats, suspects: list[Suspect], sources: int, top: int, rare: dict[str, str]
) -> str:
    out: list[str] = []
    hosts = ", ".join(clean(h, 60) for h in sorted(stats.local_hosts)) or "none"
    out.append(
        f"Read {stats.lines} lines from {sources} source(s): {stats.events} connection records, "
        f"{stats.other} other, {stats.unparsed} unparsed, {stats.duplicates} duplicates removed."
    )
    out.append(f"Local hosts: {hosts}")
    zones = _zones(stats)
    if zones:
        out.append(f"Zones assumed: {zones}")
    if rare:
        out.append("Rare services: " + ", ".join(
            f"{clean(k, 40)} ({clean(v, 80)})" for k, v in sorted(rare.items())))
    out.append("")
    if not suspects:
        out.append("No suspicious remote hosts.")
    else:
        out.append(f"Suspicious remote hosts ({len(suspects)}), highest score first:")
        for i, s in enumerate(suspects[:top], 1):
            kinds = ", ".join(sorted({f.kind for f in s.findings}))
            names = sorted({n for f in s.findings for n in f.names})
            known = f" ({', '.join(clean(n, 60) for n in names[:4])})" if names else ""
            out.append(f"{i:3d}. {clean(s.remote, 80)}{known}  score {s.score:g}  [{kinds}]")
            for f in s.findings:
                where = ", ".join(clean(h, 40) for h in f.local_hosts[:8])
                what = ", ".join(clean(x, 30) for x in f.services[:8])
                when = f"{stamp(f.first.ts, f.first.off)} .. {stamp(f.last.ts, f.last.off)}"
                out.append(f"       {f.kind:<12} {f.score:5.2f}  {clean(f.why, 120)}")
                out.append(f"       {'':<12}        {when}; {where}; {what}")
        if len(suspects) > top:
            out.append(f"     ... and {len(suspects) - top} more (--top N)")
    for problem in stats.problems:
        out.append(f"warning: {clean(problem)}")
    note = few_records(stats)
    if note is not None:
        out.append("")
        out.append(clean(note, 1000))
    if stats.unparsed:
        out.append("")
        out.append(f"Unparsed lines: {stats.unparsed}; the most frequent kinds:")
        for source, lineno, text, count in stats.shapes():
            out.append(f"  {count:>7}x  {clean(source, 80)}:{lineno}: {clean(text, 160)}")
    return "\n".join(out) + "\n"
