"""The library: what Python programs call instead of libwrap (docs/library.md).

What it does: `hosts_ctl` / `decide` answer for four strings (`library.ctl`); `check_socket`
decides for a server's own socket with lazy DNS and ident (`library.sockets`), and
`check_socket_async` is its asyncio twin (`library.async_sockets`). All of them share one
self-refreshing compiled policy per pair of tables and the one decision driver
(`drivers.deciding`, with the library's conduct in `library.live`).
Dry run by default; `live=True` performs the options as a resident libwrap process does.
docs/library.md has the whole story.

The socket functions are imported on first use (PEP 562), so `tcpwrap match --batch`, which
only needs hosts_ctl, does not pay for socket or asyncio.
"""

from __future__ import annotations

import importlib

from tcpwrap.library.ctl import (
    CTL_MODE,
    HOSTS_ALLOW,
    HOSTS_DENY,
    LIVE_MODE,
    MEMO_LIMIT,
    ctl_connection,
    decide,
    hosts_ctl,
    policy_cache,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tcpwrap.library.async_sockets import check_socket_async
    from tcpwrap.library.sockets import check_socket

_LAZY = {
    "check_socket": "tcpwrap.library.sockets",
    "check_socket_async": "tcpwrap.library.async_sockets",
}

__all__ = [
    "CTL_MODE",
    "HOSTS_ALLOW",
    "HOSTS_DENY",
    "LIVE_MODE",
    "MEMO_LIMIT",
    "check_socket",
    "check_socket_async",
    "ctl_connection",
    "decide",
    "hosts_ctl",
    "policy_cache",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tcpwrap.library' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
