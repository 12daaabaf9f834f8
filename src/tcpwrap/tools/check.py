"""`tcpwrap check`: lint hosts.allow/hosts.deny and the inetd config (tcpdchk, docs/check.md).

What it does: reads the inetd (or xinetd) configuration and both tables and prints every
finding of `tcpwrap.policy.check` as `warning: <file>, line <n>: <msg>` / `error: ...` on stdout,
in tcpdchk's order; `-v` adds tcpdchk's listing (`Using network configuration file: ...`,
`>>> Rule ...`, daemons/clients/access) with the findings inline where they arise, `-a` reports
implicit allows. `--json` prints only the findings as a JSON list of {file, line, severity,
message}; `--debian` says exactly what Debian's tcpdchk says: its stdout, its findings only
(ours left out) sent to syslog (ident `tcpdchk`) with its line numbers, exit 0. Table bytes are
printed and logged as they are. On a terminal, a progress line on stderr after a second.
Exit status: 1 when any finding is an error (see docs/check.md; not with --debian), when the
inetd file given with -i cannot be opened, or on a usage error; 0 otherwise.

Hazards: host patterns are looked up in DNS (with `--timeout`, at most `--dns-limit` distinct
ones, ahead of the check: up to 16 at a time when answers come over the network;
`--no-dns` skips these checks),
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
import syslog
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import IO, NoReturn

from tcpwrap.drivers.environment import PATTERN_FILE_LIMIT, SystemEnvironment
from tcpwrap.drivers.gcpause import paused_gc
from tcpwrap.drivers.inetd import (
    REAL_DAEMON_DIR,
    InetdAnalysis,
    analyze_inetd,
    check_real_daemon_dir,
    world_writable,
)
from tcpwrap.drivers.logsink import log_bytes
from tcpwrap.drivers.lookup import find_inet_addr, verify_host_name
from tcpwrap.drivers.oserror import strerror
from tcpwrap.drivers.tables import read_table
from tcpwrap.errors import Diagnostic, Kind, Origin
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
from tcpwrap.policy.check.probe import PatternLines
from tcpwrap.policy.cstr import c_bytes, c_string
from tcpwrap.policy.environment import Environment
from tcpwrap.policy.facts import UnknownName
from tcpwrap.policy.patternfile import split_tokens, whole_tokens
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
PREFETCH_WORKERS = 16  # lookups in flight at once (each bounded by --timeout)
PREFETCH_MIN = 8  # fewer hosts than this are looked up as they are asked
LOCAL_LOOKUP = 0.00004  # s: a median lookup this fast is local (one prefetch worker is best)
PROBES = 9  # lookups timed one at a time before choosing the number of workers


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
    parser.add_argument("--dns-limit", type=int, default=None, metavar="N",
                        help=f"look up at most N distinct host patterns (0: no limit; "
                             f"default {DNS_LIMIT}, with --debian 0 as tcpdchk)")


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
        self._dns: dict[str, HostCheck] = {}  # answers given, in the order they were asked
        self._early: dict[str, HostCheck] = {}  # looked up ahead by prefetch, not yet asked

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
            early = self._early.pop(host, None)
            if early is None:
                early = self._lookup(host, self.timeout)
            cached = self._dns[host] = early
        return cached

    def prefetch(self, hosts: Sequence[str]) -> None:
        """Look up, in parallel, the hosts `dns` will be asked about next (the order of the
        answers and the limit stay those of `dns`: a host looked up here and never asked
        within the limit is dropped). A table of 100,000 banned addresses means 100,000
        reverse lookups for tcpdchk, one after the other.

        The workers call the resolver directly (no thread per lookup); an answer that took
        longer than --timeout is dropped, and so is any still running when the batch's time is
        up, so `dns` looks those up again with the timeout: the answers are the same.
        """
        if not self.dns_enabled:
            return
        room = self.limit - len(self._dns) if self.limit else len(hosts)
        todo: list[str] = []
        for host in dict.fromkeys(hosts):
            if len(todo) >= room:
                break
            if host not in self._dns and host not in self._early:
                todo.append(host)
        if len(todo) < PREFETCH_MIN:
            return
        # The first host alone (a dead DNS server costs one timeout), then a few more one at
        # a time: how fast they were answered says whether the answers are local
        # (/etc/hosts, ~20 us: more threads only fight over the GIL, one worker is fastest)
        # or come over the network (DNS, ~100 us from a resolver on this host, milliseconds
        # from others: many lookups in flight). The first also loads the resolver's modules.
        found: dict[str, HostCheck] = {}  # written by the workers (one key per host)
        took = self._batch(todo[:1], 1, found)
        probed = 1
        if took and took[0] < 100 * LOCAL_LOOKUP:
            took = self._batch(todo[1:PROBES], 1, found)
            probed = PROBES
        # (no answer in time, e.g. a dead DNS server: not local)
        local = bool(took) and len(took) >= probed - 1
        local = local and sorted(took)[len(took) // 2] < LOCAL_LOOKUP
        self._batch(todo[probed:], 1 if local else PREFETCH_WORKERS, found)
        for host in todo:
            answer = found.get(host)
            if answer is not None:
                self._early[host] = answer

    def _batch(self, hosts: list[str], workers: int, found: dict[str, HostCheck]) -> list[float]:
        """Look `hosts` up with `workers` threads, one task per worker walking its share (a
        task per host cost more in the executor's queue and locks than a lookup from
        /etc/hosts); answers into `found`. Returns how long each finished lookup took."""
        stop = threading.Event()
        took: list[float] = []
        pool = ThreadPoolExecutor(workers, thread_name_prefix="tcpwrap-check")
        futures = [pool.submit(self._timed_lookups, hosts[i::workers], found, took, stop)
                   for i in range(min(workers, len(hosts)))]
        wait(futures, timeout=self.timeout * (1 + len(hosts) / workers))
        stop.set()  # a worker still busy stops after its current lookup
        pool.shutdown(wait=False, cancel_futures=True)
        return list(took)

    def _timed_lookups(
        self, hosts: list[str], found: dict[str, HostCheck], took: list[float],
        stop: threading.Event,
    ) -> None:
        for host in hosts:
            if stop.is_set():
                return
            started = time.monotonic()
            answer = self._lookup(host, None)
            elapsed = time.monotonic() - started
            took.append(elapsed)
            if elapsed < self.timeout:  # a slower answer is dropped: `dns` asks again
                found[host] = answer

    def _lookup(self, host: str, timeout: float | None) -> HostCheck:
        """tcpdchk's check of one host pattern (timeout None: no deadline, no extra thread)."""
        found = find_inet_addr(host, timeout=timeout)
        warnings = list(found.warnings)
        for address in found.addresses:
            lookup = verify_host_name(address, timeout=timeout)
            warnings.extend(lookup.warnings)
            if isinstance(lookup.name, UnknownName):
                warnings.append(f"host address {address}->name lookup failed")
        return HostCheck(len(found.addresses), tuple(warnings))

    def netgroup_empty(self, group: str) -> bool:
        return not self._env.netgroup_members(group)

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        try:  # the name as the table's bytes spell it (up to a NUL, as fopen() sees it)
            with open(c_bytes(c_string(path)), "rb") as handle:
                data = handle.read(PATTERN_FILE_LIMIT + 1)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return []
        except OSError as exc:
            return strerror(exc)
        data, cut_at = whole_tokens(data, PATTERN_FILE_LIMIT)  # as the runtime reads it
        lines = PatternLines(split_tokens(line) for line in data.split(b"\n"))
        lines.cut_at = cut_at
        return lines

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
    # tcpdchk looks every host pattern up: so does --debian, unless told otherwise
    limit = args.dns_limit if args.dns_limit is not None else 0 if args.debian else DNS_LIMIT
    probe = SystemProbe(analysis, timeout=args.timeout, dns=not args.no_dns, limit=limit)
    options = CheckOptions(Language(args.language), args.implicit_allow, args.verbose,
                           os.getpid(), debian=args.debian, progress=progress)
    events.extend(check_policy(
        TableInput(allow, read_table(allow), "allow", explicit=args.allow is not None),
        TableInput(deny, read_table(deny), "deny", explicit=args.deny is not None),
        probe,
        options,
    ))
    if probe.skipped and not args.debian:
        events.append(finding(Kind.WARNING, (
            f"DNS checks stopped after {limit} distinct host patterns; "
            f"{probe.skipped} more were not looked up (--dns-limit 0 checks them all)"
        )))
    return events


