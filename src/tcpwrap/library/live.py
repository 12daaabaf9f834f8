"""The library's conduct: how a resident Python process acts on a decision, and its logging.

What it does: `resident_conduct()` builds the `drivers.deciding.BlockingConduct` every library
entry point decides through (`hosts_ctl(live=True)`, `decide(live=True)`, `check_socket`, and
in a worker thread `check_socket_async`): options are carried out the way libwrap does in a
resident process (drivers.execute): spawn runs during the call and is waited for, setenv/
umask/nice change this very process, banners go to the socket (nowhere for hosts_ctl),
keepalive and linger set socket options, user/group names are validated but this process
keeps its identity, aclexec's stdio is /dev/null. The decision loop itself is
`drivers.deciding.drive` (one driver for every program).

Logging: every record goes to the standard `logging` logger "tcpwrap" with tcp_wrappers'
original text (`warning: /etc/hosts.allow, line 3: ...`, `error: ...: twist option in resident
process`, `aclexec returned 1`); nothing is ever written to stdout or stderr from here.
Levels: warnings at WARNING, errors at ERROR (tcpd logs both at LOG_ERR), `aclexec returned`
at INFO, the verbose records at DEBUG.

Hazards: live mode runs the admin's shell commands (network values only through the % allow
list) and changes process-global state (environment, umask, niceness) for every thread.
Errors: none raised for lookups or commands; failures are logged with the original texts.
"""

from __future__ import annotations

import logging

from tcpwrap.drivers.config import DNS_TIMEOUT, IDENT_PORT
from tcpwrap.drivers.deciding import (
    AclExecStyle,
    BlockingConduct,
    Settings,
)
from tcpwrap.drivers.endpoint import Address
from tcpwrap.errors import Diagnostic, Kind, Origin

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

LOG = logging.getLogger("tcpwrap")

__all__ = [
    "DNS_TIMEOUT",
    "IDENT_PORT",
    "LOG",
    "AclExecStyle",
    "Address",
    "Settings",
    "log_diagnostic",
    "log_warning",
    "resident_conduct",
]

_LEVELS = {
    Kind.WARNING: logging.WARNING,
    Kind.ERROR: logging.ERROR,
    Kind.INFO: logging.INFO,
    Kind.DEBUG: logging.DEBUG,
}


def log_diagnostic(diag: Diagnostic) -> None:
    LOG.log(_LEVELS[diag.kind], "%s", diag.render())


def log_warning(message: str, origin: Origin | None = None) -> None:
    where = f"{origin}: " if origin is not None else ""
    LOG.warning("warning: %s%s", where, message)


def resident_conduct(
    settings: Settings | None = None,
    *,
    fd: int | None = None,
    sock: socket.socket | None = None,
) -> BlockingConduct:
    """The library's conduct: resident-process semantics, records to the "tcpwrap" logger."""
    return BlockingConduct(
        settings if settings is not None else Settings(),
        log_diagnostic,
        fd=fd,
        sock=sock,
        drop_users=False,
        aclexec_stdio=None,
    )
