"""inetd.conf and xinetd.conf text -> service entries with line numbers (pure).

What it does: `parse_inetd` reads inetd.conf the way tcpdchk/tcpdmatch do (docs/check.md):
backslash-newline continuations (a logical line is numbered by its last physical line),
`#` comments and blank lines skipped, the `stream`/`dgram` first-field form (no service name),
an optional user field (a field starting with `/` where the user belongs is the path), IRIX
`?path`, tlid.conf argument counts before argv[0], `internal` services skipped, and `incomplete
line` for an entry without a path or argv[0]. `parse_xinetd` reads xinetd's block format
(`service NAME { attr = value ... }`, `defaults { }`, `include FILE`, `includedir DIR`) far
enough to know each service's server, arguments, flags and libwrap name, and
`xinetd_entry` turns a service into the inetd form so both are analysed alike.

Hazards: the files are admin-written but may be large or malformed; nothing here raises and
nothing is interpreted beyond splitting. No file access: includes are returned for the driver
to follow.
Errors: none raised; malformed lines become `InetdProblem` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BLANKS = " \t\r\n"
INCOMPLETE = "incomplete line"


@dataclass(frozen=True, slots=True)
class InetdEntry:
    """One service line: `args[0]` is the process name the wrapper will see (argv[0])."""

    line: int
    service: str | None  # None for the `stream`/`dgram` first-field form
    socket_type: str
    protocol: str
    path: str
    args: tuple[str, ...]
    user: str | None = None
    xinetd: bool = False
    libwrap_name: str | None = None  # xinetd: the name xinetd itself passes to libwrap


@dataclass(frozen=True, slots=True)
class InetdProblem:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class InetdParse:
    entries: tuple[InetdEntry, ...]
    problems: tuple[InetdProblem, ...]
    includes: tuple[tuple[str, str], ...] = ()  # xinetd: ("include" | "includedir", path)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(last physical line number, joined text) for every logical line."""
    out: list[tuple[int, str]] = []
    pieces: list[str] = []
    number = 0
    for raw in text.splitlines(keepends=True):
        number += 1
        if raw.endswith("\\\n"):
            pieces.append(raw[:-2])
            continue
        pieces.append(raw)
        out.append((number, "".join(pieces)))
        pieces = []
    if pieces:
        out.append((number, "".join(pieces)))
    return out


def _skip(text: str) -> bool:
    return text.startswith("#") or not text.strip(_BLANKS)


def parse_inetd(text: str) -> InetdParse:
    entries: list[InetdEntry] = []
    problems: list[InetdProblem] = []
    for number, line in logical_lines(text):
        if _skip(line):
            continue
        fields = line.split()
        if fields[0] in ("stream", "dgram"):
            service: str | None = None
            rest = fields
        else:
            service, rest = fields[0], fields[1:]
        # rest: socket type, protocol, wait, [user], path, argv...
        if len(rest) < 4:
            problems.append(InetdProblem(number, INCOMPLETE))
            continue
        socket_type, protocol = rest[0], rest[1]
        user: str | None = rest[3]
        position = 4
        if rest[3].startswith(("/", "?/")) or rest[3] == "internal":
            user, position = None, 3
        path = rest[position] if position < len(rest) else ""
        args = rest[position + 1 :]
        if path.startswith("?"):
            path = path[1:]  # IRIX: "?path" = optional program
        if path == "internal" or (args and args[0] == "internal"):
            continue
        if args and args[0].isdigit():
            args = args[1:]  # tlid.conf: an argument count before argv[0]
        if not path or not args:
            problems.append(InetdProblem(number, INCOMPLETE))
            continue
        entries.append(
            InetdEntry(number, service, socket_type, protocol, path, tuple(args), user)
        )
    return InetdParse(tuple(entries), tuple(problems))


# ----------------------------------------------------------------------------- xinetd

_XINETD_START = re.compile(r"^\s*(service\s+\S+|defaults)\s*(\{\s*)?$")


