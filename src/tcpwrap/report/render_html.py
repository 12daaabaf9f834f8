"""The report as one self-contained HTML page with a timeline picture (inline SVG).

What it does: `Marks` collects, while the events stream past, a bounded sample of each remote
host's connections (time, local host, service, verdict). `page(...)` draws the picture — one
row per remote host (suspects first, by score), time across with idle stretches cut out and
ticks in every segment whose labels never overprint; each mark's fill colour is its local host
(20 distinct colours), its shape the service (fixed per service in every report), a dark outline
means refused, and marks at one spot are one mark with their number — followed by the ranked
findings with their evidence (past 20 suspects in a collapsed list) and the most frequent
unparsed lines. Like the paper's figures 5 and 7, but drawn.

Hazards: every string in the page comes from hostile logs: all of it goes through `_e()`
(html.escape, quotes included, after control and invisible bidi/zero-width characters are
replaced, so a name cannot reorder what is shown around it), and the page carries a
Content-Security-Policy that forbids scripts and any network access, so a missed escape still
cannot run code or fetch anything.
Memory: at most `per_remote` marks per remote host (compact arrays). No errors raised.
"""

from __future__ import annotations

import html
import zlib
from array import array
from collections.abc import Sequence

from tcpwrap.report.detect import Suspect
from tcpwrap.report.model import (
    CONNECT,
    REFUSED,
    SPOOF,
    TWIST,
    Event,
    Finding,
    Stats,
    remote_key,
)
from tcpwrap.report.render_text import CONTROL
from tcpwrap.report.timefmt import iso, stamp

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf",
    "#bcbd22", "#7f7f7f", "#1f3d7a", "#8c510a", "#c51b7d", "#01665e",
    "#762a83", "#b35806", "#4d9221", "#3f3f3f",
)
SHAPES = ("circle", "square", "triangle", "diamond", "down", "bar", "plus", "left", "right")
# Shapes of the classic services, the same in every report; others by a hash of the name.
SERVICE_SHAPE = {"finger": "circle", "telnet": "square", "ftp": "triangle", "ssh": "diamond",
                 "tftp": "down", "systat": "bar", "netstat": "bar", "rsh": "plus",
                 "rlogin": "left", "rexec": "right", "smtp": "plus", "login": "left",
                 "shell": "plus", "exec": "right", "klogin": "left", "kshell": "plus"}
COUNT_COLOR = "#d7301f"  # the number on a stack of marks at one spot
STACK_PX = 2.5  # marks closer than this (same host, service, verdict) are one stack
_KIND_CODE = {CONNECT: 0, REFUSED: 1, TWIST: 2, SPOOF: 3}
_KIND_NAME = ("connect", "refused", "twist", "mismatch")

# Picture geometry (CSS pixels)
LABEL_W = 260
PLOT_W = 820
ROW_H = 20
TOP = 34
MARK_R = 5
OPEN_SUSPECTS = 20  # suspects listed open; the rest in a collapsed list


def _e(text: object) -> str:
    """Escape for HTML; control and invisible reordering characters become "?"."""
    return html.escape(str(text).translate(CONTROL), quote=True)


def host_colors(hosts: Sequence[str]) -> dict[str, str]:
    """Local host → fill colour, in sorted host order (tests rely on this)."""
    return {h: PALETTE[i % len(PALETTE)] for i, h in enumerate(sorted(hosts))}


def service_shape(service: str) -> str:
    """A service's mark shape: fixed for the classic services, else from a hash of its name,
    so a service looks the same in every report."""
    shape = SERVICE_SHAPE.get(service)
    if shape is None:
        shape = SHAPES[zlib.crc32(service.encode("utf-8", "replace")) % len(SHAPES)]
    return shape


def service_shapes(services: Sequence[str]) -> dict[str, str]:
    return {s: service_shape(s) for s in sorted(services)}


def short_name(name: str, limit: int = 36) -> str:
    """A long host name cut in the middle: its start and its domain stay readable. In a row
    label `ADDR (NAME)` the address is kept whole and the name is cut."""
    if len(name) <= limit:
        return name
    addr, sep, rest = name.partition(" (")
    if sep and rest.endswith(")") and len(addr) + 8 < limit:
        return f"{addr} ({short_name(rest[:-1], limit - len(addr) - 3)})"
    tail = limit * 2 // 3
    return name[: limit - tail - 1] + "…" + name[-tail:]


