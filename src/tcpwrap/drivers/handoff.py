"""The wrapper's hand-off: pass the connection to a running `tcpwrap serve` and act on its reply.

What it does: `hand_off(argv)` is the first thing `tcpwrap-tcpd` runs. When a `tcpwrap serve`
listens on the hand-off socket (`$TCPWRAP_HANDOFF`, default /run/tcpwrap/handoff.sock), the
wrapper sends it the connection's descriptor (SCM_RIGHTS), its argv and its environment, in
one SOCK_SEQPACKET message, and waits. serve decides exactly as the wrapper would in-process
(the wrapper's configuration, tables, options and records: docs/wrapper.md, *Hand-off*) and
replies with what this process must become: the daemon (or twist's shell) with an
environment, umask, nice increment and identity, or a clean exit after a pause. The wrapper
then only changes its own process and execs, so it needs no more than the interpreter's
built-in modules (`posix`, `_socket`, `syslog`): a connection handed off costs about a bare
interpreter's start, instead of the engine's imports. `encode`/`decode` are the wire format,
used by both ends (serve/handoff.py).

When there is no such socket (or `TCPWRAP_HANDOFF=off`), it cannot be reached, stdin is a
terminal, or the request does not fit, `hand_off` returns None before anything was done and
the caller decides in-process (tcpd.main). If serve goes away after taking the request, the
wrapper also decides in-process: serve may have run a spawn command already, which then runs
twice; a connection is never dropped for want of serve.

Hazards: this runs per connection as the inetd line's user, before any check. Only serve's
own user (root, or serve's uid when it runs unprivileged) can connect (the socket is 0600 and
serve checks SO_PEERCRED), and the reply is trusted as serve's. Sizes are bounded
(MAX_MESSAGE); the connect is bounded (CONNECT_TIMEOUT), the wait for a decision by
REPLY_TIMEOUT (serve's decision waits on DNS, ident and spawn commands, as tcpd would).
Errors: nothing raises out of hand_off: a failure before the request is sent is None (decide
in-process); a failure to become the daemon is logged to syslog as tcpd words it, and ends in
the clean exit (pause, exit 0), as does a reply it cannot read (fail closed).
"""

import _socket
import posix
import sys

SOCKET_PATH = b"/run/tcpwrap/handoff.sock"
MAGIC = b"tcpwrap-handoff/1"
MAX_MESSAGE = 65536  # request and reply, each one datagram of the SOCK_SEQPACKET socket
CONNECT_TIMEOUT = 1.0  # serve's backlog full (or serve stopped): decide in-process
REPLY_TIMEOUT = 300.0  # longer than any decision of a working serve (DNS, ident, spawns)

EXEC = b"exec"  # become a program: the daemon, or twist's /bin/sh
EXIT = b"exit"  # the clean exit: pause, exit 0 (refused, or an error serve logged)
DECIDE = b"decide"  # serve declines: decide in-process (nothing was done)


def encode(fields: list[bytes]) -> bytes:
    """Fields as NUL-terminated strings (argv, environments and paths hold no NUL)."""
    return b"".join([field + b"\0" for field in fields])


def decode(data: bytes) -> list[bytes]:
    """The fields of one message; a message not ending in NUL is cut at its last NUL."""
    return data.split(b"\0")[:-1]


def listen_fd(listen_pid: bytes | None, listen_fds: bytes | None, pid: int) -> int | None:
    """systemd socket activation (Accept=yes): fd 3 when LISTEN_PID is this process and
    LISTEN_FDS counts at least one descriptor; None otherwise (inetd: the connection is fd 0).
    drivers.endpoint.systemd_socket asks this too."""
    if listen_pid is None or listen_fds is None:
        return None
    if not (_digits(listen_pid) and _digits(listen_fds)) or int(listen_pid) != pid:
        return None
    return 3 if int(listen_fds) >= 1 else None


def _digits(text: bytes) -> bool:
    return 0 < len(text) <= 18 and text.isdigit()


def field_of(text: str) -> bytes:
    """A field for the wire: argv, paths and environment as the system gave them (Python
    decoded them with surrogateescape), so both ends round-trip any bytes."""
    return text.encode("utf-8", "surrogateescape")


def text_of(data: bytes) -> str:
    """A field read back as Python holds such text (field_of's inverse)."""
    return data.decode("utf-8", "surrogateescape")


