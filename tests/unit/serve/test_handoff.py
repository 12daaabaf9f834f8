"""serve.handoff: reading a wrapper's request (bounded, malformed input refused) and the
replies' wire form. The whole exchange runs end to end in tests/e2e/wrapper (every wrapper
test also runs handed off) and tests/e2e/serve/test_serve_handoff.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpwrap.drivers import handoff as wire
from tcpwrap.serve.handoff import MAX_ARGS, exit_reply, parse_request


def _request(fd: bytes, argv: list[bytes], env: list[bytes]) -> bytes:
    return wire.encode(
        [wire.MAGIC, fd, b"%d" % len(argv), *argv, b"%d" % len(env), *env]
    )


def test_a_request_is_read_back() -> None:
    data = _request(b"3", [b"tcpwrap-tcpd", b"in.fingerd", b"\xff"], [b"A=1", b"B=x=y", b"C="])
    fd, argv, env = parse_request(data) or (None, None, None)
    assert fd == 3
    assert argv == ["tcpwrap-tcpd", "in.fingerd", "\udcff"]  # bytes kept (surrogateescape)
    assert env == {"A": "1", "B": "x=y", "C": ""}


def test_environment_items_without_a_name_are_dropped() -> None:
    parsed = parse_request(_request(b"0", [b"x"], [b"NOEQUALS", b"=value", b"OK=1"]))
    assert parsed is not None
    assert parsed[2] == {"OK": "1"}


def test_malformed_requests_are_refused() -> None:
    good = [wire.MAGIC, b"0", b"1", b"x", b"1", b"A=1"]
    assert parse_request(wire.encode(good)) is not None
    bad = [
        [b"tcpwrap-handoff/0", *good[1:]],  # another version
        [wire.MAGIC, b"5", *good[2:]],  # an fd that is neither inetd's nor systemd's
        [wire.MAGIC, b"0", b"2", b"x", b"1", b"A=1"],  # argc says more than there is
        [wire.MAGIC, b"0", b"1", b"x", b"2", b"A=1"],  # envc says more than there is
        [wire.MAGIC, b"0", b"1", b"x", b"0", b"A=1"],  # trailing fields
        [wire.MAGIC, b"0", b"-1", b"x", b"1", b"A=1"],
        [wire.MAGIC, b"0", b"one", b"x", b"1", b"A=1"],
        [wire.MAGIC, b"0", b"1", b"x", b"many", b"A=1"],
        [wire.MAGIC, b"0", b"%d" % (MAX_ARGS + 1), *[b"x"] * (MAX_ARGS + 1), b"0"],
        [wire.MAGIC],
    ]
    for fields in bad:
        assert parse_request(wire.encode(fields)) is None, fields
    assert parse_request(b"") is None
    assert parse_request(wire.encode(good)[:-1]) is None  # cut short


@given(st.binary(max_size=512))
def test_any_bytes_are_a_request_or_none(data: bytes) -> None:
    parsed = parse_request(data)
    assert parsed is None or parsed[0] in (0, 3)


def test_exit_reply() -> None:
    assert wire.decode(exit_reply(0.2)) == [wire.EXIT, b"0.2"]
