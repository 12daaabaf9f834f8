"""What `tcpwrap serve` listens on: inetd.conf lines and trap addresses -> services and sockets.

What it does: `load_services(config, inetd_text, inetd_path)` turns the parsed inetd.conf
lines (`proto.inetd_services`) and the `[[trap]]` tables into `Service` values, one per
listening socket: the host specifier resolved (`*` is 0.0.0.0 and/or `::` by the protocol's
family suffix, names through getaddrinfo), the service name through /etc/services, the
daemon (a tcpd line runs its daemon with the check in-process), the user and group resolved
to ids. `open_socket(key, ...)` binds one listening socket; `socket_key(sock)` tells the key
of a socket systemd passed, so it can stand in for the one we would bind.

Hazards: names in inetd.conf are resolved at load time (in a worker thread: the server's loop
never waits for DNS). One bad line never stops the others: it becomes a problem text naming
file:line, and the line is skipped, as inetd does.
Errors: problems are returned as texts; `open_socket` raises OSError for the caller to log.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from tcpwrap.proto.inetd_services import (
    INTERNAL_SERVICES,
    Daemon,
    Family,
    ServiceLine,
    line_daemon,
    parse_services,
)
from tcpwrap.serve.children import Identity, SpawnError, resolve_identity
from tcpwrap.serve.config import ServeConfig, TrapConfig


@dataclass(frozen=True, slots=True)
class ListenerKey:
    """What makes a listening socket the same across reloads."""

    transport: str  # "tcp" | "udp"
    host: str  # numeric, no brackets
    port: int
    v6only: bool  # IPv6 sockets: IPV6_V6ONLY (False: dual-stack, tcp46)

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        dual = ":" in self.host and not self.v6only
        return f"{host}:{self.port}/{self.transport}{'46' if dual else ''}"


@dataclass(frozen=True, slots=True)
class Service:
    """Everything the server needs to handle connections on one listening socket."""

    key: ListenerKey
    origin: str  # "file, line N" (for messages)
    daemon: Daemon  # name, program, argv; internal services: program "internal"
    checked: bool  # decide with the tables before serving
    wait: bool
    identity: Identity | None  # the line's user and group (None: the server's own)
    user: str  # as written (for `group` options, which keep the user)
    per_minute: int | None = None  # the line's `.max`: invocations per minute per source
    trap: TrapConfig | None = None
    sndbuf: int | None = None
    rcvbuf: int | None = None
    umask: int | None = None  # a tcpd line's daemon starts with tcpd's umask 022

    @property
    def stream(self) -> bool:
        return self.key.transport == "tcp"

    @property
    def internal(self) -> str | None:
        return self.daemon.name if self.daemon.program == "internal" else None

    @property
    def name(self) -> str:
        """The service's name for limits and counters: daemon name and socket."""
        return f"{self.daemon.name}@{self.key}"


def _hosts_for(host: str, family: Family, transport: str) -> list[tuple[str, bool]]:
    """(numeric address, v6only) pairs a host specifier stands for (getaddrinfo for names)."""
    if host == "*":
        return {
            Family.BOTH: [("0.0.0.0", False), ("::", True)],  # noqa: S104 - inetd's `*`
            Family.V4: [("0.0.0.0", False)],  # noqa: S104
            Family.V6: [("::", True)],
            Family.DUAL: [("::", False)],
        }[family]
    wanted = {
        Family.BOTH: socket.AF_UNSPEC,
        Family.V4: socket.AF_INET,
        Family.V6: socket.AF_INET6,
        Family.DUAL: socket.AF_INET6,
    }[family]
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    infos = socket.getaddrinfo(host, None, wanted, kind, 0, socket.AI_PASSIVE)
    out: list[tuple[str, bool]] = []
    for fam, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if fam == socket.AF_INET6:
            scope = sockaddr[3] if len(sockaddr) >= 4 else 0
            if scope:
                address += f"%{scope}"
            out.append((address, family is not Family.DUAL))
        elif fam == socket.AF_INET:
            out.append((address, False))
    return list(dict.fromkeys(out))


def _port(service: str, transport: str) -> int:
    if service.isdigit():
        port = int(service)
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} out of range")
        return port
    try:
        return socket.getservbyname(service, transport)
    except OSError:
        raise ValueError(f"unknown service {service!r} for {transport} (/etc/services)") from None


