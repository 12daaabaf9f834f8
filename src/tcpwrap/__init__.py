"""tcpwrap: TCP Wrappers rebuilt in Python. The public API lives here, re-exported."""

from __future__ import annotations

from tcpwrap.errors import ConfigError, Diagnostic, Origin, TcpwrapError
from tcpwrap.library import decide, hosts_ctl
from tcpwrap.policy.decision import Decision, Verdict

__all__ = [
    "ConfigError",
    "Decision",
    "Diagnostic",
    "Origin",
    "TcpwrapError",
    "Verdict",
    "decide",
    "hosts_ctl",
]
