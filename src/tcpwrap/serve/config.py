"""`tcpwrap serve`'s TOML configuration: what inetd.conf cannot say.

What it does: `parse_config(text, path)` reads the TOML text (stdlib `tomllib`) into a frozen
`ServeConfig`, checking every key: its section, type and range. Sections and keys (every one
optional; the defaults are the dataclass defaults below, documented in docs/serve.md):

    [serve]   inetd_conf, wrap ("tcpd" | "all"), real_daemon_dir, path, backlog,
              internal_timeout, aclexec ("documented" | "debian"), handoff (the socket
              wrappers hand their connections to: serve/handoff.py)
    [tables]  allow, deny, language ("options" | "classic")
    [lookups] dns_timeout, ident_timeout, ident_port, cache_ttl, negative_ttl, cache_size,
              threads
    [log]     syslog (bool), facility, json (path), stdout (bool), aggregate_interval
    [limits]  rate, burst, per_source, per_service, children, pending, prefix_v4, prefix_v6,
              sources
    [bans]    prefix_v4, prefix_v6, max_entries, never_ban (list of addresses/networks)
    [metrics] listen ("127.0.0.1:PORT"), control (a Unix socket path)
    [fleet]   redis, site, node, username, password_file, tls_ca, tls_cert, tls_key,
              tls_verify, timeout, ban_list, ban_seconds, ban_after, from_hosts, window,
              growth, ban_max, memory, stream_max, queue (fleet.settings, docs/fleet.md)
    [[trap]]  listen (list of "HOST:PORT", "udp:HOST:PORT", "[v6]:PORT"), daemon, spawn,
              spawn_interval, ban_seconds, ban_list, udp_bans

Hazards: the file is the admin's; values are bounded (timeouts, sizes, counts) so a typo
cannot make the server unbounded. Trap `spawn` commands are the admin's shell text and are
% expanded with the wrapper's allow-list when they run, never here.
Errors: a bad file, section, key or value raises `ConfigError` naming the file, the key and its
line (`serve.toml, line 7: [limits] rate: must be a number from 0.01 to 100000`); the server
then does not start, or on reload keeps its running configuration.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tcpwrap.drivers.config import DNS_TIMEOUT
from tcpwrap.errors import ConfigError, Origin
from tcpwrap.fleet.settings import NAME_PATTERN, FleetConfig
from tcpwrap.policy.options import OPENLOG_FACILITIES
from tcpwrap.proto.prefix import parse_networks

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One trap address: transport, host (no brackets) and port."""

    transport: str  # "tcp" | "udp"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = "udp:" if self.transport == "udp" else ""
        return f"{prefix}{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TrapConfig:
    listen: tuple[ListenAddress, ...]
    daemon: str = "trap"  # the name in its log lines and %d
    spawn: str | None = None  # a booby-trap command, % expanded
    spawn_interval: float = 60.0  # at most one spawn per source per this many seconds
    ban_seconds: float | None = None  # ban the source this long ...
    ban_list: str | None = None  # ... in this file (for `ALL: /path` in hosts.deny)
    udp_bans: bool = False  # UDP sources are forged at will: ban them only if asked
    origin: Origin | None = None  # the [[trap]] table's line


@dataclass(frozen=True, slots=True)
class LookupConfig:
    dns_timeout: float = DNS_TIMEOUT  # the whole reverse + forward verification, per client
    ident_timeout: int = 10  # the rfc931 default; a rule's `rfc931 N` overrides it
    ident_port: int = 113
    cache_ttl: float = 60.0  # verified names are reused this long
    negative_ttl: float = 10.0  # failed lookups (unknown, paranoid) this long
    cache_size: int = 10_000
    threads: int = 32  # resolver threads (a dead DNS server holds one per lookup)


@dataclass(frozen=True, slots=True)
class LogConfig:
    syslog: bool = True  # classic records to /dev/log, tagged with each daemon's name
    facility: str = "daemon"
    json: str | None = None  # one JSON object per line: connections, refusals, trap hits
    stdout: bool = False  # the classic records on stdout too (the demo turns this on)
    aggregate_interval: float = 10.0  # repeats (limits, floods) are summed over this long


@dataclass(frozen=True, slots=True)
class LimitConfig:
    rate: float = 50.0  # new connections per second per source (token bucket refill)
    burst: int = 100  # bucket size: a source may open this many at once
    per_source: int = 32  # connections of one source being decided or served at once
    per_service: int = 256  # children of one service at once
    children: int = 1024  # children overall
    pending: int = 1024  # decisions waiting on DNS/ident at once
    prefix_v4: int = 32  # a "source" is this IPv4 prefix ...
    prefix_v6: int = 64  # ... and this IPv6 prefix
    sources: int = 100_000  # sources tracked at once (the least recent are forgotten)


