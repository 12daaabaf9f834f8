"""One request to `tcpwrap serve`, from its arrival to its end: admit, decide, act, log.

What it does: a `Request` is a TCP connection, or a datagram at the head of a UDP
listener's queue (peeked: the daemon still reads it; internal services read it themselves).
`Connections.arrive()` takes it through: the ban list and the limits (a refusal there is one
record, repeats summed) -> the decision, when the service is checked (the engine through the
one decision driver, `drivers.deciding.drive_async`, with a `ServeConduct`) -> the act:
- granted: an internal service in the loop, or the daemon as a child with the request on
  fds 0-2 (the connection, or for UDP the listening socket, unwatched until the child exits);
- twist: `/bin/sh -c command` as that child instead;
- refused (or the expansion overflow): the records, then the connection closed at once (a
  UDP datagram read away), no process.
tcpd's records are written under the pid that served the request (the child's, as tcpd's
exec keeps its pid; the server's for a refusal), then the JSON line. A request holds one slot
of its source's concurrency from arrival until its child exits (or it ends otherwise).

Hazards: everything in a request is hostile; values reach commands only through the %
allow-list. The decision may wait on DNS/ident: it runs as a task, so other requests go on.
Errors: an internal error is logged (`error: internal error, connection refused: ...`) and
ends that request only (fail closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from tcpwrap.drivers.deciding import Check, Outcome, drive_async
from tcpwrap.drivers.endpoint import connection_for
from tcpwrap.policy.decision import Ending, conclude
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import LEVELS
from tcpwrap.policy.rules import Policy
from tcpwrap.proto.logrecord import Event
from tcpwrap.serve import internal
from tcpwrap.serve.children import ChildSpec, SpawnError
from tcpwrap.serve.conduct import ChildShape, Records, ServeConduct
from tcpwrap.serve.limits import Refusal
from tcpwrap.serve.services import Service

if TYPE_CHECKING:
    from tcpwrap.serve.server import Listener, Server

Address = tuple[str, int]
SHELL = "/bin/sh"


@dataclass
class Request:
    """A connection, or a datagram at the head of a UDP listener's queue."""

    service: Service
    client: Address
    server: Address | None
    source: str = ""  # the limits' source key; "" = holds no slot
    conn: socket.socket | None = None  # TCP: the connection
    listener: Listener | None = None  # UDP: the listener, unwatched while this lasts
    data: bytes = b""  # UDP to an internal service: the datagram, already read
    sender: object = None  # UDP: the sender's socket address, for a reply
    holds_slot: bool = False
    records: Records = field(default_factory=Records)

    @property
    def daemon(self) -> str:
        return self.service.daemon.name

    @property
    def datagram(self) -> bool:
        return self.conn is None

    def stdio(self) -> int:
        """What the child gets as fds 0-2: the connection, or the listening socket."""
        if self.conn is not None:
            return self.conn.fileno()
        assert self.listener is not None
        return self.listener.sock.fileno()


