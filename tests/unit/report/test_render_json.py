"""tcpwrap.report.render_json: exactly the issue's schema."""

from __future__ import annotations

import json

from tcpwrap.report.model import CONNECT, Event, Finding, Stats
from tcpwrap.report.render_json import render


def ev(ts: float, off: int = 3600) -> Event:
    return Event(ts, 0, 1, off, 0, "h", "tftp", -1, CONNECT, "r", None, None, "line")


def finding(kind: str, period: float | None = None) -> Finding:
    return Finding(kind, "e40.test\x1b", ["svin02"], ["tftp"], ev(0), ev(385.5), 6, 3.5,
                   ["l1", "l2"], period, "why")


def test_document_schema() -> None:
    stats = Stats(lines=10, unparsed=2, local_hosts={"b", "a"})
    doc = json.loads(render(stats, [finding("retry", 77.0), finding("burst")]))
    assert list(doc) == ["lines", "unparsed", "hosts", "zones", "note", "findings"]
    assert (doc["lines"], doc["unparsed"], doc["hosts"]) == (10, 2, ["a", "b"])
    retry, burst = doc["findings"]
    assert list(retry) == ["kind", "remote", "names", "local_hosts", "services", "first", "last",
                           "count", "score", "period_s", "evidence"]
    assert "period_s" not in burst
    assert retry["period_s"] == 77.0
    assert retry["first"] == "1970-01-01T01:00:00+01:00"
    assert retry["last"] == "1970-01-01T01:06:25.500+01:00"
    assert retry["evidence"] == ["l1", "l2"]
    assert retry["remote"] == "e40.test\x1b"


def test_output_is_ascii_with_escapes() -> None:
    text = render(Stats(), [finding("burst")])
    assert text.isascii() and "\x1b" not in text and "\\u001b" in text
