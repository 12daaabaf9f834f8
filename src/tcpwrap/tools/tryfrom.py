"""`tcpwrap try-from`: what the wrapper learns about the connection on stdin (docs/library.md).

What it does: run as a remote command (`ssh host tcpwrap try-from`, inetd, or with a socket
as stdin), it prints tcp_wrappers' eight lines

    client address  (%a): ...        server address  (%A): ...
    client hostname (%n): ...        server hostname (%N): ...
    client username (%u): ...        server process  (%d): ...
    client info     (%c): ...        server info     (%s): ...

(in the order client a, n, u, c, then server A, N, d, s), each value through the very same
% expansion the wrapper uses. There is no second implementation of the expansions: the lines
are the options of a one-rule policy made here (`ALL : ALL : spawn <line 1> : spawn <line 2>
...`), decided in dry run by the one decision driver (drivers.deciding), so `%n`/`%N`
trigger the double-reverse lookup and `%u` the ident query exactly when and as the wrapper
would, and the values are sanitised in place as tcpd does. Nothing is spawned (dry run); the
expanded commands are the lines.

Endpoints come from `drivers.endpoint.discover(0)` (TCP, or the first queued UDP datagram).
Warnings (`can't get client address: ...`, lookup mismatches) go to stderr as `warning: ...`
(the original sent them to syslog: `--syslog` does that, tag = the process name).

Hazards: names and users are hostile; they reach stdout only sanitised (% allow list).
Errors: none; an unusable stdin gives `unknown` values and the warning, exit status 0.
"""

from __future__ import annotations

import argparse
import sys

from tcpwrap.drivers.config import DNS_TIMEOUT, IDENT_PORT
from tcpwrap.drivers.deciding import (
    BlockingConduct,
    Check,
    Settings,
    drive,
)
from tcpwrap.drivers.endpoint import discover, release
from tcpwrap.errors import Diagnostic
from tcpwrap.library.ctl import _environment
from tcpwrap.library.sockets import Site, connection_for
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import DRY_RUN
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import Spawn
from tcpwrap.policy.rules import Policy, TableSource

PROCESS = "try-from"
LINES = (
    "client address  (%%a): %a",
    "client hostname (%%n): %n",
    "client username (%%u): %u",
    "client info     (%%c): %c",
    "server address  (%%A): %A",
    "server hostname (%%N): %N",
    "server process  (%%d): %d",
    "server info     (%%s): %s",
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--daemon", default=PROCESS, help="the server process name, %%d (default %(default)s)"
    )
    parser.add_argument(
        "--dns-timeout",
        type=float,
        default=DNS_TIMEOUT,
        help="seconds for each host name lookup (default %(default)s)",
    )
    parser.add_argument(
        "--ident-timeout", type=float, default=10.0, help="ident timeout (default %(default)s)"
    )
    parser.add_argument(
        "--ident-port", type=int, default=IDENT_PORT, help="the client's identd port (tests)"
    )
    parser.add_argument(
        "--syslog",
        action="store_true",
        help="send warnings to syslog (as the original) instead of stderr",
    )


def expansion_policy() -> Policy:
    """One rule whose options are the eight lines (a `:` in a value is written `\\:`)."""
    options = " : ".join("spawn " + line.replace(":", "\\:") for line in LINES)
    rule = f"ALL : ALL : {options}\n".encode("latin-1")
    return compile_policy(TableSource("<try-from>", rule), TableSource("<none>", None))


def describe(
    fd: int,
    daemon: str = PROCESS,
    settings: Settings | None = None,
) -> tuple[list[str], list[str]]:
    """(the eight lines, the warnings) for the connection on `fd`."""
    if settings is None:
        settings = Settings(ident_timeout=10.0)
    found = discover(fd)
    try:
        site = Site(found.client, found.server, found.datagram)
        evaluation = Evaluation(
            expansion_policy(), connection_for(daemon, site), DRY_RUN, _environment
        )
        check = Check(evaluation, settings, client=site.client, server=site.server)
        reported: list[Diagnostic] = []
        decision = drive(check, BlockingConduct(settings, reported.append)).decision
    finally:
        release(found)
    lines = [action.command for action in decision.actions if isinstance(action, Spawn)]
    warnings = [f"warning: {text}" for text in found.warnings]
    # rendered without the made-up rule's file:line: try-from scans no table
    return lines, warnings + [Diagnostic(d.kind, d.message).render() for d in reported]


def run(args: argparse.Namespace) -> int:
    settings = Settings(args.dns_timeout, args.ident_timeout, args.ident_port)
    lines, warnings = describe(0, args.daemon, settings)
    if warnings:
        _report(warnings, args.syslog, args.daemon)
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return 0


def _report(warnings: list[str], to_syslog: bool, tag: str) -> None:
    if to_syslog:
        import syslog

        syslog.openlog(tag, syslog.LOG_PID, syslog.LOG_DAEMON)
        for text in warnings:
            syslog.syslog(syslog.LOG_ERR, text)
        syslog.closelog()
        return
    sys.stderr.write("".join(text + "\n" for text in warnings))
