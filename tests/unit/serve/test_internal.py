"""serve.internal: the RFC formats of inetd's internal services."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from tcpwrap.serve import internal


def test_formats() -> None:
    now = time.mktime((2026, 12, 1, 5, 3, 9, 0, 0, -1))
    assert internal.daytime(now) == b"Tue Dec  1 05:03:09 2026\r\n"
    assert struct.unpack("!I", internal.time_value(now))[0] == int(now) + 2_208_988_800
    assert internal.chargen_line(0) == bytes(range(32, 104)) + b"\r\n"
    assert internal.chargen_line(94) == b"~" + bytes(range(32, 103)) + b"\r\n"
    assert internal.answer_datagram("echo", b"x", now) == b"x"
    assert internal.answer_datagram("discard", b"x", now) is None
    assert len(internal.answer_datagram("chargen", b"", now) or b"") <= 512
    assert not internal.reply_allowed(7) and internal.reply_allowed(40000)


def test_echo_until_eof_and_idle_limit() -> None:
    async def main() -> None:
        left, right = socket.socketpair()
        task = asyncio.create_task(internal.serve_stream("echo", left, idle=0.3))
        loop = asyncio.get_running_loop()
        right.setblocking(False)
        await loop.sock_sendall(right, b"ping")
        assert await loop.sock_recv(right, 10) == b"ping"
        started = time.monotonic()
        await task  # the client says nothing more: the idle limit ends it
        assert 0.25 < time.monotonic() - started < 2
        assert await loop.sock_recv(right, 10) == b""
        right.close()

    asyncio.run(main())


def test_chargen_stops_when_the_peer_stops_reading() -> None:
    async def main() -> None:
        left, right = socket.socketpair()
        await asyncio.wait_for(internal.serve_stream("chargen", left, idle=0.3), 5)
        right.close()

    asyncio.run(main())
