"""The demo `tcpwrap serve` runs with no configuration: a real server on loopback high ports.

What it does: writes a small world into a temporary directory (hosts.allow, hosts.deny with
a ban-list include, an inetd.conf with the internal daytime service and `/bin/cat` behind a
classic tcpd line, a trap port that bans), starts the server on it with its records on
stdout, and then plays four clients against it from 127.0.0.1-3 so every behaviour shows:
a granted connection, a refusal by the tables, a trap hit that bans its source, and that
source refused everywhere afterwards. The server keeps running for people to try
(`nc 127.0.0.1 PORT`) until Ctrl-C, or `--demo-seconds N`.

Hazards: only loopback addresses are used; the ports are above 7900 (a free one is taken
when a default is busy); everything lives in the temporary directory, removed at the end.
The programs run as the invoking user.
Errors: a client that fails prints why; the demo goes on.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from tcpwrap.serve.config import LogConfig, ServeConfig, TrapConfig, parse_listen

PORTS = (7913, 7914, 7991)


def _free(port: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _client(port: int, source: str, send: bytes = b"") -> str:
    try:
        with socket.create_connection(
            ("127.0.0.1", port), timeout=5, source_address=(source, 0)
        ) as sock:
            if send:
                sock.sendall(send)
                sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        return data.decode("ascii", "replace").strip() or "(closed, nothing sent)"
    except OSError as exc:
        return f"({exc.strerror or exc})"


def run_demo(seconds: float | None) -> int:
    from tcpwrap.serve.cli import serve
    from tcpwrap.serve.server import Server, ServerOptions, Setup
    from tcpwrap.serve.services import load_services

    directory = Path(tempfile.mkdtemp(prefix="tcpwrap-demo."))
    user = pwd.getpwuid(os.getuid()).pw_name
    daytime, cat, trap = (_free(p) for p in PORTS)
    (directory / "hosts.allow").write_text("daytime cat : 127.0.0.1\n")
    (directory / "hosts.deny").write_text(f"ALL : {directory}/banned\nALL : ALL\n")
    (directory / "inetd.conf").write_text(
        "# the internal daytime service, and /bin/cat behind a classic tcpd line\n"
        f"127.0.0.1:{daytime} stream tcp nowait {user} internal daytime\n"
        f"127.0.0.1:{cat} stream tcp nowait {user} /usr/sbin/tcpd /bin/cat\n"
    )
    config = ServeConfig(
        inetd_conf=str(directory / "inetd.conf"),
        wrap="all",
        allow=str(directory / "hosts.allow"),
        deny=str(directory / "hosts.deny"),
        log=LogConfig(syslog=False, stdout=True, json=str(directory / "connections.jsonl")),
        traps=(
            TrapConfig(
                listen=(parse_listen(f"127.0.0.1:{trap}"),),
                spawn=f"/bin/echo trap hit from %a >> {directory}/trap-hits",
                ban_seconds=60.0,
                ban_list=str(directory / "banned"),
            ),
        ),
    )
    out = sys.stdout
    out.write(
        f"tcpwrap serve demo (no --inetd-conf or --config given); files in {directory}\n"
        f"  daytime (internal) on 127.0.0.1:{daytime}, /bin/cat (a tcpd line) on "
        f"127.0.0.1:{cat}, trap port 127.0.0.1:{trap}\n"
        "  hosts.allow: daytime cat : 127.0.0.1    hosts.deny: ALL : <banned list>, ALL : ALL\n"
    )
    out.flush()

    def ready(server: Server) -> None:
        def play() -> None:
            steps = (
                ("127.0.0.1 asks daytime", daytime, "127.0.0.1", b""),
                ("127.0.0.1 talks to cat", cat, "127.0.0.1", b"hello through tcpd's line"),
                ("127.0.0.2 asks daytime", daytime, "127.0.0.2", b""),
                ("127.0.0.3 touches the trap", trap, "127.0.0.3", b""),
                ("127.0.0.3 asks daytime", daytime, "127.0.0.3", b""),
            )
            for text, port, source, send in steps:
                time.sleep(0.3)
                answer = _client(port, source, send)
                out.write(f"-- {text}: {answer}\n")
                out.flush()
            time.sleep(0.3)
            out.write(
                f"-- ban list {directory}/banned: {_read(directory / 'banned') or '(empty)'}\n"
            )
            if seconds is None:
                out.write(f"-- try it: nc 127.0.0.1 {daytime}   (Ctrl-C stops the demo)\n")
            out.flush()

        threading.Thread(target=play, daemon=True).start()
        if seconds is not None:
            server.loop.call_later(seconds, server.stopping.set)

    inetd_path = str(directory / "inetd.conf")

    def loader() -> Setup:  # on start and on SIGHUP: the demo's own files
        text = Path(inetd_path).read_text()
        services, problems = load_services(config, text, inetd_path)
        return Setup(config, services, problems)

    try:
        return serve(ServerOptions(loader=loader, on_ready=ready))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return " ".join(path.read_text().split())
    except OSError:
        return ""
