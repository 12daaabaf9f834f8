"""tcpwrap.report.parse on every input format of issue 10, from the fixtures in
tests/fixtures/report/formats (written from the formats' descriptions)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tcpwrap.report.model import CONNECT, REFUSED, Event, Stats
from tcpwrap.report.parse import SourceParser
from tcpwrap.report.sources import YearInference, Zone

REF = datetime(2026, 12, 1, tzinfo=UTC)


def parse_file(fixtures: Path, name: str, year: int | None = 2005,
               zone: str = "UTC") -> tuple[list[Event], Stats]:
    lines = (fixtures / "formats" / name).read_text().splitlines()
    stats = Stats()
    parser = SourceParser(0, name, YearInference(REF, year), Zone(zone), stats)
    events = list(parser.events(list(lines)))
    assert stats.lines == len(lines)
    return events, stats


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_ftpd_connection_lines_with_their_own_year(fixtures: Path) -> None:
    # the line's own "at Fri Jun 17 07:07:00 2005" wins over the inferred year (here 2026)
    events, stats = parse_file(fixtures, "ftpd.log", year=2026)
    assert [(e.local, e.service, e.kind, e.remote, e.addr) for e in events] == [
        ("honey", "ftp", CONNECT, "scan7.attacker.test", "198.51.100.7"),
        ("honey", "ftp", CONNECT, "198.51.100.8", "198.51.100.8"),  # "()": no name
        ("sol9", "ftp", CONNECT, "box20.example", "203.0.113.20"),  # Solaris in.ftpd
    ]
    assert events[0].ts == ts("2005-06-17T07:07:00+00:00")
    assert events[2].daemon == "in.ftpd" and events[2].pid == 3301
    assert stats.other == 1 and stats.unparsed == 0  # the LOGIN REFUSED line


def test_solaris_id_tag_and_inetd_trace(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "solaris.log")
    assert [(e.service, e.kind, e.remote, e.addr, e.pid) for e in events] == [
        ("telnet", CONNECT, "198.51.100.9", "198.51.100.9", 4401),
        ("finger", REFUSED, "198.51.100.9", "198.51.100.9", 4402),
        ("ftp", CONNECT, "198.51.100.9", "198.51.100.9", 4410),
        ("telnet", CONNECT, "2001:db8::9", "2001:db8::9", 4411),
    ]
    assert stats.other == 1 and stats.unparsed == 0
    assert stats.programs == {"inetd": 1}


def test_single_digit_day_with_one_space(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "unpadded.log", year=2026)
    assert stats.unparsed == 0 and len(events) == 4
    assert [e.ts for e in events] == [ts(f"2026-09-04T16:05:{s}+00:00") for s in
                                      ("09", "10", "11")] + [ts("2026-09-14T16:05:12+00:00")]
    assert events[0].text.startswith("Sep 4 16:05:09 gw")  # the raw line is kept
    assert (events[1].kind, events[1].remote, events[1].addr) == (REFUSED, "192.0.2.42",
                                                                  "192.0.2.42")


def test_collector_prefix_gives_year_and_node(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "collector.log", year=2026)
    assert [(e.local, e.service, e.kind, e.addr, e.duration) for e in events] == [
        ("tn17", "rsh", REFUSED, "192.0.2.51", 0.0),  # START+libwrap+FAIL+EXIT: one record
        ("tn18", "telnet", CONNECT, "192.0.2.52", None),
    ]
    assert events[0].ts == ts("2005-11-09T12:01:43+00:00")
    assert stats.unparsed == 0 and stats.other == 1  # crond


def test_stamps_with_year_and_zone(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "yearzone.log", year=2026, zone="+05:00")
    assert stats.unparsed == 0
    assert [e.ts for e in events] == [
        ts("2005-06-17T11:07:00+00:00"), ts("2005-06-17T11:07:01+00:00"),
        ts("2005-06-17T11:07:02+00:00"),
        ts("2005-06-17T02:07:03+00:00"),  # an unknown zone name: the source's zone
    ]
    assert [e.off for e in events] == [-4 * 3600, 0, 2 * 3600, 5 * 3600]
    assert events[1].kind == REFUSED


def test_classic_daemons_own_lines(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "daemons.log", year=2026)
    assert [(e.service, e.kind, e.remote, e.addr) for e in events] == [
        ("rsh", REFUSED, "203.0.113.70", "203.0.113.70"),  # on illegal port
        ("rlogin", REFUSED, "203.0.113.70", "203.0.113.70"),
        ("rexec", CONNECT, "203.0.113.71", "203.0.113.71"),
        ("klogin", CONNECT, "host72.example.test", "203.0.113.72"),
        ("rlogin", CONNECT, "203.0.113.73", "203.0.113.73"),
        ("rsh", CONNECT, "203.0.113.74", "203.0.113.74"),
        ("smtp", CONNECT, "mx.example.test", "203.0.113.75"),  # postfix name[addr]
        ("smtp", CONNECT, "203.0.113.76", "203.0.113.76"),  # unknown[addr]: the address
        ("telnet", REFUSED, "unknown", None),  # no peer: kept, but no host (see detect)
    ]
    assert stats.unparsed == 0 and stats.other == 0


def test_syslogd_own_lines_and_blank_lines_are_not_unparsed(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "noise.log", year=2026)
    assert len(events) == 1
    assert stats.unparsed == 0 and stats.other == 7


def test_xinetd_records_of_one_connection_are_one_record(fixtures: Path) -> None:
    events, stats = parse_file(fixtures, "xinetd.log", year=2026)
    got = [(e.service, e.kind, e.remote, e.addr, e.duration, e.lineno) for e in events]
    assert got == [
        ("telnet", REFUSED, "192.0.2.90", "192.0.2.90", 0.0, 1),  # START libwrap FAIL EXIT
        # START + in.fingerd's own line (same pid and address) + EXIT
        ("finger", CONNECT, "c91.example.test", "192.0.2.91", 2.0, 5),
        ("ftp", REFUSED, "192.0.2.92", "192.0.2.92", None, 8),  # only_from refusal
        # a long session: EXIT comes after the record had to go (no duration), then "other"
        ("telnet", CONNECT, "192.0.2.93", "192.0.2.93", None, 10),
        ("finger", CONNECT, "192.0.2.94", "192.0.2.94", None, 11),
    ]
    assert stats.other == 1 and stats.events == 5
    assert [e.ts for e in events] == sorted(e.ts for e in events)  # still in line order


def test_xinetd_refusals_of_two_services_from_one_pid_are_two_records() -> None:
    lines = [
        "Nov 27 01:02:03 gw xinetd[77]: FAIL: ftp libwrap from=192.0.2.5",
        "Nov 27 01:02:04 gw xinetd[77]: libwrap refused connection to telnet from 192.0.2.5",
    ]
    parser = SourceParser(0, "x", YearInference(REF, 2026), Zone("UTC"), Stats())
    got = [(e.service, e.kind) for e in parser.events(lines)]
    assert got == [("ftp", REFUSED), ("telnet", REFUSED)]


def test_xinetd_join_is_bounded(fixtures: Path) -> None:
    # 10,000 STARTs whose EXIT never comes: held at most _MAX_HELD events, none lost
    lines = [f"Nov 27 01:02:03 gw xinetd[77]: START: telnet pid={i} from=192.0.2.1"
             for i in range(10_000)]
    stats = Stats()
    parser = SourceParser(0, "x", YearInference(REF, 2026), Zone("UTC"), stats)
    count = 0
    for _ in parser.events(lines):
        count += 1
        assert len(parser._held) <= 4097
    assert count == 10_000


def test_unparsed_examples_are_the_most_frequent_shapes() -> None:
    lines = ["odd line 1"] + [f"noise {i} from 192.0.2.{i % 250}" for i in range(50)] + [
        f"other thing {i}" for i in range(10)] + ["odd line 2"]
    stats = Stats(max_examples=2)
    parser = SourceParser(0, "s.log", YearInference(REF, 2026), Zone("UTC"), stats)
    assert list(parser.events(lines)) == []
    assert stats.unparsed == 62
    assert stats.shapes() == [("s.log", 2, "noise 0 from 192.0.2.0", 50),
                              ("s.log", 52, "other thing 0", 10)]
