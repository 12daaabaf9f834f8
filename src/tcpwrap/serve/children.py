"""Starting and reaping the processes `tcpwrap serve` runs: servers, twists, booby traps.

What it does: `Children.start(spec)` starts one program the way inetd does: the connection
(or, for `wait` services, the listening socket) on fds 0, 1 and 2, nothing else inherited
(close_fds), a clean environment, the working directory `/`, a new session, the line's user
and group with the user's supplementary groups (initgroups), and the options' umask and nice.
It uses `subprocess.Popen`, whose C code takes the vfork() path when no identity change is
needed. Exec errors come back at once as `SpawnError` with tcpd's strerror text.
`Children.reap()` is called on SIGCHLD: it collects every exited child with waitpid(-1) and
calls its `on_exit` callback (the server releases a `wait` listener, counts and limits there);
`wait_for(pid)` lets a coroutine await a child (spawn and aclexec commands).

Hazards: programs run with the privileges the line names; switching identity needs root, and
a program that cannot run as that user is an error for that connection only. As root, the
server takes root's supplementary groups at start (`_take_roots_groups`), so `root` lines
spawn without an identity change. Everything
reaped here is ours: nothing else in the process may wait for children (no `subprocess.run`,
no asyncio child watchers in the server), or statuses would be stolen.
Errors: `SpawnError` (fork/exec/identity failures) for the caller to log; nothing else.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from tcpwrap.drivers.oserror import strerror
from tcpwrap.errors import TcpwrapError

SHELL = "/bin/sh"


class SpawnError(TcpwrapError):
    """A program could not be started; `text` is the strerror-style reason."""

    def __init__(self, program: str, text: str) -> None:
        super().__init__(f"cannot execute {program}: {text}")
        self.program = program
        self.text = text


@dataclass(frozen=True, slots=True)
class Identity:
    """The uid, gid and supplementary groups a child runs with."""

    uid: int
    gid: int
    groups: tuple[int, ...]


@dataclass(slots=True)
class ChildSpec:
    program: str
    argv: tuple[str, ...]
    stdio: int | None  # the fd for 0, 1 and 2; None: /dev/null
    env: dict[str, str]
    identity: Identity | None = None  # None: as the server runs
    umask: int | None = None
    nice: int = 0
    on_exit: Callable[[int], None] | None = None  # called with the wait status


def resolve_identity(user: str, group: str | None) -> Identity:
    """`user[.group]` as inetd takes it: the user's uid and primary gid (or the named group),
    and initgroups' supplementary groups. Raises SpawnError for unknown names."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SpawnError(user, f"unknown user {user!r}") from None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise SpawnError(user, f"unknown group {group!r}") from None
    try:
        groups = tuple(sorted(set(os.getgrouplist(user, gid))))
    except OSError:
        groups = (gid,)
    return Identity(entry.pw_uid, gid, groups)


def _take_roots_groups() -> None:
    """Run with root's own supplementary groups (initgroups), as a login of root has them.

    The children of `root` lines then inherit the identity inetd gives them (initgroups) with
    no change to make, which keeps vfork() possible: an identity change forces a real fork(),
    which copies the page tables of the whole server and doubles the cost of a spawn.
    """
    try:
        groups = sorted(set(os.getgrouplist("root", 0)))
        if sorted(set(os.getgroups())) != groups:
            os.setgroups(groups)
    except (OSError, KeyError):
        pass  # no root entry, or not allowed (a user namespace): children change identity


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen[bytes]
    waiters: list[asyncio.Future[int]] = field(default_factory=list)


class Children:
    """Every child of the server, by pid."""

    def __init__(self) -> None:
        if os.getuid() == 0:
            _take_roots_groups()
        self._children: dict[int, _Child] = {}
        self._devnull: int | None = None
        self.started = 0
        self.failed = 0
        self._own = Identity(os.getuid(), os.getgid(), tuple(sorted(os.getgroups())))

    def __len__(self) -> int:
        return len(self._children)

    def _stdio(self, spec: ChildSpec) -> int:
        if spec.stdio is not None:
            return spec.stdio
        if self._devnull is None:
            self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return self._devnull

    def start(self, spec: ChildSpec) -> int:
        """Start the program (see the module docstring); its pid."""
        fd = self._stdio(spec)
        identity = spec.identity
        user: int | None = None
        group: int | None = None
        groups: list[int] | None = None
        if identity is not None and identity != self._own:
            # Only ask for an identity change when there is one: it rules out vfork().
            user, group, groups = identity.uid, identity.gid, list(identity.groups)
        try:
            process = subprocess.Popen(  # noqa: S603 - the admin's program, no shell
                list(spec.argv),
                executable=spec.program,
                stdin=fd,
                stdout=fd,
                stderr=fd,
                close_fds=True,
                env=spec.env,
                cwd="/",
                start_new_session=True,
                umask=spec.umask if spec.umask is not None else -1,
                user=user,
                group=group,
                extra_groups=groups,
            )
        except OSError as exc:
            self.failed += 1
            raise SpawnError(
                spec.program, strerror(exc)
            ) from None
        except (ValueError, subprocess.SubprocessError) as exc:
            self.failed += 1
            raise SpawnError(spec.program, str(exc)) from None
        self.started += 1
        if spec.nice:
            try:
                current = os.getpriority(os.PRIO_PROCESS, process.pid)
                os.setpriority(os.PRIO_PROCESS, process.pid, current + spec.nice)
            except OSError:
                pass  # the child may be gone already; niceness is best effort (as nice(2))
        pid: int = process.pid
        self._children[pid] = _Child(spec, process)
        return pid

    def shell(self, command: str, stdio: int | None, env: dict[str, str]) -> int:
        """`/bin/sh -c command` (spawn, twist, aclexec) with stdio on `stdio` or /dev/null."""
        return self.start(ChildSpec(SHELL, ("sh", "-c", command), stdio, env))

    def wait_for(self, pid: int) -> asyncio.Future[int]:
        """A future resolved with the child's wait status when it exits."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        child = self._children.get(pid)
        if child is None:
            future.set_result(0)
        else:
            child.waiters.append(future)
        return future

    def reap(self) -> None:
        """Collect every exited child (SIGCHLD)."""
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            if child is None:
                continue
            # Popen must not wait for it again (its pid may be reused by then).
            child.process.returncode = os.waitstatus_to_exitcode(status)
            if child.spec.on_exit is not None:
                child.spec.on_exit(status)
            for waiter in child.waiters:
                if not waiter.done():
                    waiter.set_result(status)

    def close(self) -> None:
        if self._devnull is not None:
            os.close(self._devnull)
            self._devnull = None
