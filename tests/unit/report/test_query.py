"""tcpwrap.report.query: the filters."""

from __future__ import annotations

import pytest

from tcpwrap.report.model import CONNECT, REFUSED, TWIST, Event
from tcpwrap.report.query import Query, parse_time
from tcpwrap.report.sources import ReportError, parse_zone


def ev(remote: str = "guzzle.Stanford.EDU", addr: str | None = "192.0.2.7",
       local: str = "svin01", service: str = "finger", kind: str = CONNECT,
       ts: float = 1000.0) -> Event:
    return Event(ts, 0, 1, 0, 0, local, service, -1, kind, remote, addr, None, "")


def test_empty_query_matches_everything() -> None:
    q = Query.build()
    assert q.empty and q.match(ev())


@pytest.mark.parametrize(("pattern", "hit"), [
    ("guzzle.stanford.edu", True), (".stanford.edu", True), ("stanford.edu", False),
    (".Stanford.EDU", True), ("192.0.2.7", True), ("192.0.2.", True), ("192.0.3.", False),
    (".edu", True), ("gloworm.stanford.edu", False)])
def test_remote_patterns(pattern: str, hit: bool) -> None:
    assert Query.build(remotes=[pattern]).match(ev()) is hit


def test_time_local_service_verdict() -> None:
    assert not Query.build(since=1001).match(ev())
    assert Query.build(since=1000, until=1000).match(ev())
    assert not Query.build(until=999).match(ev())
    assert Query.build(locals_=["SVIN01"]).match(ev())
    assert not Query.build(locals_=["tuegate"]).match(ev())
    assert Query.build(services=["in.fingerd"]).match(ev())
    assert not Query.build(services=["telnet"]).match(ev())
    assert not Query.build(verdicts=["denied"]).match(ev())
    assert Query.build(verdicts=["denied"]).match(ev(kind=REFUSED))
    assert Query.build(verdicts=["twisted", "granted"]).match(ev(kind=TWIST))


def test_bad_values() -> None:
    with pytest.raises(ReportError):
        Query.build(verdicts=["maybe"])
    with pytest.raises(ReportError):
        parse_time("last tuesday")


def test_parse_time_zone() -> None:
    assert parse_time("1970-01-01T01:00", parse_zone("UTC")) == 3600
    assert parse_time("1970-01-01T01:00+01:00") == 0
