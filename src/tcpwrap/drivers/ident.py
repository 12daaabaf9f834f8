"""Ask the client's identd who owns a connection (RFC 931 / RFC 1413 client, docs/ident.md).

What it does: `lookup_user(client, server)` opens a new TCP socket bound to the server's address
of the connection (port 0), connects to the client's address on port 113, sends
`<client port>,<server port>\\r\\n`, reads one reply line and parses it with
`tcpwrap.proto.ident`. One monotonic deadline covers connect, write and read (no alarm(), no
signals, so it is safe in threads and in processes that use SIGALRM themselves).

Hazards: the peer is whoever controls the client's address. At most 511 bytes are read, the
whole exchange takes at most `timeout` seconds (plus scheduling slack), and the returned name is
still hostile text (shell metacharacters, colons, control characters): sanitise before use.
IPv4-mapped addresses are unmapped so a mapped pair is queried over IPv4; the two endpoints must
then be of the same family, or no query is made.

Errors: every failure (refused, unreachable, timeout, reset, bad reply, mismatched families,
non-numeric address) is the answer None ("unknown"). A socket that cannot be created or bound
is also reported through `on_warning` as tcpd's `socket: <error>` warning, if a callback is
given. Invalid port numbers are programming errors and raise `IdentError`.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

from tcpwrap._record import record
from tcpwrap.drivers.config import RFC931_TIMEOUT
from tcpwrap.drivers.endpoint import Address
from tcpwrap.errors import Diagnostic, warning
from tcpwrap.proto.ident import (
    IDENT_PORT,
    MAX_LINE,
    build_request,
    frame_reply,
    parse_reply,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Warn = Callable[[Diagnostic], None]


@record(frozen=True, slots=True)
class Query:
    """Everything one ident exchange needs, resolved from numeric addresses (no DNS)."""

    family: socket.AddressFamily
    bind_to: tuple[Any, ...]  # server address, port 0
    connect_to: tuple[Any, ...]  # client address, ident port
    request: bytes
    client_port: int
    server_port: int


def _unmap(address: str) -> str:
    """An IPv4-mapped IPv6 address as plain IPv4; anything else unchanged."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return address


def _sockaddr(address: str, port: int) -> tuple[socket.AddressFamily, tuple[Any, ...]] | None:
    try:
        infos = socket.getaddrinfo(
            address, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except (OSError, UnicodeError, ValueError):
        return None
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            return family, tuple(sockaddr)
    return None


def prepare(client: Address, server: Address, ident_port: int = IDENT_PORT) -> Query | None:
    """Resolve the two numeric endpoints into a query, or None if no query is possible."""
    client_addr, client_port = client
    server_addr, server_port = server
    request = build_request(client_port, server_port)  # validates the ports
    build_request(ident_port, 0)
    peer = _sockaddr(_unmap(client_addr), ident_port)
    local = _sockaddr(_unmap(server_addr), 0)
    if peer is None or local is None or peer[0] != local[0]:
        return None
    return Query(peer[0], local[1], peer[1], request, client_port, server_port)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("ident deadline passed")
    return left


def open_bound_socket(query: Query, on_warning: Warn | None) -> socket.socket | None:
    try:
        sock = socket.socket(query.family, socket.SOCK_STREAM)
    except OSError as exc:
        if on_warning is not None:
            on_warning(warning(f"socket: {exc.strerror or exc}"))
        return None
    try:
        sock.bind(query.bind_to)
    except OSError as exc:
        sock.close()
        if on_warning is not None:
            on_warning(warning(f"socket: {exc.strerror or exc}"))
        return None
    return sock


def lookup_user(
    client: Address,
    server: Address,
    *,
    timeout: float = RFC931_TIMEOUT,
    ident_port: int = IDENT_PORT,
    on_warning: Warn | None = None,
) -> str | None:
    """The user the client's identd names for the connection client -> server, or None.

    `client` and `server` are (numeric address, port) as seen on the server side of the
    connection. `timeout` bounds the whole exchange.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    query = prepare(client, server, ident_port)
    if query is None:
        return None
    sock = open_bound_socket(query, on_warning)
    if sock is None:
        return None
    try:
        with sock:
            sock.settimeout(_remaining(deadline))
            sock.connect(query.connect_to)
            sock.settimeout(_remaining(deadline))
            sock.sendall(query.request)
            data = b""
            while (line := frame_reply(data)) is None:
                sock.settimeout(_remaining(deadline))
                chunk = sock.recv(MAX_LINE - len(data))
                if not chunk:
                    return None  # EOF before a complete line
                data += chunk
    except OSError:  # includes TimeoutError, ConnectionRefusedError, resets
        return None
    return parse_reply(line, query.client_port, query.server_port)
