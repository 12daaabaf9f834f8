"""tcpwrap.report.render_html: a self-contained, escaped page with the timeline picture."""

from __future__ import annotations

import re
from itertools import pairwise

from tcpwrap.report.detect import Detector, rank
from tcpwrap.report.model import CONNECT, REFUSED, Event, Stats
from tcpwrap.report.render_html import (
    COUNT_COLOR,
    LABEL_W,
    PALETTE,
    PLOT_W,
    SHAPES,
    Axis,
    Marks,
    host_colors,
    label_width,
    page,
    service_shape,
    service_shapes,
    short_name,
)

EVIL = '<script>alert(1)</script>"\'&<img src=x onerror=alert(2)>'


def ev(ts: float, remote: str, local: str, service: str = "finger",
       kind: str = CONNECT) -> Event:
    return Event(ts, 0, int(ts), 0, 12, local, service, -1, kind, remote, None, None,
                 f"raw {remote} {local}")


def build(events: list[Event]) -> str:
    d = Detector()
    marks = Marks()
    for e in events:
        d.feed(e)
        marks.add(e)
    stats = Stats(lines=len(events), events=len(events), local_hosts=set(d.local_hosts))
    stats.unparsed_line("f.log", 1, EVIL)
    return page(stats, rank(d.findings()), marks, 1, d.rare_services())


def test_hostile_strings_are_escaped_everywhere() -> None:
    events = [ev(i * 10.0, EVIL, f"h{i % 3}{EVIL}", service=EVIL, kind=REFUSED)
              for i in range(6)]
    html = build(events)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")


def test_self_contained_no_network() -> None:
    html = build([ev(i * 10.0, "a.test", "h1") for i in range(5)])
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""<[^>]*\b(src|href)\s*=|url\(|@import""", html)
    # the only URL is the SVG namespace name, which is never fetched
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]


def test_picture_has_one_mark_per_event_coloured_by_local_host() -> None:
    events = [ev(i * 60.0, "a.test", ["h1", "h2"][i % 2]) for i in range(6)]
    events += [ev(500.0, "b.test", "h2", service="telnet")]
    html = build(events)
    svg = html[html.index("<svg"):html.index("</svg>")]
    colors = host_colors(["h1", "h2"])
    assert colors == {"h1": PALETTE[0], "h2": PALETTE[1]}
    assert svg.count(f'fill="{PALETTE[0]}"') == 3
    assert svg.count(f'fill="{PALETTE[1]}"') == 4
    assert svg.count("<circle") == 6  # finger: circles
    assert svg.count("<rect x=") >= 1  # telnet: a square (plus the row stripes)
    assert ">a.test<title>" in svg  # suspects are drawn, by name


def test_marks_are_bounded_per_remote() -> None:
    marks = Marks(per_remote=10)
    for i in range(1000):
        marks.add(ev(float(i), "flood.test", "h"))
    row = marks.rows["flood.test"]
    assert len(row.ts) == 10 and row.total == 1000


def test_empty_input_still_makes_a_page() -> None:
    html = page(Stats(), [], Marks(), 0, {})
    assert "No connections to draw." in html and "No suspicious remote hosts." in html


def test_a_domain_suspect_is_drawn_as_its_hosts() -> None:
    # two hosts of one domain reach four local hosts: a domain-level spread
    events = [ev(400.0 * i, f"n{i // 2}.evil.test", f"h{i}") for i in range(4)]
    events += [ev(5.0 + i, f"ok{i}.fine.test", "h0") for i in range(2)]
    html = build(events)
    assert "<td rowspan=\"1\" class=\"remote\">evil.test</td>" in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert 'font-weight="bold" fill="#222222">n0.evil.test<title>' in svg
    assert 'font-weight="bold" fill="#222222">n1.evil.test<title>' in svg
    assert 'font-weight="normal" fill="#222222">ok0.fine.test<title>' in svg


def test_invisible_characters_are_replaced_in_the_page() -> None:
    html = build([ev(i * 10.0, "a\u202eb.test\x1b", "h") for i in range(3)])
    assert "\u202e" not in html and "\x1b" not in html and "a?b.test?" in html


def test_marks_at_one_spot_are_one_mark_with_a_count() -> None:
    events = [ev(1000.0 + i * 0.05, "a.test", "h1") for i in range(11)]  # 11 in one second
    events += [ev(5000.0, "a.test", "h1")]
    svg = (html := build(events))[html.index("<svg"):html.index("</svg>")]
    assert svg.count("<circle") == 2
    assert f'fill="{COUNT_COLOR}">11</text>' in svg
    assert "11 x connect a.test" in svg


def test_service_shapes_are_the_same_in_every_report() -> None:
    assert service_shapes(["finger"]) == {"finger": "circle"}
    assert service_shapes(["aaa", "finger", "zzz"])["finger"] == "circle"
    assert service_shape("telnet") == "square" and service_shape("ftp") == "triangle"
    assert service_shape("weird-svc") == service_shape("weird-svc") in SHAPES


def test_tick_labels_never_overlap_and_every_segment_has_ticks() -> None:
    # 12 bursts a day apart, each an hour long: many segments, little room each
    times = [day * 86400.0 + m * 60.0 for day in range(12) for m in range(0, 60, 5)]
    axis = Axis(times, LABEL_W, PLOT_W)
    ticks = axis.ticks(0)
    labelled = [(x, text) for x, text in ticks if text]
    for (x0, t0), (x1, _) in pairwise(labelled):
        assert x0 + label_width(t0) + 7.9 <= x1, (t0, x0, x1)
    for _, _, sx0, sx1 in axis.segments:
        assert any(sx0 - 0.5 <= x <= sx1 + 0.5 for x, _ in ticks)
    assert len(labelled) >= 4


def test_long_host_names_keep_their_domain() -> None:
    name = "a-very-long-dynamic-pool-name-192-0-2-7.customers.region.isp.example.net"
    short = short_name(name)
    assert len(short) == 36 and short.endswith("region.isp.example.net") and "…" in short
    labelled = short_name(f"198.51.100.7 ({name})")
    assert labelled.startswith("198.51.100.7 (") and labelled.endswith(".example.net)")
    assert len(labelled) == 36
    svg = (html := build([ev(i * 10.0, name, "h1") for i in range(3)]))[
        html.index("<svg"):html.index("</svg>")]
    assert f">{short}<title>{name} (3 events)</title>" in svg


def test_many_suspects_are_folded_after_the_first_twenty() -> None:
    events = [ev(i * 1000.0 + k, f"s{i}.test", "h1") for i in range(30) for k in range(3)]
    html = build(events)
    assert '<details class="more"><summary>10 more suspects</summary>' in html
    head, folded = html.split('<details class="more">', 1)
    assert head.count('class="remote"') == 20 and folded.count('class="remote"') == 10
