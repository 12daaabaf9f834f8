"""Who is connecting, from the socket the wrapper was handed (docs/wrapper.md).

What it does: `discover(fd)` finds the client and server endpoints of the socket on `fd`:
getpeername for TCP; for an unconnected (UDP) socket, the sender of the first queued datagram
via recvfrom(MSG_PEEK), which leaves it queued for the real daemon; getsockname for the server.
`systemd_socket()` picks the connection of systemd socket activation (LISTEN_FDS, Accept=yes).
`check_ip_options()` is tcpd's KILL_IP_OPTIONS check on IPv4 TCP sockets. `drain()` discards
the queued datagram of a refused UDP request so inetd does not see it again.

Hazards: everything here comes from the network. Addresses are printed numerically only; no
name is looked up here. The datagram peek is bounded in time (`PEEK_TIMEOUT`).
Errors: failures become the original's warning texts in `Endpoints.warnings` (and unknown
endpoints), never exceptions.
"""

from __future__ import annotations

import os
import select
import socket

from tcpwrap._record import field, record
from tcpwrap.drivers.handoff import listen_fd
from tcpwrap.drivers.oserror import strerror
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.facts import UNKNOWN

Address = tuple[str, int]  # a printable address and a port
PEEK_TIMEOUT = 30.0
LSRR, SSRR = 0x83, 0x89
IPOPT_EOL, IPOPT_NOP = 0, 1


@record
class Endpoints:
    sock: socket.socket | None = None  # a view of the fd (never closes it)
    datagram: bool = False
    client: Address | None = None
    server: Address | None = None
    warnings: list[str] = field(default_factory=list)
    not_a_socket: str | None = None  # strerror when fd is not a socket at all


def connection_for(
    daemon: str,
    client: tuple[str, int] | None,
    server: tuple[str, int] | None,
    *,
    datagram: bool,
    ident: bool = True,
    pid: int | None = None,
) -> Connection:
    """The request tcpd builds for these endpoints: names and the user are looked up lazily
    (a socket address makes them resolvable); ident only for streams with both ends known."""
    return Connection(
        daemon,
        client=Endpoint(
            addr=client[0] if client else None,
            port=client[1] if client else None,
            resolvable=client is not None,
        ),
        server=Endpoint(
            addr=server[0] if server else None,
            port=server[1] if server else None,
            resolvable=server is not None,
        ),
        identable=ident and not datagram and client is not None and server is not None,
        pid=os.getpid() if pid is None else pid,  # %p: the process that becomes the daemon
    )


def printable(address: object) -> tuple[str, int] | None:
    """(address text, port) as tcpd's getnameinfo(NI_NUMERICHOST) gives them.

    Python prints an IPv6 address without its scope; tcpd's text has it: `fe80::1%eth0` for a
    link-local peer (the interface's name; a number when it has none). So the records, `%a`
    and text patterns see what tcpd's do, and the reverse lookup and ident reach the peer
    through the right interface.
    """
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    host, port = str(address[0]), int(address[1])
    if len(address) >= 4 and address[3] and "%" not in host:
        try:
            host = socket.getnameinfo(address, socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        except (OSError, ValueError):
            host = f"{host}%{address[3]}"
    return host, port


def discover(fd: int = 0) -> Endpoints:
    found = Endpoints()
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        found.warnings.append(f"can't get client address: {strerror(exc)}")
        found.not_a_socket = strerror(exc)
        return found
    found.sock = sock
    try:
        found.client = printable(sock.getpeername())
    except OSError:
        found.datagram = True
        try:
            ready, _, _ = select.select([sock], [], [], PEEK_TIMEOUT)
            if not ready:
                raise TimeoutError(110, "Connection timed out")
            _, sender = sock.recvfrom(1, socket.MSG_PEEK)
            found.client = printable(sender)
        except OSError as exc:
            found.warnings.append(f"can't get client address: {strerror(exc)}")
            return found
    try:
        found.server = printable(sock.getsockname())
    except OSError as exc:
        found.warnings.append(f"getsockname: {strerror(exc)}")
    return found


def release(found: Endpoints) -> None:
    """Forget the socket object without closing the descriptor it views."""
    if found.sock is not None:
        found.sock.detach()
        found.sock = None


def systemd_socket(environ: dict[str, str] | None = None) -> int | None:
    """The fd of a systemd socket-activated connection (Accept=yes), else None."""
    env = os.environ if environ is None else environ
    pid, fds = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    return listen_fd(
        None if pid is None else pid.encode("utf-8", "surrogateescape"),
        None if fds is None else fds.encode("utf-8", "surrogateescape"),
        os.getpid(),
    )


@record
class IpOptionsReport:
    records: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    fatal: bool = False  # tcpd's clean exit (getsockname failed)


def inspect(found: Endpoints) -> IpOptionsReport:
    """tcpd's steps between learning the endpoints and deciding: the warnings of learning
    them (logged at LOG_ERR), then the IP options check (fatal: the clean exit)."""
    report = check_ip_options(found, found.client[0] if found.client else UNKNOWN)
    report.records[:0] = [("err", f"warning: {message}") for message in found.warnings]
    return report


def check_ip_options(found: Endpoints, client_info: str) -> IpOptionsReport:
    """KILL_IP_OPTIONS (docs/wrapper.md, step 2): refuse source routing, clear other IP options."""
    report = IpOptionsReport()
    sock = found.sock
    if sock is None:
        report.records.append(
            ("err", f"getpeername: {found.not_a_socket or 'Bad file descriptor'}")
        )
        report.fatal = True
        return report
    try:
        local = sock.getsockname()
    except OSError as exc:
        report.records.append(("err", f"getpeername: {strerror(exc)}"))
        report.fatal = True
        return report
    if sock.family != socket.AF_INET or found.datagram or not isinstance(local, tuple):
        return report
    try:
        options = sock.getsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, 40)
    except OSError:
        return report
    if not options:
        return report
    position = 4  # BSD layout: the first-hop address slot comes first
    while position < len(options):
        kind = options[position]
        if kind == IPOPT_EOL:
            break
        if kind == IPOPT_NOP:
            length = 1
        else:
            if position + 1 >= len(options) or options[position + 1] <= 0:
                break
            length = options[position + 1]
        if kind in (LSRR, SSRR):
            report.records.append(
                ("warning", f"refused connect from {client_info} with IP source routing options")
            )
            _shutdown(sock)
            return report
        position += length
    hexes = "".join(f" {byte:02x}" for byte in options)
    report.records.append(
        ("notice", f"connect from {client_info} with IP options (ignored):{hexes}")
    )
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"")
    except OSError as exc:
        report.records.append(("err", f"setsockopt IP_OPTIONS NULL: {strerror(exc)}"))
        _shutdown(sock)
    return report


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # (no contextlib: it costs start-up time on the wrapper's path)
        return


def drain(found: Endpoints) -> None:
    """Discard the pending datagram of a refused UDP request (tcpd's "sink")."""
    if found.sock is None or not found.datagram:
        return
    try:
        ready, _, _ = select.select([found.sock], [], [], 0)
        if ready:
            found.sock.recvfrom(65535)
    except OSError:
        pass
