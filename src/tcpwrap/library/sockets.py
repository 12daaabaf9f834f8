"""check_socket(): hosts_access() for a Python server's own socket, blocking.

What it does: learns the endpoints from the socket (getpeername/getsockname for a connected TCP
socket; for a server's UDP socket, which is not connected, the client is the `peer` address the
caller got from recvfrom), then decides against the shared, self-refreshing policy
(`library.ctl.policy_cache`). Host names and the ident user are looked up only when a rule (or
a % expansion) needs them, with `drivers.lookup` (double-reverse verification) and
`drivers.ident`, exactly as the wrapper does. `connection_for()` and `Site` are shared with the
asyncio twin (`library.async_sockets`) and with `tcpwrap try-from`.

Dry run (default): nothing is performed; lookups still happen when rules need them. Live
(`live=True`): options are performed as in a resident libwrap process (`library.live`):
banners are written to the socket, keepalive/linger set on it, spawn waits, twist is refused.
Diagnostics go to the logger "tcpwrap" in both modes; the caller logs `connect from` itself
(as libwrap's callers do).

Hazards: every name and user is hostile text; it only reaches commands through the % allow
list. Lookups block the calling thread up to `dns_timeout` (each) and the ident timeout.
Errors: socket problems become tcpd's warnings (`can't get client address: ...`,
`getsockname: ...`) and unknown endpoints, never exceptions.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from tcpwrap.drivers.config import DNS_TIMEOUT, IDENT_PORT
from tcpwrap.drivers.deciding import (
    AclExecStyle,
    Check,
    Settings,
    drive,
)
from tcpwrap.drivers.endpoint import Address, printable
from tcpwrap.drivers.endpoint import connection_for as endpoint_connection
from tcpwrap.drivers.oserror import strerror
from tcpwrap.library.ctl import (
    HOSTS_ALLOW,
    HOSTS_DENY,
    LIVE_DEBIAN_MODE,
    LIVE_MODE,
    _environment,
    policy_cache,
)
from tcpwrap.library.live import log_warning, resident_conduct
from tcpwrap.policy.decision import DRY_RUN, Connection, Decision
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.rules import Language, Policy


@dataclass
class Site:
    """What a socket tells about its connection (printable addresses, ports)."""

    client: Address | None = None
    server: Address | None = None
    datagram: bool = False
    warnings: list[str] = field(default_factory=list)



def site_of(sock: object, peer: object = None) -> Site:
    """Endpoints of a socket (or asyncio TransportSocket); `peer` = a UDP sender address."""
    site = Site(datagram=getattr(sock, "type", socket.SOCK_STREAM) == socket.SOCK_DGRAM)
    if peer is not None:
        site.client = printable(peer)
    else:
        try:
            site.client = printable(sock.getpeername())  # type: ignore[attr-defined]
        except OSError as exc:
            site.warnings.append(f"can't get client address: {strerror(exc)}")
            return site  # as tcpd: nothing more is learned
    try:
        site.server = printable(sock.getsockname())  # type: ignore[attr-defined]
    except OSError as exc:
        site.warnings.append(f"getsockname: {strerror(exc)}")
    return site


def connection_for(daemon: str, site: Site, *, ident: bool = True) -> Connection:
    """The request the wrapper would build for these endpoints (names looked up lazily)."""
    return endpoint_connection(
        daemon, site.client, site.server, datagram=site.datagram, ident=ident
    )


def prepare(
    sock: object,
    daemon: str,
    *,
    peer: object,
    allow: str,
    deny: str,
    language: Language,
    live: bool,
    aclexec: AclExecStyle,
    settings: Settings,
    ident: bool,
    policy: Policy | None = None,
) -> Check:
    """Endpoints (warnings logged), the policy of the moment, and the decision step."""
    site = site_of(sock, peer)
    for message in site.warnings:
        log_warning(message)
    if policy is None:
        policy = policy_cache(allow, deny, language).get()
    mode = DRY_RUN if not live else LIVE_DEBIAN_MODE if aclexec == "debian" else LIVE_MODE
    evaluation = Evaluation(policy, connection_for(daemon, site, ident=ident), mode, _environment)
    return Check(evaluation, settings, client=site.client, server=site.server)


def check_socket(
    sock: socket.socket,
    daemon: str,
    *,
    peer: object = None,
    allow: str = HOSTS_ALLOW,
    deny: str = HOSTS_DENY,
    language: Language = Language.OPTIONS,
    live: bool = False,
    aclexec: AclExecStyle = "documented",
    dns_timeout: float | None = DNS_TIMEOUT,
    ident: bool = True,
    ident_timeout: float | None = None,
    ident_port: int = IDENT_PORT,
) -> Decision:
    """hosts_access() for `sock` as server `daemon`: the Decision (`.granted` to permit).

    `peer`: the client address of a UDP request (from recvfrom); TCP sockets need none.
    `ident=False` never queries identd (the user stays "unknown"); `ident_timeout` replaces the
    rule's (rfc931 N, default 10 s). See docs/library.md.
    """
    check = prepare(
        sock,
        daemon,
        peer=peer,
        allow=allow,
        deny=deny,
        language=language,
        live=live,
        aclexec=aclexec,
        settings=Settings(dns_timeout, ident_timeout, ident_port),
        ident=ident,
    )
    conduct = resident_conduct(check.settings, fd=fileno_of(sock) if live else None, sock=sock)
    return drive(check, conduct).decision


def fileno_of(sock: object) -> int | None:
    try:
        fd = sock.fileno()  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None
