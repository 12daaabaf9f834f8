"""Helpers for `tcpwrap serve` end-to-end tests: a real server process and what it says.

What it does: `ServeRun` writes an inetd.conf, a TOML configuration and the tables into a
directory, starts `tcpwrap serve` in the foreground with `NOTIFY_SOCKET` pointing at a socket
of ours (so READY=1, RELOADING=1 and STOPPING=1 are observed, as systemd would), waits for
READY=1, and stops it with SIGTERM. `json_records()` reads its JSON log; `fds()` and
`children()` look at its /proc entry (leak checks).

Hazards: namespace only (tests bind 127.0.0.x / ::1 and /dev/log); every wait is bounded and
the process is always killed at the end.
Errors: a server that does not get ready raises AssertionError with its output.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TCPWRAP = ROOT / ".venv" / "bin" / "tcpwrap"


class Notifications:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[str] = []

    def poll(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, BlockingIOError):
                return
            self.messages.append(data.decode())

    def wait_for(self, field: str, timeout: float, after: int = 0) -> int:
        """Index of the first message from `after` on that has the line `field`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            for index in range(after, len(self.messages)):
                if field in self.messages[index].split("\n"):
                    return index
        raise AssertionError(f"no {field} within {timeout}s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


class ServeRun:
    def __init__(
        self,
        directory: Path,
        inetd: str,
        *,
        config: str = "",
        allow: str | None = "",
        deny: str | None = "",
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        tables_in_etc: bool = False,
    ) -> None:
        self.dir = directory
        self.inetd = directory / "inetd.conf"
        self.config = directory / "serve.toml"
        self.allow = directory / "hosts.allow"
        self.deny = directory / "hosts.deny"
        self.json = directory / "connections.jsonl"
        self.out = directory / "serve.out"
        self.inetd.write_text(inetd)
        self.config.write_text(config)
        for path, text in ((self.allow, allow), (self.deny, deny)):
            if text is not None:
                path.write_text(text)
        self.extra_args = extra_args
        self.tables_in_etc = tables_in_etc  # /etc/hosts.allow|deny, as tcpd (no --allow/--deny)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.notify: Notifications | None = None

    def argv(self) -> list[str]:
        tables = ["--allow", str(self.allow), "--deny", str(self.deny)]
        if self.tables_in_etc:
            tables = []
        return [
            str(TCPWRAP), "serve", "--inetd-conf", str(self.inetd), "--config", str(self.config),
            *tables, "--json-log", str(self.json), *self.extra_args,
        ]  # fmt: skip

    def start(self, *, pass_fds: tuple[int, ...] = (), argv: list[str] | None = None) -> None:
        notify_path = self.dir / f"notify.{len(list(self.dir.glob('notify.*')))}"
        self.notify = Notifications(notify_path)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": str(notify_path)}
        env.update(self.env)
        with open(self.out, "ab") as out:
            self.proc = subprocess.Popen(
                argv or self.argv(),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=pass_fds,
            )
        try:
            self.notify.wait_for("READY=1", 20.0)
        except AssertionError as exc:
            self.stop()
            raise AssertionError(f"{exc}\nserve said:\n{self.output()}") from None

    def output(self) -> str:
        try:
            return self.out.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def reload(self, timeout: float = 20.0) -> None:
        assert self.notify is not None
        self.notify.poll()
        mark = len(self.notify.messages)
        os.kill(self.pid, signal.SIGHUP)
        at = self.notify.wait_for("RELOADING=1", timeout, mark)
        self.notify.wait_for("READY=1", timeout, at + 1)

    def stop(self, timeout: float = 10.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        self.proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.notify is not None:
            self.notify.poll()
            self.notify.close()
        return proc.returncode

    def json_records(self) -> list[dict[str, Any]]:
        if not self.json.exists():
            return []
        return [json.loads(line) for line in self.json.read_text().splitlines() if line]

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def children(self) -> list[int]:
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                out.append(int(entry))
        return out


@contextmanager
def running(run: ServeRun, **start: Any) -> Iterator[ServeRun]:
    try:
        run.start(**start)
        yield run
    finally:
        run.stop()


def control_status(control: Path) -> dict[str, Any]:
    """A running serve's counters, read from its control socket (what `--status --json` prints)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(control))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status: dict[str, Any] = json.loads(data)
    return status


def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout}s")
