"""`tcpwrap check`: lint hosts.allow/hosts.deny and the inetd configuration (tcpdchk, SPEC 7.2).

What it does: reads the inetd (or xinetd) configuration and both tables and prints every
finding of `tcpwrap.policy.check` as `warning: <file>, line <n>: <msg>` / `error: ...` on stdout,
in tcpdchk's order; `-v` adds tcpdchk's listing (`Using network configuration file: ...`,
`>>> Rule ...`, daemons/clients/access) with the findings inline where they arise, `-a` reports
implicit allows. `--json` prints only the findings as a JSON list of {file, line, severity,
message}; `--debian` prints exactly Debian's stdout and sends the findings to syslog (ident
`tcpdchk`) as Debian does. Exit status: 1 when any finding is an error (see docs/check.md),
when the inetd file given with -i cannot be opened, or on a usage error; 0 otherwise.

Hazards: host patterns are looked up in DNS (with `--timeout`; `--no-dns` skips these checks),
netgroups through NSS, and `/file` lists are read; nothing is executed and, unlike Debian's
tcpdchk, `user`/`group` options never change our own credentials (names are only validated).
Errors: usage problems print tcpdchk's usage on stderr (exit 1); everything about the files is
a finding, never an exception.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import IO, NoReturn

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.inetd import (
    REAL_DAEMON_DIR,
    InetdAnalysis,
    analyze_inetd,
    check_real_daemon_dir,
    world_writable,
)
from tcpwrap.drivers.lookup import find_inet_addr, verify_host_name
from tcpwrap.drivers.tables import read_table
from tcpwrap.errors import Diagnostic, Kind
from tcpwrap.policy.check import (
    CheckOptions,
    Event,
    HostCheck,
    Listing,
    TableInput,
    check_policy,
    finding,
    is_problem,
)
from tcpwrap.policy.environment import Environment
from tcpwrap.policy.facts import UnknownName
from tcpwrap.policy.rules import Language

USAGE = (
    "usage: tcpdchk [-a] [-d] [-i inet_conf] [-v]\n"
    '\t-a: report rules with implicit "ALLOW" at end\n'
    "\t-d: use allow/deny files in current directory\n"
    "\t-i: location of inetd.conf file\n"
    "\t-v: list all rules\n"
)
HOSTS_ALLOW = "/etc/hosts.allow"
HOSTS_DENY = "/etc/hosts.deny"
LOOKUP_TIMEOUT = 5.0
DNS_LIMIT = 1000
PATTERN_FILE_LIMIT = 16 * 1024 * 1024


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"tcpwrap check: {message}\n{USAGE}")
    sys.exit(1)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.usage = "tcpwrap check [-a] [-d] [-i inet_conf] [-v] [options]"
    setattr(parser, "error", _usage_error)  # noqa: B010 - tcpdchk's usage text and status 1
    parser.add_argument("-a", dest="implicit_allow", action="store_true",
                        help='report rules with implicit "ALLOW" at end')
    parser.add_argument("-d", dest="here", action="store_true",
                        help="use hosts.allow and hosts.deny in the current directory")
    parser.add_argument("-i", dest="inetd_conf", metavar="inet_conf",
                        help="location of the inetd.conf (or xinetd.conf) file")
    parser.add_argument("-v", dest="verbose", action="store_true", help="list all rules")
    parser.add_argument("--allow", metavar="FILE",
                        help="the allow table (default /etc/hosts.allow)")
    parser.add_argument("--deny", metavar="FILE", help="the deny table (default /etc/hosts.deny)")
    parser.add_argument("--language", choices=[lang.value for lang in Language],
                        default=Language.OPTIONS.value,
                        help="meaning of the third field: hosts_options(5) or a shell command")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true",
                     help="print the findings as a JSON list of {file, line, severity, message}")
    out.add_argument("--debian", action="store_true",
                     help="stdout exactly as Debian's tcpdchk; findings go to syslog")
    parser.add_argument("--real-daemon-dir", default=REAL_DAEMON_DIR, metavar="DIR",
                        help="where tcpd finds the real daemons (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=LOOKUP_TIMEOUT,
                        help="DNS lookup timeout in seconds (default %(default)s)")
    parser.add_argument("--no-dns", action="store_true",
                        help="skip the DNS checks of host patterns")
    parser.add_argument("--dns-limit", type=int, default=DNS_LIMIT, metavar="N",
                        help="look up at most N distinct host patterns (0: no limit; "
                             "default %(default)s)")


class SystemProbe:
    """The facts `policy.check` asks for, from this system (DNS, NSS, files, inetd.conf)."""

    def __init__(
        self,
        analysis: InetdAnalysis,
        *,
        timeout: float = LOOKUP_TIMEOUT,
        dns: bool = True,
        limit: int = DNS_LIMIT,
        env: SystemEnvironment | None = None,
    ) -> None:
        self.analysis = analysis
        self.timeout = timeout
        self.dns_enabled = dns
        self.limit = limit
        self.skipped = 0  # lookups not done because of the limit
        self._env = env if env is not None else SystemEnvironment()
        self._dns: dict[str, HostCheck] = {}

    @property
    def inetd_file(self) -> str:
        return self.analysis.shown_file

    @property
    def env(self) -> Environment:
        return self._env

    def dns(self, host: str) -> HostCheck | None:
        if not self.dns_enabled:
            return None
        cached = self._dns.get(host)
        if cached is None:
            if self.limit and len(self._dns) >= self.limit:
                self.skipped += 1
                return None
            cached = self._dns[host] = self._lookup(host)
        return cached

    def _lookup(self, host: str) -> HostCheck:
        found = find_inet_addr(host, timeout=self.timeout)
        warnings = list(found.warnings)
        for address in found.addresses:
            lookup = verify_host_name(address, timeout=self.timeout)
            warnings.extend(lookup.warnings)
            if isinstance(lookup.name, UnknownName):
                warnings.append(f"host address {address}->name lookup failed")
        return HostCheck(len(found.addresses), tuple(warnings))

    def netgroup_empty(self, group: str) -> bool:
        return not self._env.netgroup_members(group)

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(PATTERN_FILE_LIMIT)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return []
        except OSError as exc:
            return os.strerror(exc.errno) if exc.errno else str(exc)
        return [line.decode("latin-1").split() for line in data.split(b"\n")]

    def daemon_status(self, daemon: str) -> str | None:
        return self.analysis.status(daemon)


class Progress:
    """`check`'s progress line on a terminal: shown once a check has run for a second,
    rewritten in place, erased at the end."""

    DELAY = 1.0

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.shown = False

    def __call__(self, path: str, done: int, total: int) -> None:
        if not self.shown and time.monotonic() - self.start < self.DELAY:
            return
        self.shown = True
        name = "".join(c if c.isprintable() else "?" for c in path)
        self.stream.write(f"\r\x1b[Ktcpwrap check: {name}: line {done:,} of {total:,}")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def table_paths(args: argparse.Namespace) -> tuple[str, str]:
    if args.here:
        return args.allow or "hosts.allow", args.deny or "hosts.deny"
    return args.allow or HOSTS_ALLOW, args.deny or HOSTS_DENY


def collect(
    args: argparse.Namespace, analysis: InetdAnalysis, progress: Progress | None = None
) -> list[Event]:
    """Every event of a check run, in order."""
    allow, deny = table_paths(args)
    events: list[Event] = []
    if args.verbose:
        events.append(Listing(f"Using network configuration file: {analysis.shown_file}"))
    problem = check_real_daemon_dir(args.real_daemon_dir)
    if problem is not None:
        events.append(finding(Kind.WARNING, problem))
    for diag in analysis.warnings:
        origin = diag.origin
        events.append(finding(Kind.WARNING, diag.message,
                              origin.file if origin else analysis.file,
                              origin.line if origin else None))
    for path in (allow, deny):
        events.extend(finding(Kind.WARNING, text, path) for text in world_writable(path))
    probe = SystemProbe(analysis, timeout=args.timeout, dns=not args.no_dns,
                        limit=args.dns_limit)
    options = CheckOptions(Language(args.language), args.implicit_allow, args.verbose,
                           os.getpid(), progress)
    events.extend(check_policy(
        TableInput(allow, read_table(allow), "allow", explicit=args.allow is not None),
        TableInput(deny, read_table(deny), "deny", explicit=args.deny is not None),
        probe,
        options,
    ))
    if probe.skipped:
        events.append(finding(Kind.WARNING, (
            f"DNS checks stopped after {args.dns_limit} distinct host patterns; "
            f"{probe.skipped} more were not looked up (--dns-limit 0 checks them all)"
        )))
    return events


def render(events: list[Event], out: IO[str], *, mode: str) -> None:
    """mode: "inline" (ours), "json" or "debian" (listing on stdout, findings to syslog)."""
    if mode == "json":
        records = [as_json(e) for e in events if is_problem(e)]
        out.write(json.dumps(records, indent=2) + "\n")
        return
    log = _syslog() if mode == "debian" else None
    for event in events:
        if isinstance(event, Listing):
            out.write(event.text + "\n")
        elif log is not None:
            import syslog

            priority = syslog.LOG_DEBUG if event.kind is Kind.DEBUG else syslog.LOG_ERR
            log(priority, event.render())
        else:
            out.write(event.render() + "\n")
    out.flush()


def as_json(finding: Diagnostic) -> dict[str, object]:
    """One finding as `--json` prints it: {file, line, severity, message}."""
    return {
        "file": finding.path,
        "line": finding.line,
        "severity": finding.kind.value,
        "message": finding.message,
    }


def _syslog() -> Callable[[int, str], None]:
    import syslog

    syslog.openlog("tcpdchk", 0, syslog.LOG_USER)
    return syslog.syslog


def run(args: argparse.Namespace) -> int:
    analysis = analyze_inetd(args.inetd_conf, real_daemon_dir=args.real_daemon_dir,
                             for_check=True)
    if analysis.open_error is not None:
        sys.stderr.write(f"open {args.inetd_conf}: {analysis.open_error}\n")
        return 1
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        events = collect(args, analysis, progress)
    finally:
        if progress is not None:
            progress.close()
    mode = "json" if args.json else "debian" if args.debian else "inline"
    render(events, sys.stdout, mode=mode)
    return 1 if any(isinstance(e, Diagnostic) and e.kind is Kind.ERROR for e in events) else 0