@dataclass(frozen=True, slots=True)
class BanConfig:
    prefix_v4: int = 32  # a ban covers this prefix of the offender's address
    prefix_v6: int = 64
    max_entries: int = 1_000_000  # active bans; beyond it the soonest to expire goes first
    never_ban: tuple[str, ...] = ()  # addresses and networks never banned (admins, monitoring)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: str | None = None  # "127.0.0.1:PORT": Prometheus exposition over HTTP
    control: str | None = None  # a Unix socket `tcpwrap serve --status` reads


@dataclass(frozen=True, slots=True)
class ServeConfig:
    path: str | None = None  # the TOML file this came from (None: defaults)
    inetd_conf: str | None = None
    wrap: str = "tcpd"  # "tcpd": check lines that ran tcpd; "all": every line (inetd -l)
    real_daemon_dir: str = "/usr/sbin"
    child_path: str = DEFAULT_PATH  # PATH in the children's clean environment
    backlog: int = 128
    internal_timeout: float = 300.0  # idle limit of the internal echo/discard/chargen
    aclexec: str = "documented"
    handoff: str | None = None  # the Unix socket tcpwrap-tcpd hands connections to
    allow: str = "/etc/hosts.allow"
    deny: str = "/etc/hosts.deny"
    language: str = "options"
    lookups: LookupConfig = field(default_factory=LookupConfig)
    log: LogConfig = field(default_factory=LogConfig)
    limits: LimitConfig = field(default_factory=LimitConfig)
    bans: BanConfig = field(default_factory=BanConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    traps: tuple[TrapConfig, ...] = ()
    fleet: FleetConfig | None = None  # bans shared through Redis (docs/fleet.md)


# ----------------------------------------------------------------------------- checking


Check = Callable[[Any], Any]  # value -> value (converted), or raise ValueError(why)


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        if not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return float(value)

    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return check


def _choice(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    return check


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value or "\0" in value or "\n" in value:
        raise ValueError("must be a non-empty string on one line")
    return value


def _abs_path(value: Any) -> str:
    text = _text(value)
    if not text.startswith("/"):
        raise ValueError("must be an absolute path")
    return text


def _daemon_name(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
    return text


def _host_port(value: Any) -> str:
    text = _text(value)
    parse_listen(text)
    if text.startswith("udp:"):
        raise ValueError("the metrics endpoint is TCP")
    return text


_V4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def parse_listen(text: str) -> ListenAddress:
    """`HOST:PORT`, `[v6]:PORT`, `udp:HOST:PORT`, `tcp:...` -> ListenAddress (ValueError)."""
    transport = "tcp"
    for prefix in ("udp:", "tcp:"):
        if text.startswith(prefix):
            transport, text = prefix[:-1], text[len(prefix) :]
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"{text!r}: expected HOST:PORT (IPv6 as [ADDR]:PORT)")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be from 1 to 65535")
    if not host or not (_V4.match(host) or ":" in host or host == "localhost"):
        raise ValueError(f"{text!r}: the host must be a numeric address or localhost")
    return ListenAddress(transport, host, int(port))


def _listen_list(value: Any) -> tuple[ListenAddress, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > 4096:
        raise ValueError("must be a list of 1 to 4096 addresses")
    out = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError("must be a list of strings")
        out.append(parse_listen(item))
    return tuple(out)


def _command(value: Any) -> str:
    text = _text(value)
    if len(text) > 4000:
        raise ValueError("must be at most 4000 characters")
    return text


def _networks(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > 10_000:
        raise ValueError("must be a list of addresses and networks")
    if not all(isinstance(item, str) for item in value):
        raise ValueError("must be a list of strings")
    parse_networks(value)  # ValueError names the bad entry
    return tuple(value)


def _redis_url(value: Any) -> str:
    text = _text(value)
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://HOST:PORT/DB, rediss:// or unix:// URL")
    return text


def _fleet_name(value: Any) -> str:
    text = _text(value)
    if not re.fullmatch(NAME_PATTERN, text):
        raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
    return text


# section -> key -> (check, dataclass field name)
Schema = Mapping[str, tuple[Check, str]]
SERVE: Schema = {
    "inetd_conf": (_abs_path, "inetd_conf"),
    "wrap": (_choice("tcpd", "all"), "wrap"),
    "real_daemon_dir": (_abs_path, "real_daemon_dir"),
    "path": (_text, "child_path"),
    "backlog": (_integer(1, 65535), "backlog"),
    "internal_timeout": (_number(1, 86400), "internal_timeout"),
    "aclexec": (_choice("documented", "debian"), "aclexec"),
    "handoff": (_abs_path, "handoff"),
}
TABLES: Schema = {
    "allow": (_abs_path, "allow"),
    "deny": (_abs_path, "deny"),
    "language": (_choice("options", "classic"), "language"),
}
LOOKUPS: Schema = {
    "dns_timeout": (_number(0.1, 300), "dns_timeout"),
    "ident_timeout": (_integer(1, 300), "ident_timeout"),
    "ident_port": (_integer(1, 65535), "ident_port"),
    "cache_ttl": (_number(0, 86400), "cache_ttl"),
    "negative_ttl": (_number(0, 86400), "negative_ttl"),
    "cache_size": (_integer(0, 10_000_000), "cache_size"),
    "threads": (_integer(1, 512), "threads"),
}
LOG: Schema = {
    "syslog": (_boolean, "syslog"),
    "facility": (_choice(*OPENLOG_FACILITIES), "facility"),
    "json": (_abs_path, "json"),
    "stdout": (_boolean, "stdout"),
    "aggregate_interval": (_number(0.1, 3600), "aggregate_interval"),
}
LIMITS: Schema = {
    "rate": (_number(0.01, 1_000_000), "rate"),
    "burst": (_integer(1, 1_000_000), "burst"),
    "per_source": (_integer(1, 1_000_000), "per_source"),
    "per_service": (_integer(1, 1_000_000), "per_service"),
    "children": (_integer(1, 1_000_000), "children"),
    "pending": (_integer(1, 1_000_000), "pending"),
    "prefix_v4": (_integer(8, 32), "prefix_v4"),
    "prefix_v6": (_integer(16, 128), "prefix_v6"),
    "sources": (_integer(100, 10_000_000), "sources"),
}
BANS: Schema = {
    "prefix_v4": (_integer(8, 32), "prefix_v4"),
    "prefix_v6": (_integer(16, 128), "prefix_v6"),
    "max_entries": (_integer(1, 10_000_000), "max_entries"),
    "never_ban": (_networks, "never_ban"),
}
METRICS: Schema = {
    "listen": (_host_port, "listen"),
    "control": (_abs_path, "control"),
}
TRAP: Schema = {
    "listen": (_listen_list, "listen"),
    "daemon": (_daemon_name, "daemon"),
    "spawn": (_command, "spawn"),
    "spawn_interval": (_number(0, 86400 * 7), "spawn_interval"),
    "ban_seconds": (_number(1, 86400 * 365), "ban_seconds"),
    "ban_list": (_abs_path, "ban_list"),
    "udp_bans": (_boolean, "udp_bans"),
}
FLEET: Schema = {
    "redis": (_redis_url, "redis"),
    "site": (_fleet_name, "site"),
    "node": (_fleet_name, "node"),
    "username": (_text, "username"),
    "password_file": (_abs_path, "password_file"),
    "tls_ca": (_abs_path, "tls_ca"),
    "tls_cert": (_abs_path, "tls_cert"),
    "tls_key": (_abs_path, "tls_key"),
    "tls_verify": (_boolean, "tls_verify"),
    "timeout": (_number(0.1, 60), "timeout"),
    "ban_list": (_abs_path, "ban_list"),
    "ban_seconds": (_number(1, 86400 * 365), "ban_seconds"),
    "ban_after": (_integer(0, 1_000_000), "ban_after"),
    "from_hosts": (_integer(1, 10_000), "from_hosts"),
    "window": (_number(1, 86400 * 30), "window"),
    "growth": (_number(1, 100), "growth"),
    "ban_max": (_number(1, 86400 * 3650), "ban_max"),
    "memory": (_number(60, 86400 * 3650), "memory"),
    "stream_max": (_integer(100, 10_000_000), "stream_max"),
    "queue": (_integer(10, 1_000_000), "queue"),
}
SECTIONS: dict[str, Schema] = {
    "serve": SERVE,
    "tables": TABLES,
    "lookups": LOOKUPS,
    "log": LOG,
    "limits": LIMITS,
    "bans": BANS,
    "metrics": METRICS,
    "fleet": FLEET,
}


def _key_line(text: str, section: str, key: str | None, index: int = 0) -> int | None:
    """The line of `key` in table `[section]` (the index-th `[[section]]`), else the table's."""
    header = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?")
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=") if key is not None else None
    seen = -1
    inside = False
    table_line: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        match = header.match(line)
        if match is not None:
            inside = match.group(1) == section and (seen := seen + 1) == index
            if inside:
                table_line = number
            continue
        if inside and key_re is not None and key_re.match(line):
            return number
    return table_line


class _Reader:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path

    def error(self, section: str, key: str | None, why: str, index: int = 0) -> ConfigError:
        line = _key_line(self.text, section, key, index)
        what = f"[{section}]" + (f" {key}" if key else "")
        origin = Origin(self.path, line) if line is not None else None
        prefix = "" if origin is not None else f"{self.path}: "
        return ConfigError(f"{prefix}{what}: {why}", origin)

    def table(self, section: str, raw: Any, schema: Schema, index: int = 0) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(section, None, "must be a table", index)
        values: dict[str, Any] = {}
        for key, value in raw.items():
            spec = schema.get(key)
            if spec is None:
                known = ", ".join(sorted(schema))
                raise self.error(section, key, f"unknown key (known: {known})", index)
            check, name = spec
            try:
                values[name] = check(value)
            except ValueError as exc:
                raise self.error(section, key, str(exc), index) from None
        return values


def parse_config(text: str, path: str) -> ServeConfig:
    """The configuration in `text` (read from `path`, named in every error)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    reader = _Reader(text, path)
    top: dict[str, Any] = {"path": path}
    parts: dict[str, dict[str, Any]] = {}
    for section, raw in data.items():
        if section == "trap":
            continue
        schema = SECTIONS.get(section)
        if schema is None:
            known = ", ".join([*SECTIONS, "[trap]"])
            line = _key_line(text, section, None)
            origin = Origin(path, line) if line is not None else None
            prefix = "" if origin is not None else f"{path}: "
            raise ConfigError(f"{prefix}unknown section [{section}] (known: {known})", origin)
        values = reader.table(section, raw, schema)
        if section in ("serve", "tables"):
            top.update(values)
        else:
            parts[section] = values
    traps = []
    raw_traps = data.get("trap", [])
    if not isinstance(raw_traps, list):
        raise reader.error("trap", None, "write trap tables as [[trap]]")
    for index, raw in enumerate(raw_traps):
        values = reader.table("trap", raw, TRAP, index)
        line = _key_line(text, "trap", None, index)
        origin = Origin(path, line) if line is not None else None
        if "listen" not in values:
            raise reader.error("trap", None, "listen is required", index)
        if ("ban_seconds" in values) != ("ban_list" in values):
            raise reader.error("trap", None, "ban_seconds and ban_list go together", index)
        traps.append(TrapConfig(origin=origin, **values))
    fleet: FleetConfig | None = None
    if "fleet" in parts:
        values = parts["fleet"]
        if "redis" not in values:
            raise reader.error("fleet", None, "redis is required (redis://HOST:PORT/DB)")
        if "ban_list" not in values:
            lists = [trap.ban_list for trap in traps if trap.ban_list]
            if not lists:
                raise reader.error(
                    "fleet", None, "ban_list is required (no [[trap]] has a ban_list to share)"
                )
            values["ban_list"] = lists[0]
        fleet = FleetConfig(**values)
    return ServeConfig(
        fleet=fleet,
        lookups=LookupConfig(**parts.get("lookups", {})),
        log=LogConfig(**parts.get("log", {})),
        limits=LimitConfig(**parts.get("limits", {})),
        bans=BanConfig(**parts.get("bans", {})),
        metrics=MetricsConfig(**parts.get("metrics", {})),
        traps=tuple(traps),
        **top,
    )


def load_config(path: str) -> ServeConfig:
    """Read and parse a configuration file (ConfigError when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > 4 * 1024 * 1024:
        raise ConfigError(f"{path}: larger than 4 MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start})") from None
    return parse_config(text, path)


def with_overrides(config: ServeConfig, **changes: Any) -> ServeConfig:
    """The configuration with command-line values put over it (ConfigError if one is bad).

    Keys are ServeConfig field names, plus `listen`/`control` (of [metrics]) and `log` (a
    dict of [log] fields)."""
    given = dict(changes)
    metrics = {key: given.pop(key) for key in ("listen", "control") if key in given}
    if "listen" in metrics:
        try:
            _host_port(metrics["listen"])
        except ValueError as exc:
            raise ConfigError(f"--metrics: {exc}") from None
    if metrics:
        given["metrics"] = dataclasses.replace(config.metrics, **metrics)
    log = given.pop("log", None)
    if log:
        given["log"] = dataclasses.replace(config.log, **log)
    for key in ("allow", "deny", "inetd_conf", "handoff"):
        if key in given and not str(given[key]):
            raise ConfigError(f"--{key.replace('_', '-')}: an empty path")
    return dataclasses.replace(config, **given)
