"""tcpwrap.report.render_text: terminal summary and timeline, control characters removed."""

from __future__ import annotations

from tcpwrap.report.detect import Suspect
from tcpwrap.report.model import CONNECT, REFUSED, Event, Finding, Stats
from tcpwrap.report.render_text import clean, summary, timeline, timeline_line


def ev(remote: str = "guzzle.Stanford.EDU", kind: str = CONNECT, addr: str | None = None,
       user: str | None = None) -> Event:
    return Event(665212202.0, 0, 1, 0, 5, "svin01", "finger", -1, kind, remote, addr, user,
                 "raw")


def test_timeline_in_the_papers_style() -> None:
    assert timeline_line(ev()) == (
        "1991-01-30 05:10:02 svin01: finger: connect from guzzle.Stanford.EDU")
    assert timeline_line(ev("a.b", REFUSED, "1.2.3.4", "joe")) == (
        "1991-01-30 05:10:02 svin01: finger: refused connect from joe@a.b (1.2.3.4)")
    assert timeline([ev()], dropped=3).endswith("... 3 more events not shown (raise --limit)\n")


def test_control_characters_never_reach_the_terminal() -> None:
    assert clean("a\x1b[2Jb\x07\x9bc\n") == "a?[2Jb??c?"
    assert len(clean("x" * 1000, 50)) == 50
    line = timeline_line(ev("evil\x1b]0;pwned\x07.test"))
    assert "\x1b" not in line and "\x07" not in line


def test_summary_ranks_and_explains() -> None:
    f = Finding("burst", "bad\x1b.test", ["svin01"], ["finger"], ev(), ev(), 7, 4.0,
                ["raw"], None, "7 connections within 5 min")
    stats = Stats(lines=9, events=8,
                  local_hosts={"svin01"}, problems=["g.gz: input ends early: x"])
    stats.unparsed_line("f.log", 3, "junk\x1b")
    text = summary(stats, [Suspect("bad\x1b.test", 4.0, [f])], 2, 20, {"systat": "watch"})
    assert "\x1b" not in text
    assert "  1. bad?.test  score 4  [burst]" in text
    assert "7 connections within 5 min" in text
    assert "f.log:3: junk?" in text
    assert "warning: g.gz: input ends early: x" in text
    assert "Rare services: systat (watch)" in text
    assert "No suspicious remote hosts." in summary(Stats(), [], 1, 20, {})


def test_invisible_reordering_characters_are_replaced() -> None:
    assert clean("evil\u202egnp.exe\u2066x\u200by\u2028z\ufeff") == "evil?gnp.exe?x?y?z?"
