"""The ident client (sync and asyncio) against a real scripted identd on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

from harness.identd import IdentServer, error, raw, silent, slow, user
from tcpwrap.drivers import async_ident, ident
from tcpwrap.errors import Diagnostic
from tcpwrap.proto.ident import IdentError

CPORT, SPORT = 34719, 43387
Lookup = Callable[..., "str | None"]


def _sync(client: tuple[str, int], server: tuple[str, int], **kw: object) -> str | None:
    return ident.lookup_user(client, server, **kw)  # type: ignore[arg-type]


def _async(client: tuple[str, int], server: tuple[str, int], **kw: object) -> str | None:
    return asyncio.run(async_ident.lookup_user(client, server, **kw))  # type: ignore[arg-type]


@pytest.fixture(params=[_sync, _async], ids=["sync", "async"])
def lookup(request: pytest.FixtureRequest) -> Lookup:
    return request.param  # type: ignore[no-any-return]


def ask(lookup: Lookup, server: IdentServer, timeout: float = 3.0) -> str | None:
    return lookup(
        (server.host, CPORT), ("127.0.0.1", SPORT), timeout=timeout, ident_port=server.port
    )


def test_answers_user_and_sends_the_query(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = user("joe")
    assert ask(lookup, identd) == "joe"
    assert identd.requests == [b"34719,43387\r\n"]
    # the query leaves from the server's address of the connection
    assert identd.peers[0][0] == "127.0.0.1"


def test_error_reply_is_unknown(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = error(b"NO-USER")
    assert ask(lookup, identd) is None
    assert len(identd.requests) == 1


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_refused_is_unknown_at_once(lookup: Lookup) -> None:
    port = _free_port("127.0.0.3")
    start = time.monotonic()
    got = lookup(("127.0.0.3", CPORT), ("127.0.0.1", SPORT), timeout=5, ident_port=port)
    assert got is None
    assert time.monotonic() - start < 1.0


def test_silent_identd_times_out(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = silent()
    start = time.monotonic()
    assert ask(lookup, identd, timeout=0.5) is None
    elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 1.0
    assert identd.requests == [b"34719,43387\r\n"]


def test_slow_answer_within_the_deadline(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = slow(0.2, "late")
    assert ask(lookup, identd, timeout=2) == "late"


def test_slow_answer_past_the_deadline(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = slow(1.5, "late")
    start = time.monotonic()
    assert ask(lookup, identd, timeout=0.4) is None
    assert time.monotonic() - start < 0.9


def test_one_deadline_covers_a_trickling_reply(lookup: Lookup, identd: IdentServer) -> None:
    # one byte every 0.1 s: each read succeeds quickly, only an overall deadline stops this
    identd.reply = raw(b"{c} , {s} : USERID : UNIX : " + b"j" * 100 + b"\r\n", drip=0.1)
    start = time.monotonic()
    assert ask(lookup, identd, timeout=0.6) is None
    assert time.monotonic() - start < 1.1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"{c} , {s} : USERID : UNIX,US-ASCII : ev;il$(x) trailing words\r\n", "ev;il$(x)"),
        (b"{c},{s} : USERID : OTHER :j:o:e\n", "j:o:e"),
        (b"{c},{s}:USERID::joe\r\n", None),
        (b"1 , 2 : USERID : UNIX : joe\r\n", None),
        (b"{s} , {c} : USERID : UNIX : joe\r\n", None),
        (b"{c} , {s} : userid : UNIX : joe\r\n", None),
        (b"{c} , {s} : USERID : UNIX : " + b"u" * 600 + b"\r\n", "u" * 127),
        (b"{c} , {s} : USERID : " + b"o" * 600 + b" : joe\r\n", None),
        (b"{c} , {s} : USERID : UNIX : joe", None),  # no newline, then EOF
        (b"\x00\xff\x1b[2J\x07garbage\r\n", None),
        (bytes(range(256)) * 4, None),
        (b"{c} , {s} : USERID : UNIX : first\r\n{c} , {s} : USERID : UNIX : second\r\n", "first"),
        (b"{c} , {s} : USERID : UNIX : " + b"f" * 1_000_000, "f" * 127),
        (b"\r\n", None),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_hostile_replies(
    lookup: Lookup, identd: IdentServer, reply: bytes, expected: str | None
) -> None:
    identd.reply = raw(reply)
    assert ask(lookup, identd) == expected


def test_line_without_newline_and_held_open_times_out(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = raw(b"{c} , {s} : USERID : UNIX : joe", hold=True)
    start = time.monotonic()
    assert ask(lookup, identd, timeout=0.4) is None
    assert time.monotonic() - start < 0.9


def test_ipv6(lookup: Lookup, identd6: IdentServer) -> None:
    identd6.reply = user("joe6")
    got = lookup(("::1", CPORT), ("::1", SPORT), timeout=3, ident_port=identd6.port)
    assert got == "joe6"
    assert identd6.requests == [b"34719,43387\r\n"]


def test_ipv4_mapped_pair_is_asked_over_ipv4(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = user("mapped")
    got = lookup(
        ("::ffff:127.0.0.2", CPORT), ("::ffff:127.0.0.1", SPORT), timeout=3, ident_port=identd.port
    )
    assert got == "mapped"
    assert identd.peers[0][0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("client", "server"),
    [
        ("::1", "127.0.0.1"),  # different families: no query at all
        ("127.0.0.2", "::1"),
        ("localhost", "127.0.0.1"),  # names are never resolved
        ("127.0.0.2", "not an address"),
        ("", "127.0.0.1"),
    ],
)
def test_no_query_possible(lookup: Lookup, identd: IdentServer, client: str, server: str) -> None:
    got = lookup((client, CPORT), (server, SPORT), timeout=1, ident_port=identd.port)
    assert got is None
    assert identd.requests == []


def test_server_address_not_local_warns_socket(lookup: Lookup, identd: IdentServer) -> None:
    seen: list[Diagnostic] = []
    got = lookup(
        ("127.0.0.2", CPORT),
        ("203.0.113.254", SPORT),  # TEST-NET-3, not one of ours: bind fails
        timeout=1,
        ident_port=identd.port,
        on_warning=seen.append,
    )
    assert got is None
    assert [d.render() for d in seen] == ["warning: socket: Cannot assign requested address"]


def test_invalid_ports_are_programming_errors(lookup: Lookup) -> None:
    with pytest.raises(IdentError):
        lookup(("127.0.0.2", 70000), ("127.0.0.1", SPORT))
    with pytest.raises(IdentError):
        lookup(("127.0.0.2", CPORT), ("127.0.0.1", SPORT), ident_port=-1)


def test_zero_timeout_never_blocks(lookup: Lookup, identd: IdentServer) -> None:
    identd.reply = silent()
    start = time.monotonic()
    assert ask(lookup, identd, timeout=0) is None
    assert time.monotonic() - start < 0.3


def test_identd_recorded_no_handler_errors(identd: IdentServer) -> None:
    identd.reply = user("joe")
    assert ident.lookup_user(("127.0.0.2", 1), ("127.0.0.1", 2), ident_port=identd.port) == "joe"
    assert identd.errors == []
