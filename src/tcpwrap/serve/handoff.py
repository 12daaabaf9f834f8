"""`tcpwrap serve`'s hand-off socket: decide for wrappers that pass their connection over.

What it does: with `handoff = PATH` (or `--handoff`), serve listens on a SOCK_SEQPACKET Unix
socket (mode 0600). A `tcpwrap-tcpd` started by inetd, xinetd or systemd sends its connection's
descriptor, argv and environment there (drivers/handoff.py) instead of importing the engine.
serve then does what that wrapper would have done in its own process, with the wrapper's
configuration (drivers.config from the wrapper's environment: its tables, language, timeouts,
aclexec and user semantics, facility, pause, JSON log): find the daemon (drivers.daemons),
learn the endpoints from the descriptor, refuse source routing, decide through the one decision
driver (`drive_async` with a `HandoffConduct`: spawn, aclexec, banners, keepalive and linger
act on the connection from here; setenv, umask, nice and user shape the wrapper), log tcpd's
records under the wrapper's pid and daemon name, and reply with what the wrapper must become:
the daemon, twist's shell, or the clean exit.

Differences from deciding in the wrapper (docs/wrapper.md, *Hand-off*): names come through
serve's name cache (its `cache_ttl`); the records go where serve writes its records (syslog
unless `[log] syslog = false`); spawn and aclexec commands are serve's children (cwd /).

Hazards: the descriptor and everything learned from it are hostile, as in the wrapper. Only a
peer running as serve's own user (SO_PEERCRED; root for root) is served: it could run the
same commands itself. Messages are bounded (drivers.handoff.MAX_MESSAGE, MAX_ARGS, MAX_ENV),
one descriptor each; a peer that sends nothing is dropped after RECEIVE_TIMEOUT.
Errors: a request that cannot be read is closed unanswered (the wrapper decides in-process);
an internal error is logged as the wrapper logs it (`error: internal error, connection
refused: ...`) and the wrapper is told to refuse (fail closed).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from tcpwrap.drivers import handoff as wire
from tcpwrap.drivers.config import DEFAULT_CONFIG, WrapperConfig, load_config
from tcpwrap.drivers.daemons import INETD_CONF, Located, locate
from tcpwrap.drivers.deciding import Check, Outcome, Settings, drive_async
from tcpwrap.drivers.endpoint import (
    Endpoints,
    connection_for,
    discover,
    drain,
    inspect,
    release,
)
from tcpwrap.drivers.handoff import field_of, text_of
from tcpwrap.drivers.tables import Identity, PolicyCache, file_identity
from tcpwrap.errors import ConfigError, Diagnostic
from tcpwrap.policy.cstr import c_bytes
from tcpwrap.policy.decision import Conclusion, Ending, Mode, conclude
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import LEVELS, OPENLOG_FACILITIES, Priority
from tcpwrap.policy.rules import Language, Policy
from tcpwrap.proto.logrecord import Event
from tcpwrap.serve.children import ChildSpec
from tcpwrap.serve.conduct import ChildShape, Records, ServeConduct
from tcpwrap.serve.limits import BACKOFF_FIRST, BACKOFF_MAX
from tcpwrap.serve.records import JsonWriter
from tcpwrap.serve.sockpath import clear_for_bind

if TYPE_CHECKING:
    from tcpwrap.serve.server import Server

MAX_ARGS = 1024
MAX_ENV = 4096
RECEIVE_TIMEOUT = 5.0  # a connected peer has its request ready: it sends right after connect
ACCEPT_BURST = 64
MAX_TABLE_SETS = 16  # distinct (allow, deny, language) of wrappers kept compiled
MAX_KEPT = 1024  # configurations and located daemons kept (distinct wrapper lines)
PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
SHELL = "/bin/sh"
Message = tuple[bytes, list[tuple[int, int, bytes]], int, Any]  # socket.recvmsg's result
LISTEN_VARIABLES = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


@dataclass
class WrapperRequest:
    """One wrapper's request: its process, its connection's descriptor (ours now), argv, env."""

    pid: int
    fd: int  # our copy of the connection
    wrapper_fd: int  # where the wrapper has it: 0 (inetd) or 3 (systemd)
    argv: list[str]
    env: dict[str, str]


def parse_request(data: bytes) -> tuple[int, list[str], dict[str, str]] | None:
    """(the wrapper's fd number, argv, environment) of a request, or None if malformed."""
    fields = wire.decode(data)
    if len(fields) < 4 or fields[0] != wire.MAGIC or fields[1] not in (b"0", b"3"):
        return None
    try:
        argc = int(fields[2])
        if not 0 <= argc <= MAX_ARGS or len(fields) < 4 + argc:
            return None
        envc = int(fields[3 + argc])
    except ValueError:
        return None
    if not 0 <= envc <= MAX_ENV or len(fields) != 4 + argc + envc:
        return None
    argv = [text_of(arg) for arg in fields[3 : 3 + argc]]
    env: dict[str, str] = {}
    for item in fields[4 + argc :]:
        key, equals, value = item.partition(b"=")
        if equals and key:
            env[text_of(key)] = text_of(value)
    return int(fields[1]), argv, env


def exit_reply(pause: float) -> bytes:
    return wire.encode([wire.EXIT, repr(pause).encode()])


class HandoffConduct(ServeConduct):
    """ServeConduct for a wrapper's connection: the process being shaped is the wrapper.

    The shape starts from the wrapper's own environment and umask 022 (tcpd's start), `user`
    follows the wrapper's `user_option` (validate: names only, privileges kept), and spawn
    commands run with the identity and niceness the options gave so far, as they would in
    the wrapper."""

    def report(self, diagnostic: Diagnostic) -> None:
        self.records.add(diagnostic.severity, diagnostic.render())

    def shell_spec(self, command: str, stdio: int | None) -> ChildSpec:
        shape = self.shape
        return ChildSpec(
            SHELL,
            ("sh", "-c", command),
            stdio,
            dict(shape.env),
            shape.identity if shape.user_changed else None,
            shape.umask,
            shape.nice,
        )


class Handoffs:
    """The hand-off socket of a running server and the wrappers it serves."""

    def __init__(self, server: Server, path: str) -> None:
        self.server = server
        self.path = path
        self.sock: socket.socket | None = None
        self.uid = os.geteuid()
        self._tables: dict[tuple[str, str, str], PolicyCache] = {}
        self._json: dict[str, JsonWriter] = {}
        self.sessions = 0  # wrappers being answered
        self.backoff = 0.0
        self._configs: dict[tuple[tuple[str, str], ...], tuple[WrapperConfig, Identity]] = {}
        self._located: dict[tuple[object, ...], tuple[Located | str, Identity, Identity]] = {}

    # ------------------------------------------------------------------ the socket

    def open(self) -> str | None:
        """Listen on the path (mode 0600, a stale socket replaced); an error text on failure."""
        path = self.path
        try:
            os.makedirs(os.path.dirname(path) or "/", mode=0o755, exist_ok=True)
            problem = clear_for_bind(path)  # a stale socket of an earlier serve goes
            if problem is not None:
                return f"hand-off socket {path}: {problem}"
            sock = socket.socket(
                socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
            )
        except OSError as exc:
            return f"hand-off socket {path}: {exc.strerror or exc}"
        old = os.umask(0o077)
        try:
            sock.bind(path)  # created 0700 under this umask: nobody else, from the start
            os.chmod(path, 0o600)
            sock.listen(self.server.config.backlog)
        except OSError as exc:
            sock.close()
            return f"hand-off socket {path}: {exc.strerror or exc}"
        finally:
            os.umask(old)
        self.sock = sock
        self.server.loop.add_reader(sock.fileno(), self._accept)
        return None

    def close(self) -> None:
        if self.sock is None:
            return
        self.server.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        for writer in self._json.values():
            writer.close()
        self._json.clear()

    def reopen_logs(self) -> None:
        """SIGHUP: the wrappers' JSON logs are reopened at their next line (log rotation)."""
        for writer in self._json.values():
            writer.close()

    def _accept(self) -> None:
        sock = self.sock
        assert sock is not None
        for _ in range(ACCEPT_BURST):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._back_off(exc)
                return
            self.backoff = 0.0
            conn.setblocking(False)
            if self.sessions >= self.server.config.limits.pending:
                # A flood of wrappers: the ones past the bound decide in their own process
                # (the same decision, at the in-process price) rather than wait.
                with conn, contextlib.suppress(OSError):
                    conn.send(wire.encode([wire.DECIDE]))
                self.server.stats.handoffs_declined += 1
                continue
            self.sessions += 1
            self.server.spawn_task(self._session(conn))

    def _back_off(self, exc: OSError) -> None:
        """Out of descriptors (or another accept error): stop accepting for a while (50 ms,
        doubling to 1 s), so the loop does not spin; queued wrappers wait, then are taken."""
        sock = self.sock
        assert sock is not None
        first = self.backoff == 0.0
        self.backoff = min(BACKOFF_MAX, self.backoff * 2 or BACKOFF_FIRST)
        if first:
            self.server.logbook.error(f"hand-off socket {self.path}: accept: {exc.strerror}")
        self.server.loop.remove_reader(sock.fileno())

        def resume() -> None:
            if self.sock is sock:
                self.server.loop.add_reader(sock.fileno(), self._accept)

        self.server.loop.call_later(self.backoff, resume)

    # ------------------------------------------------------------------ one wrapper

    async def _session(self, conn: socket.socket) -> None:
        try:
            await self._exchange(conn)
        finally:
            self.sessions -= 1

    async def _exchange(self, conn: socket.socket) -> None:
        with conn:
            request = await self._receive(conn)
            if request is None:
                return
            self.server.stats.handoffs += 1
            try:
                reply = await self._answer(request)
            except Exception as exc:  # fail closed, as the wrapper's main() does
                self._internal_error(request, exc)
                reply = exit_reply(5.0)
            finally:
                os.close(request.fd)
            with contextlib.suppress(OSError):
                conn.send(reply)

    async def _receive(self, conn: socket.socket) -> WrapperRequest | None:
        message: Message | None
        try:  # a wrapper sends right after connecting: its request is usually there already
            message = conn.recvmsg(wire.MAX_MESSAGE + 1, socket.CMSG_SPACE(4 * 4))
        except BlockingIOError:
            message = await self._wait_for_request(conn)
        except OSError:
            return None
        if message is None:
            return None
        data, ancillary, flags, _ = message
        try:
            pid, uid, _gid = PEERCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
            )
        except OSError:
            uid = pid = -1
        fds = array.array("i")
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        parsed = parse_request(data)
        truncated = flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC)
        if parsed is None or truncated or len(fds) != 1 or uid != self.uid:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            return None
        wrapper_fd, argv, env = parsed
        return WrapperRequest(pid, fds[0], wrapper_fd, argv, env)

    async def _wait_for_request(
        self, conn: socket.socket
    ) -> Message | None:
        loop = self.server.loop
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(conn.fileno(), readable)
        try:
            await asyncio.wait_for(ready, RECEIVE_TIMEOUT)
            return conn.recvmsg(wire.MAX_MESSAGE + 1, socket.CMSG_SPACE(4 * 4))
        except (OSError, TimeoutError):
            return None
        finally:
            loop.remove_reader(conn.fileno())

    async def _answer(self, request: WrapperRequest) -> bytes:
        """The wrapper's flow (tcpd.main, Wrapper.run), deciding here; the reply to send."""
        server = self.server
        started = time.monotonic()
        argv = request.argv
        own = os.path.basename(argv[0]) if argv else "tcpwrap-tcpd"
        found = await self._discover(request.fd)
        try:
            try:
                config = self._config(request.env)
            except ConfigError as exc:
                text = f"error: configuration: {exc}"
                self._log(own, request.pid, OPENLOG_FACILITIES["daemon"], [(LEVELS["err"], text)])
                drain(found)
                return exit_reply(5.0)  # no configured pause to trust: tcpd's
            facility = OPENLOG_FACILITIES[config.facility]
            located = self._locate(argv, config, found)
            if isinstance(located, str):
                self._log(own, request.pid, facility, [(LEVELS["err"], f"error: {located}")])
                drain(found)
                return exit_reply(config.refuse_pause)
            records = Records()
            report = inspect(found)
            for level, message in report.records:
                records.add(LEVELS[level], message)
            if report.fatal:
                self._log(located.daemon, request.pid, facility, records.lines)
                drain(found)
                return exit_reply(config.refuse_pause)
            outcome, conduct = await self._decide(request, config, located.daemon, found)
            conduct.records.lines[:0] = records.lines
            server.stats.decided(time.monotonic() - started)
            return self._conclude(request, config, located, found, outcome, conduct)
        finally:
            if found.sock is not None:
                with contextlib.suppress(OSError):
                    os.set_blocking(request.fd, True)  # as inetd gave it, for the daemon
            release(found)

    async def _decide(
        self, request: WrapperRequest, config: WrapperConfig, daemon: str, found: Endpoints
    ) -> tuple[Outcome, HandoffConduct]:
        """The decision with the wrapper's configuration, the options carried out for the
        wrapper's process (Wrapper.decide's twin: a HandoffConduct, drive_async)."""
        server = self.server
        debian = config.aclexec == "debian"
        conduct = HandoffConduct(
            drop_users=config.user_option == "drop",
            settings=Settings(dns_timeout=config.dns_timeout, ident_port=config.ident_port),
            names=server.names,
            children=server.children,
            shape=ChildShape(dict(request.env), None, 0o022),  # tcpd's umask at start
            conn=found.sock,
            debian_aclexec=debian,
        )
        mode = Mode(dry_run=False, debian_aclexec=debian, ident_timeout=config.ident_timeout)
        connection = connection_for(
            daemon, found.client, found.server, datagram=found.datagram, pid=request.pid
        )
        policy = await self._policy(config)
        evaluation = Evaluation(policy, connection, mode, server.env)
        check = Check(evaluation, conduct.settings, client=found.client, server=found.server)
        return await drive_async(check, conduct), conduct

    def _conclude(
        self,
        request: WrapperRequest,
        config: WrapperConfig,
        located: Located,
        found: Endpoints,
        outcome: Outcome,
        conduct: HandoffConduct,
    ) -> bytes:
        """Write the records (Wrapper.act's), and the reply: what the wrapper becomes."""
        server = self.server
        facility = OPENLOG_FACILITIES[config.facility]
        ending = conclude(outcome.decision, outcome.carried_out)
        records = conduct.records
        if ending.priority is not None:
            records.add(ending.priority, ending.message)
        traps = list(conduct.traps)
        if ending.ending is Ending.TWIST:
            traps.append("twist")
        self._log(located.daemon, request.pid, facility, records.lines)
        self._record(config, located.daemon, request.pid, found, ending, outcome, traps)
        failure_priority = (facility << 3) | LEVELS["err"]
        if ending.ending is Ending.SERVE:
            server.stats.granted += 1
            env = dict(conduct.shape.env)
            if request.wrapper_fd != 0:  # systemd Accept=yes: the daemon gets inetd's layout
                for key in LISTEN_VARIABLES:
                    env.pop(key, None)
            return self._become(
                conduct,
                env,
                located.program,
                [field_of(arg) for arg in located.argv],
                "0,1" if request.wrapper_fd != 0 else "",
                failure_priority,
                located.daemon,
                f"error: cannot execute {located.program}: ",
                config.refuse_pause,
            )
        if ending.ending is Ending.TWIST:
            server.stats.twisted += 1
            return self._become(
                conduct,
                dict(conduct.shape.env),
                SHELL,
                [b"sh", b"-c", c_bytes(outcome.decision.twist or "")],
                "0,1,2",
                failure_priority,
                located.daemon,
                "warning: twist_option: /bin/sh: ",
                config.refuse_pause,
            )
        if ending.ending is Ending.ABORT:  # percent_x overflow: tcpd exits without a verdict
            server.stats.refuse("expansion too long")
        else:
            server.stats.refuse("tables" if outcome.carried_out else "option error")
        drain(found)
        return exit_reply(config.refuse_pause)

    def _config(self, env: dict[str, str]) -> WrapperConfig:
        """load_config(env), kept while the wrapper's variables and config file are unchanged."""
        key = tuple(sorted(item for item in env.items() if item[0].startswith("TCPWRAP_")))
        path = env.get("TCPWRAP_CONFIG", DEFAULT_CONFIG)
        identity = file_identity(path)
        kept = self._configs.get(key)
        if kept is not None and kept[1] == identity:
            return kept[0]
        config = load_config(env)
        if len(self._configs) >= MAX_KEPT:
            self._configs.pop(next(iter(self._configs)))
        self._configs[key] = (config, identity)
        return config

    def _locate(self, argv: list[str], config: WrapperConfig, found: Endpoints) -> Located | str:
        """drivers.daemons.locate, kept while inetd.conf and the program are unchanged (a
        program replaced by a link to the wrapper is seen at once: no hand-off loop)."""
        port = found.server[1] if found.server else None
        key = (tuple(argv), config.real_daemon_dir, port, found.datagram)
        inetd = file_identity(INETD_CONF)
        kept = self._located.get(key)
        if kept is not None:
            located, inetd_then, program_then = kept
            program = file_identity(located.program) if isinstance(located, Located) else None
            if inetd_then == inetd and program_then == program:
                return located
        located = locate(argv, config, found)
        program = file_identity(located.program) if isinstance(located, Located) else None
        if len(self._located) >= MAX_KEPT:
            self._located.pop(next(iter(self._located)))
        self._located[key] = (located, inetd, program)
        return located

    async def _discover(self, fd: int) -> Endpoints:
        """The endpoints of the connection; a datagram socket's peek may wait: in a thread."""
        try:
            probe = socket.socket(fileno=fd)
        except OSError:
            return discover(fd)  # not a socket: discover says so, as in the wrapper
        datagram = probe.type == socket.SOCK_DGRAM
        probe.detach()
        if datagram:
            return await asyncio.to_thread(discover, fd)
        return discover(fd)

    async def _policy(self, config: WrapperConfig) -> Policy:
        """The wrapper's tables as they are now (a wrapper reads them fresh: no stale policy
        while a recompile runs, unlike serve's own services); compiles in a worker thread."""
        server = self.server
        own = server.config
        key = (config.allow, config.deny, config.language)
        if key == (own.allow, own.deny, own.language):
            cache = server.tables
        else:
            found = self._tables.get(key)
            if found is None:
                if len(self._tables) >= MAX_TABLE_SETS:
                    self._tables.pop(next(iter(self._tables)))
                found = PolicyCache(config.allow, config.deny, Language(config.language))
                self._tables[key] = found
            cache = found
        state = cache.fresh()  # nothing happened since it was verified: no waiting
        if state is not None:
            return state.policy
        return await asyncio.to_thread(cache.get)

    def _become(
        self,
        conduct: HandoffConduct,
        env: dict[str, str],
        program: str,
        args: list[bytes],
        dups: str,
        priority: int,
        ident: str,
        failure: str,
        pause: float,
    ) -> bytes:
        shape = conduct.shape
        items = [
            (c_bytes(key) + b"=" + c_bytes(value))
            if key in conduct.shape.set_names
            else (field_of(key) + b"=" + field_of(value))
            for key, value in env.items()
        ]
        ids = b""
        identity = shape.identity
        if shape.user_changed and identity is not None:
            groups = ",".join(str(group) for group in identity.groups)
            ids = f"{identity.uid} {identity.gid} {groups}".encode()
        fields = [
            wire.EXEC,
            field_of(program),
            str(len(args)).encode(),
            *args,
            str(len(items)).encode(),
            *items,
            b"%o" % (shape.umask if shape.umask is not None else 0o022),
            str(shape.nice).encode(),
            ids,
            dups.encode(),
            str(priority).encode(),
            field_of(ident),
            field_of(failure),
            repr(pause).encode(),
        ]
        reply = wire.encode(fields)
        if len(reply) > wire.MAX_MESSAGE:  # an environment grown past the bound by setenv
            self._log(ident, 0, 0, [(LEVELS["err"], "error: hand-off reply too long")])
            return exit_reply(pause)
        return reply

    # ------------------------------------------------------------------ records

    def _log(
        self, ident: str, pid: int, facility: int, lines: list[tuple[int | Priority, str]]
    ) -> None:
        self.server.logbook.flush(ident, pid, Records(list(lines)), facility=facility)

    def _record(
        self,
        config: WrapperConfig,
        daemon: str,
        pid: int,
        found: Endpoints,
        ending: Conclusion,
        outcome: Outcome,
        traps: list[str],
    ) -> None:
        """The wrapper's JSON line, to the wrapper's `json_log`."""
        if not config.json_log:
            return
        writer = self._json.get(config.json_log)
        if writer is None:
            writer = self._json[config.json_log] = JsonWriter(config.json_log)
        entry = self.server.logbook.entry(
            daemon=daemon,
            pid=pid,
            event=cast(Event, ending.event),
            client=found.client,
            server=found.server,
            verdict=ending.verdict,
            outcome=outcome,
            traps=tuple(traps),
        )
        failures = writer.failures
        writer.write(entry.to_json())
        if writer.failures != failures:  # the wrapper's JsonSink says so in syslog, each time
            text = f"warning: json log {config.json_log}: {writer.last_error}"
            self._log(daemon, pid, OPENLOG_FACILITIES[config.facility], [(LEVELS["err"], text)])

    def _internal_error(self, request: WrapperRequest, exc: BaseException) -> None:
        argv = request.argv
        own = os.path.basename(argv[0]) if argv else "tcpwrap-tcpd"
        text = f"error: internal error, connection refused: {exc!r}"
        self._log(own, request.pid, OPENLOG_FACILITIES["daemon"], [(LEVELS["err"], text)])
        self.server.stats.refuse("internal error")
