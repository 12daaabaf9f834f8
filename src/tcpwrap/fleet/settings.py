"""The `[fleet]` settings: which Redis, which site, this node's name, the ban policy.

What it does: `FleetConfig` is the parsed `[fleet]` section of serve's TOML file (parsed and
checked by serve.config, which names file, key and line on errors); `password()` finds the
Redis password (a file, or `$TCPWRAP_REDIS_PASSWORD`), `client_options()` gives the redis
client's keyword arguments (timeouts, TLS), `shown_url()` the URL with any credentials taken
out (for logs), and `keys()` the Redis key names of a site.

Hazards: credentials are read from a file or the environment, never from the command line
(which every user sees in /proc), and never logged: `shown_url()` is the only URL text that
reaches a record.
Errors: `password()` raises ConfigError when the file cannot be read.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tcpwrap.errors import ConfigError

PASSWORD_VARIABLE = "TCPWRAP_REDIS_PASSWORD"  # noqa: S105 - the variable's name, no secret
NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"


def default_node() -> str:
    return socket.gethostname().split(".")[0][:64] or "node"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    redis: str  # redis://HOST:PORT/DB, rediss:// for TLS (the client library's URL form)
    site: str = "default"  # bans are shared within a site
    node: str = field(default_factory=default_node)  # this server in the fleet
    username: str | None = None
    password_file: str | None = None  # else $TCPWRAP_REDIS_PASSWORD, else the URL's
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    timeout: float = 2.0  # seconds for one Redis operation (connect included)
    ban_list: str | None = None  # the local list fleet bans go to (default: the traps')
    ban_seconds: float = 600.0  # the fleet policy's first ban
    ban_after: int = 0  # trap hits within `window` that make a fleet ban (0: policy off)
    from_hosts: int = 1  # ... seen by at least this many nodes
    window: float = 600.0
    growth: float = 2.0  # a repeat offender's ban lasts `growth` times the previous one
    ban_max: float = 7 * 86400.0
    memory: float = 30 * 86400.0  # how long earlier offences count
    stream_max: int = 100_000  # events kept in the stream (XADD MAXLEN ~)
    queue: int = 10_000  # publications kept while Redis is away (the oldest go first)

    def password(self) -> str | None:
        if self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as handle:
                    return handle.read(4096).strip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"[fleet] password_file {self.password_file}: {exc.strerror or exc}"
                ) from None
        return os.environ.get(PASSWORD_VARIABLE)

    def shown_url(self) -> str:
        return shown_url(self.redis)

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            "health_check_interval": 15,
        }
        if self.username:
            options["username"] = self.username
        password = self.password()
        if password:
            options["password"] = password
        if self.redis.startswith("rediss://"):
            options["ssl_cert_reqs"] = "required" if self.tls_verify else "none"
            if self.tls_ca:
                options["ssl_ca_certs"] = self.tls_ca
            if self.tls_cert:
                options["ssl_certfile"] = self.tls_cert
            if self.tls_key:
                options["ssl_keyfile"] = self.tls_key
        return options

    def keys(self) -> SiteKeys:
        return SiteKeys(self.site)


def shown_url(url: str) -> str:
    """`redis://user:secret@host:6379/0` -> `redis://host:6379/0` (nothing secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "redis://(unparsable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class SiteKeys:
    """The Redis keys of one site (every key starts with `tcpwrap:SITE:`)."""

    site: str

    @property
    def bans(self) -> str:  # sorted set: ban token -> expiry (epoch seconds)
        return f"tcpwrap:{self.site}:bans"

    @property
    def events(self) -> str:  # stream: bans and unbans (what every node follows)
        return f"tcpwrap:{self.site}:events"

    @property
    def log(self) -> str:  # stream: trap hits with the nodes' JSON records (the merged log)
        return f"tcpwrap:{self.site}:log"

    def hits(self, token: str) -> str:  # sorted set: recent hits of one source (the policy)
        return f"tcpwrap:{self.site}:hits:{token}"

    def offences(self, token: str) -> str:  # counter: earlier bans of one source
        return f"tcpwrap:{self.site}:offences:{token}"
