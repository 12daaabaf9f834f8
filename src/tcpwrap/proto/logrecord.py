"""tcpwrap's own connection log record: one JSON object per line.

What it does: defines `ConnectionRecord` (a frozen value) and its JSON line form, which the
wrapper writes and `tcpwrap report` reads back:

    {"time": ISO-8601 with offset, "host": local host, "daemon": str, "pid": int,
     "event": "connect"|"refused"|"twist"|"trap"|"warning"|"error",
     "client": {"addr": str|null, "name": str|null, "user": str|null, "port": int|null},
     "server": {"addr": str|null, "port": int|null},
     "verdict": "granted"|"denied"|"twisted"|null,
     "rule": {"file": str, "line": int}|null, "message": str|null,
     "lookups": [str], "traps": [str],
     "client_addr": str|null, "trap": bool, "count": int}

`client_addr` repeats `client.addr` at the top level (what log shippers index first); `trap`
is true for a hit on a `tcpwrap serve` trap port (event "trap"); `count` > 1 marks a summary
record standing for that many connections (a flood's repeats, summed).

Hazards: records read back come from log files and are hostile. `from_json` checks every field's
type and raises `LogRecordError` (a `TcpwrapError`) for anything malformed; it never returns a
half-filled record. Unknown extra keys are ignored (forward compatibility). Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from tcpwrap.errors import TcpwrapError

Event = Literal["connect", "refused", "twist", "trap", "warning", "error"]
Verdict = Literal["granted", "denied", "twisted"]

EVENTS: frozenset[str] = frozenset({"connect", "refused", "twist", "trap", "warning", "error"})
VERDICTS: frozenset[str] = frozenset({"granted", "denied", "twisted"})


class LogRecordError(TcpwrapError, ValueError):
    """A JSON log line that is not a valid ConnectionRecord."""


@dataclass(frozen=True, slots=True)
class Client:
    addr: str | None = None
    name: str | None = None
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Server:
    addr: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class RuleRef:
    """The table line that decided: file path as configured and physical line number."""

    file: str
    line: int


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One thing the wrapper logged about one connection."""

    time: datetime  # must be timezone-aware
    host: str
    daemon: str
    pid: int
    event: Event
    client: Client = field(default_factory=Client)
    server: Server = field(default_factory=Server)
    verdict: Verdict | None = None
    rule: RuleRef | None = None
    message: str | None = None
    lookups: tuple[str, ...] = ()
    traps: tuple[str, ...] = ()
    trap: bool = False  # a hit on a trap port
    count: int = 1  # connections this record stands for (a summary of repeats: more)

    def __post_init__(self) -> None:
        if self.time.utcoffset() is None:
            raise LogRecordError("time must carry a UTC offset")
        if self.event not in EVENTS:
            raise LogRecordError(f"bad event {self.event!r}")
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise LogRecordError(f"bad verdict {self.verdict!r}")
        if self.count < 1:
            raise LogRecordError(f"bad count {self.count!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "host": self.host,
            "daemon": self.daemon,
            "pid": self.pid,
            "event": self.event,
            "client": {
                "addr": self.client.addr,
                "name": self.client.name,
                "user": self.client.user,
                "port": self.client.port,
            },
            "server": {"addr": self.server.addr, "port": self.server.port},
            "verdict": self.verdict,
            "rule": None if self.rule is None else {"file": self.rule.file, "line": self.rule.line},
            "message": self.message,
            "lookups": list(self.lookups),
            "traps": list(self.traps),
            "client_addr": self.client.addr,
            "trap": self.trap,
            "count": self.count,
        }

    def to_json(self) -> str:
        """One line of JSON (no newline), keys in schema order, non-ASCII escaped."""
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ConnectionRecord:
        """Parse one JSON line; raise LogRecordError if it is not a valid record."""
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise LogRecordError(f"not JSON: {exc}") from None
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: object) -> ConnectionRecord:
        if not isinstance(obj, dict):
            raise LogRecordError("not a JSON object")
        d = cast(dict[str, object], obj)
        time_text = _req_str(d, "time")
        try:
            when = datetime.fromisoformat(time_text)
        except ValueError:
            raise LogRecordError(f"bad time {time_text!r}") from None
        client = _obj(d, "client")
        server = _obj(d, "server")
        rule_obj = d.get("rule")
        rule: RuleRef | None = None
        if rule_obj is not None:
            if not isinstance(rule_obj, dict):
                raise LogRecordError("rule must be an object or null")
            r = cast(dict[str, object], rule_obj)
            rule = RuleRef(_req_str(r, "file"), _req_int(r, "line"))
        event = _req_str(d, "event")
        if event not in EVENTS:
            raise LogRecordError(f"bad event {event!r}")
        verdict = _opt_str(d, "verdict")
        if verdict is not None and verdict not in VERDICTS:
            raise LogRecordError(f"bad verdict {verdict!r}")
        return cls(
            time=when,
            host=_req_str(d, "host"),
            daemon=_req_str(d, "daemon"),
            pid=_req_int(d, "pid"),
            event=cast(Event, event),
            client=Client(
                addr=_opt_str(client, "addr"),
                name=_opt_str(client, "name"),
                user=_opt_str(client, "user"),
                port=_opt_int(client, "port"),
            ),
            server=Server(addr=_opt_str(server, "addr"), port=_opt_int(server, "port")),
            verdict=cast("Verdict | None", verdict),
            rule=rule,
            message=_opt_str(d, "message"),
            lookups=_str_list(d, "lookups"),
            traps=_str_list(d, "traps"),
            trap=_opt_bool(d, "trap"),
            count=_count(d),
        )


def _obj(d: dict[str, object], key: str) -> dict[str, object]:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise LogRecordError(f"{key} must be an object")
    return cast(dict[str, object], v)


def _req_str(d: dict[str, object], key: str) -> str:
    v = d.get(key)
    if not isinstance(v, str):
        raise LogRecordError(f"{key} must be a string")
    return v


def _opt_str(d: dict[str, object], key: str) -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise LogRecordError(f"{key} must be a string or null")
    return v


def _req_int(d: dict[str, object], key: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise LogRecordError(f"{key} must be an integer")
    return v


def _opt_int(d: dict[str, object], key: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise LogRecordError(f"{key} must be an integer or null")
    return v


def _count(d: dict[str, object]) -> int:
    count = _opt_int(d, "count")
    return 1 if count is None else count


def _opt_bool(d: dict[str, object], key: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise LogRecordError(f"{key} must be true or false")
    return v


def _str_list(d: dict[str, object], key: str) -> tuple[str, ...]:
    v = d.get(key, [])
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise LogRecordError(f"{key} must be a list of strings")
    return tuple(cast(list[str], v))
