"""`tcpwrap match`: what tcpd would do with a connection (tcpdmatch), and `--batch` verdicts.

What it does: parses `daemon[@server] [user@]client` as tcpdmatch does (docs/match.md), looks names
up with double-reverse verification, and prints one prediction per client address: the header
lines, then `access:   granted|denied|delegated`. Stdout is Debian's, line for line; by default
(a documented deviation) the diagnostics Debian hides in syslog are printed inline in upstream
order, and the deciding rule follows the access line as `rule:     <file>, line <n>`.
`--debian` prints exactly Debian's stdout and sends the diagnostics to syslog as Debian does.
`--json` prints the decisions as JSON. `--batch` answers `DAEMON CLIENT_NAME CLIENT_ADDR [USER]`
lines from stdin with libwrap's hosts_ctl() semantics, one `granted`/`denied` line each.

Hazards: names and addresses typed here are looked up in DNS (with timeouts); dry run only:
nothing is spawned, no identity changes (Debian's tcpdmatch really called setuid for `user`
options; we only validate the names, see docs/compat.md).
Errors: usage problems print tcpdmatch's usage on stderr, exit 1; an unknown host prints
`<host>: host not found`, exit 1; table problems are diagnostics, never exceptions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import IO, Any, NoReturn

from tcpwrap.drivers import inetd
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.logsink import log_bytes
from tcpwrap.drivers.lookup import find_inet_addr, verify_host_name
from tcpwrap.drivers.tables import load_policy
from tcpwrap.errors import Diagnostic, Kind, Origin
from tcpwrap.policy.cstr import INADDR_NONE, c_bytes, dot_quad_addr, fold, split_at
from tcpwrap.policy.decision import Connection, Decision, Endpoint, Mode, Verdict
from tcpwrap.policy.facts import PARANOID, UNKNOWN
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.options import Banner, Spawn
from tcpwrap.policy.patterns import parse_ipv6
from tcpwrap.policy.rules import Language

USAGE = (
    "usage: tcpdmatch [-d] [-i inet_conf] daemon[@host] [user@]host\n"
    "\t-d: use allow/deny files in current directory\n"
    "\t-i: location of inetd.conf file\n"
)
HOSTS_ALLOW = "/etc/hosts.allow"
HOSTS_DENY = "/etc/hosts.deny"
REAL_DAEMON_DIR = "/usr/sbin"
LOOKUP_TIMEOUT = 10.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "tcpwrap match [-d] [-i inet_conf] [options] daemon[@host] [user@]host"
    parser.add_argument(
        "-d",
        dest="here",
        action="store_true",
        help="use hosts.allow and hosts.deny in the current directory",
    )
    parser.add_argument(
        "-i", dest="inetd_conf", metavar="inet_conf", help="location of the inetd.conf file"
    )
    parser.add_argument(
        "--allow", metavar="FILE", help="the allow table (default /etc/hosts.allow)"
    )
    parser.add_argument("--deny", metavar="FILE", help="the deny table (default /etc/hosts.deny)")
    parser.add_argument(
        "--language",
        choices=[lang.value for lang in Language],
        default=Language.OPTIONS.value,
        help="meaning of the third field: hosts_options(5) or the paper's shell command",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the decisions as JSON")
    out.add_argument(
        "--debian",
        action="store_true",
        help="stdout exactly as Debian's tcpdmatch; diagnostics go to syslog",
    )
    out.add_argument(
        "--batch",
        action="store_true",
        help="read 'DAEMON CLIENT_NAME CLIENT_ADDR [USER]' lines from stdin and "
        "print granted/denied for each (hosts_ctl semantics, no lookups)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=LOOKUP_TIMEOUT,
        help="DNS lookup timeout in seconds (default %(default)s)",
    )
    parser.add_argument("operands", nargs="*", help=argparse.SUPPRESS)
    parser.error = _usage_error  # type: ignore[method-assign]


def _usage_error(message: str) -> NoReturn:
    """getopt's complaint and tcpdmatch's usage, exit status 1 (as tcpdmatch)."""
    unknown = re.search(r"unrecognized arguments: -(\S)", message)
    if unknown:
        sys.stderr.write(f"tcpdmatch: invalid option -- '{unknown.group(1)}'\n")
    else:
        sys.stderr.write(f"tcpwrap match: {message}\n")
    sys.stderr.write(USAGE)
    sys.exit(1)


def table_paths(args: argparse.Namespace) -> tuple[str, str]:
    if args.here:
        return args.allow or "hosts.allow", args.deny or "hosts.deny"
    return args.allow or HOSTS_ALLOW, args.deny or HOSTS_DENY


def run(args: argparse.Namespace) -> int:
    allow, deny = table_paths(args)
    language = Language(args.language)
    if args.batch:
        from tcpwrap.tools.batch import run_batch

        return run_batch(sys.stdin.buffer, sys.stdout, sys.stderr, allow, deny, language)
    if len(args.operands) != 2:
        sys.stderr.write(USAGE)
        return 1
    printer = Printer(
        sys.stdout, mode="debian" if args.debian else "json" if args.json else "inline"
    )
    try:
        return predict(args, allow, deny, language, printer)
    finally:
        printer.close()


# ----------------------------------------------------------------------------- output


class Printer:
    """Where predictions and diagnostics go in each output mode."""

    def __init__(self, out: IO[str], mode: str) -> None:
        self.out = out
        self.mode = mode
        self.buffer: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.count = 0
        self._syslog: Any = None

    def diagnostic(self, diag: Diagnostic) -> None:
        if self.mode == "inline":
            self.text(diag.render() + "\n")
        elif self.mode == "debian":
            self._log(diag)

    def warn(self, message: str) -> None:
        self.diagnostic(Diagnostic(Kind.WARNING, message))

    def text(self, data: str) -> None:
        if self.mode == "debian" and not self.out.isatty():
            self.buffer.append(data)  # stdio buffering: banners (unbuffered fd 1) come first
        elif self.mode != "json":
            self._write(data)

    def _write(self, data: str) -> None:
        """Text as tcpdmatch writes it: table text as the bytes it was read from."""
        raw = getattr(self.out, "buffer", None)
        if raw is None or data.isascii():
            self.out.write(data)
            return
        self.out.flush()
        raw.write(c_bytes(data))
        raw.flush()

    def banner(self, data: str) -> None:
        if self.mode == "json":
            return
        self.out.flush()
        os.write(self.out.fileno(), c_bytes(data))

    def prediction(self, decision: Decision, record: dict[str, Any]) -> None:
        if self.count and self.mode != "json":
            self.text("\n")
        self.count += 1
        if self.mode == "json":
            self.records.append(record)
            return
        diags = decision.diagnostics
        shown = 0
        for label, value, before in decision.header:
            for diag in diags[shown:before]:
                self.diagnostic(diag)
            shown = max(shown, before)
            self.text(f"{label} {value}\n")
        for diag in diags[shown:]:
            self.diagnostic(diag)
            if diag.kind is Kind.DEBUG and diag.message.startswith("option:   banners"):
                for action in decision.actions:
                    if isinstance(action, Banner):
                        self.banner(action.data)
                        break
        if decision.verdict is not Verdict.ABORT:
            self.text(f"access:   {access_word(decision)}\n")
        if self.mode == "inline" and decision.origin is not None:
            self.text(f"rule:     {rule_text(decision.origin)}\n")

    def _log(self, diag: Diagnostic) -> None:
        import syslog

        if self._syslog is None:
            syslog.openlog("tcpdmatch", 0, syslog.LOG_USER)
            self._syslog = syslog
        priority = syslog.LOG_DEBUG if diag.kind is Kind.DEBUG else syslog.LOG_ERR
        if diag.kind is Kind.INFO:
            priority = syslog.LOG_INFO
        log_bytes(priority, diag.render())

    def close(self) -> None:
        if self.mode == "json":
            json.dump(self.records, self.out, indent=2)
            self.out.write("\n")
        elif self.buffer:
            self._write("".join(self.buffer))
        self.out.flush()


def rule_text(origin: Origin) -> str:
    """`<file>, line <n>` with tcpd's number, and the physical line when NUL bytes in the
    table (docs/rules.md) made the two differ."""
    if origin.physical is not None and origin.physical != origin.line:
        return f"{origin} (physical line {origin.physical})"
    return str(origin)


def access_word(decision: Decision) -> str:
    if decision.delegated or decision.verdict is Verdict.TWIST:
        return "delegated"
    return "granted" if decision.verdict is Verdict.GRANT else "denied"


def decision_record(decision: Decision) -> dict[str, Any]:
    """The JSON form of one prediction."""
    facts = decision.facts
    return {
        "daemon": facts.get("daemon"),
        "client": {
            "address": facts.get("client_addr"),
            "name": facts.get("client_name"),
            "user": facts.get("user"),
        },
        "server": {"address": facts.get("server_addr"), "name": facts.get("server_name")},
        "verdict": access_word(decision) if decision.verdict is not Verdict.ABORT else "aborted",
        "rule": None
        if decision.origin is None
        else {
            "file": decision.origin.file,
            "line": decision.origin.line,
            "physical_line": decision.origin.physical,
        },
        "reason": decision.reason,
        "options": [
            d.message[len("option:   ") :]
            for d in decision.diagnostics
            if d.kind is Kind.DEBUG and d.message.startswith("option:")
        ],
        "actions": [_action_record(a) for a in decision.actions],
        "diagnostics": [
            {
                "severity": d.kind.value,
                "file": d.origin.file if d.origin else None,
                "line": d.origin.line if d.origin else None,
                "message": d.message,
                "text": d.render(),
            }
            for d in decision.diagnostics
        ],
    }


def _action_record(action: object) -> dict[str, Any]:
    fields = {k: getattr(action, k) for k in getattr(action, "__slots__", ())}
    return {"action": type(action).__name__.lower(), **fields}


# ----------------------------------------------------------------------------- predicting


def predict(
    args: argparse.Namespace, allow: str, deny: str, language: Language, printer: Printer
) -> int:
    daemon_arg, client_arg = args.operands
    problem = inetd.check_real_daemon_dir(REAL_DAEMON_DIR)
    if problem is not None:
        printer.warn(problem)
    for message in inetd.world_writable(REAL_DAEMON_DIR):
        printer.warn(message)
    cut = split_at(daemon_arg, "@")
    daemon, server = (daemon_arg, None) if cut is None else cut
    if daemon.startswith("/"):
        normalized = daemon.rsplit("/", 1)[1]
        printer.warn(f"{daemon}: daemon name normalized to: {normalized}")
        daemon = normalized
    user_cut = split_at(client_arg, "@")
    user, client = (None, client_arg) if user_cut is None else user_cut

    if not inetd_check(args, daemon, printer):
        return 1
    for path in (allow, deny):
        for message in inetd.world_writable(path):
            printer.warn(message)

    server_endpoint = Endpoint(name=UNKNOWN)
    if server is not None:
        if fold(server) in (UNKNOWN, PARANOID):
            server_endpoint = Endpoint(name=server)
        else:
            found = find_inet_addr(server, timeout=args.timeout)
            for text in found.warnings:
                printer.warn(text)
            if not found.found:
                return 1
            if len(found.addresses) > 1:
                printer.close()
                sys.stderr.write(
                    f"Error: {server} has more than one address\n"
                    "Please specify an address instead\n"
                )
                return 1
            server_endpoint = Endpoint(
                addr=found.addresses[0], port=0, name=_verified(found.addresses[0], args, printer)
            )

    policy = load_policy(allow, deny, language)
    env = SystemEnvironment()
    mode = Mode(dry_run=True, verbose=True, header=True)
    pid = os.getpid()

    def one(client_endpoint: Endpoint) -> None:
        conn = Connection(daemon, client_endpoint, server_endpoint, user=user, pid=pid)
        decision = evaluate(policy, conn, mode, env)
        printer.prediction(decision, decision_record(decision))
        if language is Language.CLASSIC and printer.mode == "inline":
            for action in decision.actions:
                if isinstance(action, Spawn) and action.origin == "classic":
                    printer.text(f"command: {action.command}")

    if dot_quad_addr(client) != INADDR_NONE or parse_ipv6(client) is not None:
        one(Endpoint(addr=client))
        return 0
    if fold(client) in (UNKNOWN, PARANOID):
        one(Endpoint(name=client))
        return 0
    found = find_inet_addr(client, timeout=args.timeout)
    for text in found.warnings:
        printer.warn(text)
    if not found.found:
        return 1
    for address in found.addresses:
        one(Endpoint(addr=address, port=0, name=_verified(address, args, printer)))
    return 0


def _verified(address: str, args: argparse.Namespace, printer: Printer) -> str:
    """The name tcpdmatch evaluates for an address it looked up, with its warnings."""
    lookup = verify_host_name(address, timeout=args.timeout)
    for text in lookup.warnings:
        printer.warn(text)
    name = lookup.name.text()
    if fold(name) == UNKNOWN:
        printer.warn(f"host address {address}->name lookup failed")
    return name


def inetd_check(args: argparse.Namespace, daemon: str, printer: Printer) -> bool:
    """tcpdmatch's inetd.conf analysis: warn about unknown, unwrapped or miswrapped daemons."""
    analysis = inetd.analyze_inetd(
        args.inetd_conf, real_daemon_dir=REAL_DAEMON_DIR, for_check=False
    )
    if analysis.open_error is not None:
        printer.close()
        sys.stderr.write(f"open {args.inetd_conf}: {analysis.open_error}\n")
        return False
    for diag in analysis.warnings:
        printer.diagnostic(diag)
    message = inetd.daemon_warning(analysis, daemon)
    if message is not None:
        printer.warn(message)
    return True
