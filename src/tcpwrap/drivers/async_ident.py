"""The asyncio twin of `tcpwrap.drivers.ident`: the same query, without blocking the loop.

What it does: `lookup_user(client, server)` runs the exchange of `drivers.ident` (same socket
binding, same request, same 511-byte framing, same parser) with the event loop's socket
methods, all under one `asyncio.timeout`.

Hazards: as in `drivers.ident`: the reply is hostile and bounded to 511 bytes; the deadline
covers connect, write and read. Cancelling the caller cancels the lookup and closes the socket.

Errors: every network failure and timeout is the answer None; socket creation or bind errors
are also reported through `on_warning`. Invalid ports raise `IdentError`.
"""

from __future__ import annotations

import asyncio

from tcpwrap.drivers.config import RFC931_TIMEOUT
from tcpwrap.drivers.endpoint import Address
from tcpwrap.drivers.ident import Warn, open_bound_socket, prepare
from tcpwrap.proto.ident import IDENT_PORT, MAX_LINE, frame_reply, parse_reply


async def lookup_user(
    client: Address,
    server: Address,
    *,
    timeout: float = RFC931_TIMEOUT,
    ident_port: int = IDENT_PORT,
    on_warning: Warn | None = None,
) -> str | None:
    """The user the client's identd names for the connection client -> server, or None."""
    query = prepare(client, server, ident_port)
    if query is None:
        return None
    sock = open_bound_socket(query, on_warning)
    if sock is None:
        return None
    loop = asyncio.get_running_loop()
    try:
        with sock:
            sock.setblocking(False)
            async with asyncio.timeout(max(0.0, timeout)):
                await loop.sock_connect(sock, query.connect_to)
                await loop.sock_sendall(sock, query.request)
                data = b""
                while (line := frame_reply(data)) is None:
                    chunk = await loop.sock_recv(sock, MAX_LINE - len(data))
                    if not chunk:
                        return None
                    data += chunk
    except OSError:  # includes TimeoutError from asyncio.timeout, refused, reset
        return None
    return parse_reply(line, query.client_port, query.server_port)
