"""`tcpwrap replay`: what would proposed tables do to the connections we actually had?

What it does: reads connection logs (every format `tcpwrap report` reads, .gz, `-` = stdin),
decides each connection record again under `--allow`/`--deny` with the fields as the log
recorded them (tools.replaying), and prints a summary (records, unchanged, to denied, to
granted, undecidable with the reason) and the flips grouped by the new deciding rule and by
client (tools.replay_tally). `--json` for machines. Exit status: 0 nothing flips, 1 something
flips, 2 an error (an unreadable log or table, a bad option): a CI gate for a repository of
tables.

Hazards: logs are hostile (see replay_logs). `--lookups` sends DNS queries for logged
addresses and names, each bounded by `--timeout`; without it nothing leaves the machine.
Errors: usage and table problems are a message on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.gcpause import paused_gc
from tcpwrap.drivers.tables import load_policy
from tcpwrap.errors import TcpwrapError
from tcpwrap.policy.rules import Language, Policy
from tcpwrap.report.inputs import Inputs, add_options
from tcpwrap.report.model import Stats
from tcpwrap.report.render_text import clean
from tcpwrap.tools.replay_logs import Describe, Fields, events
from tcpwrap.tools.replay_tally import Tally, json_text, text
from tcpwrap.tools.replaying import (
    MEMO_LIMIT,
    Lookups,
    Outcome,
    Replayed,
    Replayer,
    dns_lookups,
)

DEFAULT_TIMEOUT = 2.0


class ReplayError(TcpwrapError):
    """A usage problem of replay or diff (missing table, bad option)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Decide the connections of logs again under proposed tables and show which would "
        "flip. Exit status 0: nothing flips, 1: something flips, 2: an error."
    )
    parser.add_argument("logs", nargs="*", metavar="LOG",
                        help="log files, plain or gzip; '-' or none reads stdin")
    parser.add_argument("--allow", required=True, metavar="FILE", help="the proposed hosts.allow")
    parser.add_argument("--deny", required=True, metavar="FILE", help="the proposed hosts.deny")
    add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options replay and diff share: table language, log years and zone, lookups."""
    parser.add_argument("--language", choices=[lang.value for lang in Language],
                        default=Language.OPTIONS.value,
                        help="meaning of the third field: hosts_options(5) or a shell command")
    add_options(parser)  # --year, --tz, as report reads them
    parser.add_argument("--lookups", action="store_true",
                        help="ask DNS for client names (and addresses) the log lacks")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per DNS lookup with --lookups (default {DEFAULT_TIMEOUT:g})")


def read_policy(allow: str, deny: str, language: Language) -> Policy:
    """The compiled tables; a table that does not exist or cannot be read is an error here
    (tcpd reads a missing table as empty, but a gate must not pass on a typo)."""
    for path in (allow, deny):
        if not os.path.exists(path):
            raise ReplayError(f"{path}: no such table (use /dev/null for an empty one)")
    policy = load_policy(allow, deny, language)
    for table in (policy.allow, policy.deny):
        if table.open_error is not None:
            raise ReplayError(f"cannot open {table.path}: {table.open_error}")
    return policy


def warn_tables(policy: Policy, command: str) -> None:
    """What tcpd would log about the tables (skipped lines, a table cut short) on stderr: a
    replay under tables that lose rules should say so (`tcpwrap check` says more)."""
    for table in (policy.allow, policy.deny):
        for _, note in table.notes:
            sys.stderr.write(f"tcpwrap {command}: {clean(note.render())}\n")
        if table.stop is not None:
            sys.stderr.write(
                f"tcpwrap {command}: warning: {table.path}, line {table.stop.line}: missing "
                "newline or line too long: all the subsequent rules will be ignored\n")


def lookups_of(args: argparse.Namespace) -> Lookups | None:
    if not args.lookups:
        return None
    if not 0 < args.timeout <= 60:
        raise ReplayError("--timeout must be more than 0 and at most 60 seconds")
    return dns_lookups(args.timeout)


def run(args: argparse.Namespace) -> int:
    policy = read_policy(args.allow, args.deny, Language(args.language))
    warn_tables(policy, "replay")
    replayer = Replayer(policy, SystemEnvironment(), lookups_of(args))
    inputs = Inputs.build(args.logs or ["-"], args.year, args.tz)
    paths = inputs.paths
    stats = Stats()
    tally = Tally(paths)
    decide = replayer.decide_once  # (memoised here, per event fields)
    describe = Describe()
    add = tally.add
    # Logs repeat clients: the work per record is one look-up of what the log said.
    memo: dict[tuple[str, str, str | None, str | None, str], tuple[Fields, Outcome, Replayed]]
    memo = {}
    # paused_gc: the memo and the flip groups grow by the hundred thousand and stay alive; the
    # cyclic collector would walk them again and again for nothing (nothing here makes cycles).
    with ExitStack() as stack, paused_gc():
        for event in events(inputs, stats, stack):
            key = (event.daemon, event.remote, event.addr, event.user, event.kind)
            known = memo.get(key)
            if known is None:
                described = describe(event)
                if described is None:
                    continue  # not a connection record (a name/address mismatch warning)
                fields, old = described
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                known = memo[key] = (fields, old, decide(*fields))
            add(known[0], known[1], known[2], event)
    for problem in stats.problems:
        sys.stderr.write(f"tcpwrap replay: {clean(problem)}\n")
    if args.json:
        sys.stdout.write(json_text(tally))
    else:
        sys.stdout.write(text(tally, f"{args.allow} and {args.deny}"))
    if stats.problems:
        return 2
    return 1 if tally.flipped else 0
