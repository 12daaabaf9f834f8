"""serve.records: tcpd's syslog format, the flood aggregation, the JSON writer."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tcpwrap.policy.options import Priority
from tcpwrap.serve.records import JsonWriter, Repeats, SyslogWriter, priority_code


def test_priority_codes() -> None:
    assert priority_code(Priority(6), 3) == 30  # daemon.info
    assert priority_code(Priority(1, 16), 3) == 129  # `severity local0.alert` wins


def test_syslog_writer_formats_like_glibc(tmp_path: Path) -> None:
    path = tmp_path / "log"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    writer = SyslogWriter(str(path))
    now = time.mktime((2026, 12, 1, 5, 3, 9, 0, 0, -1))
    writer.write(30, "in.fingerd", 4242, "connect from 192.0.2.1 (192.0.2.1)", now)
    writer.write(28, "in.fingerd", 4242, "caf\xe9 \udcff", now)
    expected = b"<30>Dec  1 05:03:09 in.fingerd[4242]: connect from 192.0.2.1 (192.0.2.1)"
    assert server.recv(1000) == expected
    assert server.recv(1000) == b"<28>Dec  1 05:03:09 in.fingerd[4242]: caf\xc3\xa9 \\udcff"
    writer.close()
    server.close()


def test_syslog_gone_is_counted_not_raised(tmp_path: Path) -> None:
    writer = SyslogWriter(str(tmp_path / "nothing"))
    writer.write(30, "x", 1, "lost", 0.0)
    assert writer.lost == 1


def test_syslog_reconnects_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "log"
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(str(path))
    writer = SyslogWriter(str(path))
    writer.write(30, "x", 1, "one", 0.0)
    first.close()
    path.unlink()
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    second.bind(str(path))
    writer.write(30, "x", 1, "two", 0.0)
    assert second.recv(100).endswith(b"x[1]: two")
    writer.close()
    second.close()


def test_repeats_first_now_then_counted_per_interval() -> None:
    repeats = Repeats(10.0)
    key = ("daytime", "192.0.2.9", "per-source rate limit")
    assert repeats.first(key, 0.0)
    assert not any(repeats.first(key, t) for t in (1.0, 2.0, 3.0))
    assert repeats.due(5.0) == []
    assert repeats.due(10.5) == [(key, 3, 0.0, None)]
    assert not repeats.first(key, 11.0)  # the flood goes on: still summed
    assert repeats.due(21.0) == [(key, 1, 10.5, None)]
    assert repeats.due(32.0) == []  # quiet: forgotten ...
    assert repeats.first(key, 33.0)  # ... so the next one is written at once


def test_repeats_bounded_kinds_are_written_not_lost() -> None:
    repeats = Repeats(10.0, limit=2)
    assert repeats.first(("a",), 0.0) and repeats.first(("b",), 0.0)
    assert repeats.first(("c",), 0.0) and repeats.first(("c",), 0.0)  # untracked: written


def test_json_writer_one_line_per_record(tmp_path: Path) -> None:
    writer = JsonWriter(str(tmp_path / "log.jsonl"))
    writer.write('{"a": "x\\ny"}')
    writer.write('{"b": 1}\n{"c": 2}')
    writer.close()
    assert (tmp_path / "log.jsonl").read_text().splitlines() == [
        '{"a": "x\\ny"}', '{"b": 1} {"c": 2}']