class _Row:
    __slots__ = ("code", "local", "name", "service", "total", "ts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ts = array("d")
        self.local = array("H")
        self.service = array("H")
        self.code = array("B")
        self.total = 0


class Marks:
    """A bounded sample of every remote host's events, for the picture."""

    def __init__(self, per_remote: int = 400) -> None:
        self.per_remote = per_remote
        self.rows: dict[str, _Row] = {}
        self.locals: dict[str, int] = {}
        self.services: dict[str, int] = {}
        self.off: int | None = None  # UTC offset of the first event: the picture's clock

    def add(self, e: Event) -> None:
        key = remote_key(e)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = _Row(e.addr or e.remote)
        if e.addr is not None and e.remote != e.addr and row.name == e.addr:
            row.name = f"{e.addr} ({e.remote})"
        row.total += 1
        if self.off is None:
            self.off = e.off
        if len(row.ts) >= self.per_remote:
            return
        li = self.locals.get(e.local)
        if li is None:
            li = self.locals[e.local] = len(self.locals) if len(self.locals) < 65535 else 0
        si = self.services.get(e.service)
        if si is None:
            si = self.services[e.service] = len(self.services) if len(self.services) < 65535 else 0
        row.ts.append(e.ts)
        row.local.append(li)
        row.service.append(si)
        row.code.append(_KIND_CODE.get(e.kind, 0))


def _shape(kind: str, x: float, y: float, fill: str, stroke: str, title: str) -> str:
    r = MARK_R
    common = f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"'
    t = f"<title>{title}</title>"
    if kind == "square":
        return (f'<rect x="{x - r + 0.5:.1f}" y="{y - r + 0.5:.1f}" width="{2 * r - 1}" '
                f'height="{2 * r - 1}" {common}>{t}</rect>')
    if kind == "triangle":
        pts = f"{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y + r:.1f} {x - r - 1:.1f},{y + r:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if kind == "down":
        pts = f"{x:.1f},{y + r + 1:.1f} {x + r + 1:.1f},{y - r:.1f} {x - r - 1:.1f},{y - r:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if kind == "diamond":
        pts = (f"{x:.1f},{y - r - 1:.1f} {x + r + 1:.1f},{y:.1f} "
               f"{x:.1f},{y + r + 1:.1f} {x - r - 1:.1f},{y:.1f}")
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if kind == "bar":
        return (f'<rect x="{x - 2.5:.1f}" y="{y - r - 1:.1f}" width="5" height="{2 * r + 2}" '
                f"{common}>{t}</rect>")
    if kind == "plus":
        a, b = r + 1, 2
        pts = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in (
            (-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b),
            (-a, b), (-a, -b), (-b, -b)))
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if kind == "left":
        pts = f"{x - r - 1:.1f},{y:.1f} {x + r:.1f},{y - r - 1:.1f} {x + r:.1f},{y + r + 1:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    if kind == "right":
        pts = f"{x + r + 1:.1f},{y:.1f} {x - r:.1f},{y - r - 1:.1f} {x - r:.1f},{y + r + 1:.1f}"
        return f'<polygon points="{pts}" {common}>{t}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" {common}>{t}</circle>'


_STEPS = (60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400,
          30 * 86400, 365 * 86400)