class Connections:
    """The per-request half of the server (the server owns the state and the sockets)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._per_minute: dict[tuple[str, str], list[float]] = {}

    # ------------------------------------------------------------------ arrival

    def arrive(self, request: Request) -> None:
        """Admit the request (bans, limits), then serve it or decide it in a task."""
        server = self.server
        service = request.service
        source = server.limits.key(request.client[0])
        reason: str | None = None
        if server.bans.banned(request.client[0], time.time()):
            reason = Refusal.BANNED.value
        else:
            reason = self._admit(service, source)
            if reason is None:
                request.source, request.holds_slot = source, True
                if service.checked and server.limits.pending_full():
                    reason = Refusal.PENDING.value
            if reason is not None:
                server.stats.limited += 1
        if reason is not None:
            server.stats.refuse(reason)
            server.logbook.refused_early(
                request.daemon, source, request.client, request.server, reason
            )
            self._end(request, refused=True)
            return
        if not service.checked:
            self._grant(request, None, None)
            return
        server.spawn_task(self._decide(request))

    def _admit(self, service: Service, source: str) -> str | None:
        refusal = self.server.limits.admit(
            source, time.monotonic(), service=None if service.internal else service.name
        )
        if refusal is not None:
            return refusal.value
        if service.per_minute is not None and not self._per_minute_ok(service, source):
            self.server.limits.release(source)
            return f"more than {service.per_minute} connections a minute"
        return None

    def _per_minute_ok(self, service: Service, source: str) -> bool:
        """inetd's `nowait.max`, per source: never switches the service off for others."""
        assert service.per_minute is not None
        key = (service.name, source)
        now = time.monotonic()
        times = [t for t in self._per_minute.get(key, []) if now - t < 60.0]
        allowed = len(times) < service.per_minute
        if allowed:
            times.append(now)
        self._per_minute[key] = times
        if len(self._per_minute) > self.server.config.limits.sources:
            self._per_minute.pop(next(iter(self._per_minute)))
        return allowed

    # ------------------------------------------------------------------ the decision

    def check(
        self,
        service: Service,
        client: Address | None,
        server_end: Address | None,
        *,
        datagram: bool,
        policy: Policy | None = None,
    ) -> Check:
        server = self.server
        connection = connection_for(service.daemon.name, client, server_end, datagram=datagram)
        evaluation = Evaluation(policy or server.policy(), connection, server.mode, server.env)
        return Check(evaluation, server.settings, client=client, server=server_end)

    def conduct(self, service: Service, conn: socket.socket | None) -> ServeConduct:
        server = self.server
        return ServeConduct(
            settings=server.settings,
            names=server.names,
            children=server.children,
            shape=self.shape(service),
            conn=conn,
            debian_aclexec=server.mode.debian_aclexec,
        )

    def shape(self, service: Service) -> ChildShape:
        return ChildShape({"PATH": self.server.config.child_path}, service.identity, service.umask)

    async def _decide(self, request: Request) -> None:
        server = self.server
        started = time.monotonic()
        conduct = self.conduct(request.service, request.conn)
        request.records = conduct.records
        server.limits.pending += 1
        try:
            try:
                check = self.check(
                    request.service, request.client, request.server, datagram=request.datagram
                )
                outcome = await drive_async(check, conduct)
            finally:
                server.limits.pending -= 1
            server.stats.decided(time.monotonic() - started)
            self._act(request, outcome, conduct)
        except asyncio.CancelledError:
            self._end(request, refused=True)
            raise
        except Exception as exc:
            server.logbook.flush(request.daemon, server.pid, request.records)
            self.internal_error(request.daemon, exc)
            self._end(request, refused=True)

    def internal_error(self, daemon: str, exc: BaseException) -> None:
        server = self.server
        server.logbook.emit(
            daemon, server.pid, LEVELS["err"], f"error: internal error, connection refused: {exc!r}"
        )
        server.stats.refuse("internal error")

    # ------------------------------------------------------------------ acting

    def _act(self, request: Request, outcome: Outcome, conduct: ServeConduct) -> None:
        decision = outcome.decision
        server = self.server
        traps = tuple(conduct.traps)
        ending = conclude(decision, outcome.carried_out)
        if ending.priority is not None:
            request.records.add(ending.priority, ending.message)
        if ending.ending is Ending.SERVE:
            self._grant(request, outcome, conduct)
            return
        if ending.ending is Ending.TWIST:
            server.stats.twisted += 1
            shape = conduct.shape
            spec = ChildSpec(
                SHELL,
                ("sh", "-c", decision.twist or ""),
                request.stdio(),
                dict(shape.env),
                shape.identity,
                shape.umask,
                shape.nice,
            )
            self._run_child(request, spec, outcome, (*traps, "twist"), "twist", "twisted")
            return
        server.logbook.flush(request.daemon, server.pid, request.records)
        if ending.ending is Ending.ABORT:  # percent_x overflow: tcpd exits without a verdict
            server.stats.refuse("expansion too long")
        else:
            server.stats.refuse("tables" if outcome.carried_out else "option error")
        event = cast(Event, ending.event)
        self._json(request, server.pid, event, ending.verdict, outcome, traps)
        self._end(request, refused=True)

    def _grant(
        self, request: Request, outcome: Outcome | None, conduct: ServeConduct | None
    ) -> None:
        """Serve an allowed request: internal, or the daemon as a child on fds 0-2."""
        server = self.server
        service = request.service
        traps = tuple(conduct.traps) if conduct is not None else ()
        server.stats.granted += 1
        if service.internal is not None:
            server.logbook.flush(request.daemon, server.pid, request.records)
            self._json(request, server.pid, "connect", "granted", outcome, traps)
            server.stats.internal += 1
            if request.conn is not None:
                server.spawn_task(self._internal_stream(request, service.internal))
            else:
                self._internal_datagram(request, service.internal)
            return
        shape = conduct.shape if conduct is not None else self.shape(service)
        spec = ChildSpec(
            service.daemon.program,
            service.daemon.argv,
            request.stdio(),
            shape.env,
            shape.identity,
            shape.umask,
            shape.nice,
        )
        self._run_child(request, spec, outcome, traps, "connect", "granted")

    def _run_child(
        self,
        request: Request,
        spec: ChildSpec,
        outcome: Outcome | None,
        traps: tuple[str, ...],
        event: Event,
        verdict: str,
    ) -> None:
        """Start the child that owns the request until it exits, and write the records
        under its pid (on failure: tcpd's `error: cannot execute ...`, the server's pid)."""
        server = self.server
        name = request.service.name

        def ended(_status: int) -> None:
            server.limits.child_ended(name)
            self._release(request)
            if request.listener is not None:
                server.resume(request.listener)

        spec.on_exit = ended
        try:
            pid: int | None = server.children.start(spec)
        except SpawnError as exc:
            pid = None
            server.stats.spawn_failures += 1
            request.records.add(LEVELS["err"], f"error: {exc}")
        else:
            server.stats.spawned += 1
            server.limits.child_started(name)
        server.logbook.flush(request.daemon, pid or server.pid, request.records)
        self._json(
            request,
            pid or server.pid,
            event if pid else "error",
            verdict if pid else None,
            outcome,
            traps,
        )
        if pid is None:
            self._end(request, refused=True)
        elif request.conn is not None:
            request.conn.close()  # the child has it; the slot is freed when it exits

    async def _internal_stream(self, request: Request, name: str) -> None:
        assert request.conn is not None
        try:
            await internal.serve_stream(name, request.conn, self.server.config.internal_timeout)
        finally:
            self._release(request)

    def _internal_datagram(self, request: Request, name: str) -> None:
        assert request.listener is not None
        reply = internal.answer_datagram(name, request.data, time.time())
        if reply is not None and internal.reply_allowed(request.client[1]):
            with contextlib.suppress(OSError):
                request.listener.sock.sendto(reply, cast(tuple[Any, ...], request.sender))
        self._end(request, refused=False)

    # ------------------------------------------------------------------ the end

    def _release(self, request: Request) -> None:
        if request.holds_slot:
            request.holds_slot = False
            self.server.limits.release(request.source)

    def _end(self, request: Request, *, refused: bool) -> None:
        """The request is over without a child: close the connection, or read a refused
        datagram away (tcpd's "sink": inetd would see it again) and watch the socket again."""
        self._release(request)
        if request.conn is not None:
            request.conn.close()
            return
        listener = request.listener
        assert listener is not None
        if refused and not request.data and request.service.internal is None:
            drain(listener.sock)
        self.server.resume(listener)

    def _json(
        self,
        request: Request,
        pid: int,
        event: Event,
        verdict: str | None,
        outcome: Outcome | None,
        traps: tuple[str, ...],
    ) -> None:
        self.server.logbook.json(
            daemon=request.daemon,
            pid=pid,
            event=event,
            client=request.client,
            server=request.server,
            verdict=verdict,
            outcome=outcome,
            traps=traps,
            message=None if outcome is not None else "not checked",
        )


def drain(sock: socket.socket) -> None:
    """Discard the datagram at the head of the queue (a refused or unusable request)."""
    with contextlib.suppress(OSError):
        sock.recvfrom(65535)
