"""check_socket_async(): the asyncio twin of check_socket(), never blocking the event loop.

What it does: the same decision step as `library.sockets.check_socket` (`drivers.deciding.Check`:
endpoints, policy, lazy needs), driven by `drivers.deciding.drive_async` with the asyncio
drivers: `drivers.async_lookup`
(reverse lookup in the loop's executor, forward lookup with `loop.getaddrinfo`) and
`drivers.async_ident` (loop socket methods under one timeout). Takes a socket, an asyncio
`StreamWriter` (from `asyncio.start_server`) or a transport; the evaluation itself is pure and
quick and runs in the loop; fetching the policy (which may recompile an edited table) runs in
a worker thread. In live mode everything that may wait (aclexec, the actions: spawn
waits for its shell) runs in a worker thread (`asyncio.to_thread`) with the blocking code of
`drivers.execute`.

Hazards: as check_socket; in live mode setenv/umask/nice still change the whole process, and
a banner is written straight to the socket's fd, so call this before writing anything through
the transport. A DNS lookup that outlives `dns_timeout` keeps one executor thread busy until
the system resolver gives up (it cannot be cancelled).
Errors: none raised for lookups, ident or commands; cancelling the caller cancels the lookups.
"""

from __future__ import annotations

import asyncio
import socket

from tcpwrap.drivers.config import DNS_TIMEOUT, IDENT_PORT
from tcpwrap.drivers.deciding import (
    AclExecStyle,
    Settings,
    ThreadedConduct,
    drive_async,
)
from tcpwrap.library.ctl import HOSTS_ALLOW, HOSTS_DENY, policy_cache
from tcpwrap.library.live import resident_conduct
from tcpwrap.library.sockets import fileno_of, prepare
from tcpwrap.policy.decision import Decision
from tcpwrap.policy.rules import Language


def socket_of(target: object) -> object:
    """The socket behind a StreamWriter or transport (asyncio's TransportSocket), or target."""
    get_extra_info = getattr(target, "get_extra_info", None)
    if get_extra_info is not None:
        found = get_extra_info("socket")
        if found is not None:
            return found
    return target


async def check_socket_async(
    target: socket.socket | asyncio.StreamWriter | asyncio.BaseTransport,
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
    """`check_socket` for asyncio servers (same arguments; `target` may be a StreamWriter)."""
    sock = socket_of(target)
    # Usually two stat() calls; but the first call after a table edit recompiles it (seconds
    # for 100k lines) and recent edits are compared by content: never in the loop.
    policy = await asyncio.to_thread(policy_cache(allow, deny, language).get)
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
        policy=policy,
    )
    blocking = resident_conduct(
        check.settings,
        fd=fileno_of(sock) if live else None,
        sock=sock,  # type: ignore[arg-type]  # a socket or asyncio's TransportSocket
    )
    return (await drive_async(check, ThreadedConduct(blocking))).decision
