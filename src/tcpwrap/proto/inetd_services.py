"""inetd.conf as a super-server reads it: the lines `tcpwrap serve` runs (openbsd-inetd's form).

What it does: `parse_services(text)` turns inetd.conf(5) text into `ServiceLine` values:
`[host[,host...]:]service socktype protocol[,sndbuf=N][,rcvbuf=N] wait|nowait[.max]
user[.group|:group] program [argv...]`, including a line holding only `host:` (the default
host for the following lines; `*:` is implied at the top), `[v6addr]` hosts, numeric ports,
tcp/udp with the 4/6/46 suffixes and the internal services (`internal` as the program; our
extension `internal NAME` runs internal service NAME on any port).
`wrapped_daemon(line, ...)` recognises a line whose program is tcpd (or tcpwrap-tcpd): its
access check runs in-process and the daemon it names is the program to start; the daemon name
(for matching and logging) is the basename of the daemon's argv[0], as tcpd's.

Hazards: the file is root's, but a typo must not take other services down: every problem is
a value (`InetdProblem` with its line) and the line is skipped, as inetd does. Nothing is
resolved here (no DNS, no /etc/services): that is the driver's job.
Errors: none raised.
"""

from __future__ import annotations

import enum
import posixpath
import re

from tcpwrap._record import record
from tcpwrap.proto.inetd import InetdProblem

INTERNAL = "internal"
INTERNAL_SERVICES = frozenset({"echo", "discard", "daytime", "chargen", "time"})
WRAPPER_NAMES = frozenset({"tcpd", "tcpwrap-tcpd"})
_PROTOCOLS = {
    "tcp": ("tcp", "both"),
    "tcp4": ("tcp", "v4"),
    "tcp6": ("tcp", "v6"),
    "tcp46": ("tcp", "dual"),
    "udp": ("udp", "both"),
    "udp4": ("udp", "v4"),
    "udp6": ("udp", "v6"),
    "udp46": ("udp", "dual"),
}
_SIZE = re.compile(r"^(\d{1,10})([kKmM]?)$")
MAX_BUFFER = 64 * 1024 * 1024


class Family(enum.Enum):
    """Which address families a line listens on (the protocol's suffix)."""

    BOTH = "both"  # tcp/udp: one IPv4 and one IPv6-only socket for `*`
    V4 = "v4"
    V6 = "v6"
    DUAL = "dual"  # tcp46/udp46: one IPv6 socket that also takes IPv4 (mapped)


@record(frozen=True, slots=True)
class ServiceLine:
    """One service line of inetd.conf, fields as written (see the module docstring)."""

    line: int
    hosts: tuple[str, ...]  # ("*",) = every local address; v6 without brackets
    service: str  # a name from /etc/services or a port number
    stream: bool  # socket type stream (True) or dgram
    transport: str  # "tcp" or "udp"
    family: Family
    wait: bool
    max: int | None  # the `.max` suffix of wait/nowait
    user: str
    group: str | None
    program: str  # a path, or "internal"
    args: tuple[str, ...]  # argv, argv[0] first (internal: empty, or the service's name)
    sndbuf: int | None = None
    rcvbuf: int | None = None

    @property
    def internal(self) -> bool:
        return self.program == INTERNAL


@record(frozen=True, slots=True)
class ServiceParse:
    lines: tuple[ServiceLine, ...]
    problems: tuple[InetdProblem, ...]


