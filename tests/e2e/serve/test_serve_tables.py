"""Tables edited under load: a 100,000-line hosts.deny and a 100,000-address `/file` list.
An appended ban holds for the very next connection; a rewrite is compiled aside while
connections go on being decided with the previous tables."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from e2e.serve.servekit import ServeRun, running, wait_until
from e2e.wrapper.wrapkit import free_port, tcp_client

pytestmark = pytest.mark.e2e

LINES = 100_000


def _addresses(first: int) -> list[str]:
    return [f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}" for n in range(first, first + LINES)]


class Latencies(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.times: list[float] = []
        self.failures: list[bytes] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            reply = tcp_client("127.0.0.1", self.port, "127.0.0.2", timeout=10)
            self.times.append(reply.elapsed)
            if not reply.data.endswith(b"\r\n"):
                self.failures.append(reply.data)
            time.sleep(0.005)


def test_appends_hold_at_once_rewrites_never_stall(workdir: Path) -> None:
    port = free_port("127.0.0.1")
    listed = workdir / "banned"
    listed.write_text("".join(a + "\n" for a in _addresses(0)))
    deny_lines = "".join(f"ALL: {a}\n" for a in _addresses(LINES))
    run = ServeRun(
        workdir,
        f"127.0.0.1:{port} stream tcp nowait root internal daytime\n",
        config='[serve]\nwrap = "all"\n[limits]\nrate = 100000\nburst = 100000\n',
        deny=deny_lines + f"ALL: {listed}\n",
    )
    with running(run):
        load = Latencies(port)
        load.start()
        time.sleep(0.5)
        assert tcp_client("127.0.0.1", port, "127.0.0.7").data.endswith(b"\r\n")
        with open(run.deny, "a") as deny:
            deny.write("ALL: 127.0.0.7\n")
        first = tcp_client("127.0.0.1", port, "127.0.0.7")  # no pause: the next connection
        with open(listed, "a") as banned:
            banned.write("127.0.0.8\n")
        second = tcp_client("127.0.0.1", port, "127.0.0.8")
        # a rewrite (not an append): compiled aside; decisions go on meanwhile
        text = run.deny.read_text().replace("ALL: 127.0.0.7\n", "")
        run.deny.write_text(text + "ALL: 127.0.0.9\n")
        wait_until(lambda: tcp_client("127.0.0.1", port, "127.0.0.9").data == b"",
                   timeout=30, what="the rewritten table in force")  # fmt: skip
        freed = tcp_client("127.0.0.1", port, "127.0.0.7")
        load.stop.set()
        load.join(10)
    assert first.data == b"" and second.data == b""
    assert freed.data.endswith(b"\r\n")
    assert load.failures == []
    assert len(load.times) > 50
    # no decision waited for the recompile of 100,000 lines (seconds): the worst is far below
    assert max(load.times) < 1.0, sorted(load.times)[-5:]
    records = {r["client_addr"]: r for r in run.json_records() if r["verdict"] == "denied"}
    assert records["127.0.0.7"]["rule"] == {"file": str(run.deny), "line": LINES + 2}
    assert records["127.0.0.8"]["rule"] == {"file": str(run.deny), "line": LINES + 1}
