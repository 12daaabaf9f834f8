"""`tcpwrap serve`: the resident super-server.

What it does: owns the listening sockets of the inetd.conf services and the trap ports, and for
every connection: accept -> endpoints -> ban and limit checks -> the decision (the engine,
through the one decision driver `drivers.deciding.drive_async` with `ServeConduct`: lookups
cached and never blocking other clients) -> log (tcpd's records, tagged with the daemon's
name, plus JSON lines) -> act: start the server program with the connection on fds 0-2 (a
`nowait` service), hand the listening socket to one child and stop watching it until that
child exits (`wait` and UDP), run an internal service in the loop, or refuse at once (no
process, no pause; a UDP refusal drains its datagram). A trap port logs every hit, may run a
booby-trap command (deduplicated and rate-limited per source) and may ban the source: in
memory at once, and in a ban-list file tcpd's `/file` patterns read.

Signals: SIGHUP reloads (inetd.conf and the configuration; unchanged listeners keep their
sockets, connections and children in progress are untouched; a configuration that fails to
load keeps the running one), SIGTERM/SIGINT stop accepting and exit, SIGCHLD reaps. With
systemd: READY=1 once every listener is bound, RELOADING=1/READY=1 around a reload,
STOPPING=1; listening sockets passed with LISTEN_FDS are used in place of binding.

Hazards: every value from the network is hostile (addresses, names, ident replies,
datagrams); commands see them only through the % allow-list. Every count is bounded
(`[limits]`): a flood from one source is refused and its records summed, never switching a
service off for others. EMFILE/ENFILE while accepting backs off and keeps serving.
Errors: nothing escapes the loop for one connection: an internal error is logged and that
connection closed (fail closed). Only start-up problems (a bad configuration, no listener
bound) end the server, with a message and exit status 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tcpwrap.drivers.deciding import Check, Outcome, Settings, drive_async
from tcpwrap.drivers.endpoint import connection_for
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.tables import PolicyCache
from tcpwrap.errors import ConfigError, TcpwrapError
from tcpwrap.policy.decision import Mode, Verdict
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import DENY_PRIORITY, Priority
from tcpwrap.policy.rules import Language, Policy, TableSource, compile_policy
from tcpwrap.proto.logrecord import Client, ConnectionRecord, RuleRef
from tcpwrap.proto.logrecord import Server as ServerEnd
from tcpwrap.serve import internal
from tcpwrap.serve.bans import Bans
from tcpwrap.serve.children import Children, ChildSpec, SpawnError
from tcpwrap.serve.conduct import ChildShape, Records, ServeConduct
from tcpwrap.serve.config import ServeConfig, TrapConfig
from tcpwrap.serve.limits import Limits, Refusal
from tcpwrap.serve.namecache import NameCache
from tcpwrap.serve.records import (
    FACILITY_CODES,
    LEVELS,
    JsonWriter,
    Repeats,
    StdoutWriter,
    SyslogWriter,
    priority_code,
)
from tcpwrap.serve.services import ListenerKey, Service, load_services, open_socket, socket_key
from tcpwrap.serve.stats import Stats
from tcpwrap.serve.systemd import Notifier, PassedSocket, passed_sockets

ACCEPT_BURST = 64  # connections taken per readiness event before other listeners get a turn
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 1.0
OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
TRAP_SPAWNS_AT_ONCE = 8  # booby-trap commands running at once; the rest wait their turn
TRAP_SPAWNS_WAITING = 1000  # beyond this many waiting, a spawn is skipped (and counted)
SPAWN_MEMORY = 100_000  # sources whose last trap spawn is remembered
OWN = "tcpwrap-serve"  # the ident of the server's own records
Address = tuple[str, int]


class LoadError(TcpwrapError):
    """The configuration could not be loaded (start-up fails; a reload keeps the old one)."""


@dataclass
class Setup:
    """Everything loaded from the files: swapped in whole on reload."""

    config: ServeConfig
    services: list[Service]
    problems: list[str]


def load_setup(config_path: str | None, inetd_conf: str | None, cli: dict[str, object]) -> Setup:
    """Read the configuration and inetd.conf, command-line values over the file's (runs in a
    worker thread: it may resolve host and service names). Raises ConfigError."""
    from tcpwrap.serve.config import load_config, with_overrides

    config = load_config(config_path) if config_path is not None else ServeConfig()
    config = with_overrides(config, **cli)
    path = inetd_conf or config.inetd_conf
    text: str | None = None
    if path is not None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(16 * 1024 * 1024)
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror or exc}") from None
        text = data.decode("latin-1")
    services, problems = load_services(config, text, path or "<none>")
    return Setup(config, services, problems)


@dataclass
class Listener:
    key: ListenerKey
    sock: socket.socket
    service: Service
    watching: bool = False
    busy: bool = False  # a wait child (or a datagram decision) holds the socket
    backoff: float = 0.0


@dataclass
class _Pending:
    """A connection between accept and its end (child exit, refusal or internal service)."""

    source: str
    service: Service
    released: bool = False


@dataclass
class ServerOptions:
    loader: Callable[[], Setup]  # reads the files, at start and on SIGHUP (in a thread)
    on_ready: Callable[[Server], None] | None = None  # the demo drives clients from here


class Server:
    def __init__(self, setup: Setup, options: ServerOptions) -> None:
        self.setup = setup
        self.options = options
        self.stats = Stats()
        self.children = Children()
        self.listeners: dict[ListenerKey, Listener] = {}
        self.pid = os.getpid()
        self.hostname = socket.gethostname()
        self.env = SystemEnvironment()
        self.notifier = Notifier()
        self.tasks: set[asyncio.Task[object]] = set()
        self.stopping = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.passed: list[PassedSocket] = passed_sockets()
        self.trap_spawns = 0  # waiting or running
        self.trap_slots = asyncio.Semaphore(TRAP_SPAWNS_AT_ONCE)
        self.last_spawn: OrderedDict[str, float] = OrderedDict()
        self._configure(setup.config)
        self.limits = Limits(self.config.limits)
        self.bans = Bans(
            self.config.bans.prefix_v4,
            self.config.bans.prefix_v6,
            self.config.bans.max_entries,
            self._own_error,
        )
        self.repeats = Repeats(self.config.log.aggregate_interval)
        self._per_minute: dict[tuple[str, str], list[float]] = {}

    # ------------------------------------------------------------------ configuration

    def _configure(self, config: ServeConfig) -> None:
        old = getattr(self, "config", None)
        self.config = config
        lookups = config.lookups
        self.settings = Settings(dns_timeout=lookups.dns_timeout, ident_port=lookups.ident_port)
        self.mode = Mode(
            dry_run=False,
            debian_aclexec=config.aclexec == "debian",
            ident_timeout=lookups.ident_timeout,
        )
        if old is None or (old.allow, old.deny, old.language) != (
            config.allow,
            config.deny,
            config.language,
        ):
            self.tables = PolicyCache(config.allow, config.deny, Language(config.language))
        if old is None or old.lookups != lookups:
            self.names = NameCache(
                lookups.cache_ttl, lookups.negative_ttl, lookups.cache_size, time.monotonic
            )
            self.loop.set_default_executor(
                ThreadPoolExecutor(lookups.threads, thread_name_prefix="tcpwrap-dns")
            )
        self.facility = FACILITY_CODES[config.log.facility]
        writers: list[SyslogWriter | StdoutWriter] = []
        old_writers = getattr(self, "writers", [])
        for writer in old_writers:
            if isinstance(writer, SyslogWriter):
                writer.close()
        if config.log.syslog:
            writers.append(
                SyslogWriter(add_writer=self.loop.add_writer, remove_writer=self.loop.remove_writer)
            )
        if config.log.stdout:
            writers.append(StdoutWriter())
        self.writers = writers
        old_json = getattr(self, "json", None)
        if old_json is not None:
            old_json.close()
        self.json = JsonWriter(config.log.json) if config.log.json else None
        if hasattr(self, "limits"):
            self.limits.config = config.limits
            self.repeats.interval = config.log.aggregate_interval
        self.trap_policies = {
            trap.spawn: _trap_policy(trap.spawn) for trap in config.traps if trap.spawn
        }

    def policy(self) -> Policy:
        """The tables to decide with: appends are honoured at once; a full recompile runs in
        a worker thread while decisions go on with the previous version (PolicyCache.current).
        """
        return self.tables.current()

    # ------------------------------------------------------------------ records

    def emit(self, ident: str, pid: int, level: int | Priority, message: str) -> None:
        code = (
            priority_code(level, self.facility)
            if isinstance(level, Priority)
            else (self.facility << 3) | level
        )
        now = time.time()
        for writer in self.writers:
            writer.write(code, ident, pid, message, now)

    def flush(self, ident: str, pid: int, records: Records) -> None:
        """Write a connection's buffered records, in order, under one pid."""
        for level, text in records.lines:
            self.emit(ident, pid, level, text)
        records.lines.clear()

    def _own_error(self, message: str) -> None:
        self.emit(OWN, self.pid, LEVELS["err"], f"error: {message}")

    def _own_notice(self, message: str) -> None:
        self.emit(OWN, self.pid, LEVELS["notice"], message)

    def record(
        self,
        *,
        daemon: str,
        pid: int,
        event: str,
        client: Address | None,
        server: Address | None,
        verdict: str | None,
        outcome: Outcome | None = None,
        message: str | None = None,
        traps: tuple[str, ...] = (),
        trap: bool = False,
        count: int = 1,
    ) -> None:
        if self.json is None:
            return
        decision = outcome.decision if outcome is not None else None
        origin = decision.origin if decision is not None else None
        entry = ConnectionRecord(
            time=datetime.now(UTC).astimezone(),
            host=self.hostname,
            daemon=daemon,
            pid=pid,
            event=event,  # type: ignore[arg-type]
            client=Client(
                addr=client[0] if client else None,
                name=decision.client_name if decision is not None else None,
                user=decision.user if decision is not None else None,
                port=client[1] if client else None,
            ),
            server=ServerEnd(
                addr=server[0] if server else None, port=server[1] if server else None
            ),
            verdict=verdict,  # type: ignore[arg-type]
            rule=None if origin is None else RuleRef(origin.file, origin.line),
            message=message if message is not None else (decision.reason if decision else None),
            lookups=decision.lookups if decision is not None else (),
            traps=traps,
            trap=trap,
            count=count,
        )
        self.json.write(entry.to_json())

    def refused_early(
        self, service: Service, client: Address, server: Address | None, reason: str
    ) -> None:
        """A refusal before the tables (ban, limit): first record now, repeats summed."""
        key = (service.daemon.name, self.limits.key(client[0]), reason)
        self.stats.refuse(reason)
        if not self.repeats.first(key, time.monotonic(), (client, server)):
            return
        text = f"refused connect from {client[0]} ({client[0]}): {reason}"
        self.emit(service.daemon.name, self.pid, DENY_PRIORITY, text)
        self.record(
            daemon=service.daemon.name,
            pid=self.pid,
            event="refused",
            client=client,
            server=server,
            verdict="denied",
            message=reason,
        )

    def _summaries(self, entries: list[tuple[tuple[str, ...], int, float, object]]) -> None:
        now = time.monotonic()
        for (daemon, source, reason), count, since, sample in entries:
            client, server = sample if isinstance(sample, tuple) else (None, None)
            seconds = max(1, round(now - since))
            if reason == "trap":
                text = f"{count} more trap hits from {source} in {seconds} s"
                event, verdict = "trap", "denied"
            else:
                text = f"refused {count} more connections from {source} in {seconds} s: {reason}"
                event, verdict = "refused", "denied"
            self.emit(daemon, self.pid, DENY_PRIORITY, text)
            self.record(
                daemon=daemon,
                pid=self.pid,
                event=event,
                client=client,
                server=server,
                verdict=verdict,
                message=text,
                trap=reason == "trap",
                count=count,
            )

    # ------------------------------------------------------------------ listeners

    def _bind_all(self, services: list[Service], *, starting: bool) -> list[str]:
        """Open (or keep, or adopt) a listener per service; close the ones no longer wanted."""
        problems: list[str] = []
        wanted = {service.key: service for service in services}
        for key in list(self.listeners):
            if key not in wanted:
                listener = self.listeners.pop(key)
                self._unwatch(listener)
                listener.sock.close()
        passed = {socket_key(p.sock): p for p in self.passed if p.sock is not None}
        for key, service in wanted.items():
            existing = self.listeners.get(key)
            if existing is not None:
                existing.service = service  # unchanged socket: new settings, same queue
                continue
            adopted = passed.pop(key, None)
            if adopted is not None and adopted.sock is not None:
                sock = adopted.sock
                sock.setblocking(False)
                self.passed = [p for p in self.passed if p is not adopted]
            else:
                try:
                    sock = open_socket(key, self.config.backlog, service)
                except OSError as exc:
                    problems.append(
                        f"{service.origin}: cannot listen on {key}: {exc.strerror or exc}"
                    )
                    continue
            listener = Listener(key, sock, service)
            self.listeners[key] = listener
            self._watch(listener)
        if starting:
            for leftover in self.passed:
                problems.append(
                    f"systemd socket fd {leftover.fd} ({leftover.name or 'unnamed'}):"
                    f" {leftover.problem or 'no service line uses it'}; closed"
                )
                if leftover.sock is not None:
                    leftover.sock.close()
            self.passed = []
        return problems

    def _watch(self, listener: Listener) -> None:
        if not listener.watching and not listener.busy and not self.stopping.is_set():
            self.loop.add_reader(listener.sock.fileno(), self._readable, listener)
            listener.watching = True

    def _unwatch(self, listener: Listener) -> None:
        if listener.watching:
            self.loop.remove_reader(listener.sock.fileno())
            listener.watching = False

    def _resume(self, listener: Listener) -> None:
        listener.busy = False
        if self.listeners.get(listener.key) is listener:
            self._watch(listener)

    def _readable(self, listener: Listener) -> None:
        service = listener.service
        if not service.stream:
            self._datagram(listener)
        elif service.wait and service.trap is None:
            self._wait_stream(listener)
        else:
            self._accept(listener)

    def _accept(self, listener: Listener) -> None:
        sock = listener.sock
        for _ in range(ACCEPT_BURST):
            try:
                conn, address = sock.accept()
            except BlockingIOError:
                listener.backoff = 0.0
                return
            except InterruptedError:
                continue
            except OSError as exc:
                self.stats.accept_errors += 1
                if exc.errno in OUT_OF_FILES:
                    self._back_off(listener, exc)
                    return
                continue  # ECONNABORTED and friends: that connection is gone
            self.stats.accepted += 1
            listener.backoff = 0.0
            try:
                self._connection(listener.service, conn, _printable(address))
            except Exception as exc:  # one connection's bug must not stop the listener
                self._internal_error(listener.service, conn, exc)

    def _back_off(self, listener: Listener, exc: OSError) -> None:
        first = listener.backoff == 0.0
        listener.backoff = min(BACKOFF_MAX, listener.backoff * 2 or BACKOFF_FIRST)
        if first:
            self._own_error(f"accept on {listener.key}: {exc.strerror}; backing off")
        self._unwatch(listener)
        listener.busy = True
        self.loop.call_later(listener.backoff, self._resume, listener)

    def _internal_error(
        self, service: Service, conn: socket.socket | None, exc: BaseException
    ) -> None:
        self.emit(
            service.daemon.name,
            self.pid,
            LEVELS["err"],
            f"error: internal error, connection refused: {exc!r}",
        )
        self.stats.refuse("internal error")
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------------ TCP connections

    def _connection(self, service: Service, conn: socket.socket, client: Address | None) -> None:
        server = _local(conn)
        if client is None:
            conn.close()
            return
        if service.trap is not None:
            self._trap_hit(service, client, server, "tcp")
            conn.close()
            return
        now = time.time()
        if self.bans.banned(client[0], now):
            self.refused_early(service, client, server, Refusal.BANNED.value)
            conn.close()
            return
        source = self.limits.key(client[0])
        refusal = self._admit(service, source)
        if refusal is not None:
            self.stats.limited += 1
            self.refused_early(service, client, server, refusal)
            conn.close()
            return
        pending = _Pending(source, service)
        if not service.checked:
            self._serve(service, conn, client, server, None, None, pending)
            return
        if self.limits.pending_full():
            self._release(pending)
            self.stats.limited += 1
            self.refused_early(service, client, server, Refusal.PENDING.value)
            conn.close()
            return
        self._spawn_task(self._decide(service, conn, client, server, pending))

    def _admit(self, service: Service, source: str) -> str | None:
        refusal = self.limits.admit(
            source, time.monotonic(), service=None if service.internal else service.name
        )
        if refusal is not None:
            return refusal.value
        if service.per_minute is not None and not self._per_minute_ok(service, source):
            self.limits.release(source)
            return f"more than {service.per_minute} connections a minute"
        return None

    def _per_minute_ok(self, service: Service, source: str) -> bool:
        """inetd's `nowait.max`, per source: never switches the service off for others."""
        assert service.per_minute is not None
        key = (service.name, source)
        now = time.monotonic()
        times = [t for t in self._per_minute.get(key, []) if now - t < 60.0]
        if len(times) >= service.per_minute:
            self._per_minute[key] = times
            return False
        times.append(now)
        self._per_minute[key] = times
        if len(self._per_minute) > self.config.limits.sources:
            self._per_minute.pop(next(iter(self._per_minute)))
        return True

    def _release(self, pending: _Pending) -> None:
        if not pending.released:
            pending.released = True
            self.limits.release(pending.source)

    def _spawn_task(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _new_check(
        self,
        service: Service,
        client: Address | None,
        server: Address | None,
        *,
        datagram: bool,
        policy: Policy | None = None,
    ) -> Check:
        connection = connection_for(service.daemon.name, client, server, datagram=datagram)
        evaluation = Evaluation(policy or self.policy(), connection, self.mode, self.env)
        return Check(evaluation, self.settings, client=client, server=server)

    def _shape(self, service: Service) -> ChildShape:
        return ChildShape({"PATH": self.config.child_path}, service.identity, service.umask)

    async def _decide(
        self,
        service: Service,
        conn: socket.socket,
        client: Address,
        server: Address | None,
        pending: _Pending,
    ) -> None:
        started = time.monotonic()
        self.limits.pending += 1
        conduct: ServeConduct | None = None
        try:
            try:
                check = self._new_check(service, client, server, datagram=False)
                conduct = ServeConduct(
                    settings=self.settings,
                    names=self.names,
                    children=self.children,
                    shape=self._shape(service),
                    conn=conn,
                    debian_aclexec=self.mode.debian_aclexec,
                )
                outcome = await drive_async(check, conduct)
            finally:
                self.limits.pending -= 1
            self.stats.decided(time.monotonic() - started)
            self._act(service, conn, client, server, outcome, conduct, pending)
        except asyncio.CancelledError:
            conn.close()
            self._release(pending)
            raise
        except Exception as exc:
            if conduct is not None:
                self.flush(service.daemon.name, self.pid, conduct.records)
            self._internal_error(service, conn, exc)
            self._release(pending)

    def _act(
        self,
        service: Service,
        conn: socket.socket,
        client: Address,
        server: Address | None,
        outcome: Outcome,
        conduct: ServeConduct,
        pending: _Pending,
    ) -> None:
        """Carry out a TCP decision: serve, twist or refuse; log it as tcpd would."""
        decision = outcome.decision
        daemon = service.daemon.name
        records = conduct.records
        traps = tuple(conduct.traps)
        if decision.verdict is Verdict.ABORT:
            self.flush(daemon, self.pid, records)
            self.stats.refuse("expansion too long")
            self.record(
                daemon=daemon,
                pid=self.pid,
                event="error",
                client=client,
                server=server,
                verdict=None,
                outcome=outcome,
                traps=traps,
            )
            conn.close()
            self._release(pending)
            return
        who = f"{decision.client_info} ({decision.client_addr})"
        if decision.verdict is Verdict.GRANT and outcome.carried_out:
            records.add(decision.allow_priority, f"connect from {who}")
            self._serve(service, conn, client, server, outcome, conduct, pending)
            return
        if decision.verdict is Verdict.TWIST and outcome.carried_out:
            command = decision.twist or ""
            records.add(decision.deny_priority, f"twist {decision.client_info} to {command}")
            self.stats.twisted += 1
            shape = conduct.shape
            spec = ChildSpec(
                "/bin/sh",
                ("sh", "-c", command),
                conn.fileno(),
                dict(shape.env),
                shape.identity,
                shape.umask,
                shape.nice,
            )
            pid = self._start_child(service, spec, pending, records)
            self.flush(daemon, pid or self.pid, records)
            self.record(
                daemon=daemon,
                pid=pid or self.pid,
                event="twist",
                client=client,
                server=server,
                verdict="twisted",
                outcome=outcome,
                traps=(*traps, "twist"),
            )
            conn.close()
            return
        records.add(decision.deny_priority, f"refused connect from {who}")
        self.flush(daemon, self.pid, records)
        self.stats.refuse("tables" if outcome.carried_out else "option error")
        self.record(
            daemon=daemon,
            pid=self.pid,
            event="refused",
            client=client,
            server=server,
            verdict="denied",
            outcome=outcome,
            traps=traps,
        )
        conn.close()
        self._release(pending)

    def _start_child(
        self,
        service: Service,
        spec: ChildSpec,
        pending: _Pending,
        records: Records,
        then: Callable[[], None] | None = None,
    ) -> int | None:
        """Start a child that holds the connection (or the socket) until it exits: counted
        against the limits, `then` called at its exit. None on failure, with tcpd's
        `error: cannot execute ...` record added."""
        name = service.name

        def ended(_status: int) -> None:
            self.limits.child_ended(name)
            self._release(pending)
            if then is not None:
                then()

        spec.on_exit = ended
        try:
            pid = self.children.start(spec)
        except SpawnError as exc:
            self.stats.spawn_failures += 1
            records.add(LEVELS["err"], f"error: {exc}")
            self._release(pending)
            return None
        self.stats.spawned += 1
        self.limits.child_started(name)
        return pid

    def _serve(
        self,
        service: Service,
        conn: socket.socket,
        client: Address,
        server: Address | None,
        outcome: Outcome | None,
        conduct: ServeConduct | None,
        pending: _Pending,
    ) -> None:
        """Run the service for an allowed TCP connection: internal, or a child on fds 0-2.
        The records (ending in `connect from`, for checked services) are flushed under the
        pid that serves the connection, as tcpd's exec keeps its pid."""
        daemon = service.daemon.name
        records = conduct.records if conduct is not None else Records()
        traps = tuple(conduct.traps) if conduct is not None else ()
        note = None if outcome is not None else "not checked"
        self.stats.granted += 1
        if service.internal is not None:
            self.flush(daemon, self.pid, records)
            self.record(
                daemon=daemon,
                pid=self.pid,
                event="connect",
                client=client,
                server=server,
                verdict="granted",
                outcome=outcome,
                traps=traps,
                message=note,
            )
            self.stats.internal += 1
            self._spawn_task(self._internal(service.internal, conn, pending))
            return
        shape = conduct.shape if conduct is not None else self._shape(service)
        spec = ChildSpec(
            service.daemon.program,
            service.daemon.argv,
            conn.fileno(),
            shape.env,
            shape.identity,
            shape.umask,
            shape.nice,
        )
        pid = self._start_child(service, spec, pending, records)
        self.flush(daemon, pid or self.pid, records)
        self.record(
            daemon=daemon,
            pid=pid or self.pid,
            event="connect" if pid else "error",
            client=client,
            server=server,
            verdict="granted" if pid else None,
            outcome=outcome,
            traps=traps,
            message=note,
        )
        conn.close()

    async def _internal(self, name: str, conn: socket.socket, pending: _Pending) -> None:
        try:
            await internal.serve_stream(name, conn, self.config.internal_timeout)
        finally:
            self._release(pending)

    # ------------------------------------------------------------------ wait services

    def _wait_stream(self, listener: Listener) -> None:
        """A TCP `wait` service: one child gets the listening socket and accepts itself; the
        socket is not watched until it exits (inetd's semantics; no check is possible: the
        connection is the child's to accept)."""
        service = listener.service
        self._unwatch(listener)
        listener.busy = True
        pending = _Pending("", service, released=True)
        spec = ChildSpec(
            service.daemon.program,
            service.daemon.argv,
            listener.sock.fileno(),
            {"PATH": self.config.child_path},
            service.identity,
        )
        records = Records()
        pid = self._start_child(
            service, spec, pending, records, then=lambda: self._resume(listener)
        )
        if pid is None:
            self.flush(service.daemon.name, self.pid, records)
            self.loop.call_later(1.0, self._resume, listener)  # try again later, as inetd

    # ------------------------------------------------------------------ datagrams

    def _datagram(self, listener: Listener) -> None:
        """A datagram on a UDP listener: peek at its sender (or read it: traps and internal
        services), check bans and limits, then decide with the socket unwatched."""
        service = listener.service
        sock = listener.sock
        try:
            if service.trap is not None or service.internal is not None:
                data, address = sock.recvfrom(65535)
            else:
                data, address = sock.recvfrom(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.stats.accept_errors += 1
            if exc.errno in OUT_OF_FILES:
                self._back_off(listener, exc)
            else:
                _drain(sock)  # e.g. an ICMP error queued by an earlier reply: clear it
            return
        self.stats.accepted += 1
        client = _printable(address)
        server = _local(sock)
        if client is None:
            _drain(sock)
            return
        if service.trap is not None:
            self._trap_hit(service, client, server, "udp")
            return
        source = self.limits.key(client[0])
        reason: str | None = None
        if self.bans.banned(client[0], time.time()):
            reason = Refusal.BANNED.value
        else:
            reason = self._admit(service, source)
            if reason is not None:
                self.stats.limited += 1
            elif service.checked and self.limits.pending_full():
                self.limits.release(source)
                self.stats.limited += 1
                reason = Refusal.PENDING.value
        if reason is not None:
            if service.internal is None:
                _drain(sock)
            self.refused_early(service, client, server, reason)
            return
        pending = _Pending(source, service)
        self._unwatch(listener)
        listener.busy = True
        self._spawn_task(self._decide_datagram(listener, data, address, client, server, pending))

    async def _decide_datagram(
        self,
        listener: Listener,
        data: bytes,
        address: object,
        client: Address,
        server: Address | None,
        pending: _Pending,
    ) -> None:
        service = listener.service
        sock = listener.sock
        daemon = service.daemon.name
        conduct = ServeConduct(
            settings=self.settings,
            names=self.names,
            children=self.children,
            shape=self._shape(service),
            conn=None,
            debian_aclexec=self.mode.debian_aclexec,
        )
        records = conduct.records
        outcome: Outcome | None = None
        try:
            if service.checked:
                started = time.monotonic()
                self.limits.pending += 1
                try:
                    check = self._new_check(service, client, server, datagram=True)
                    outcome = await drive_async(check, conduct)
                finally:
                    self.limits.pending -= 1
                self.stats.decided(time.monotonic() - started)
        except asyncio.CancelledError:
            self._release(pending)
            raise
        except Exception as exc:
            self.flush(daemon, self.pid, records)
            self._internal_error(service, None, exc)
            if service.internal is None:
                _drain(sock)
            self._release(pending)
            self._resume(listener)
            return
        decision = outcome.decision if outcome is not None else None
        traps = tuple(conduct.traps)
        note = None if outcome is not None else "not checked"
        if decision is not None and not (outcome is not None and outcome.granted):
            if decision.verdict is Verdict.TWIST and outcome is not None and outcome.carried_out:
                # as tcpd: the command runs with the socket as stdio (the datagram not drained)
                records.add(
                    decision.deny_priority, f"twist {decision.client_info} to {decision.twist}"
                )
                spec = ChildSpec(
                    "/bin/sh",
                    ("sh", "-c", decision.twist or ""),
                    sock.fileno(),
                    dict(conduct.shape.env),
                    conduct.shape.identity,
                )
                self.stats.twisted += 1
                pid = self._start_child(
                    service, spec, pending, records, then=lambda: self._resume(listener)
                )
                self.flush(daemon, pid or self.pid, records)
                self.record(
                    daemon=daemon,
                    pid=pid or self.pid,
                    event="twist",
                    client=client,
                    server=server,
                    verdict="twisted",
                    outcome=outcome,
                    traps=(*traps, "twist"),
                )
                if pid is None:
                    _drain(sock)
                    self._resume(listener)
                return
            if decision.verdict is not Verdict.ABORT:
                who = f"{decision.client_info} ({decision.client_addr})"
                records.add(decision.deny_priority, f"refused connect from {who}")
            self.flush(daemon, self.pid, records)
            if service.internal is None:
                _drain(sock)
            self.stats.refuse("tables")
            self.record(
                daemon=daemon,
                pid=self.pid,
                event="refused",
                client=client,
                server=server,
                verdict="denied",
                outcome=outcome,
                traps=traps,
            )
            self._release(pending)
            self._resume(listener)
            return
        if decision is not None:
            who = f"{decision.client_info} ({decision.client_addr})"
            records.add(decision.allow_priority, f"connect from {who}")
        self.stats.granted += 1
        if service.internal is not None:
            self.flush(daemon, self.pid, records)
            self.stats.internal += 1
            reply = internal.answer_datagram(service.internal, data, time.time())
            if reply is not None and internal.reply_allowed(client[1]):
                with contextlib.suppress(OSError):
                    sock.sendto(reply, cast(tuple[Any, ...], address))
            self.record(
                daemon=daemon,
                pid=self.pid,
                event="connect",
                client=client,
                server=server,
                verdict="granted",
                outcome=outcome,
                traps=traps,
                message=note,
            )
            self._release(pending)
            self._resume(listener)
            return
        shape = conduct.shape
        spec = ChildSpec(
            service.daemon.program,
            service.daemon.argv,
            sock.fileno(),
            shape.env,
            shape.identity,
            shape.umask,
            shape.nice,
        )
        pid = self._start_child(
            service, spec, pending, records, then=lambda: self._resume(listener)
        )
        self.flush(daemon, pid or self.pid, records)
        self.record(
            daemon=daemon,
            pid=pid or self.pid,
            event="connect" if pid else "error",
            client=client,
            server=server,
            verdict="granted" if pid else None,
            outcome=outcome,
            traps=traps,
            message=note,
        )
        if pid is None:
            _drain(sock)
            self._resume(listener)

    # ------------------------------------------------------------------ traps

    def _trap_hit(
        self, service: Service, client: Address, server: Address | None, transport: str
    ) -> None:
        trap = service.trap
        assert trap is not None
        self.stats.trapped += 1
        now = time.time()
        source = self.limits.key(client[0])
        limited = self.limits.admit(source, time.monotonic(), service=None)
        if limited is None:
            self.limits.release(source)
        key = (trap.daemon, source, "trap")
        where = f"{server[0]}:{server[1]}/{transport}" if server else transport
        if limited is None or self.repeats.first(key, time.monotonic(), (client, server)):
            text = f"trap: connect from {client[0]} ({client[0]}) to {where}"
            self.emit(trap.daemon, self.pid, DENY_PRIORITY, text)
            self.record(
                daemon=trap.daemon,
                pid=self.pid,
                event="trap",
                client=client,
                server=server,
                verdict="denied",
                message=f"trap port {where}",
                trap=True,
            )
        if trap.ban_seconds and trap.ban_list and (transport == "tcp" or trap.udp_bans):
            ban = self.bans.ban(client[0], trap.ban_seconds, trap.ban_list, now)
            if ban is not None and ban.new:
                self.stats.banned += 1
                self.emit(
                    trap.daemon,
                    self.pid,
                    DENY_PRIORITY,
                    f"banned {ban.token} for {trap.ban_seconds:g} s in {trap.ban_list}",
                )
                self._schedule_prune()
        if trap.spawn:
            self._trap_spawn(service, trap, client, server, source)

    def _trap_spawn(
        self,
        service: Service,
        trap: TrapConfig,
        client: Address,
        server: Address | None,
        source: str,
    ) -> None:
        now = time.monotonic()
        last = self.last_spawn.get(source)
        if last is not None and now - last < trap.spawn_interval:
            return
        if self.trap_spawns >= TRAP_SPAWNS_AT_ONCE + TRAP_SPAWNS_WAITING:
            self.stats.trap_spawns_skipped += 1
            if (
                self.stats.trap_spawns_skipped in (1, 10, 100)
                or not self.stats.trap_spawns_skipped % 1000
            ):
                self._own_error(
                    f"trap spawns skipped (too many waiting): {self.stats.trap_spawns_skipped}"
                )
            return
        self.last_spawn[source] = now
        self.last_spawn.move_to_end(source)
        while len(self.last_spawn) > SPAWN_MEMORY:
            self.last_spawn.popitem(last=False)
        self.trap_spawns += 1
        self._spawn_task(self._run_trap_spawn(service, trap, client, server))

    async def _run_trap_spawn(
        self, service: Service, trap: TrapConfig, client: Address, server: Address | None
    ) -> None:
        """The trap's command, % expanded as a rule's spawn (lookups included); at most
        TRAP_SPAWNS_AT_ONCE at a time."""
        assert trap.spawn is not None
        conduct = ServeConduct(
            settings=self.settings,
            names=self.names,
            children=self.children,
            shape=self._shape(service),
            conn=None,
            debian_aclexec=False,
        )
        try:
            async with self.trap_slots:
                check = self._new_check(
                    service, client, server, datagram=False, policy=self.trap_policies[trap.spawn]
                )
                await drive_async(check, conduct)
                self.stats.spawned += 1
        except Exception as exc:
            self._internal_error(service, None, exc)
        finally:
            self.trap_spawns -= 1
            self.flush(trap.daemon, self.pid, conduct.records)

    def _schedule_prune(self) -> None:
        if getattr(self, "_prune_handle", None) is not None:
            return
        when = self.bans.next_expiry()
        if when is None:
            return
        delay = max(0.05, when - time.time())
        self._prune_handle: asyncio.TimerHandle | None = self.loop.call_later(delay, self._prune)

    def _prune(self) -> None:
        self._prune_handle = None
        for token in self.bans.prune(time.time()):
            self._own_notice(f"ban of {token} expired")
        self._schedule_prune()

    # ------------------------------------------------------------------ the loop

    def _tick(self) -> None:
        if self.stopping.is_set():
            return
        self._summaries(self.repeats.due(time.monotonic()))
        self.stats.gauges = {
            "children": len(self.children),
            "listeners": len(self.listeners),
            "decisions_waiting": self.limits.pending,
            "bans_active": len(self.bans.active),
            "sources_tracked": self.limits.tracked(),
            "name_cache": len(self.names),
        }
        self.loop.call_later(max(0.2, self.config.log.aggregate_interval / 4), self._tick)

    async def run(self) -> int:
        loop = self.loop
        await asyncio.to_thread(self.tables.get)  # the first compile, before anyone waits on it
        problems = list(self.setup.problems)
        problems += self._bind_all(self.setup.services, starting=True)
        for text in problems:
            self._own_error(text)
            if not self.config.log.stdout:  # people starting it by hand see it either way
                sys.stderr.write(f"tcpwrap serve: {text}\n")
        if not self.listeners:
            sys.stderr.write("tcpwrap serve: nothing to listen on\n")
            return 2
        for trap in self.config.traps:
            if trap.ban_list:
                self.bans.file(trap.ban_list, time.time())
        if self.bans.dirty:
            self._prune()
        self._schedule_prune()
        loop.add_signal_handler(signal.SIGCHLD, self.children.reap)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn_task(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        self.children.reap()  # anything that exited before the handler was in place
        metrics = self.config.metrics
        if metrics.listen:
            from tcpwrap.serve.config import parse_listen
            from tcpwrap.serve.stats import start_metrics

            where = parse_listen(metrics.listen)
            start_metrics(self.stats, where.host, where.port)
        control = await self._start_control()
        summary = ", ".join(str(key) for key in self.listeners)
        self._own_notice(f"listening on {summary}")
        self._tick()
        self.notifier.ready(f"listening on {len(self.listeners)} sockets")
        if self.options.on_ready is not None:
            self.options.on_ready(self)
        await self.stopping.wait()
        self.notifier.stopping()
        for listener in self.listeners.values():
            self._unwatch(listener)
            listener.sock.close()
        self.listeners.clear()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2.0)
        self._summaries(self.repeats.flush())
        if control is not None:
            control.close()
        self._own_notice("stopped")
        for writer in self.writers:
            if isinstance(writer, SyslogWriter):
                writer.close()
        if self.json is not None:
            self.json.close()
        self.children.close()
        return 0

    async def reload(self) -> None:
        self.notifier.reloading()
        try:
            setup = await asyncio.to_thread(self.options.loader)
        except (ConfigError, OSError) as exc:
            self.stats.reload_failures += 1
            self._own_error(f"reload failed, keeping the running configuration: {exc}")
            self.notifier.ready()
            return
        self.setup = setup
        self._configure(setup.config)
        await asyncio.to_thread(self.tables.get)  # new table paths: compile them aside
        problems = setup.problems + self._bind_all(setup.services, starting=False)
        for text in problems:
            self._own_error(text)
        self.stats.reloads += 1
        self._own_notice(f"reloaded: listening on {len(self.listeners)} sockets")
        self.notifier.ready()

    async def _start_control(self) -> asyncio.AbstractServer | None:
        path = self.config.metrics.control
        if not path:
            return None
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._own_error(f"control socket {path}: {exc.strerror}")
            return None

        async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.stats.gauges["children"] = len(self.children)
            writer.write(json.dumps(self.stats.snapshot()).encode() + b"\n")
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.drain(), 5.0)
            writer.close()

        old = os.umask(0o077)
        try:
            return await asyncio.start_unix_server(answer, path)
        except OSError as exc:
            self._own_error(f"control socket {path}: {exc.strerror}")
            return None
        finally:
            os.umask(old)


def _trap_policy(command: str) -> Policy:
    """A one-rule policy whose only option is the trap's spawn (so % expands exactly as in a
    table, lookups included); `:` in the command is escaped for the option parser."""
    rule = f"ALL : ALL : spawn {command.replace(':', chr(92) + ':')}\n".encode("latin-1", "replace")
    return compile_policy(TableSource("<trap>", rule), TableSource("<none>", None))


def _printable(address: object) -> Address | None:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        if len(address) >= 4 and address[3]:
            host = f"{host}%{address[3]}"
        return host, int(address[1])
    return None


def _local(sock: socket.socket) -> Address | None:
    try:
        return _printable(sock.getsockname())
    except OSError:
        return None


def _drain(sock: socket.socket) -> None:
    """Discard the datagram at the head of the queue (a refused or unusable request)."""
    with contextlib.suppress(OSError):
        sock.recvfrom(65535)