def _size(text: str) -> int | None:
    match = _SIZE.match(text)
    if match is None:
        return None
    value = int(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return value if 0 < value <= MAX_BUFFER else None


def split_hosts(text: str) -> tuple[str, ...] | None:
    """`a,b,[::1]` -> ("a", "b", "::1"); None when an entry is empty or badly bracketed."""
    hosts: list[str] = []
    for item in text.split(","):
        if item.startswith("["):
            if not item.endswith("]") or len(item) < 3:
                return None
            item = item[1:-1]
        if not item or "[" in item or "]" in item:
            return None
        hosts.append(item)
    return tuple(hosts)


def _split_first(field: str) -> tuple[str | None, str]:
    """`host:service` -> (host, service); `[v6]:service` too; no host part -> (None, field)."""
    if field.startswith("["):
        close = field.rfind("]:")
        if close < 0:
            return None, field
        return field[: close + 1], field[close + 2 :]
    cut = field.rfind(":")
    if cut < 0:
        return None, field
    return field[:cut], field[cut + 1 :]


def parse_services(text: str) -> ServiceParse:
    """Every usable service line of an inetd.conf, and the problems of the others."""
    lines: list[ServiceLine] = []
    problems: list[InetdProblem] = []
    default_hosts: tuple[str, ...] = ("*",)
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith("#") or not raw.strip():
            continue
        fields = raw.split()

        def bad(message: str, at: int = number) -> None:
            problems.append(InetdProblem(at, message))

        host_text, service = _split_first(fields[0])
        if host_text is None and fields[0].startswith("["):
            bad(f"bad host address specifier in {fields[0]!r}: expected [ADDRESS]:SERVICE")
            continue
        hosts = default_hosts
        if host_text is not None:
            parsed_hosts = split_hosts(host_text)
            if parsed_hosts is None:
                bad(f"bad host address specifier {host_text!r}")
                continue
            if not service and len(fields) == 1:
                default_hosts = parsed_hosts  # a `host:` line: the default from here on
                continue
            hosts = parsed_hosts
        if len(fields) < 6:
            bad("incomplete line: expected service, socket type, protocol, wait, user, program")
            continue
        if not service:
            bad("no service name")
            continue
        socket_type, protocol_field, wait_field, user_field, program = fields[1:6]
        if socket_type not in ("stream", "dgram"):
            bad(f"socket type {socket_type!r} is not supported (stream or dgram)")
            continue
        protocol, *buffers = protocol_field.split(",")
        if protocol.startswith("rpc/") or protocol == "unix":
            bad(f"protocol {protocol!r} is not supported (tcp, udp, tcp4, tcp6, tcp46, ...)")
            continue
        known = _PROTOCOLS.get(protocol)
        if known is None:
            bad(f"unknown protocol {protocol!r}")
            continue
        transport, family = known
        if (transport == "tcp") != (socket_type == "stream"):
            bad(f"socket type {socket_type} does not go with protocol {protocol}")
            continue
        sizes: dict[str, int] = {}
        for item in buffers:
            key, _, value = item.partition("=")
            size = _size(value)
            if key not in ("sndbuf", "rcvbuf") or size is None:
                bad(f"bad socket buffer option {item!r}")
                break
            sizes[key] = size
        else:
            wait_word, _, max_text = wait_field.partition(".")
            if wait_word not in ("wait", "nowait") or (max_text and not max_text.isdigit()):
                bad(f"bad wait/nowait field {wait_field!r}")
                continue
            user, group = _user_group(user_field)
            if not user:
                bad(f"bad user field {user_field!r}")
                continue
            args = tuple(fields[6:])
            if program == INTERNAL:
                names = ", ".join(sorted(INTERNAL_SERVICES))
                if args and args[0] == INTERNAL:
                    args = ()  # inetd's own form: `internal` in the argument place too
                if args and args[0] not in INTERNAL_SERVICES:
                    bad(f"{args[0]}: not an internal service ({names})")
                    continue
                if not args and service not in INTERNAL_SERVICES and not service.isdigit():
                    bad(f"{service}: not an internal service ({names})")
                    continue
                args = args[:1]  # an extension: `internal daytime` on any port
            elif not program.startswith("/"):
                bad(f"{program}: the server program must be an absolute path")
                continue
            elif not args:
                bad("no server program arguments (argv[0] is required)")
                continue
            lines.append(
                ServiceLine(
                    number,
                    hosts,
                    service,
                    socket_type == "stream",
                    transport,
                    Family(family),
                    wait_word == "wait",
                    int(max_text) if max_text else None,
                    user,
                    group,
                    program,
                    args,
                    sizes.get("sndbuf"),
                    sizes.get("rcvbuf"),
                )
            )
    return ServiceParse(tuple(lines), tuple(problems))


def _user_group(field: str) -> tuple[str, str | None]:
    for separator in (":", "."):
        user, found, group = field.partition(separator)
        if found:
            return user, group or None
    return field, None


@record(frozen=True, slots=True)
class Daemon:
    """What a service line runs: the program, its argv, and the name tcpd would use."""

    name: str  # for matching and syslog: the basename of argv[0] (tcpd's rule)
    program: str  # the executable
    argv: tuple[str, ...]
    wrapped: bool  # the line ran tcpd/tcpwrap-tcpd: the check runs in-process


def line_daemon(line: ServiceLine, real_daemon_dir: str) -> Daemon:
    """The daemon of a line; for a tcpd line, the daemon tcpd would have exec'ed (docs/wrapper.md).

    `... /usr/sbin/tcpd in.fingerd -w` runs /usr/sbin/in.fingerd (tcpd's REAL_DAEMON_DIR) as
    `in.fingerd -w`; `... /usr/sbin/tcpd /usr/sbin/in.fingerd` runs that path as
    `in.fingerd`; tcpwrap-tcpd's own form `... tcpwrap-tcpd tcpwrap-tcpd DAEMON ARGS` names the
    daemon in its first argument. An internal service's name is the service field.
    """
    if line.internal:
        return Daemon(line.service, INTERNAL, (), False)
    args = line.args
    if posixpath.basename(line.program) not in WRAPPER_NAMES:
        return Daemon(posixpath.basename(args[0]), line.program, args, False)
    if posixpath.basename(args[0]) in WRAPPER_NAMES:
        args = args[1:]
    if not args:
        return Daemon(posixpath.basename(line.program), line.program, (), True)
    daemon = args[0]
    if daemon.startswith("/"):
        name = posixpath.basename(daemon)
        return Daemon(name, daemon, (name, *args[1:]), True)
    return Daemon(daemon, posixpath.join(real_daemon_dir, daemon), tuple(args), True)
