"""Which daemons inetd (or xinetd) runs, and are they wrapped? (tcpdchk/tcpdmatch, docs/check.md)

What it does: `analyze_inetd(path, real_daemon_dir=..., for_check=...)` reads an inetd.conf
(or xinetd.conf with its `include`/`includedir` files), checks every entry's programs on the
file system (`<path>: not found: <err>`, `not executable`, insecure rexd, tcpd recursion,
set-uid tcpd, `inserted before`, `not found in <dir>`, `cannot wrap rpc/tcp services`) and
builds the service table daemon name -> "yes" (wrapped) / "no" (not wrapped) / "maybe". Both
tcpd and our `tcpwrap-tcpd` count as the wrapper (any program whose basename is one of
`WRAPPERS`). tcpdchk (`for_check=True`) also counts Debian's list of libwrap-linked daemons
as wrapped; tcpdmatch marks portmap/rpcbind as not wrapped. `daemon_warning` gives the
warning a daemon name deserves. With no path, /etc/inetd.conf is used if it exists, else
/etc/xinetd.conf (an addition: xinetd systems), else there is no file (`(null)`).

Hazards: paths come from an admin file; they are only stat()ed, never executed or opened
beyond reading the configuration. Include directories are read in C-locale order, skipping
names with a dot or ending in `~`, as xinetd does; the depth is bounded.
Errors: none raised. A file that cannot be opened gives `InetdAnalysis.open_error` (the caller
prints `open <file>: <strerror>` and exits 1); problems are `Diagnostic` warnings with
`<file>, line <n>` origins, in file order.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from tcpwrap.drivers.oserror import strerror
from tcpwrap.errors import Diagnostic, Origin, warning
from tcpwrap.policy.cstr import c_string
from tcpwrap.proto.inetd import InetdEntry, InetdParse, looks_like_xinetd, parse_inetd, parse_xinetd

WRAPPERS = frozenset({"tcpd", "tcpwrap-tcpd"})
DEFAULT_FILES = ("/etc/inetd.conf", "/etc/xinetd.conf")
REAL_DAEMON_DIR = "/usr/sbin"
CONFIG_LIMIT = 16 * 1024 * 1024
INCLUDE_DEPTH = 8

# Debian patch tcpdchk_libwrapped: daemons linked with libwrap, wrapped wherever they run.
LIBWRAPPED = (
    "portmap", "mountd", "statd", "ugidd", "redir", "rlinetd", "sshd", "atftpd", "diald",
    "esound", "gdm", "gnome-session", "icecast", "icecast_admin", "icecast_client",
    "icecast_source", "mysqld", "ntop", "pptpd", "rquotad", "sendmail", "smail",
)  # fmt: skip

YES, NO, MAYBE = "yes", "no", "maybe"


@dataclass
class InetdAnalysis:
    file: str | None  # the configuration file used; None = none found
    services: dict[str, str] = field(default_factory=dict)  # folded daemon name -> YES/NO/MAYBE
    warnings: list[Diagnostic] = field(default_factory=list)
    open_error: str | None = None  # strerror text when an explicit file cannot be read
    entries: list[InetdEntry] = field(default_factory=list)

    @property
    def shown_file(self) -> str:
        return self.file if self.file is not None else "(null)"

    def status(self, daemon: str) -> str | None:
        return self.services.get(daemon.lower())


def default_file() -> str | None:
    for candidate in DEFAULT_FILES:
        if os.path.exists(candidate):
            return candidate
    return None


def _read(path: str) -> str | OSError:
    try:
        with open(c_string(path), "rb") as handle:
            return handle.read(CONFIG_LIMIT).decode("latin-1")
    except OSError as exc:
        return exc


def analyze_inetd(
    path: str | None,
    *,
    real_daemon_dir: str = REAL_DAEMON_DIR,
    for_check: bool,
) -> InetdAnalysis:
    """Parse and check an inetd/xinetd configuration (see the module docstring)."""
    if path is None:
        path = default_file()
        if path is None:
            return _finish(InetdAnalysis(None), for_check)
    analysis = InetdAnalysis(path)
    text = _read(path)
    if isinstance(text, OSError):
        analysis.open_error = strerror(text)
        return analysis
    _analyze_text(analysis, path, text, real_daemon_dir, 0)
    return _finish(analysis, for_check)


def _finish(analysis: InetdAnalysis, for_check: bool) -> InetdAnalysis:
    if for_check:
        for name in LIBWRAPPED:
            analysis.services[name] = YES
    else:
        for name in ("portmap", "rpcbind"):
            analysis.services[name] = NO
    return analysis


def _analyze_text(
    analysis: InetdAnalysis, path: str, text: str, real_daemon_dir: str, depth: int
) -> None:
    parsed: InetdParse = parse_xinetd(text) if looks_like_xinetd(text) else parse_inetd(text)
    for problem in parsed.problems:
        analysis.warnings.append(warning(problem.message, Origin(path, problem.line)))
    for entry in parsed.entries:
        analysis.entries.append(entry)
        check_entry(analysis, path, entry, real_daemon_dir)
    for kind, target in parsed.includes:
        if depth >= INCLUDE_DEPTH:
            analysis.warnings.append(warning(f"{target}: includes nested too deeply", None))
            continue
        for included in _include_files(kind, target, analysis):
            sub = _read(included)
            if isinstance(sub, OSError):
                analysis.warnings.append(warning(f"open {included}: {strerror(sub)}"))
                continue
            _analyze_text(analysis, included, sub, real_daemon_dir, depth + 1)


def _include_files(kind: str, target: str, analysis: InetdAnalysis) -> list[str]:
    if kind == "include":
        return [target]
    try:
        names = sorted(
            os.listdir(c_string(target)), key=lambda n: n.encode("utf-8", "surrogateescape")
        )
    except OSError as exc:
        analysis.warnings.append(warning(f"includedir {target}: {strerror(exc)}"))
        return []
    return [
        os.path.join(target, name)
        for name in names
        if "." not in name and not name.endswith("~")
        and os.path.isfile(os.path.join(target, name))
    ]


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _stat(path: str) -> os.stat_result | str:
    try:
        return os.stat(c_string(path))  # what stat() in C gets: the name up to a NUL
    except OSError as exc:
        return strerror(exc)


def check_entry(
    analysis: InetdAnalysis, file: str, entry: InetdEntry, real_daemon_dir: str
) -> None:
    """The per-entry checks of docs/check.md; records the service's wrap status."""
    origin = Origin(file, entry.line)

    def warn(message: str) -> None:
        analysis.warnings.append(warning(message, origin))

    path, arg0 = entry.path, entry.args[0]
    arg1 = entry.args[1] if len(entry.args) > 1 else ""
    program = _basename(path)
    name = _basename(arg0) if arg0.startswith("/") else arg0

    info = _stat(path)
    if isinstance(info, str):
        warn(f"{path}: not found: {info}")
    elif not info.st_mode & stat.S_IXUSR:
        warn(f"{path}: not executable")

    if name in ("rexd", "rpc.rexd"):
        warn(f"{name} may be an insecure service")

    if program in WRAPPERS:
        status = YES
        if name in WRAPPERS:
            warn(f"{name} is recursively calling itself")
        if not isinstance(info, str) and info.st_mode & (stat.S_ISUID | stat.S_ISGID):
            warn(f"{path}: file is set-uid or set-gid")
        if arg0.startswith("/") and name == _basename(arg1):
            warn(f"{path} inserted before {arg0}")
        if arg0.startswith("/"):
            target = _stat(arg0)
            if isinstance(target, str):
                warn(f"{arg0}: not found: {target}")
            elif not target.st_mode & stat.S_IXUSR:
                warn(f"{arg0}: not executable")
        else:
            daemon = f"{real_daemon_dir}/{arg0}"
            target = _stat(daemon)
            if isinstance(target, str):
                warn(f"{arg0}: not found in {real_daemon_dir}: {target}")
            elif not target.st_mode & stat.S_IXUSR:
                warn(f"{daemon}: not executable")
    elif entry.libwrap_name is not None:
        status = YES  # xinetd calls libwrap itself for this service
    else:
        daemon = f"{real_daemon_dir}/{arg0}"
        if path.lower() == daemon.lower():
            status = NO
        else:
            try:
                os.stat(c_string(daemon))
                status = MAYBE
            except FileNotFoundError:
                status = NO
            except OSError as exc:
                warn(f"{daemon}: file lookup: {strerror(exc)}")
                status = MAYBE
    if status == YES and entry.protocol == "rpc/tcp":
        warn(f"{name}: cannot wrap rpc/tcp services")
    analysis.services[name.lower()] = status
    if entry.libwrap_name is not None:
        analysis.services[entry.libwrap_name.lower()] = YES