class Axis:
    """Time → x, with long idle gaps cut out (like the blank lines between the paper's bursts).

    The times are split where nothing happens for more than `gap` seconds; each active segment
    gets width in proportion to its duration (at least `min_w` pixels) and the cuts are drawn
    as breaks. Without this, two bursts a year apart would be two dots.
    """

    def __init__(self, times: list[float], x0: float, width: float, gap: float = 3 * 3600,
                 min_w: float = 115.0, break_w: float = 14.0) -> None:
        times = sorted(times)
        segs: list[list[float]] = [[times[0], times[0]]]
        for t in times[1:]:
            if t - segs[-1][1] > gap:
                segs.append([t, t])
            else:
                segs[-1][1] = t
        most = max(1, int(width // (min_w + break_w)))
        while len(segs) > most:  # too many pieces to label: join the closest neighbours
            i = min(range(len(segs) - 1), key=lambda k: segs[k + 1][0] - segs[k][1])
            segs[i][1] = segs[i + 1][1]
            del segs[i + 1]
        self.firsts = [a for a, _ in segs]
        padded = []
        for a, b in segs:  # room around each segment's first and last mark
            pad = max((b - a) * 0.04, 30.0)
            padded.append((a - pad, b + pad))
        usable = width - break_w * (len(segs) - 1)
        weights = [(b - a) ** 0.5 for a, b in padded]  # long quiet stretches get less room
        widths = [max(min_w, usable * w / sum(weights)) for w in weights]
        shrink = usable / sum(widths)
        self.segments: list[tuple[float, float, float, float]] = []  # (t0, t1, x0, x1)
        x = x0
        for (a, b), w in zip(padded, widths, strict=True):
            w *= shrink
            self.segments.append((a, b, x, x + w))
            x += w + break_w

    def x(self, t: float) -> float:
        for a, b, x0, x1 in self.segments:
            if t <= b:
                return x0 + (max(t, a) - a) / (b - a) * (x1 - x0)
        return self.segments[-1][3]

    def breaks(self) -> list[float]:
        """x of the middle of each cut."""
        return [(self.segments[i][3] + self.segments[i + 1][2]) / 2
                for i in range(len(self.segments) - 1)]

    def ticks(self, off: int) -> list[tuple[float, str]]:
        """Grid lines with their labels ("" for an unlabelled one): in every segment its
        start and round times inside it; a label is dropped (its line kept) where it would
        overprint the one before, so labels never overlap."""
        out: list[tuple[float, str]] = []
        last_day = ""
        label_end = -1e9  # right edge of the last label drawn
        for (a, b, x0, x1), first in zip(self.segments, self.firsts, strict=True):
            room = max(1, int((x1 - x0) // 60))
            step = next((s for s in _STEPS if (b - a) / s <= room), _STEPS[-1])
            stamps = [first]
            t = ((int(first + off) // step) + 1) * step - off
            while t < b and len(stamps) < 4 * room:
                stamps.append(float(t))
                t += step
            for ts in stamps:
                x = self.x(ts)
                text = stamp(ts, off)
                day, clock = text[:10], text[11:16]
                label = clock if day == last_day else f"{day} {clock}"
                if x >= label_end + LABEL_GAP and x + label_width(label) <= x1 + 40:
                    out.append((x, label))
                    label_end = x + label_width(label)
                    last_day = day
                else:
                    out.append((x, ""))
        return out


def label_width(text: str) -> float:
    """A safe estimate of the width of a tick label (font-size 10, sans-serif)."""
    return 6.2 * len(text)


LABEL_GAP = 8.0  # pixels between two tick labels, at least


def picture(marks: Marks, suspects: list[Suspect], rows: int = 40) -> str:
    """The SVG: remote hosts (rows) by time (columns)."""
    order: list[str] = []
    for s in suspects[: rows * 5]:
        key = s.remote.lower()
        if key in marks.rows:
            members = [key]
        else:  # a remote domain (spread): draw the hosts of it that were seen
            suffix = "." + key
            members = [k for k in marks.rows if k.endswith(suffix)][:8]
        order.extend(k for k in members if k not in order)
        if len(order) >= rows:
            break
    del order[rows:]
    n_suspects = len(order)
    if len(order) < rows:
        rest = sorted((k for k in marks.rows if k not in order),
                      key=lambda k: -marks.rows[k].total)
        order.extend(rest[: rows - len(order)])
    if not order:
        return '<p class="none">No connections to draw.</p>'
    times = [t for k in order for t in marks.rows[k].ts]
    axis = Axis(times, LABEL_W, PLOT_W)
    local_names = {i: n for n, i in marks.locals.items()}
    service_names = {i: n for n, i in marks.services.items()}
    colors = host_colors(list(marks.locals))
    shapes = service_shapes(list(marks.services))
    width = LABEL_W + PLOT_W + 20
    height = TOP + ROW_H * len(order) + 10
    off = marks.off or 0
    suspects_keys = set(order[:n_suspects])
    parts = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="timeline of connections per remote host">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for x, label in axis.ticks(off):
        parts.append(f'<line x1="{x:.1f}" y1="{TOP - (6 if label else 3)}" x2="{x:.1f}" '
                     f'y2="{height - 8}" stroke="{"#dddddd" if label else "#eeeeee"}"/>')
        if label:
            parts.append(f'<text x="{x:.1f}" y="{TOP - 12}" font-size="10" '
                         f'text-anchor="start" fill="#555555">{_e(label)}</text>')
    breaks = axis.breaks()
    for i, key in enumerate(order):
        row = marks.rows[key]
        y = TOP + ROW_H * i + ROW_H / 2
        if i % 2 == 0:
            parts.append(f'<rect x="0" y="{y - ROW_H / 2:.1f}" width="{width}" '
                         f'height="{ROW_H}" fill="#f4f4f4"/>')
        weight = "bold" if key in suspects_keys else "normal"
        name = short_name(row.name)
        size = 12 if len(name) <= 30 else 11
        shown = "" if row.total <= len(row.ts) else f", {len(row.ts)} drawn"
        parts.append(f'<text x="{LABEL_W - 8}" y="{y + 4:.1f}" font-size="{size}" '
                     f'text-anchor="end" font-weight="{weight}" fill="#222222">{_e(name)}'
                     f"<title>{_e(row.name)} ({row.total} events{shown})</title></text>")
        for x, j, n in _stacks(row, axis):
            ts = row.ts[j]
            local = local_names.get(row.local[j], "?")
            service = service_names.get(row.service[j], "?")
            code = row.code[j]
            stroke = "#000000" if code in (1, 2) else "#ffffff"
            what = f"{n} x " if n > 1 else ""
            title = _e(f"{stamp(ts, off)} {local}: {service}: {what}{_KIND_NAME[code]} "
                       f"{row.name}")
            parts.append(_shape(shapes.get(service, "circle"), x, y,
                                colors.get(local, "#000000"), stroke, title))
            if n > 1:  # a stack: say how many
                parts.append(f'<text class="n" x="{x + MARK_R + 1:.1f}" y="{y - 2:.1f}" '
                             f'font-size="9" font-weight="bold" fill="{COUNT_COLOR}">{n}</text>')
    for x in breaks:  # the cuts, over the row stripes
        parts.append(f'<rect x="{x - 4:.1f}" y="{TOP - 6}" width="8" height="{height - TOP}" '
                     f'fill="#ffffff"/>')
        parts.append(f'<text x="{x:.1f}" y="{TOP - 12}" font-size="11" text-anchor="middle" '
                     f'fill="#999999">//</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _stacks(row: _Row, axis: Axis) -> list[tuple[float, int, int]]:
    """(x, index of the first mark, count) per stack: marks of one local host, service and
    verdict closer than STACK_PX are drawn once, with their number."""
    out: list[tuple[float, int, int]] = []
    open_: dict[tuple[int, int, int], int] = {}  # (local, service, code) -> index in out
    for j in sorted(range(len(row.ts)), key=row.ts.__getitem__):
        x = axis.x(row.ts[j])
        key = (row.local[j], row.service[j], row.code[j])
        k = open_.get(key)
        if k is not None and x - out[k][0] < STACK_PX:
            sx, first, n = out[k]
            out[k] = (sx, first, n + 1)
        else:
            open_[key] = len(out)
            out.append((x, j, 1))
    return out


def legend(marks: Marks) -> str:
    colors = host_colors(list(marks.locals))
    shapes = service_shapes(list(marks.services))
    items = ['<div class="legend"><b>Local hosts:</b> ']
    for h, c in colors.items():
        items.append(f'<span class="sw" style="background:{c}"></span>{_e(h)} ')
    items.append("<br><b>Services:</b> ")
    for s, shp in shapes.items():
        items.append(f"{_e(s)} ({shp}) ")
    items.append("<br>A dark outline marks a refused (or twisted) connection; a number next "
                 "to a mark counts the connections stacked there. Shapes are fixed per "
                 "service")
    if len(colors) > len(PALETTE):
        items.append(f"; colours repeat beyond {len(PALETTE)} local hosts (a mark's tooltip "
                     "names its host)")
    items.append(".</div>")
    return "".join(items)


def _finding_rows(rank: int, s: Suspect) -> list[str]:
    out = []
    for n, f in enumerate(s.findings):
        head = (f'<td rowspan="{len(s.findings)}">{rank}</td>'
                f'<td rowspan="{len(s.findings)}" class="remote">{_e(s.remote)}</td>'
                f'<td rowspan="{len(s.findings)}">{s.score:g}</td>') if n == 0 else ""
        out.append(f"<tr>{head}{_finding_cells(f)}</tr>")
    return out


def _finding_cells(f: Finding) -> str:
    evidence = "\n".join(_e(line[:400]) for line in f.evidence)
    return (
        f'<td class="kind {_e(f.kind)}">{_e(f.kind)}</td><td>{f.score:g}</td>'
        f"<td>{_e(f.why)}</td>"
        f'<td title="{_e(iso(f.first.ts, f.first.off))}">{_e(stamp(f.first.ts, f.first.off))}'
        f"<br>{_e(stamp(f.last.ts, f.last.off))}</td>"
        f"<td>{_e(', '.join(f.local_hosts))}</td><td>{_e(', '.join(f.services))}</td>"
        f"<td><details><summary>{f.count} event{'' if f.count == 1 else 's'}</summary>"
        f"<pre>{evidence}</pre></details></td>"
    )


_CSS = """
body { font-family: sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 24px; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: left; }
td.remote { font-weight: bold; max-width: 22em; overflow-wrap: anywhere; }
pre { font-size: 11px; margin: 2px; white-space: pre-wrap; }
.legend { font-size: 12px; margin: 6px 0; }
.sw { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px; }
.stats { font-size: 13px; }
"""


def page(stats: Stats, suspects: list[Suspect], marks: Marks, sources: int,
         rare: dict[str, str], title: str = "tcpwrap report") -> str:
    rows: list[str] = []
    more: list[str] = []
    for i, s in enumerate(suspects, 1):
        (rows if i <= OPEN_SUSPECTS else more).extend(_finding_rows(i, s))
    examples = "\n".join(f"{_e(src)}:{n}: {_e(text)}" for src, n, text in stats.examples)
    rare_text = ", ".join(f"{_e(k)} ({_e(v)})" for k, v in sorted(rare.items())) or "none"
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="stats">{stats.lines} lines from {sources} source(s): {stats.events} '
        f"connection records, {stats.other} other, {stats.unparsed} unparsed, "
        f"{stats.duplicates} duplicates removed. Local hosts: "
        f"{_e(', '.join(sorted(stats.local_hosts)) or 'none')}. Rare services: {rare_text}.</p>",
        "<h2>Timeline: remote hosts &times; time (suspects first, in bold)</h2>",
        legend(marks),
        picture(marks, suspects),
        f"<h2>Suspicious remote hosts ({len(suspects)})</h2>",
    ]
    head = ("<table><tr><th>#</th><th>remote</th><th>total</th><th>finding</th>"
            "<th>score</th><th>why</th><th>first / last</th><th>local hosts</th>"
            "<th>services</th><th>evidence</th></tr>")
    if rows:
        body.append(head)
        body.extend(rows)
        body.append("</table>")
    if more:  # many suspects: the rest folded away
        body.append(f'<details class="more"><summary>{len(suspects) - OPEN_SUSPECTS} more '
                    f"suspects</summary>{head}")
        body.extend(more)
        body.append("</table></details>")
    else:
        body.append("<p>No suspicious remote hosts.</p>")
    for p in stats.problems:
        body.append(f'<p class="problem">warning: {_e(p)}</p>')
    if stats.unparsed:
        body.append(f"<h2>Unparsed lines ({stats.unparsed}), for example</h2><pre>{examples}</pre>")
    body.append("</body></html>")
    return "\n".join(body) + "\n"
