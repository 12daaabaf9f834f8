"""`tcpwrap`: one command, many subcommands; thin.

What it does: maps a subcommand name to the module that implements it and imports only that
module (start-up cost matters: `tcpwrap match --batch` and the wrapper run often). Each module
offers `configure(parser)` and `run(args) -> int`.

Errors: a subcommand returns its exit status; an unexpected `TcpwrapError` becomes a one-line
message on stderr and exit status 2. Nothing else is caught.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from tcpwrap.errors import TcpwrapError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "match": ("tcpwrap.tools.match", "predict what tcpd would do (tcpdmatch)"),
    "check": ("tcpwrap.tools.check", "lint hosts.allow/hosts.deny (tcpdchk)"),
    "finger": ("tcpwrap.tools.finger", "finger with hostile output made safe (safe_finger)"),
    "try-from": ("tcpwrap.tools.tryfrom", "show what the wrapper learns about stdin (try-from)"),
    "report": ("tcpwrap.report.cli", "merge connection logs and find probes"),
    "replay": ("tcpwrap.tools.replay", "which logged connections would proposed tables flip"),
    "diff": ("tcpwrap.tools.diff", "what changes between two pairs of tables, by client"),
    "serve": ("tcpwrap.serve.cli", "the resident super-server: inetd.conf services, traps, bans"),
    "fleet": ("tcpwrap.serve.fleetcli", "the site's shared bans in Redis: ban, unban, list, sync"),
}


class _Command(Protocol):
    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _usage() -> str:
    lines = ["usage: tcpwrap COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`tcpwrap COMMAND --help` for a command's options."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(_usage())
        return 0 if args else 1
    name = args[0]
    if name not in COMMANDS:
        sys.stderr.write(f"tcpwrap: unknown command {name!r}\n" + _usage())
        return 1
    module_name, text = COMMANDS[name]
    command = cast(_Command, importlib.import_module(module_name))
    parser = argparse.ArgumentParser(prog=f"tcpwrap {name}", description=text)
    command.configure(parser)
    namespace = parser.parse_args(args[1:])
    try:
        return command.run(namespace)
    except TcpwrapError as exc:
        sys.stderr.write(f"tcpwrap {name}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