def daemon_warning(analysis: InetdAnalysis, daemon: str) -> str | None:
    """`<daemon>: no such process name in <file>` / `<daemon>: service possibly not wrapped`."""
    status = analysis.status(daemon)
    if status is None:
        return f"{daemon}: no such process name in {analysis.shown_file}"
    if status == NO:
        return f"{daemon}: service possibly not wrapped"
    return None


def check_real_daemon_dir(directory: str) -> str | None:
    """tcpdmatch/tcpdchk's REAL_DAEMON_DIR check (warning text, or None when fine)."""
    try:
        info = os.stat(directory)
    except OSError as exc:
        return f"REAL_DAEMON_DIR {directory}: {strerror(exc)}"
    if not stat.S_ISDIR(info.st_mode):
        return f"REAL_DAEMON_DIR {directory} is not a directory"
    return None


def world_writable(path: str) -> list[str]:
    """`<path>: world writable` for the path and, if absolute, each parent directory.

    Sticky directories (like /tmp) are not reported: only their owners can replace entries.
    """
    messages: list[str] = []
    candidates = [path]
    if path.startswith("/"):
        parent = os.path.dirname(path)
        while parent and parent != "/":
            candidates.append(parent)
            parent = os.path.dirname(parent)
    for candidate in candidates:
        try:
            info = os.stat(candidate)
        except OSError:
            continue
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            continue  # /dev/null and other devices are not something an attacker can edit
        if info.st_mode & stat.S_IWOTH and not (
            stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        ):
            messages.append(f"{candidate}: world writable")
    return messages
