"""tcpwrap.report.parse: every input format, the tcpd messages, and hostile input."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.report import parse as parse_module
from tcpwrap.report.model import CONNECT, REFUSED, SPOOF, TWIST, Event, Stats
from tcpwrap.report.parse import SourceParser, service_name, tcpd_message, xinetd_message
from tcpwrap.report.sources import YearInference, Zone

REF = datetime(2026, 12, 1, tzinfo=UTC)


def parse(lines: list[str | None], year: int | None = 2026, zone: str = "UTC",
          ref: datetime = REF) -> tuple[list[Event], Stats]:
    stats = Stats()
    parser = SourceParser(0, "test.log", YearInference(ref, year), Zone(zone), stats)
    return list(parser.events(lines)), stats


def one(line: str, **kw: object) -> Event:
    events, stats = parse([line], **kw)  # type: ignore[arg-type]
    assert len(events) == 1, (line, stats)
    return events[0]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- classic syslog ---------------------------------------------------------------------------

def test_paper_form_host_with_colon_no_pid() -> None:
    e = one("May 21 14:06:53 tuegate: systatd: connect from monk.rutgers.edu", year=1990)
    assert (e.local, e.service, e.kind, e.remote, e.addr, e.pid) == (
        "tuegate", "systat", CONNECT, "monk.rutgers.edu", None, -1)
    assert e.ts == ts("1990-05-21T14:06:53+00:00")
    assert (e.hour, e.off, e.lineno) == (14, 0, 1)


def test_paper_tftp_refusal_space_padded_day() -> None:
    e = one("Jan  4 18:58:28 svin02 tftpd: refused connect from E40-008-8.MIT.EDU", year=1991)
    assert (e.local, e.service, e.kind, e.remote) == ("svin02", "tftp", REFUSED,
                                                      "E40-008-8.MIT.EDU")
    assert e.ts == ts("1991-01-04T18:58:28+00:00")


def test_todays_form_with_pid_and_address() -> None:
    e = one("Nov 27 01:02:03 host in.fingerd[123]: connect from a.b (1.2.3.4)")
    assert (e.local, e.service, e.pid, e.remote, e.addr, e.user) == (
        "host", "finger", 123, "a.b", "1.2.3.4", None)
    assert e.ts == ts("2026-11-27T01:02:03+00:00")
    assert e.text == "Nov 27 01:02:03 host in.fingerd[123]: connect from a.b (1.2.3.4)"


def test_user_at_host_and_ipv6_and_mapped_addresses() -> None:
    e = one("Nov 27 01:02:03 h in.fingerd[1]: connect from j:o:e@192.0.2.1 (192.0.2.1)")
    assert (e.user, e.remote, e.addr) == ("j:o:e", "192.0.2.1", "192.0.2.1")
    e = one("Nov 27 01:02:03 h in.fingerd[1]: refused connect from 2001:db8::1 (2001:db8::1)")
    assert (e.kind, e.remote, e.addr) == (REFUSED, "2001:db8::1", "2001:db8::1")
    e = one("Nov 27 01:02:03 h in.fingerd[1]: connect from alpha.example.com "
            "(::ffff:192.0.2.1)")
    assert e.addr == "192.0.2.1"
    e = one("Nov 27 01:02:03 h in.fingerd[1]: connect from ::ffff:192.0.2.9 (::ffff:192.0.2.9)")
    assert (e.remote, e.addr) == ("192.0.2.9", "192.0.2.9")


def test_mismatch_warning_is_a_spoof_event_keyed_by_address() -> None:
    e = one("Nov 27 01:02:03 h in.fingerd[9]: warning: /etc/hosts.deny, line 1: host "
            "name/address mismatch: 192.0.2.60 != liar.dns.test")
    assert (e.kind, e.remote, e.addr, e.service) == (SPOOF, "192.0.2.60", "192.0.2.60", "finger")


def test_twist_record() -> None:
    e = one("Nov 27 01:02:03 h in.fingerd[9]: twist 192.0.2.1 to /bin/echo 421 go away")
    assert (e.kind, e.remote) == (TWIST, "192.0.2.1")


def test_all_recorded_real_tcpd_lines(fixtures: Path) -> None:
    lines = fixtures.joinpath("tcpd_real.log").read_text().splitlines()
    events, stats = parse(list(lines))
    assert stats.unparsed == 0 and stats.examples == []
    assert stats.lines == len(lines) == 76
    kinds = [e.kind for e in events]
    assert kinds.count(SPOOF) == 2
    assert kinds.count(TWIST) == 3
    assert kinds.count(CONNECT) + kinds.count(REFUSED) == 58
    assert stats.other == 76 - len(events) == 13  # aclexec, errors, other warnings
    assert {e.service for e in events} == {"finger", "telnet", "tftp", "nosuch"}


def test_other_syslog_lines_are_other_not_unparsed() -> None:
    events, stats = parse([
        "Nov 27 01:02:03 h sshd[5]: Accepted publickey for root from 192.0.2.1 port 22",
        "Nov 27 01:02:03 h in.fingerd[5]: error: cannot execute /x: No such file",
        "Nov 27 01:02:03 h in.fingerd[5]: aclexec returned 1",
    ])
    assert events == [] and stats.other == 3 and stats.unparsed == 0


def test_iso_stamped_syslog_keeps_its_offset() -> None:
    e = one("2026-11-27T01:02:03.250000+01:00 gw in.telnetd[77]: connect from x.y (192.0.2.5)")
    assert e.ts == ts("2026-11-27T00:02:03.25+00:00")
    assert (e.off, e.hour, e.service, e.local) == (3600, 1, "telnet", "gw")


# -- other formats ----------------------------------------------------------------------------

def test_rfc5424() -> None:
    e = one('<30>1 2026-11-27T01:02:03Z gw in.fingerd 4242 - [meta x="]"] '
            "\ufeffrefused connect from evil.test (203.0.113.9)")
    assert (e.kind, e.pid, e.remote, e.addr, e.local) == (REFUSED, 4242, "evil.test",
                                                          "203.0.113.9", "gw")
    assert e.ts == ts("2026-11-27T01:02:03+00:00")
    e = one("<30>1 2026-11-27T01:02:03.5-05:00 gw tcpd - - - connect from a (192.0.2.1)")
    assert e.off == -5 * 3600 and e.pid == -1


def test_journal_json_including_byte_array_message() -> None:
    entry = {"__REALTIME_TIMESTAMP": "1795741323000000", "_HOSTNAME": "gw",
             "SYSLOG_IDENTIFIER": "in.fingerd", "_PID": "31",
             "MESSAGE": "connect from a.example (192.0.2.1)"}
    e = one(json.dumps(entry))
    assert (e.ts, e.local, e.service, e.pid, e.remote) == (1795741323.0, "gw", "finger", 31,
                                                           "a.example")
    entry["MESSAGE"] = list(b"refused connect from b.example (192.0.2.2) \xff")  # type: ignore
    e = one(json.dumps(entry))
    assert (e.kind, e.remote) == (REFUSED, "b.example")


def test_tcpwrap_json_record() -> None:
    rec = {"time": "2026-11-27T01:02:03+02:00", "host": "gw", "daemon": "in.fingerd",
           "pid": 9, "event": "refused",
           "client": {"addr": "192.0.2.7", "name": "x.test", "user": "joe", "port": 4000},
           "server": {"addr": "192.0.2.1", "port": 79}, "verdict": "denied",
           "rule": {"file": "/etc/hosts.deny", "line": 2}, "message": None,
           "lookups": ["name"], "traps": []}
    e = one(json.dumps(rec))
    assert (e.kind, e.remote, e.addr, e.user, e.off, e.hour) == (
        REFUSED, "x.test", "192.0.2.7", "joe", 7200, 1)
    rec["event"] = "warning"
    rec["message"] = "host name/address mismatch: 192.0.2.7 != x.test"
    e = one(json.dumps(rec))
    assert (e.kind, e.remote) == (SPOOF, "192.0.2.7")


def test_xinetd_and_inetd_lines() -> None:
    events, stats = parse([
        "Nov 27 01:02:03 gw xinetd[77]: START: finger pid=1234 from=192.0.2.1",
        "Nov 27 01:02:04 gw xinetd[77]: FAIL: telnet libwrap from=::ffff:192.0.2.2",
        "Nov 27 01:02:05 gw xinetd[77]: libwrap refused connection to ftp "
        "(libwrap=in.ftpd) from 192.0.2.3",
        "Nov 27 01:02:06 gw xinetd[77]: EXIT: finger status=0 pid=1234 duration=0(sec)",
        "Nov 27 01:02:07 gw inetd[3]: systat from 192.0.2.4",
    ])
    assert [(e.kind, e.service, e.remote) for e in events] == [
        (CONNECT, "finger", "192.0.2.1"), (REFUSED, "telnet", "192.0.2.2"),
        (REFUSED, "ftp", "192.0.2.3"), (CONNECT, "systat", "192.0.2.4")]
    # EXIT is part of the finger connection's record (its duration), not a line of its own
    assert stats.other == 0 and events[0].duration == 0.0


# -- hostile input ----------------------------------------------------------------------------

GARBAGE = [
    "",
    "\x00\x01\x02",
    "May 21 14:06",  # truncated stamp
    "May 21 14:06:53 tuegate: systatd: conn",  # truncated message (well-formed envelope)
    "Feb 30 10:00:00 h in.fingerd[1]: connect from a (1.2.3.4)",  # no such day
    "Xyz 21 14:06:53 h in.fingerd[1]: connect from a (1.2.3.4)",  # no such month
    "{not json",
    "[1, 2, 3]",
    '{"time": "yesterday", "event": "connect"}',
    '{"__REALTIME_TIMESTAMP": "12x", "MESSAGE": "connect from a"}',
    "<999>1 - - - - - - connect from a",
    "connect from nowhere (1.2.3.4)",
    "\udcff" * 10,
    None,  # a line the reader found too long
]


def test_garbage_is_counted_never_raised() -> None:
    events, stats = parse(list(GARBAGE))
    assert events == []
    assert stats.lines == len(GARBAGE)
    assert stats.unparsed + stats.other == len(GARBAGE)
    assert stats.other == 2  # the blank line; the truncated message in a good envelope
    assert len(stats.examples) == 5  # capped
    assert stats.examples[0] == ("test.log", 2, "\x00\x01\x02")


def test_nested_json_bomb_does_not_crash() -> None:
    events, stats = parse(["[" * 100_000 + "]" * 100_000, "{" + '"a":' * 50_000])
    assert events == [] and stats.unparsed == 2


def test_mixed_formats_in_one_source_keep_line_numbers() -> None:
    lines = [
        "May 21 14:06:53 tuegate: systatd: connect from monk.rutgers.edu",
        "garbage",
        "<30>1 2026-05-21T14:07:00Z gw fingerd - - - connect from x (192.0.2.1)",
        '{"__REALTIME_TIMESTAMP": "1779372480000000", "_HOSTNAME": "gw2", '
        '"SYSLOG_IDENTIFIER": "in.telnetd", "MESSAGE": "connect from y (192.0.2.2)"}',
    ]
    events, stats = parse(list(lines))
    assert [e.lineno for e in events] == [1, 3, 4]
    assert stats.unparsed == 1 and stats.examples == [("test.log", 2, "garbage")]


def test_year_follows_months_across_new_year() -> None:
    events, _ = parse([
        "Dec 31 23:59:58 h in.fingerd[1]: connect from a (192.0.2.1)",
        "Jan  1 00:00:01 h in.fingerd[2]: connect from a (192.0.2.1)",
    ], year=None, ref=datetime(2027, 1, 2, tzinfo=UTC))
    assert [e.ts for e in events] == [ts("2026-12-31T23:59:58+00:00"),
                                      ts("2027-01-01T00:00:01+00:00")]


def test_zone_of_classic_lines() -> None:
    e = one("Jul  1 12:00:00 h in.fingerd[1]: connect from a (192.0.2.1)",
            zone="Europe/Amsterdam")
    assert e.ts == ts("2026-07-01T10:00:00+00:00")
    assert (e.off, e.hour) == (7200, 12)


@pytest.mark.parametrize(("program", "service"), [
    ("in.fingerd", "finger"), ("systatd", "systat"), ("/usr/sbin/in.tftpd", "tftp"),
    ("ftpd", "ftp"), ("sshd", "ssh"), ("rsh", "rsh"), ("", "?")])
def test_service_names(program: str, service: str) -> None:
    assert service_name(program) == service


def test_message_parsers_reject_non_records() -> None:
    assert tcpd_message("connected from a") is None
    assert tcpd_message("twist") is None
    assert tcpd_message("warning: /etc/hosts.allow, line 1: missing newline") is None
    assert xinetd_message("Started working: 5 available services") is None


def test_tcpwrap_json_unknown_name_falls_back_to_the_address() -> None:
    from tcpwrap.proto.logrecord import Client, ConnectionRecord

    rec = ConnectionRecord(datetime(2026, 11, 27, 1, 2, 3, tzinfo=UTC), "gw", "in.fingerd", 5,
                           "connect", client=Client(addr="192.0.2.9", name="unknown"),
                           verdict="granted")
    e = one(rec.to_json())
    assert (e.kind, e.remote, e.addr, e.service, e.pid) == (CONNECT, "192.0.2.9", "192.0.2.9",
                                                            "finger", 5)


# -- the hot path's possessive pattern matches as the plain one ----------------------------------

_PLAIN = re.compile(parse_module._STAMP + parse_module._TAIL + parse_module._CONN).match
_PIECES = ["Nov 27 01:02:03", "May  1 14:06:53", "Sep 4 16:05:09", " ", "  ", ":", ": ", "[",
           "]", "[123]", "[12345678901]", "(", ")", "(1.2.3.4)", "()", "\t", "\u00a0", "@",
           "host", "in.fingerd", "connect from ", "refused ", "a.b", "::ffff:1.2.3.4", "\u0663"]


_part = st.lists(st.sampled_from(_PIECES), max_size=5).map("".join)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join), _part, _part, _part, _part)
def test_hot_pattern_matches_as_the_plain_one(raw: str, host: str, prog: str, pid: str,
                                              msg: str) -> None:
    for line in (raw, f"Nov 27 01:02:03 {raw}", f"Nov 27 01:02:03 {host} {prog}{pid}: {msg}",
                 f"Nov 27 01:02:03 h p{pid}: connect from {msg}",
                 f"Nov 27 01:02:03 h p[1]: {msg}connect from {host} {prog}"):
        plain, fast = _PLAIN(line), parse_module._CLASSIC_CONN(line)
        assert (plain and (plain.groups(), plain.end())) == (fast and (fast.groups(), fast.end()))
