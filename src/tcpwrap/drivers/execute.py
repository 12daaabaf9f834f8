"""Acting on a decision: spawn, twist, aclexec, banners, setenv, umask, nice, sockets, users.

What it does: performs the actions a Decision lists, in order, the way tcpd does (docs/rules.md):
`spawn` runs `/bin/sh -c` with stdio on /dev/null and SIGHUP ignored, and waits for that shell
(a trailing `&` in the command backgrounds the work, so nothing is left for the real daemon to
reap); `twist` makes the client socket fd 0-2 and execs `/bin/sh -c`; `aclexec` runs a shell and
reports how it ended; banners are written to the client; setenv/umask/nice change this process
before the exec; keepalive/linger are socket options; `user`/`group` really drop privileges
(initgroups/setgroups, setgid, then setuid -- a documented fix of Debian's inert options).

Hazards: commands are the admin's text with network-derived values already passed through the
% allow-list (policy.expand), so nothing from the network reaches the shell unsanitised. The
shell is invoked without `shell=True` (argv ["/bin/sh", "-c", command]).
Errors: failures become the original's warning texts (returned to the caller to log); a failed
privilege drop is an error that refuses the connection (fail closed).
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from collections.abc import Callable

from tcpwrap.drivers.oserror import strerror
from tcpwrap.policy.cstr import c_bytes
from tcpwrap.policy.decision import AclExecResult
from tcpwrap.policy.options import (
    AclExec,
    Action,
    Banner,
    ChangeUser,
    KeepAlive,
    Linger,
    Nice,
    SetEnv,
    Spawn,
    Umask,
)

SHELL = "/bin/sh"
Warn = Callable[[str], None]


class PrivilegeError(Exception):
    """A `user`/`group` option could not be carried out (the connection is refused)."""


def _fork_shell(command: str, stdio: int | None) -> int:
    """fork + exec /bin/sh -c command; stdio = an fd for 0-2, or None for /dev/null."""
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never returns
        import signal  # here, not at the top: the wrapper's start-up does not pay for it

        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if stdio is None:
            stdio = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            if stdio != target:
                os.dup2(stdio, target)
        os.execv(SHELL, [b"sh", b"-c", c_bytes(command)])  # noqa: S606 - admin's, % sanitised
    except BaseException:
        os._exit(0)  # as tcpd: a child that cannot exec exits 0
    raise AssertionError("unreachable")


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return status
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def spawn(command: str, warn: Warn) -> None:
    try:
        pid = _fork_shell(command, None)
    except OSError as exc:
        warn(f"cannot fork: {strerror(exc)}")
        return
    _wait(pid)


def aclexec(command: str, client_fd: int | None, warn: Warn) -> AclExecResult:
    """Run an aclexec command; stdio on the client (Debian) or /dev/null (documented)."""
    try:
        pid = _fork_shell(command, client_fd)
    except OSError as exc:
        warn(f"aclexec_option: /bin/sh: {strerror(exc)}")
        return AclExecResult(0, 1)
    status = _wait(pid)
    if os.WIFSIGNALED(status):
        return AclExecResult(pid, None, os.WTERMSIG(status))
    return AclExecResult(pid, os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def twist(command: str, fd: int, warn: Warn) -> None:
    """Replace this process by `/bin/sh -c command` talking to the client; returns on failure."""
    try:
        for target in (0, 1, 2):
            if fd != target:
                os.dup2(fd, target)
        if fd > 2:
            os.close(fd)
    except OSError as exc:
        warn(f"twist_option: dup: {strerror(exc)}")
        return
    try:
        os.execv(SHELL, [b"sh", b"-c", c_bytes(command)])  # noqa: S606 - admin's, % sanitised
    except OSError as exc:
        warn(f"twist_option: /bin/sh: {strerror(exc)}")


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return
        view = view[written:]


def drop_privileges(user: str | None, group: str | None) -> None:
    """`user u` / `user u.g` / `group g`, with the intended semantics (docs/compat.md §1).

    What runs after the drop must not import: the new user may not be able to read the
    interpreter's files (a Python installed under /root), so the modules a later spawn or
    twist child needs are loaded first."""
    import signal  # noqa: F401 - _fork_shell's child imports it after the drop

    try:
        if user is None:
            assert group is not None
            gid = grp.getgrnam(group).gr_gid
            _step(f"setgroups({group})", lambda: os.setgroups([gid]))
            _step(f"setgid({group})", lambda: os.setgid(gid))
            return
        entry = pwd.getpwnam(user)
        if group is not None:
            gid = grp.getgrnam(group).gr_gid
            _step(f"setgroups({group})", lambda: os.setgroups([gid]))
        else:
            gid = entry.pw_gid
            _step(f"initgroups({user})", lambda: os.initgroups(user, gid))
        _step(f"setgid({group or user})", lambda: os.setgid(gid))
        _step(f"setuid({user})", lambda: os.setuid(entry.pw_uid))
    except KeyError as exc:
        raise PrivilegeError(f"unknown user or group: {exc}") from None


def _step(label: str, call: Callable[[], None]) -> None:
    try:
        call()
    except OSError as exc:
        raise PrivilegeError(f"{label}: {strerror(exc)}") from None


def perform(
    action: Action,
    *,
    fd: int | None,
    sock: socket.socket | None,
    warn: Warn,
    drop_users: bool,
) -> None:
    """Carry out one action (aclexec is run by the evaluation loop, not here)."""
    if isinstance(action, Spawn):
        spawn(action.command, warn)
    elif isinstance(action, Banner):
        if fd is not None:
            write_all(fd, action.data.encode("latin-1"))
    elif isinstance(action, SetEnv):
        os.environb[c_bytes(action.name)] = c_bytes(action.value)  # the table's bytes
    elif isinstance(action, Umask):
        os.umask(action.mask)
    elif isinstance(action, Nice):
        try:
            os.nice(action.increment)
        except OSError as exc:
            warn(f"nice({action.increment}): {strerror(exc)}")
    elif isinstance(action, KeepAlive):
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError as exc:
                warn(f"setsockopt SO_KEEPALIVE: {strerror(exc)}")
    elif isinstance(action, Linger):
        if sock is not None:
            try:
                value = struct.pack("ii", 1 if action.seconds else 0, action.seconds)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, value)
            except OSError as exc:
                warn(f"setsockopt SO_LINGER {action.seconds}: {strerror(exc)}")
    elif isinstance(action, ChangeUser):
        if drop_users:
            drop_privileges(action.user, action.group)
    elif isinstance(action, AclExec):
        pass  # already run while deciding
