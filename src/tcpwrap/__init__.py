"""tcpwrap: TCP Wrappers rebuilt in Python. The public API lives here, re-exported.

Names are imported on first use (PEP 562), so `import tcpwrap` -- and the wrapper, which runs
once per connection -- only pays for what it touches.
"""

# No `from __future__ import annotations`: it is an import too, and the wrapper's hand-off
# (drivers/handoff.py) imports this package on every connection.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from tcpwrap.errors import ConfigError, Diagnostic, Origin, TcpwrapError
    from tcpwrap.library import check_socket, check_socket_async, decide, hosts_ctl
    from tcpwrap.policy.decision import Decision, Verdict

_EXPORTS = {
    "ConfigError": "tcpwrap.errors",
    "Diagnostic": "tcpwrap.errors",
    "Origin": "tcpwrap.errors",
    "TcpwrapError": "tcpwrap.errors",
    "decide": "tcpwrap.library",
    "hosts_ctl": "tcpwrap.library",
    "check_socket": "tcpwrap.library.sockets",
    "check_socket_async": "tcpwrap.library.async_sockets",
    "Decision": "tcpwrap.policy.decision",
    "Verdict": "tcpwrap.policy.decision",
}

__all__ = [
    "ConfigError",
    "Decision",
    "Diagnostic",
    "Origin",
    "TcpwrapError",
    "Verdict",
    "check_socket",
    "check_socket_async",
    "decide",
    "hosts_ctl",
]


def __getattr__(name: str) -> "Any":
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tcpwrap' has no attribute {name!r}")
    import importlib  # here: the wrapper, which never asks, does not pay for it (~0.3 ms)

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