def hand_off(argv: list[str]) -> int | None:
    """Hand the connection to serve and become what it says; None: decide in-process."""
    environ = posix.environ
    path = environ.get(b"TCPWRAP_HANDOFF", SOCKET_PATH)
    if not path or path == b"off":
        return None
    pid = posix.getpid()
    fd = listen_fd(environ.get(b"LISTEN_PID"), environ.get(b"LISTEN_FDS"), pid)
    if fd is None:
        if posix.isatty(0):
            return None  # run by hand: tcpd.main() prints the usage
        fd = 0
    fields = [MAGIC, b"%d" % fd, b"%d" % len(argv)]
    fields += [field_of(arg) for arg in argv]
    fields.append(b"%d" % len(environ))
    fields += [key + b"=" + value for key, value in environ.items()]
    request = encode(fields)
    if len(request) > MAX_MESSAGE:
        return None
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    except OSError:
        return None
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        # Only serve's own user may answer: a socket put there by someone else would tell
        # this process what to exec (struct ucred: pid, uid, gid).
        credentials = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if int.from_bytes(credentials[4:8], sys.byteorder) not in (0, posix.geteuid()):
            sock.close()
            return None
        sock.sendmsg(
            [request],
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))],
        )
    except OSError:
        sock.close()
        return None
    try:
        sock.settimeout(REPLY_TIMEOUT)
        reply = sock.recv(MAX_MESSAGE)
    except OSError:
        reply = b""
    sock.close()
    fields = decode(reply)
    if not fields or fields[0] == DECIDE:
        return None  # serve went away (or declined): decide here, as if it had not been there
    if fields[0] == EXEC:
        try:
            return _become(fields, fd)
        except (ValueError, IndexError):  # a reply this version cannot read: fail closed
            return _clean_exit(b"5")
    return _clean_exit(fields[1] if len(fields) > 1 else b"5")


def _clean_exit(pause: bytes) -> int:
    """tcpd's clean exit (serve already read away a refused datagram): pause, exit 0."""
    import time

    try:
        time.sleep(float(pause))
    except ValueError:
        time.sleep(5.0)
    return 0


def _become(fields: list[bytes], fd: int) -> int:
    """Reply `exec PROGRAM ARGC ARGV... ENVC ENV... UMASK NICE IDS DUPS PRIORITY IDENT
    FAILURE PAUSE`: shape this process, then exec PROGRAM with ENV, the connection on DUPS.
    What fails is logged as the wrapper would (FAILURE + strerror for the exec itself), and
    a failed identity change refuses (fail closed)."""
    at = 1
    program = fields[at]
    count = int(fields[at + 1])
    args = fields[at + 2 : at + 2 + count]
    at += 2 + count
    count = int(fields[at])
    env = dict(item.partition(b"=")[::2] for item in fields[at + 1 : at + 1 + count])
    at += 1 + count
    umask, nice, ids, dups, priority, ident, failure, pause = fields[at : at + 8]
    level = int(priority)
    posix.umask(int(umask, 8) if umask else 0o022)
    if nice and int(nice):
        try:
            posix.nice(int(nice))
        except OSError as exc:
            _log(ident, level, f"warning: nice({int(nice)}): ", exc)
    if ids:  # `uid gid group,group...`: groups first, then gid, then uid (root's last act)
        uid, gid, groups = ids.split(b" ")
        step = "setgroups"
        try:
            posix.setgroups([int(group) for group in groups.split(b",") if group])
            step = f"setgid({int(gid)})"
            posix.setgid(int(gid))
            step = f"setuid({int(uid)})"
            posix.setuid(int(uid))
        except OSError as exc:
            _log(ident, level, f"error: user option: {step}: ", exc)
            return _clean_exit(pause)
    try:
        targets = [int(target) for target in dups.split(b",") if target]
        for target in targets:
            if target != fd:
                posix.dup2(fd, target)
        if targets and fd not in targets:
            posix.close(fd)
        posix.execve(program, args, env)
    except OSError as exc:
        _log(ident, level, text_of(failure), exc)
    return _clean_exit(pause)


def _log(ident: bytes, priority: int, text: str, exc: OSError) -> None:
    """One record as the wrapper writes it (ident = the daemon, with the pid)."""
    import syslog

    syslog.openlog(text_of(ident), syslog.LOG_PID)
    reason = posix.strerror(exc.errno) if exc.errno else str(exc)
    syslog.syslog(priority, text + reason)
