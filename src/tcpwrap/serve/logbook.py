"""The server's logbook: every record `tcpwrap serve` writes, classic and JSON, and the
summaries that keep a flood's records bounded.

What it does: `Logbook.emit()` writes one classic record (tcpd's text, tagged with the
daemon's name and a pid) to every configured writer (`records.SyslogWriter`,
`records.StdoutWriter`); `flush()` writes a connection's buffered `Records` under the pid
that served it; `json()` appends one `proto.logrecord.ConnectionRecord` line. `counted()`
decides whether a repeated record (a limit's refusal, a trap hit over the rate) is written
now or summed; `summarise()` writes the summaries that are due (`refused N more connections
from SOURCE in S s: REASON`, `N more trap hits from SOURCE in S s`), so every connection is in
the log, one by one or in a summary's `count`.

Hazards: messages carry network text already sanitised where tcpd sanitises; writers send it
as data. Nothing here blocks the loop (see records.py).
Errors: none raised; writers count what they could not write.
"""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from typing import Any

from tcpwrap.drivers.deciding import Outcome
from tcpwrap.policy.options import DENY_PRIORITY, LEVELS, OPENLOG_FACILITIES, Priority
from tcpwrap.proto.logrecord import Client, ConnectionRecord, Event, RuleRef
from tcpwrap.proto.logrecord import Server as ServerEnd
from tcpwrap.serve.conduct import Records
from tcpwrap.serve.config import LogConfig
from tcpwrap.serve.records import JsonWriter, Repeats, StdoutWriter, SyslogWriter, priority_code

OWN = "tcpwrap-serve"  # the ident of the server's own records
TRAP = "trap"  # the reason under which trap hits are counted
Address = tuple[str, int]


class Logbook:
    def __init__(self, config: LogConfig, loop: asyncio.AbstractEventLoop, pid: int) -> None:
        self.loop = loop
        self.pid = pid
        self.hostname = socket.gethostname()
        self.writers: list[SyslogWriter | StdoutWriter] = []
        self.json_writer: JsonWriter | None = None
        self.repeats = Repeats(config.aggregate_interval)
        self.configure(config)

    def configure(self, config: LogConfig) -> None:
        """Take a (new) [log] configuration: writers reopened (log rotation on SIGHUP)."""
        self.close()
        self.config = config
        self.facility = OPENLOG_FACILITIES[config.facility]
        if config.syslog:
            self.writers.append(
                SyslogWriter(add_writer=self.loop.add_writer, remove_writer=self.loop.remove_writer)
            )
        if config.stdout:
            self.writers.append(StdoutWriter())
        self.json_writer = JsonWriter(config.json) if config.json else None
        self.repeats.interval = config.aggregate_interval

    # ------------------------------------------------------------------ classic records

    def emit(
        self,
        ident: str,
        pid: int,
        level: int | Priority,
        message: str,
        facility: int | None = None,
    ) -> None:
        """One record; `facility`: openlog's facility for it (default: the [log] one)."""
        default = self.facility if facility is None else facility
        code = (
            priority_code(level, default) if isinstance(level, Priority) else (default << 3) | level
        )
        now = time.time()
        for writer in self.writers:
            writer.write(code, ident, pid, message, now)

    def flush(self, ident: str, pid: int, records: Records, facility: int | None = None) -> None:
        """Write a connection's buffered records, in order, under one pid."""
        for level, text in records.lines:
            self.emit(ident, pid, level, text, facility)
        records.lines.clear()

    def error(self, message: str) -> None:
        self.emit(OWN, self.pid, LEVELS["err"], f"error: {message}")

    def notice(self, message: str) -> None:
        self.emit(OWN, self.pid, LEVELS["notice"], message)

    # ------------------------------------------------------------------ JSON

    def entry(
        self,
        *,
        daemon: str,
        pid: int,
        event: Event,
        client: Address | None,
        server: Address | None,
        verdict: str | None,
        outcome: Outcome | None = None,
        message: str | None = None,
        traps: tuple[str, ...] = (),
        trap: bool = False,
        count: int = 1,
        host: str | None = None,
    ) -> ConnectionRecord:
        """One JSON record (the wrapper's format; `host` defaults to this host's name)."""
        decision = outcome.decision if outcome is not None else None
        origin = decision.origin if decision is not None else None
        if message is None and decision is not None:
            message = decision.reason
        return ConnectionRecord(
            time=datetime.now(UTC).astimezone(),
            host=host or self.hostname,
            daemon=daemon,
            pid=pid,
            event=event,
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
            message=message,
            lookups=decision.lookups if decision is not None else (),
            traps=traps,
            trap=trap,
            count=count,
        )

    def write(self, entry: ConnectionRecord) -> None:
        if self.json_writer is not None:
            self.json_writer.write(entry.to_json())

    def json(self, **fields: Any) -> None:
        """Build and write one JSON record (the keywords of `entry`)."""
        if self.json_writer is not None:
            self.write(self.entry(**fields))

    # ------------------------------------------------------------------ floods

    def counted(self, daemon: str, source: str, reason: str, sample: tuple[object, ...]) -> bool:
        """True: write this record now; False: it is counted into the next summary."""
        return self.repeats.first((daemon, source, reason), time.monotonic(), sample)

    def refused_early(
        self, daemon: str, source: str, client: Address, server: Address | None, reason: str
    ) -> None:
        """A refusal before the tables (a ban, a limit): the first now, repeats summed."""
        if not self.counted(daemon, source, reason, (client, server)):
            return
        text = f"refused connect from {client[0]} ({client[0]}): {reason}"
        self.emit(daemon, self.pid, DENY_PRIORITY, text)
        self.json(
            daemon=daemon,
            pid=self.pid,
            event="refused",
            client=client,
            server=server,
            verdict="denied",
            message=reason,
        )

    def summarise(self, *, final: bool = False) -> None:
        """Write the summaries that are due (all of them when the server stops)."""
        now = time.monotonic()
        entries = self.repeats.flush() if final else self.repeats.due(now)
        for (daemon, source, reason), count, since, sample in entries:
            client, server = sample if isinstance(sample, tuple) else (None, None)
            seconds = max(1, round(now - since))
            if reason == TRAP:
                text = f"{count} more trap hits from {source} in {seconds} s"
            else:
                text = f"refused {count} more connections from {source} in {seconds} s: {reason}"
            self.emit(daemon, self.pid, DENY_PRIORITY, text)
            self.json(
                daemon=daemon,
                pid=self.pid,
                event="trap" if reason == TRAP else "refused",
                client=client,
                server=server,
                verdict="denied",
                message=text,
                trap=reason == TRAP,
                count=count,
            )

    def close(self) -> None:
        for writer in self.writers:
            if isinstance(writer, SyslogWriter):
                writer.close()
        self.writers = []
        if self.json_writer is not None:
            self.json_writer.close()
            self.json_writer = None