def looks_like_xinetd(text: str) -> bool:
    """True when the text has a `service NAME` or `defaults` block header."""
    return any(
        _XINETD_START.match(line) is not None
        for _, line in logical_lines(text)
        if not line.lstrip().startswith("#")
    )


@dataclass(frozen=True, slots=True)
class XinetdService:
    line: int  # the `service` line
    name: str
    attrs: dict[str, list[str]] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        values = self.attrs.get(key)
        return " ".join(values) if values else None

    def words(self, key: str) -> list[str]:
        return list(self.attrs.get(key, []))


XinetdParts = tuple[list[XinetdService], list[InetdProblem], list[tuple[str, str]]]


def parse_xinetd_services(text: str) -> XinetdParts:
    """Blocks and include directives of one xinetd configuration file."""
    services: list[XinetdService] = []
    problems: list[InetdProblem] = []
    includes: list[tuple[str, str]] = []
    current: XinetdService | None = None
    in_block = False
    pending: XinetdService | None = None
    for number, raw in logical_lines(text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_block:
            words = line.split()
            if words[0] in ("include", "includedir") and len(words) >= 2:
                includes.append((words[0], words[1]))
                continue
            if words[0] == "{" and pending is not None:
                current, in_block, pending = pending, True, None
                continue
            if words[0] == "service" and len(words) >= 2:
                block = XinetdService(number, words[1])
                if line.endswith("{"):
                    current, in_block = block, True
                else:
                    pending = block
                continue
            if words[0] == "defaults":
                block = XinetdService(number, "")  # defaults: parsed and dropped
                if line.endswith("{"):
                    current, in_block = block, True
                else:
                    pending = block
                continue
            problems.append(InetdProblem(number, f"xinetd: unexpected line: {line[:60]}"))
            continue
        if line == "}":
            if current is not None and current.name:
                services.append(current)
            current, in_block = None, False
            continue
        key, op, value = _attribute(line)
        if current is None or key is None:
            problems.append(InetdProblem(number, f"xinetd: bad attribute line: {line[:60]}"))
            continue
        values = value.split()
        if op == "+=":
            current.attrs.setdefault(key, []).extend(values)
        elif op == "-=":
            current.attrs[key] = [v for v in current.attrs.get(key, []) if v not in values]
        else:
            current.attrs[key] = values
    if in_block and current is not None:
        problems.append(InetdProblem(current.line, "xinetd: block is not closed with }"))
    return services, problems, includes


def _attribute(line: str) -> tuple[str | None, str, str]:
    match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\+=|-=|=)\s*(.*)$", line)
    if match is None:
        return None, "", ""
    return match.group(1).lower(), match.group(2), match.group(3)


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def xinetd_entry(service: XinetdService) -> InetdEntry | None:
    """The inetd form of an enabled xinetd service (None: disabled, internal or no server)."""
    if (service.get("disable") or "").lower() == "yes":
        return None
    flags = {f.upper() for f in service.words("flags")}
    types = {t.upper() for t in service.words("type")}
    if "DISABLE" in flags:
        return None
    server = service.get("server")
    if "INTERNAL" in types or not server:
        return None
    server = server.split()[0]
    args = service.words("server_args")
    if "NAMEINARGS" in flags:
        if not args:
            return None
        argv = tuple(args)
    else:
        argv = (_basename(server), *args)
    protocol = service.get("protocol") or ""
    if "RPC" in types and not protocol.startswith("rpc/"):
        protocol = f"rpc/{protocol}" if protocol else "rpc"
    libwrap: str | None = None
    if "NOLIBWRAP" not in flags and not ("RPC" in types and protocol.endswith("tcp")):
        libwrap = service.get("libwrap") or _basename(argv[0])
    return InetdEntry(
        service.line,
        service.name,
        service.get("socket_type") or "",
        protocol,
        server,
        argv,
        service.get("user"),
        xinetd=True,
        libwrap_name=libwrap,
    )


def parse_xinetd(text: str) -> InetdParse:
    services, problems, includes = parse_xinetd_services(text)
    entries = [entry for s in services if (entry := xinetd_entry(s)) is not None]
    return InetdParse(tuple(entries), tuple(problems), tuple(includes))
