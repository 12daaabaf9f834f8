"""tcpwrap: TCP Wrappers rebuilt in Python. The public API lives here, re-exported."""

from __future__ import annotations

from tcpwrap.errors import ConfigError, Diagnostic, Origin, TcpwrapError

__all__ = ["ConfigError", "Diagnostic", "Origin", "TcpwrapError"]
