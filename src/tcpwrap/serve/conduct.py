"""How `tcpwrap serve` carries out one decision: the asyncio conduct of drivers.deciding.

What it does: `ServeConduct` answers the engine's needs without blocking the loop (host names
through the server's `NameCache`, ident through `drivers.async_ident`, aclexec as a child the
loop awaits) and carries out the options the way tcpd would for the process it is about to
become, except that here that process is the child serve starts: `setenv`, `umask`, `nice`
and `user`/`group` shape the child (`ChildShape`) instead of changing the server; `spawn`
commands run as children of their own (awaited, as tcpd waits for its shell, so their order
with the server is tcpd's); banners are written to the client without blocking; keepalive and
linger are set on the connection, which the child inherits. Every record the decision makes
is buffered (`records`) and written by the server once it knows the pid that served the
connection, so all of a connection's lines carry one pid, as tcpd's do.

Hazards: commands are the admin's text with network values through the % allow-list; they
run with the server's privileges (as tcpd's spawn runs with inetd's user's). A banner write
has a deadline, so a client that never reads cannot hold the decision.
Errors: nothing raised; failures are the original's warning texts in `records`.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import socket
from dataclasses import dataclass, field

from tcpwrap.drivers.deciding import AskIdent, LookupName, Settings, ask_ident_async
from tcpwrap.drivers.execute import perform
from tcpwrap.errors import Diagnostic, Kind, Origin, error, warning
from tcpwrap.policy.decision import AclExecResult
from tcpwrap.policy.facts import NameLookup
from tcpwrap.policy.options import (
    AclExec,
    Action,
    Banner,
    ChangeUser,
    KeepAlive,
    Linger,
    Nice,
    Priority,
    SetEnv,
    Spawn,
    Umask,
)
from tcpwrap.serve.children import Children, ChildSpec, Identity, SpawnError, resolve_identity
from tcpwrap.serve.namecache import NameCache

BANNER_DEADLINE = 10.0
LOG_ERR, LOG_INFO, LOG_DEBUG = 3, 6, 7


@dataclass
class ChildShape:
    """What the options decided about the process that will serve the connection."""

    env: dict[str, str]
    identity: Identity | None
    umask: int | None = None
    nice: int = 0
    user_changed: bool = False
    set_names: set[str] = field(default_factory=set)  # what setenv set (the table's text)


@dataclass
class Records:
    """A connection's log records, in order, until the pid that owns them is known."""

    # (a syslog level, or a `severity` option's priority; text)
    lines: list[tuple[int | Priority, str]] = field(default_factory=list)

    def add(self, level: int | Priority, text: str) -> None:
        self.lines.append((level, text))

    def diagnostic(self, diag: Diagnostic) -> None:
        # tcpd logs warnings and errors at LOG_ERR, `aclexec returned` at LOG_INFO
        if diag.kind is Kind.DEBUG:
            self.add(LOG_DEBUG, diag.render())
        else:
            self.add(LOG_INFO if diag.kind is Kind.INFO else LOG_ERR, diag.render())


class ServeConduct:
    """drivers.deciding.AsyncConduct for one connection of the server."""

    def __init__(
        self,
        *,
        settings: Settings,
        names: NameCache,
        children: Children,
        shape: ChildShape,
        conn: socket.socket | None,
        debian_aclexec: bool,
        drop_users: bool = True,
    ) -> None:
        self.settings = settings
        self.names = names
        self.children = children
        self.shape = shape
        self.conn = conn
        self.debian_aclexec = debian_aclexec
        # `user`/`group` change the child's identity; False: names only, privileges kept
        # (the wrapper's `user_option = validate`, for a wrapper that handed off)
        self.drop_users = drop_users
        self.records = Records()
        self.traps: list[str] = []

    def report(self, diagnostic: Diagnostic) -> None:
        self.records.diagnostic(diagnostic)

    async def lookup_name(self, task: LookupName) -> NameLookup:
        return await self.names.lookup(task.address, task.timeout)

    async def ask_ident(self, task: AskIdent) -> str | None:
        return await ask_ident_async(task, self.report)

    def shell_spec(self, command: str, stdio: int | None) -> ChildSpec:
        """A spawn or aclexec command's process: the shape's environment and umask, as the
        server runs (the child's `user` and `nice` are for the server it starts)."""
        shape = self.shape
        return ChildSpec(
            "/bin/sh", ("sh", "-c", command), stdio, dict(shape.env), None, shape.umask
        )

    async def _shell(self, command: str, stdio: int | None) -> int | None:
        """Run `/bin/sh -c command` as tcpd's spawn would; its wait status (None: not run)."""
        spec = self.shell_spec(command, stdio)
        try:
            pid = self.children.start(spec)
        except SpawnError as exc:
            self.report(warning(f"cannot fork: {exc.text}"))
            return None
        return await self.children.wait_for(pid)

    async def aclexec(self, command: str) -> AclExecResult:
        self.traps.append("aclexec")
        stdio = self.conn.fileno() if self.debian_aclexec and self.conn is not None else None
        status = await self._shell(command, stdio)
        if status is None:
            return AclExecResult(0, 1)
        if os.WIFSIGNALED(status):
            return AclExecResult(0, None, os.WTERMSIG(status))
        return AclExecResult(0, os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    async def carry_out(
        self, actions: tuple[Action, ...], origins: tuple[Origin | None, ...]
    ) -> bool:
        for index, action in enumerate(actions):
            origin = origins[index] if index < len(origins) else None
            if isinstance(action, Spawn):
                self.traps.append("spawn")
                await self._shell(action.command, None)
            elif isinstance(action, Banner):
                await self._banner(action.data.encode("latin-1"))
            elif isinstance(action, SetEnv):
                self.shape.env[action.name] = action.value
                self.shape.set_names.add(action.name)
            elif isinstance(action, Umask):
                self.shape.umask = action.mask
            elif isinstance(action, Nice):
                self.shape.nice += action.increment
            elif isinstance(action, KeepAlive | Linger):

                def warn(message: str, where: Origin | None = origin) -> None:
                    self.report(warning(message, where))

                perform(action, fd=None, sock=self.conn, warn=warn, drop_users=False)
            elif isinstance(action, ChangeUser) and self.drop_users:
                problem = self._change_user(action)
                if problem is not None:
                    self.report(error(problem, origin))
                    return False
            elif isinstance(action, AclExec):
                continue  # already run while deciding
        return True

    def _change_user(self, action: ChangeUser) -> str | None:
        """`user u`, `user u.g`, `group g` for the child, with the wrapper's semantics."""
        try:
            if action.user is None:
                gid = grp.getgrnam(action.group or "").gr_gid
                base = self.shape.identity
                uid = base.uid if base is not None else os.getuid()
                self.shape.identity = Identity(uid, gid, (gid,))
            elif action.group is not None:
                uid = pwd.getpwnam(action.user).pw_uid
                gid = grp.getgrnam(action.group).gr_gid
                self.shape.identity = Identity(uid, gid, (gid,))
            else:
                self.shape.identity = resolve_identity(action.user, None)
        except (KeyError, SpawnError) as exc:
            return f"unknown user or group: {exc}"
        self.shape.user_changed = True
        return None

    async def _banner(self, data: bytes) -> None:
        conn = self.conn
        if conn is None or not data:
            return
        loop = asyncio.get_running_loop()
        blocking = conn.getblocking()
        conn.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_sendall(conn, data), BANNER_DEADLINE)
        except (OSError, TimeoutError):
            pass  # tcpd ignores banner write errors too
        finally:
            conn.setblocking(blocking)
