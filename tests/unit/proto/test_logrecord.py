"""tcpwrap.proto.logrecord: the JSON log line round-trips and rejects malformed records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tcpwrap.errors import TcpwrapError
from tcpwrap.proto.logrecord import (
    Client,
    ConnectionRecord,
    LogRecordError,
    RuleRef,
    Server,
)

REC = ConnectionRecord(
    time=datetime(2026, 11, 27, 1, 2, 3, tzinfo=timezone(timedelta(hours=1))),
    host="gw",
    daemon="in.fingerd",
    pid=123,
    event="refused",
    client=Client(addr="192.0.2.1", name="a.example", user="joe", port=40000),
    server=Server(addr="192.0.2.10", port=79),
    verdict="denied",
    rule=RuleRef("/etc/hosts.deny", 4),
    message=None,
    lookups=("name", "user"),
    traps=("spawn",),
)


def test_schema_exactly() -> None:
    obj = json.loads(REC.to_json())
    assert list(obj) == ["time", "host", "daemon", "pid", "event", "client", "server",
                         "verdict", "rule", "message", "lookups", "traps", "client_addr",
                         "trap", "count"]
    assert obj["client_addr"] == "192.0.2.1" and obj["trap"] is False and obj["count"] == 1
    assert obj["time"] == "2026-11-27T01:02:03+01:00"
    assert obj["client"] == {"addr": "192.0.2.1", "name": "a.example", "user": "joe",
                             "port": 40000}
    assert obj["server"] == {"addr": "192.0.2.10", "port": 79}
    assert obj["rule"] == {"file": "/etc/hosts.deny", "line": 4}
    assert obj["lookups"] == ["name", "user"] and obj["traps"] == ["spawn"]
    assert "\n" not in REC.to_json()


def test_round_trip() -> None:
    assert ConnectionRecord.from_json(REC.to_json()) == REC
    minimal = ConnectionRecord(datetime(2026, 1, 1, tzinfo=UTC), "h", "d", 1, "connect")
    assert ConnectionRecord.from_json(minimal.to_json()) == minimal


def test_hostile_text_is_escaped_on_one_line() -> None:
    rec = ConnectionRecord(datetime(2026, 1, 1, tzinfo=UTC), "h", "d", 1, "warning",
                           message='evil\n"quote"\x1b[31m\u2028')
    line = rec.to_json()
    assert "\n" not in line and "\x1b" not in line and "\u2028" not in line
    assert ConnectionRecord.from_json(line).message == rec.message


@pytest.mark.parametrize("mutate", [
    lambda o: o.pop("time"),
    lambda o: o.update(time="2026-11-27T01:02:03"),  # no offset
    lambda o: o.update(time=5),
    lambda o: o.update(event="explode"),
    lambda o: o.update(verdict="maybe"),
    lambda o: o.update(pid="12"),
    lambda o: o.update(pid=True),
    lambda o: o.update(client=[]),
    lambda o: o["client"].update(port="80"),
    lambda o: o.update(rule={"file": "x"}),
    lambda o: o.update(lookups=[1]),
    lambda o: o.update(host=None),
    lambda o: o.update(trap="yes"),
    lambda o: o.update(count=0),
    lambda o: o.update(count=1.5),
])
def test_malformed_records_raise_logrecorderror(mutate: object) -> None:
    obj = json.loads(REC.to_json())
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(LogRecordError) as info:
        ConnectionRecord.from_json(json.dumps(obj))
    assert isinstance(info.value, TcpwrapError)


@pytest.mark.parametrize("text", ["", "{", "[]", "null", "[" * 10000])
def test_not_an_object(text: str) -> None:
    with pytest.raises(LogRecordError):
        ConnectionRecord.from_json(text)


def test_trap_hits_and_summaries_round_trip() -> None:
    hit = ConnectionRecord(datetime(2026, 1, 1, tzinfo=UTC), "h", "trap", 1, "trap",
                           Client(addr="198.51.100.7"), verdict="denied", trap=True, count=40)
    obj = json.loads(hit.to_json())
    assert (obj["event"], obj["trap"], obj["count"], obj["client_addr"]) == (
        "trap", True, 40, "198.51.100.7")
    assert ConnectionRecord.from_json(hit.to_json()) == hit


def test_records_before_trap_and_count_still_read() -> None:
    obj = json.loads(REC.to_json())
    for key in ("client_addr", "trap", "count"):
        del obj[key]
    assert ConnectionRecord.from_json(json.dumps(obj)) == REC


def test_unknown_keys_are_ignored() -> None:
    obj = json.loads(REC.to_json())
    obj["future"] = {"x": 1}
    assert ConnectionRecord.from_json(json.dumps(obj)) == REC


def test_naive_time_is_refused_at_construction() -> None:
    with pytest.raises(LogRecordError):
        ConnectionRecord(datetime(2026, 1, 1), "h", "d", 1, "connect")
