"""inetd's internal services, in the server's own event loop: echo, discard, daytime,
chargen, time (RFC 862, 863, 867, 864, 868), over TCP and UDP.

What it does: `serve_stream(name, sock, idle)` runs one TCP connection of an internal service
and closes it; `answer_datagram(name, data, now)` gives the reply to one UDP request (None:
no reply, as discard). daytime is ctime()'s text plus CRLF, time the 32-bit seconds since
1900, chargen the classic rotating 72-character lines of the 95 printable characters.

Hazards: the peer may never read (chargen, echo) or never stop sending (discard, echo): every
connection has an idle limit (`idle` seconds without progress) and writes wait for the
socket to drain, so no peer can hold memory or the loop. UDP replies go only to the sender
of the datagram, at most 512 bytes for chargen (RFC 864), and never to a port below 1024
(`reply_allowed`): a forged datagram from another echo or chargen server would otherwise
start the classic UDP ping-pong between the two.
Errors: network errors end the connection quietly; nothing is raised.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

NAMES = ("echo", "discard", "daytime", "chargen", "time")
EPOCH_1900 = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_PRINTABLE = bytes(range(32, 127))  # the 95 printable ASCII characters
LINE = 72
CHUNK = 16 * 1024


def daytime(now: float) -> bytes:
    """ctime(3) without its newline, plus CRLF: `Tue Dec  1 05:21:01 2026\\r\\n`."""
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(now)).encode() + b"\r\n"


def time_value(now: float) -> bytes:
    return struct.pack("!I", (int(now) + EPOCH_1900) & 0xFFFFFFFF)


def chargen_line(start: int) -> bytes:
    doubled = _PRINTABLE + _PRINTABLE
    first = start % len(_PRINTABLE)
    return doubled[first : first + LINE] + b"\r\n"


def reply_allowed(port: int) -> bool:
    """No replies to privileged ports (where the other echo/chargen/daytime servers live)."""
    return port >= 1024


def answer_datagram(name: str, data: bytes, now: float) -> bytes | None:
    """The reply to one request datagram of an internal UDP service."""
    if name == "echo":
        return data
    if name == "daytime":
        return daytime(now)
    if name == "time":
        return time_value(now)
    if name == "chargen":
        # RFC 864: one datagram of 0 to 512 characters, here a few whole lines
        return b"".join(chargen_line(i) for i in range(int(now) % 7))[:512]
    return None  # discard


async def serve_stream(name: str, sock: socket.socket, idle: float) -> None:
    """Run one TCP connection of an internal service to its end, then close it."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    try:
        if name == "daytime":
            await asyncio.wait_for(loop.sock_sendall(sock, daytime(time.time())), idle)
        elif name == "time":
            await asyncio.wait_for(loop.sock_sendall(sock, time_value(time.time())), idle)
        elif name == "chargen":
            await _chargen(loop, sock, idle)
        else:
            await _echo_or_discard(loop, sock, idle, echo=name == "echo")
    except (OSError, TimeoutError):
        pass
    finally:
        sock.close()


async def _chargen(loop: asyncio.AbstractEventLoop, sock: socket.socket, idle: float) -> None:
    block = b"".join(chargen_line(i) for i in range(len(_PRINTABLE)))  # one full period
    while True:
        # sock_sendall waits for the peer's window; a peer that stops reading times out
        await asyncio.wait_for(loop.sock_sendall(sock, block), idle)


async def _echo_or_discard(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, idle: float, *, echo: bool
) -> None:
    while True:
        data = await asyncio.wait_for(loop.sock_recv(sock, CHUNK), idle)
        if not data:
            return
        if echo:
            await asyncio.wait_for(loop.sock_sendall(sock, data), idle)