def line_services(
    line: ServiceLine, path: str, config: ServeConfig
) -> tuple[list[Service], list[str]]:
    where = f"{path}, line {line.line}"
    try:
        port = _port(line.service, line.transport)
    except ValueError as exc:
        return [], [f"{where}: {exc}; line skipped"]
    daemon = line_daemon(line, config.real_daemon_dir)
    if not daemon.argv and not line.internal:
        return [], [f"{where}: {line.program} names no daemon to run; line skipped"]
    if line.internal:
        name = line.service if line.service in INTERNAL_SERVICES else _internal_by_port(port)
        if line.args:  # our extension: `internal daytime` names it on any port
            name = line.args[0] if line.args[0] in INTERNAL_SERVICES else None
        if name is None:
            return [], [f"{where}: no internal service on port {port}; line skipped"]
        daemon = Daemon(name, "internal", (), False)
    try:
        identity = resolve_identity(line.user, line.group)
    except SpawnError as exc:
        return [], [f"{where}: {exc.text}; line skipped"]
    checked = daemon.wrapped or config.wrap == "all"
    services: list[Service] = []
    problems: list[str] = []
    for host in line.hosts:
        try:
            addresses = _hosts_for(host, line.family, line.transport)
        except OSError as exc:
            problems.append(f"{where}: host {host}: {exc.strerror or exc}; skipped")
            continue
        for address, v6only in addresses:
            key = ListenerKey(line.transport, address, port, v6only)
            services.append(
                Service(
                    key,
                    where,
                    daemon,
                    checked,
                    line.wait,
                    identity,
                    line.user,
                    line.max,
                    None,
                    line.sndbuf,
                    line.rcvbuf,
                    0o022 if daemon.wrapped else None,
                )
            )
    return services, problems


def _internal_by_port(port: int) -> str | None:
    return {7: "echo", 9: "discard", 13: "daytime", 19: "chargen", 37: "time"}.get(port)


def trap_services(trap: TrapConfig, path: str) -> list[Service]:
    where = f"{path}, line {trap.origin.line}" if trap.origin is not None else path
    out = []
    for address in trap.listen:
        host = address.host if address.host != "localhost" else "127.0.0.1"
        key = ListenerKey(address.transport, host, address.port, ":" in host)
        out.append(
            Service(
                key,
                where,
                Daemon(trap.daemon, "trap", (), False),
                False,
                False,
                None,
                "",
                None,
                trap,
            )
        )
    return out


def load_services(
    config: ServeConfig, inetd_text: str | None, inetd_path: str
) -> tuple[list[Service], list[str]]:
    """Every service to listen for, and the problems (file:line texts) of what was skipped."""
    services: list[Service] = []
    problems: list[str] = []
    if inetd_text is not None:
        parsed = parse_services(inetd_text)
        problems += [
            f"{inetd_path}, line {p.line}: {p.message}; line skipped" for p in parsed.problems
        ]
        for line in parsed.lines:
            found, trouble = line_services(line, inetd_path, config)
            services += found
            problems += trouble
    for trap in config.traps:
        services += trap_services(trap, config.path or "<config>")
    unique: dict[ListenerKey, Service] = {}
    for service in services:
        if service.key in unique:
            problems.append(
                f"{service.origin}: {service.key} is already used by {unique[service.key].origin}; "
                "skipped"
            )
            continue
        unique[service.key] = service
    return list(unique.values()), problems


def open_socket(key: ListenerKey, backlog: int, service: Service | None = None) -> socket.socket:
    """Bind (and listen on) the socket for `key`; non-blocking, close-on-exec."""
    kind = socket.SOCK_STREAM if key.transport == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(key.family, kind | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if key.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if key.v6only else 0)
        if service is not None and service.sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, service.sndbuf)
        if service is not None and service.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, service.rcvbuf)
        host, _, scope = key.host.partition("%")
        if key.family == socket.AF_INET6:
            scope_id = 0
            if scope:
                scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
            sock.bind((host, key.port, 0, scope_id))
        else:
            sock.bind((host, key.port))
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def socket_key(sock: socket.socket) -> ListenerKey | None:
    """The key of an existing listening socket (one systemd passed), or None."""
    try:
        kind = sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
        local = sock.getsockname()
    except OSError:
        return None
    transport = {int(socket.SOCK_STREAM): "tcp", int(socket.SOCK_DGRAM): "udp"}.get(kind)
    if transport is None or not isinstance(local, tuple):
        return None
    host = str(local[0])
    v6only = False
    if sock.family == socket.AF_INET6:
        v6only = bool(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
        if len(local) >= 4 and local[3]:
            host += f"%{local[3]}"
    return ListenerKey(transport, host, int(local[1]), v6only)
