"""`tcpwrap serve`: the command line of the resident super-server.

What it does: parses the options, loads the configuration (`--config` TOML, `--inetd-conf`,
command-line values over the file's), and runs `serve.server.Server` in the foreground until
SIGTERM. `--check` loads everything, prints the services it would listen on and the problems,
and exits (1 if there are problems). `--status` asks a running server for its counters through
its control socket. `--handoff [PATH]` also decides for `tcpwrap-tcpd` wrappers that hand
their connections over (serve/handoff.py); alone, serve does only that. With none of
`--inetd-conf`, `--config` and `--handoff` it runs the demo on loopback high ports
(`serve.demo`), which `--demo-seconds N` ends by itself.

Errors: a configuration that cannot be loaded is one message on stderr and exit status 2
(nothing is bound); see docs/serve.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

from tcpwrap.drivers.handoff import SOCKET_PATH
from tcpwrap.errors import ConfigError

HANDOFF_PATH = SOCKET_PATH.decode()

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tcpwrap.serve.server import ServerOptions, Setup


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inetd-conf", metavar="FILE", help="the services, in inetd.conf form")
    parser.add_argument("--config", metavar="FILE", help="the TOML configuration (docs/serve.md)")
    parser.add_argument("--allow", metavar="FILE", help="hosts.allow (default /etc/hosts.allow)")
    parser.add_argument("--deny", metavar="FILE", help="hosts.deny (default /etc/hosts.deny)")
    parser.add_argument("--language", choices=("options", "classic"), help="the rule language")
    parser.add_argument("--json-log", metavar="FILE", help="append one JSON line per event")
    parser.add_argument("--stdout", action="store_true", help="print the records on stdout too")
    parser.add_argument("--no-syslog", action="store_true", help="do not send to /dev/log")
    parser.add_argument("--metrics", metavar="HOST:PORT", help="Prometheus endpoint (loopback)")
    parser.add_argument("--control", metavar="PATH", help="control socket for --status")
    parser.add_argument(
        "--handoff",
        nargs="?",
        const=HANDOFF_PATH,
        metavar="PATH",
        help=f"decide for tcpwrap-tcpd wrappers on this socket (default {HANDOFF_PATH})",
    )
    parser.add_argument("--check", action="store_true", help="load, list the services, exit")
    parser.add_argument("--status", action="store_true", help="print a running server's counters")
    parser.add_argument("--json", action="store_true", help="--status: the raw JSON")
    parser.add_argument("--demo", action="store_true", help="run the loopback demo")
    parser.add_argument(
        "--demo-seconds", type=float, metavar="N", help="end the demo after N seconds"
    )


def _cli_values(args: argparse.Namespace) -> dict[str, object]:
    values: dict[str, object] = {
        "inetd_conf": args.inetd_conf,
        "allow": args.allow,
        "deny": args.deny,
        "language": args.language,
        "listen": args.metrics,
        "control": args.control,
        "handoff": args.handoff,
    }
    return {key: value for key, value in values.items() if value is not None}


def _log_overrides(args: argparse.Namespace) -> dict[str, object]:
    log: dict[str, object] = {}
    if args.json_log:
        log["json"] = args.json_log
    if args.stdout:
        log["stdout"] = True
    if args.no_syslog:
        log["syslog"] = False
    return log


def run(args: argparse.Namespace) -> int:
    if args.status:
        return _status(args)
    nothing = args.inetd_conf is None and args.config is None and args.handoff is None
    if args.demo or (nothing and not args.check):
        from tcpwrap.serve.demo import run_demo

        return run_demo(args.demo_seconds)
    from tcpwrap.serve.server import ServerOptions, load_setup

    cli = _cli_values(args)
    log = _log_overrides(args)
    if log:
        cli["log"] = log

    def loader() -> Setup:
        return load_setup(args.config, args.inetd_conf, cli)

    if args.check:
        try:
            setup = loader()
        except ConfigError as exc:
            sys.stderr.write(f"tcpwrap serve: {exc}\n")
            return 2
        for service in setup.services:
            kind = (
                "trap"
                if service.trap
                else "internal"
                if service.internal
                else ("checked" if service.checked else "not checked")
            )
            sys.stdout.write(f"{service.key}\t{service.daemon.name}\t{kind}\t{service.origin}\n")
        for problem in setup.problems:
            sys.stdout.write(f"problem: {problem}\n")
        return 1 if setup.problems else 0
    return serve(ServerOptions(loader=loader))


def serve(options: ServerOptions) -> int:
    """Load the configuration and run the server in the foreground; the exit status."""
    from tcpwrap.serve.server import Server

    try:
        setup = options.loader()
    except ConfigError as exc:
        sys.stderr.write(f"tcpwrap serve: {exc}\n")
        return 2

    async def main() -> int:
        try:
            server = Server(setup, options)
        except ConfigError as exc:
            sys.stderr.write(f"tcpwrap serve: {exc}\n")
            return 2
        try:
            return await server.run()
        except ConfigError as exc:
            sys.stderr.write(f"tcpwrap serve: {exc}\n")
            return 2

    return asyncio.run(main())


def _status(args: argparse.Namespace) -> int:
    from tcpwrap.serve.config import load_config
    from tcpwrap.serve.stats import render_status

    path = args.control
    if path is None and args.config is not None:
        try:
            path = load_config(args.config).metrics.control
        except ConfigError as exc:
            sys.stderr.write(f"tcpwrap serve: {exc}\n")
            return 2
    if path is None:
        sys.stderr.write(
            "tcpwrap serve --status: name the control socket (--control PATH, "
            "or [metrics] control in --config)\n"
        )
        return 2
    data = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5.0)
            sock.connect(path)
            while chunk := sock.recv(65536):
                data += chunk
                if len(data) > 4 * 1024 * 1024:
                    break
    except OSError as exc:
        sys.stderr.write(f"tcpwrap serve --status: {path}: {exc.strerror or exc}\n")
        return 1
    try:
        snapshot = json.loads(data)
    except ValueError:
        sys.stderr.write(f"tcpwrap serve --status: {path}: not a tcpwrap serve control socket\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(snapshot, indent=2) + "\n")
    else:
        sys.stdout.write(render_status(snapshot))
    return 0
