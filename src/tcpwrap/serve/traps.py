"""Trap ports: the unused ports of a host as an early-warning system (the paper's section 7).

What it does: `Traps.hit()` handles one hit on a trap port (a TCP connection, closed at once,
or a UDP datagram, read away): it is counted and logged (`trap: connect from A (A) to
ADDR:PORT/tcp` under the trap's daemon name, and a JSON line with `"trap": true`; a source
over its rate is summed into the logbook's summaries instead), the source is banned when the
trap says so (`ban_seconds`, `ban_list`; TCP hits only unless `udp_bans`: a UDP source
address is forged at will), and the trap's booby-trap command runs, at most once per source
per `spawn_interval` (a scan of 1,000 ports runs it once), at most `AT_ONCE` at a time, the
others queued. The command is the `spawn` option of a one-rule policy, so its `%` expansions
(and the lookups they need) are exactly a rule's. Expired bans are pruned on a timer.

Hazards: every source is hostile and spoofable for UDP; memory is bounded (the sources whose
last spawn is remembered, the spawns waiting). Commands get network values only through the
% allow-list.
Errors: none raised; a spawn that fails is logged with the trap's daemon name.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from tcpwrap.drivers.deciding import drive_async
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.options import DENY_PRIORITY
from tcpwrap.policy.rules import Policy, TableSource
from tcpwrap.serve.config import TrapConfig
from tcpwrap.serve.logbook import TRAP
from tcpwrap.serve.services import Service

if TYPE_CHECKING:
    from tcpwrap.serve.server import Server

AT_ONCE = 8  # booby-trap commands running at once; the rest wait their turn
WAITING = 1000  # beyond this many waiting, a spawn is skipped (and counted)
MEMORY = 100_000  # sources whose last spawn is remembered
Address = tuple[str, int]


def trap_policy(command: str) -> Policy:
    """A one-rule policy whose only option is the trap's spawn (so % expands exactly as in a
    table, lookups included); `:` in the command is escaped for the option parser."""
    escaped = command.replace(":", "\\:")
    rule = f"ALL : ALL : spawn {escaped}\n".encode("latin-1", "replace")
    return compile_policy(TableSource("<trap>", rule), TableSource("<none>", None))


class Traps:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.policies: dict[str, Policy] = {}
        self.last_spawn: OrderedDict[str, float] = OrderedDict()
        self.spawns = 0  # waiting or running
        self.slots = asyncio.Semaphore(AT_ONCE)
        self._prune_handle: asyncio.TimerHandle | None = None

    def configure(self, traps: tuple[TrapConfig, ...]) -> None:
        self.policies = {trap.spawn: trap_policy(trap.spawn) for trap in traps if trap.spawn}
        now = time.time()
        for trap in traps:
            if trap.ban_list:
                self.server.bans.file(trap.ban_list, now)  # bans a previous run left
        if self.server.bans.dirty:
            self.prune()
        self.schedule_prune()

    def hit(
        self, service: Service, client: Address, server_end: Address | None, transport: str
    ) -> None:
        trap = service.trap
        assert trap is not None
        server = self.server
        server.stats.trapped += 1
        source = server.limits.key(client[0])
        within = server.limits.admit(source, time.monotonic(), service=None) is None
        if within:
            server.limits.release(source)  # nothing is held: the hit is over
        where = f"{server_end[0]}:{server_end[1]}/{transport}" if server_end else transport
        logbook = server.logbook
        fields: dict[str, Any] = {
            "daemon": trap.daemon,
            "pid": server.pid,
            "event": "trap",
            "client": client,
            "server": server_end,
            "verdict": "denied",
            "message": f"trap port {where}",
            "trap": True,
        }
        if within or logbook.counted(trap.daemon, source, TRAP, (client, server_end)):
            text = f"trap: connect from {client[0]} ({client[0]}) to {where}"
            logbook.emit(trap.daemon, server.pid, DENY_PRIORITY, text)
            logbook.json(**fields)
        fleet = server.fleet
        token = server.bans.token(client[0])
        if fleet is not None and token is not None:
            # every hit goes to the fleet's stream (the merged log, the fleet's ban policy)
            fleet.publish_hit(token, logbook.entry(host=fleet.config.node, **fields).to_json())
        if trap.ban_seconds and trap.ban_list and (transport == "tcp" or trap.udp_bans):
            self._ban(trap, client[0], where)
        if trap.spawn:
            self._spawn(service, trap, client, server_end, source)

    def _ban(self, trap: TrapConfig, address: str, where: str) -> None:
        assert trap.ban_seconds is not None and trap.ban_list is not None
        server = self.server
        ban = server.bans.ban(address, trap.ban_seconds, trap.ban_list, time.time())
        if ban is not None and ban.new:
            server.stats.banned += 1
            text = f"banned {ban.token} for {trap.ban_seconds:g} s in {trap.ban_list}"
            server.logbook.emit(trap.daemon, server.pid, DENY_PRIORITY, text)
            self.schedule_prune()
            if server.fleet is not None:  # the same ban on every node of the site
                server.fleet.publish_ban(ban.token, trap.ban_seconds, f"trap {where}")

    def _spawn(
        self,
        service: Service,
        trap: TrapConfig,
        client: Address,
        server_end: Address | None,
        source: str,
    ) -> None:
        now = time.monotonic()
        last = self.last_spawn.get(source)
        if last is not None and now - last < trap.spawn_interval:
            return
        stats = self.server.stats
        if self.spawns >= AT_ONCE + WAITING:
            stats.trap_spawns_skipped += 1
            if stats.trap_spawns_skipped in (1, 10, 100) or not stats.trap_spawns_skipped % 1000:
                self.server.logbook.error(
                    f"trap spawns skipped (too many waiting): {stats.trap_spawns_skipped}"
                )
            return
        self.last_spawn[source] = now
        self.last_spawn.move_to_end(source)
        while len(self.last_spawn) > MEMORY:
            self.last_spawn.popitem(last=False)
        self.spawns += 1
        self.server.spawn_task(self._run_spawn(service, trap, client, server_end))

    async def _run_spawn(
        self, service: Service, trap: TrapConfig, client: Address, server_end: Address | None
    ) -> None:
        assert trap.spawn is not None
        server = self.server
        connections = server.connections
        conduct = connections.conduct(service, None)
        try:
            async with self.slots:
                check = connections.check(
                    service, client, server_end, datagram=False, policy=self.policies[trap.spawn]
                )
                await drive_async(check, conduct)
                server.stats.spawned += 1
        except Exception as exc:
            connections.internal_error(trap.daemon, exc)
        finally:
            self.spawns -= 1
            server.logbook.flush(trap.daemon, server.pid, conduct.records)

    def schedule_prune(self) -> None:
        """Be woken when the soonest ban expires (sooner than planned, if need be)."""
        when = self.server.bans.next_expiry()
        if when is None:
            return
        loop = self.server.loop
        # at most two prunes a second: bans expiring one by one are taken together
        at = loop.time() + max(0.5, when - time.time())
        if self._prune_handle is not None:
            if self._prune_handle.when() <= at + 0.01:
                return
            self._prune_handle.cancel()
        self._prune_handle = loop.call_at(at, self.prune)

    def prune(self) -> None:
        self._prune_handle = None
        for token in self.server.bans.prune(time.time()):
            self.server.logbook.notice(f"ban of {token} expired")
        self.schedule_prune()

    def close(self) -> None:
        if self._prune_handle is not None:
            self._prune_handle.cancel()
            self._prune_handle = None
