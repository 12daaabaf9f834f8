"""tcpwrap.report.detect: the paper's cracker, planted actors among ordinary traffic, bounds."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tcpwrap.cli import main
from tcpwrap.report.detect import Detector, Thresholds, rank, remote_domain
from tcpwrap.report.model import CONNECT, REFUSED, SPOOF, Event

PAPER = ("--tz", "UTC", "--year", "1991")


def report(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["report", "--json", *args]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def findings(doc: dict[str, Any], remote: str, kind: str | None = None) -> list[dict[str, Any]]:
    # a host is its address; the name it was logged with is among the finding's names
    return [f for f in doc["findings"]
            if remote.lower() in {f["remote"].lower(), *(n.lower() for n in f["names"])}
            and (kind is None or f["kind"] == kind)]


@pytest.fixture
def paper(capsys: pytest.CaptureFixture[str], fixtures: Path) -> dict[str, Any]:
    fig5 = fixtures / "paper_fig5.log"
    return report(capsys, *PAPER, "--year", f"{fig5}=1990", str(fig5),
                  str(fixtures / "paper_fig7.log"), str(fixtures / "paper_tftp.log"))


# -- the paper --------------------------------------------------------------------------------

def test_paper_counts(paper: dict[str, Any]) -> None:
    assert paper["lines"] == 21 + 19 + 6
    assert paper["unparsed"] == 0
    assert paper["hosts"] == ["svin01", "svin02", "trf.urb", "tuegate", "tuewsd", "tuewse",
                              "tuewso"]


def test_paper_monk_bursts(paper: dict[str, Any]) -> None:
    [burst] = findings(paper, "monk.rutgers.edu", "burst")
    assert burst["count"] >= 3
    assert burst["first"] == "1990-05-22T01:55:46+00:00"
    assert burst["local_hosts"] == ["tuegate", "tuewsd"]
    assert burst["evidence"][0] == "May 22 01:55:46 tuegate: systatd: connect from monk.rutgers.edu"


@pytest.mark.parametrize("remote", ["HAWAII-EMH1.PACOM.MIL", "RICHARKE-TCACCIS.ARMY.MIL"])
def test_paper_military_hosts_spread_at_night(paper: dict[str, Any], remote: str) -> None:
    [spread] = findings(paper, remote, "spread")
    assert spread["local_hosts"] == ["tuegate", "tuewsd", "tuewso"]
    [night] = findings(paper, remote, "night")
    assert night["count"] == 3
    assert night["first"].startswith("1990-05-22T0")


def test_paper_guzzle_bursts_against_svin01(paper: dict[str, Any]) -> None:
    # two bursts, each its own finding (not one range over both): fingers at 05:17-05:21,
    # then telnet, ftp and finger at 05:33-05:35
    first, second = sorted(findings(paper, "guzzle.Stanford.EDU", "burst"),
                           key=lambda f: f["first"])
    assert (first["first"], first["last"], first["count"]) == (
        "1991-01-30T05:17:57+00:00", "1991-01-30T05:21:03+00:00", 6)
    assert (second["first"], second["last"], second["count"]) == (
        "1991-01-30T05:33:33+00:00", "1991-01-30T05:35:36+00:00", 6)
    assert first["local_hosts"] == second["local_hosts"] == ["svin01"]
    assert first["services"] == ["finger"]
    assert {"finger", "telnet", "ftp"} <= set(second["services"])


def test_paper_systat_is_rare(paper: dict[str, Any]) -> None:
    rare = [f for f in paper["findings"] if f["kind"] == "rare-service"]
    assert {f["remote"] for f in rare} >= {"monk.rutgers.edu", "HAWAII-EMH1.PACOM.MIL",
                                          "RICHARKE-TCACCIS.ARMY.MIL", "guzzle.Stanford.EDU"}
    assert all(f["services"] == ["systat"] for f in rare)


def test_paper_tftp_retry_every_77_seconds(paper: dict[str, Any]) -> None:
    [retry] = findings(paper, "E40-008-8.MIT.EDU", "retry")
    assert retry["period_s"] == 77.0
    assert retry["count"] == 6
    assert retry["local_hosts"] == ["svin02"] and retry["services"] == ["tftp"]
    assert len(retry["evidence"]) == 6


def test_paper_ordinary_visitor_is_not_flagged(paper: dict[str, Any]) -> None:
    # gloworm.Stanford.EDU fingered svin01 once, by night: one night connection is not enough
    assert findings(paper, "gloworm.Stanford.EDU") == []


# -- planted actors among ordinary traffic ----------------------------------------------------

FORMATS = {"host00": "debian", "host01": "paper", "host02": "iso", "host03": "rfc5424",
           "host04": "journal", "host05": "tcpwrap"}


@pytest.fixture(scope="module")
def planted_logs(tmp_path_factory: pytest.TempPathFactory, loggen: ModuleType) -> list[Path]:
    rng = random.Random(4)
    hosts = loggen.hosts(6)
    events = loggen.ordinary(rng, hosts, clients=300, days=3, per_day=3) + loggen.plant(hosts)
    d = tmp_path_factory.mktemp("planted")
    paths: list[Path] = loggen.write_logs(d, events, FORMATS)
    return paths


def test_every_planted_actor_is_found_with_its_kind(
    capsys: pytest.CaptureFixture[str], planted_logs: list[Path], loggen: ModuleType
) -> None:
    doc = report(capsys, "--tz", "UTC", "--year", "2026", *map(str, planted_logs))
    assert doc["unparsed"] == 0
    assert doc["lines"] > 2000
    for remote, kind in loggen.ACTORS.items():
        assert findings(doc, remote, kind), f"{remote} not found as {kind}"


def test_ordinary_clients_are_not_flagged(
    capsys: pytest.CaptureFixture[str], planted_logs: list[Path], loggen: ModuleType
) -> None:
    doc = report(capsys, "--tz", "UTC", "--year", "2026", *map(str, planted_logs))
    flagged = {f["names"][0] if f["names"] else f["remote"] for f in doc["findings"]}
    innocent = {r for r in flagged if "example.org" in r or r.startswith("10.")}
    assert innocent == set()
    # and the planted actors only: each remote found is one of them (or one of its hosts)
    actors = set(loggen.ACTORS)
    assert {r for r in flagged if not any(r.endswith(a) for a in actors)} == set()


def test_actor_kinds_are_specific(
    capsys: pytest.CaptureFixture[str], planted_logs: list[Path]
) -> None:
    doc = report(capsys, "--tz", "UTC", "--year", "2026", *map(str, planted_logs))
    assert {f["kind"] for f in findings(doc, "spreader.attacker.test")} == {"spread"}
    assert {f["kind"] for f in findings(doc, "owl.attacker.test")} == {"night"}
    assert {f["kind"] for f in findings(doc, "burst.attacker.test")} == {"burst"}
    [retry] = findings(doc, "retrier.attacker.test", "retry")
    assert retry["period_s"] == 160.0
    [spoof] = findings(doc, "203.0.113.66", "spoof")
    assert spoof["count"] == 2 and "trusted.example.com" in spoof["evidence"][0]


# -- the detector directly --------------------------------------------------------------------

def mk(ts: float, remote: str, local: str = "h", service: str = "finger", kind: str = CONNECT,
       hour: int = 12) -> Event:
    return Event(ts, 0, int(ts), 0, hour, local, service, -1, kind, remote, None, None,
                 f"line {ts} {remote}")


def test_thresholds_are_configurable() -> None:
    evs = [mk(100 * i, "a.test") for i in range(4)]  # 4 connections, 100 s apart
    d = Detector()
    for e in evs:
        d.feed(e)
    assert [f.kind for f in d.findings()] == ["burst"]
    d = Detector(Thresholds(burst_count=5))
    for e in evs:
        d.feed(e)
    assert d.findings() == []
    d = Detector(Thresholds(burst_window=150))
    for e in evs:
        d.feed(e)
    assert d.findings() == []


def test_evidence_is_capped_but_count_is_not() -> None:
    d = Detector(Thresholds(evidence=5))
    for i in range(10_000):
        d.feed(mk(i, "flood.test"))
    [burst] = d.findings()
    assert burst.count == 10_000 and len(burst.evidence) == 5


def test_memory_is_bounded_by_hosts_not_events() -> None:
    d = Detector()
    for i in range(20_000):
        d.feed(mk(i * 7.0, f"c{i % 50}.test", local=f"h{i % 3}", kind=REFUSED))
    assert len(d.remotes) == 50
    assert all(len(r._times) <= 6 + 2 + 3 and len(r.ring()) == 2 for r in d.remotes.values())
    assert all(len(rt.intervals or []) <= 512 and len(rt.evidence) <= 20
               for rt in d.retries.values())


def test_irregular_refusals_are_no_retry() -> None:
    d = Detector()
    for t in (0, 40, 300, 320, 900, 2000, 2050):
        d.feed(mk(t, "noisy.test", kind=REFUSED))
    assert "retry" not in {f.kind for f in d.findings()}


def test_night_host_later_seen_by_day_is_not_night() -> None:
    d = Detector()
    d.feed(mk(0, "x.test", hour=2))
    d.feed(mk(5000, "x.test", hour=3))
    assert [f.kind for f in d.findings()] == ["night"]
    d.feed(mk(50000, "x.test", hour=14))
    assert d.findings() == []


def test_spoof_per_address_and_rank_sums_scores() -> None:
    d = Detector()
    d.feed(mk(0, "192.0.2.60", kind=SPOOF))
    d.feed(mk(10, "192.0.2.60", kind=SPOOF))
    for t in range(3):
        d.feed(mk(20 + t, "192.0.2.60", kind=REFUSED))
    fs = d.findings()
    assert {f.kind for f in fs} == {"spoof", "burst"}
    [suspect] = rank(fs)
    assert suspect.remote == "192.0.2.60"
    assert suspect.score == round(sum(f.score for f in fs), 2)


def test_statistical_rarity_needs_enough_data() -> None:
    d = Detector(Thresholds(rare_min_total=100))
    for i in range(200):
        d.feed(mk(i * 1000.0, f"c{i % 40}.test", service="ftp"))
    d.feed(mk(300_000, "odd.test", service="rexec"))
    rare = [f for f in d.findings() if f.kind == "rare-service"]
    assert [(f.remote, f.services) for f in rare] == [("odd.test", ["rexec"])]


@pytest.mark.parametrize(("name", "domain"), [
    ("guzzle.Stanford.EDU", "stanford.edu"), ("192.0.2.7", "192.0.2.0/24"),
    ("localhost", None), ("a.b", None), ("2001:db8::1", None)])
def test_remote_domain(name: str, domain: str | None) -> None:
    assert remote_domain(name) == domain


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 9])
def test_burst_of_any_size_keeps_its_first_events_as_evidence(n: int) -> None:
    d = Detector(Thresholds(burst_count=n))
    for i in range(3 * n):  # a slow start, then n connections within 10 s
        d.feed(mk(i * 1000.0, "slow.test") if i < n else mk(10 * n * 1000.0 + i, "slow.test"))
    [burst] = d.findings()
    assert burst.count == 2 * n and burst.evidence[0] == f"line {10 * n * 1000.0 + n} slow.test"
    [ring] = [r.ring() for r in d.remotes.values()]
    assert ring[-1].ts == 10 * n * 1000.0 + 3 * n - 1


# -- host identity is the address --------------------------------------------------------------

def mka(ts: float, name: str, addr: str | None, local: str = "h", kind: str = CONNECT) -> Event:
    return Event(ts, 0, int(ts), 0, 12, local, "finger", -1, kind, name, addr, None, f"l{ts}")


def test_a_host_is_its_address_with_every_name_seen() -> None:
    d = Detector()
    d.feed(mka(0, "a.example.test", "192.0.2.7"))
    d.feed(mka(10, "b.example.test", "192.0.2.7"))  # a new PTR name, the same host
    d.feed(mka(20, "192.0.2.7", "192.0.2.7"))
    d.feed(mka(30, "a.example.test", None))  # a name-only log: the address it had before
    [burst] = d.findings()
    assert burst.remote == "192.0.2.7" and burst.count == 4
    assert burst.names == ["a.example.test", "b.example.test"]


def test_unknown_peer_is_not_a_host() -> None:
    d = Detector()
    for t in range(5):
        d.feed(mka(t, "unknown", None, kind=REFUSED))
    assert d.findings() == [] and d.remotes == {} and d.anonymous == 5


def test_mapped_and_postfix_addresses_are_one_host(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "mixed.log"
    log.write_text(
        "Mar  3 10:00:00 gw in.fingerd[1]: connect from x.example.test (::ffff:192.0.2.9)\n"
        "Mar  3 10:00:05 gw postfix/smtpd[2]: connect from y.example.test[192.0.2.9]\n"
        "Mar  3 10:00:09 gw in.telnetd[3]: connect from 192.0.2.9 (192.0.2.9)\n")
    doc = report(capsys, "--tz", "UTC", "--year", "2026", str(log))
    [burst] = doc["findings"]
    assert burst["remote"] == "192.0.2.9" and burst["count"] == 3
    assert burst["names"] == ["x.example.test", "y.example.test"]


# -- a busy public server: the persistent attacker first, ordinary clients quiet ---------------

@pytest.fixture(scope="module")
def public_ftp(tmp_path_factory: pytest.TempPathFactory, loggen: ModuleType) -> list[Path]:
    d = tmp_path_factory.mktemp("ftp")
    paths: list[Path] = loggen.write_logs(d, loggen.public_ftp(random.Random(10)), {})
    return paths


def test_persistent_low_rate_attacker_ranks_first_among_busy_clients(
        capsys: pytest.CaptureFixture[str], public_ftp: list[Path], loggen: ModuleType) -> None:
    doc = report(capsys, "--tz", "UTC", "--year", "2026", *map(str, public_ftp))
    assert doc["lines"] > 15_000
    top = max(doc["findings"], key=lambda f: f["score"])
    assert (top["kind"], top["remote"]) == ("persistent", loggen.PERSISTENT)
    assert top["names"] == ["dialup-99.attacker.test"]
    assert top["first"].startswith("2026-03-02") and top["last"].startswith("2026-03-15")
    # and the ordinary clients (busy users, reconnecting ftp clients, nightly mirrors) are
    # not findings: on this server they are what ordinary looks like
    assert {f["remote"] for f in doc["findings"]} == {loggen.PERSISTENT}


def test_persistent_is_said_in_the_summary(capsys: pytest.CaptureFixture[str],
                                           public_ftp: list[Path]) -> None:
    assert main(["report", "--tz", "UTC", "--year", "2026", *map(str, public_ftp)]) == 0
    out = capsys.readouterr().out
    assert "  1. 198.51.100.99 (dialup-99.attacker.test)" in out
    assert "back on 14 days" in out and "refused" in out


def test_a_daily_regular_is_not_persistent() -> None:
    d = Detector()
    for day in range(20):  # a mirror's cron job: every day at 12:17, granted
        d.feed(mka(day * 86400 + 12 * 3600 + 17 * 60, "mirror.test", "192.0.2.30"))
    assert d.findings() == []
    for day in range(20, 40):  # the same host, refused from now on, round the clock
        for h in range(0, 24, 3):
            d.feed(mka(day * 86400 + h * 3600, "mirror.test", "192.0.2.30", kind=REFUSED))
    [f] = d.findings()
    assert f.kind == "persistent" and f.count == 20 + 20 * 8


@pytest.mark.parametrize(("events", "ring"), [(1, 2), (2, 2), (3, 2), (2, 1), (4, 5), (7, 5)])
def test_persistent_evidence_is_the_first_and_the_last_events_each_once(events: int,
                                                                       ring: int) -> None:
    d = Detector(Thresholds(persist_days=1, persist_visits=1, persist_score=0.0,
                            burst_count=ring + 1))
    for i in range(events):  # a day apart: no burst, a visit and a day each
        d.feed(mka(i * 86400.0, "back.test", "192.0.2.31", local=f"h{i}"))
    [f] = d.findings()
    last = range(max(0, events - ring), events)  # what the ring still holds
    first = [0] if events > ring else []
    assert f.kind == "persistent" and f.evidence == [f"l{i * 86400.0}" for i in [*first, *last]]
    assert f.local_hosts == sorted({"h0"} | {f"h{i}" for i in last})
    assert (f.first.ts, f.last.ts) == (0.0, (events - 1) * 86400.0)


def test_spread_evidence_holds_each_connection_once() -> None:
    d = Detector()
    for i in range(4):  # 400 s apart: no burst; the third local host makes the spread
        d.feed(mka(i * 400.0, "fan.test", "192.0.2.32", local=f"h{i}"))
    [f] = d.findings()
    # the ring (2) held the second and the third when the third local host was reached
    assert (f.kind, f.count) == ("spread", 3)
    assert f.evidence == ["l400.0", "l800.0", "l1200.0"]
    d = Detector()
    for i in range(4):  # two hosts of one domain, two local hosts each
        d.feed(mka(i * 400.0, f"n{i // 2}.fan.test", f"192.0.2.{40 + i // 2}", local=f"h{i}"))
    [f] = d.findings()
    assert (f.kind, f.remote, f.count) == ("spread", "fan.test", 4)
    assert f.evidence == ["l0.0", "l400.0", "l800.0", "l1200.0"]


def test_scores_are_uncapped_and_comparable() -> None:
    d = Detector()
    for i in range(100):
        d.feed(mk(i, "small.test"))
    for i in range(10_000):
        d.feed(mk(1e6 + i * 0.01, "flood.test"))
    small, flood = sorted(d.findings(), key=lambda f: f.count)
    assert flood.score > small.score > 10  # no cap at 10, no tie
    assert flood.score < 30  # logarithmic: a flood does not drown every other finding


def test_each_burst_is_its_own_finding() -> None:
    d = Detector()
    for day in range(3):  # three bursts of 4, days apart
        for i in range(4):
            d.feed(mk(day * 86400 + i * 10, "b.test"))
    bursts = d.findings()
    assert [(f.kind, f.count, f.last.ts - f.first.ts) for f in bursts] == [("burst", 4, 30)] * 3
    [suspect] = rank(bursts)
    assert suspect.score == round(bursts[0].score + 0.5 * math.log2(3), 2)


def test_planted_actors_stand_out_on_a_busy_ftp_server(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, loggen: ModuleType) -> None:
    # the busy server's ordinary ftp bursts and night-only clients raise the bar for ftp,
    # not for the finger burst or the telnet owl: each actor is still found, no client is
    hosts = ["ftp01", "host01", "host02", "host03", "host04"]
    events = loggen.public_ftp(random.Random(10), days=3, clients=100) + loggen.plant(hosts)
    paths = loggen.write_logs(tmp_path, events, {})
    doc = report(capsys, "--tz", "UTC", "--year", "2026", *map(str, paths))
    for remote, kind in loggen.ACTORS.items():
        assert findings(doc, remote, kind), f"{remote} not found as {kind}"
    flagged = {n for f in doc["findings"] for n in [f["remote"], *f["names"]]}
    assert not {r for r in flagged if "example.net" in r or "example.org" in r}