def render(events: list[Event], out: IO[str], *, mode: str) -> None:
    """mode: "inline" (ours), "json" or "debian" (listing on stdout, findings to syslog).

    Table text is written as the bytes it was read from (decoded one byte per character),
    as tcpdchk prints and logs it; line numbers are the physical lines an editor shows,
    except in --debian mode (tcpdchk's numbers).
    """
    if mode == "json":
        records = [as_json(e) for e in events if is_problem(e)]
        out.write(json.dumps(records, indent=2) + "\n")
        return
    debian = mode == "debian"
    if debian:
        _open_syslog()
    for event in events:
        if isinstance(event, Listing):
            _write(out, event.text + "\n")
        elif debian:
            priority = syslog.LOG_DEBUG if event.kind is Kind.DEBUG else syslog.LOG_ERR
            log_bytes(priority, event.render())
        else:
            _write(out, physical(event).render() + "\n")
    out.flush()


def physical(diag: Diagnostic) -> Diagnostic:
    """`diag` placed at its physical line (what an editor shows) rather than tcpd's number."""
    origin = diag.origin
    if origin is None or origin.physical is None or origin.physical == origin.line:
        return diag
    return Diagnostic(diag.kind, diag.message, Origin(origin.file, origin.physical), diag.file)


def _write(out: IO[str], text: str) -> None:
    """Write `text` with table bytes (one character per byte) as the bytes themselves."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(text)
        return
    out.flush()
    buffer.write(text.encode("latin-1", "backslashreplace"))


def as_json(finding: Diagnostic) -> dict[str, object]:
    """One finding as `--json` prints it: {file, line, severity, message} (line: physical)."""
    finding = physical(finding)
    return {
        "file": finding.path,
        "line": finding.line,
        "severity": finding.kind.value,
        "message": finding.message,
    }


def _open_syslog() -> None:
    syslog.openlog("tcpdchk", 0, syslog.LOG_USER)


def run(args: argparse.Namespace) -> int:
    analysis = analyze_inetd(args.inetd_conf, real_daemon_dir=args.real_daemon_dir,
                             for_check=True)
    if analysis.open_error is not None:
        sys.stderr.write(f"open {args.inetd_conf}: {analysis.open_error}\n")
        return 1
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        # A 100,000-line table means ~a million live objects made in a row: without the
        # pause the cyclic collector walks them again and again (half of the check's time).
        with paused_gc():
            events = collect(args, analysis, progress)
    finally:
        if progress is not None:
            progress.close()
    mode = "json" if args.json else "debian" if args.debian else "inline"
    render(events, sys.stdout, mode=mode)
    sys.stdout.flush()
    if args.debian:
        return 0  # as tcpdchk: whatever it found
    return 1 if any(isinstance(e, Diagnostic) and e.kind is Kind.ERROR for e in events) else 0
