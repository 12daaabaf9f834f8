"""`tcpwrap serve`: the resident super-server's event loop, sockets and lifecycle.

What it does: `Server` owns the state of a running server (the configuration, the tables,
the listeners, the children, the limits, the bans, the name cache, the logbook, the
counters) and the event loop around it: listening sockets watched for readiness; a readable
TCP listener accepts up to `ACCEPT_BURST` connections, a UDP one peeks at its datagram, a TCP
`wait` listener is handed to one child; each becomes a `connections.Request` (or a trap hit,
`traps.Traps`). What happens to a request is `connections.Connections`' business.

Signals: SIGHUP reloads (inetd.conf and the configuration re-read in a worker thread;
unchanged listeners keep their sockets, added ones open, removed ones close; connections in
progress and children are untouched; a configuration that fails to load keeps the running
one), SIGTERM/SIGINT stop accepting and exit, SIGCHLD reaps. With systemd: READY=1 once every
listener is bound, RELOADING=1/READY=1 around a reload, STOPPING=1; listening sockets passed
with LISTEN_FDS are used in place of binding.

Hazards: everything from the network is hostile (see connections.py). EMFILE/ENFILE while
accepting backs the listener off (50 ms doubling to 1 s) and serving goes on. Nothing here
blocks the loop: loading files, resolving names in inetd.conf and compiling tables run in
worker threads.
Errors: nothing escapes the loop for one request. Only start-up problems (no listener bound,
a metrics port taken) end the server, with a message and exit status 2.
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
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tcpwrap.drivers.deciding import Settings
from tcpwrap.drivers.endpoint import printable
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.tables import PolicyCache
from tcpwrap.errors import ConfigError
from tcpwrap.fleet.agent import FleetAgent
from tcpwrap.fleet.banlist import Bans
from tcpwrap.policy.decision import Mode
from tcpwrap.policy.options import LEVELS
from tcpwrap.policy.rules import Language, Policy
from tcpwrap.proto.prefix import parse_networks
from tcpwrap.serve.children import Children, ChildSpec, SpawnError
from tcpwrap.serve.config import ServeConfig
from tcpwrap.serve.connections import Connections, Request, drain
from tcpwrap.serve.handoff import Handoffs
from tcpwrap.serve.limits import BACKOFF_FIRST, BACKOFF_MAX, Limits
from tcpwrap.serve.logbook import Logbook
from tcpwrap.serve.namecache import NameCache
from tcpwrap.serve.services import ListenerKey, Service, load_services, open_socket, socket_key
from tcpwrap.serve.sockpath import clear_for_bind
from tcpwrap.serve.stats import Stats
from tcpwrap.serve.systemd import Notifier, PassedSocket, passed_sockets
from tcpwrap.serve.traps import Traps

ACCEPT_BURST = 64  # connections taken per readiness event before other listeners get a turn
OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
Address = tuple[str, int]


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
    busy: bool = False  # a wait child, a datagram's decision or a back-off holds it
    backoff: float = 0.0


@dataclass
class ServerOptions:
    loader: Callable[[], Setup]  # reads the files, at start and on SIGHUP (in a thread)
    on_ready: Callable[[Server], None] | None = None  # the demo drives clients from here


class Server:
    def __init__(self, setup: Setup, options: ServerOptions) -> None:
        self.setup = setup
        self.options = options
        self.loop = asyncio.get_running_loop()
        self.pid = os.getpid()
        self.stats = Stats()
        self.children = Children()
        self.listeners: dict[ListenerKey, Listener] = {}
        self.env = SystemEnvironment()
        self.notifier = Notifier()
        self.tasks: set[asyncio.Task[object]] = set()
        self.stopping = asyncio.Event()
        self.passed: list[PassedSocket] = passed_sockets()
        config = setup.config
        self.logbook = Logbook(config.log, self.loop, self.pid)
        self.limits = Limits(config.limits)
        self.bans = Bans(
            config.bans.prefix_v4,
            config.bans.prefix_v6,
            config.bans.max_entries,
            self.logbook.error,
        )  # (its never-ban list is set by _configure, on start and on every reload)
        self.connections = Connections(self)
        self.traps = Traps(self)
        self.fleet: FleetAgent | None = None
        self.handoffs: Handoffs | None = None
        self._fleet_task: asyncio.Task[None] | None = None
        self._configure(config, None)

    # ------------------------------------------------------------------ configuration

    def _configure(self, config: ServeConfig, old: ServeConfig | None) -> None:
        self.config = config
        lookups = config.lookups
        self.settings = Settings(dns_timeout=lookups.dns_timeout, ident_port=lookups.ident_port)
        self.mode = Mode(
            dry_run=False,
            debian_aclexec=config.aclexec == "debian",
            ident_timeout=lookups.ident_timeout,
        )
        tables = (config.allow, config.deny, config.language)
        if old is None or (old.allow, old.deny, old.language) != tables:
            self.tables = PolicyCache(config.allow, config.deny, Language(config.language))
        if old is None or old.lookups != lookups:
            self.names = NameCache(
                lookups.cache_ttl, lookups.negative_ttl, lookups.cache_size, time.monotonic
            )
            # a dead DNS server holds one resolver thread per lookup until glibc gives up
            self.loop.set_default_executor(
                ThreadPoolExecutor(lookups.threads, thread_name_prefix="tcpwrap-dns")
            )
        if old is not None:
            self.logbook.configure(config.log)  # log rotation: the JSON file is reopened
        self.limits.config = config.limits
        self.bans.never = parse_networks(list(config.bans.never_ban))
        self.traps.configure(config.traps)
        if old is None or old.fleet != config.fleet:
            self._start_fleet(config)

    def _start_fleet(self, config: ServeConfig) -> None:
        """(Re)start the fleet agent (a [fleet] section: bans shared through Redis)."""
        if self._fleet_task is not None:
            self._fleet_task.cancel()
            self._fleet_task = None
        self.fleet = None
        if config.fleet is None:
            return
        assert config.fleet.ban_list is not None  # config.py fills it in
        self.fleet = FleetAgent(
            config.fleet,
            self.bans,
            config.fleet.ban_list,
            notice=self.logbook.notice,
            error=self.logbook.error,
            changed=self.traps.schedule_prune,
        )
        self._fleet_task = self.loop.create_task(self.fleet.run())

    def policy(self) -> Policy:
        """The tables to decide with: appends are honoured at once; a full recompile runs in
        a worker thread while decisions go on with the previous version (PolicyCache.current).
        """
        return self.tables.current()

    def spawn_task(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = self.loop.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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

    def hold(self, listener: Listener) -> None:
        """Stop watching a listener until `resume()` (a child or a decision holds it)."""
        self._unwatch(listener)
        listener.busy = True

    def resume(self, listener: Listener) -> None:
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
                self._connection(listener.service, conn, printable(address))
            except Exception as exc:  # one connection's bug must not stop the listener
                self.connections.internal_error(listener.service.daemon.name, exc)
                conn.close()

    def _back_off(self, listener: Listener, exc: OSError) -> None:
        first = listener.backoff == 0.0
        listener.backoff = min(BACKOFF_MAX, listener.backoff * 2 or BACKOFF_FIRST)
        if first:
            self.logbook.error(f"accept on {listener.key}: {exc.strerror}; backing off")
        self.hold(listener)
        self.loop.call_later(listener.backoff, self.resume, listener)

    def _connection(self, service: Service, conn: socket.socket, client: Address | None) -> None:
        server = _local(conn)
        if client is None:
            conn.close()
        elif service.trap is not None:
            self.traps.hit(service, client, server, "tcp")
            conn.close()
        else:
            self.connections.arrive(Request(service, client, server, conn=conn))

    def _wait_stream(self, listener: Listener) -> None:
        """A TCP `wait` service: one child gets the listening socket and accepts itself; the
        socket is not watched until it exits (inetd's semantics: there is no connection to
        check before the child accepts it)."""
        service = listener.service
        self.hold(listener)
        spec = ChildSpec(
            service.daemon.program,
            service.daemon.argv,
            listener.sock.fileno(),
            {"PATH": self.config.child_path},
            service.identity,
        )

        def ended(_status: int) -> None:
            self.limits.child_ended(service.name)
            self.resume(listener)

        spec.on_exit = ended
        try:
            self.children.start(spec)
        except SpawnError as exc:
            self.stats.spawn_failures += 1
            self.logbook.emit(service.daemon.name, self.pid, LEVELS["err"], f"error: {exc}")
            self.loop.call_later(1.0, self.resume, listener)  # try again later, as inetd
            return
        self.stats.spawned += 1
        self.limits.child_started(service.name)

    def _datagram(self, listener: Listener) -> None:
        """A datagram on a UDP listener: peek at its sender (read it, for traps and internal
        services); the listener is held until the request is over."""
        service = listener.service
        sock = listener.sock
        reads = service.trap is not None or service.internal is not None
        try:
            if reads:
                data, sender = sock.recvfrom(65535)
            else:
                data, sender = sock.recvfrom(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.stats.accept_errors += 1
            if exc.errno in OUT_OF_FILES:
                self._back_off(listener, exc)
            else:
                drain(sock)  # e.g. an ICMP error queued by an earlier reply: clear it
            return
        self.stats.accepted += 1
        client = printable(sender)
        if client is None:
            if not reads:
                drain(sock)
            return
        if service.trap is not None:
            self.traps.hit(service, client, _local(sock), "udp")
            return
        self.hold(listener)
        request = Request(
            service,
            client,
            _local(sock),
            listener=listener,
            sender=sender,
            data=data if reads else b"",
        )
        self.connections.arrive(request)

    # ------------------------------------------------------------------ the loop

    def _tick(self) -> None:
        if self.stopping.is_set():
            return
        self.logbook.summarise()
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
        metrics = self.config.metrics
        if metrics.listen:
            from tcpwrap.serve.config import parse_listen
            from tcpwrap.serve.stats import start_metrics

            where = parse_listen(metrics.listen)
            start_metrics(self.stats, where.host, where.port)
        problems = list(self.setup.problems)
        problems += self._bind_all(self.setup.services, starting=True)
        for text in problems:
            self.logbook.error(text)
            if not self.config.log.stdout:  # people starting it by hand see it either way
                sys.stderr.write(f"tcpwrap serve: {text}\n")
        problem = self._open_handoffs()
        if problem is not None:
            sys.stderr.write(f"tcpwrap serve: {problem}\n")
            return 2
        if not self.listeners and self.handoffs is None:
            sys.stderr.write("tcpwrap serve: nothing to listen on\n")
            return 2
        loop.add_signal_handler(signal.SIGCHLD, self.children.reap)
        loop.add_signal_handler(signal.SIGHUP, lambda: self.spawn_task(self.reload()))
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        self.children.reap()  # anything that exited before the handler was in place
        control = await self._start_control()
        places = [str(key) for key in self.listeners]
        if self.handoffs is not None:
            places.append(f"hand-off {self.handoffs.path}")
        self.logbook.notice("listening on " + ", ".join(places))
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
        if self._fleet_task is not None:
            self._fleet_task.cancel()
            self.tasks.add(self._fleet_task)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2.0)
        if control is not None:
            control.close()
        if self.handoffs is not None:
            self.handoffs.close()
        self.logbook.summarise(final=True)
        self.logbook.notice("stopped")
        self.logbook.close()
        self.traps.close()
        self.children.close()
        return 0

    async def reload(self) -> None:
        self.notifier.reloading()
        try:
            setup = await asyncio.to_thread(self.options.loader)
        except (ConfigError, OSError) as exc:
            self.stats.reload_failures += 1
            self.logbook.error(f"reload failed, keeping the running configuration: {exc}")
            self.notifier.ready()
            return
        old, self.setup = self.setup, setup
        self._configure(setup.config, old.config)
        await asyncio.to_thread(self.tables.get)  # new table paths: compile them aside
        problems = setup.problems + self._bind_all(setup.services, starting=False)
        if setup.config.handoff != old.config.handoff:
            problem = self._open_handoffs()  # (a path that cannot be used: no hand-off socket)
            problems += [problem] if problem is not None else []
        elif self.handoffs is not None:
            self.handoffs.reopen_logs()
        for text in problems:
            self.logbook.error(text)
        self.stats.reloads += 1
        self.logbook.notice(f"reloaded: listening on {len(self.listeners)} sockets")
        self.notifier.ready()

    def _open_handoffs(self) -> str | None:
        """(Re)open the hand-off socket of the configuration, if any; a problem's text."""
        if self.handoffs is not None:
            self.handoffs.close()
            self.handoffs = None
        if not self.config.handoff:
            return None
        handoffs = Handoffs(self, self.config.handoff)
        problem = handoffs.open()
        if problem is not None:
            self.logbook.error(problem)
            return problem
        self.handoffs = handoffs
        return None

    async def _start_control(self) -> asyncio.AbstractServer | None:
        """The control socket `tcpwrap serve --status` reads (mode 0600: counts only)."""
        path = self.config.metrics.control
        if not path:
            return None
        problem = clear_for_bind(path)
        if problem is not None:
            self.logbook.error(f"control socket {path}: {problem}")
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
            self.logbook.error(f"control socket {path}: {exc.strerror}")
            return None
        finally:
            os.umask(old)


def _local(sock: socket.socket) -> Address | None:
    try:
        return printable(sock.getsockname())
    except OSError:
        return None
