"""`tcpwrap diff`: what changes between two pairs of tables, rule by rule and client by client.

What it does: `tcpwrap diff OLD_DIR NEW_DIR` (hosts.allow and hosts.deny in each) or
`--old-allow/--old-deny/--new-allow/--new-deny` lists the rules added, removed and changed
(same daemon and client lists, other third field) per table, then decides the same requests
under both policies and lists those whose outcome differs, with the deciding rule on each side:
the clients of `--logs` (fields as logged, tools.replay_logs; a request either side cannot decide
is counted as undecidable with the reason) and a sample that exercises every pattern of either
table (policy.sample). Exit status: 0 no outcome differs, 1 some does, 2 an error.

Hazards: the tables' /file lists are read as they are now (both policies see the same files).
`--lookups` as in replay. Log text is hostile and is escaped on output.
Errors: usage and table problems are a message on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from contextlib import ExitStack
from typing import Any

from tcpwrap._record import record
from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.errors import Origin
from tcpwrap.policy.rules import Language, Rule, Table
from tcpwrap.policy.sample import sample
from tcpwrap.report.inputs import Inputs
from tcpwrap.report.model import NOT_A_HOST, Stats  # tcpd's words for "no usable name"
from tcpwrap.report.render_text import clean
from tcpwrap.tools.replay import ReplayError, add_common, lookups_of, read_policy, warn_tables
from tcpwrap.tools.replay_logs import logged_records
from tcpwrap.tools.replay_tally import rule_text
from tcpwrap.tools.replaying import Missing, Replayed, Replayer

MAX_LISTED = 10_000
Fields = tuple[str, str | None, str | None, str | None]  # daemon, addr, name, user


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare two pairs of tables: rules added, removed or changed, and the requests "
        "(from --logs and a sample exercising every pattern) whose outcome differs. "
        "Exit status 0: no outcome differs, 1: some does, 2: an error."
    )
    parser.add_argument("dirs", nargs="*", metavar="DIR",
                        help="OLD_DIR NEW_DIR, each with hosts.allow and hosts.deny")
    for side in ("old", "new"):
        for table in ("allow", "deny"):
            parser.add_argument(f"--{side}-{table}", metavar="FILE",
                                help=f"the {side} hosts.{table} (instead of {side.upper()}_DIR)")
    parser.add_argument("--logs", action="append", default=[], metavar="LOG",
                        help="also decide the connection records of this log (repeatable)")
    parser.add_argument("--no-sample", action="store_true",
                        help="only the requests of --logs, no generated sample")
    add_common(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _paths(args: argparse.Namespace) -> tuple[str, str, str, str]:
    dirs: list[str] = args.dirs
    if len(dirs) not in (0, 2):
        raise ReplayError("give OLD_DIR NEW_DIR, or --old-allow/--old-deny/--new-allow/--new-deny")
    found: list[str] = []
    for i, side in enumerate(("old", "new")):
        for table in ("allow", "deny"):
            given = getattr(args, f"{side}_{table}")
            if given is None and dirs:
                given = os.path.join(dirs[i], f"hosts.{table}")
            if given is None:
                raise ReplayError(f"no {side} hosts.{table}: give {side.upper()}_DIR or "
                                  f"--{side}-{table}")
            found.append(given)
    return found[0], found[1], found[2], found[3]


# ----------------------------------------------------------------------------- rules


@record(frozen=True, slots=True)
class RuleChange:
    change: str  # "added", "removed", "changed"
    table: str  # "allow" or "deny"
    old: Rule | None
    new: Rule | None


def _key(rule: Rule) -> tuple[tuple[str, ...], tuple[str, ...]]:
    daemons = tuple(t.lower() for t in rule.daemons.tokens)
    return daemons, tuple(t.lower() for t in rule.clients.tokens)


def _third(rule: Rule) -> str:
    return " ".join((rule.third or "").split())


def rule_changes(name: str, old: Table, new: Table) -> list[RuleChange]:
    """Rules of `new` not in `old` (added), of `old` not in `new` (removed), and rules with the
    same daemon and client lists whose third field differs (changed), in line order."""
    olds: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Rule]] = {}
    for rule in old.rules:
        olds.setdefault(_key(rule), []).append(rule)
    changes: list[RuleChange] = []
    unmatched: list[Rule] = []
    for rule in new.rules:
        same = olds.get(_key(rule))
        if not same:
            unmatched.append(rule)
            continue
        exact = next((r for r in same if _third(r) == _third(rule)), None)
        was = exact if exact is not None else same[0]
        same.remove(was)
        if exact is None:
            changes.append(RuleChange("changed", name, was, rule))
    changes += [RuleChange("added", name, None, rule) for rule in unmatched]
    changes += [RuleChange("removed", name, r, None) for rules in olds.values() for r in rules]
    return sorted(changes, key=_line)


def _line(change: RuleChange) -> int:
    rule = change.new if change.new is not None else change.old
    return 0 if rule is None else rule.origin.line


# ----------------------------------------------------------------------------- verdicts


@record(frozen=True, slots=True)
class Difference:
    daemon: str
    addr: str | None
    name: str | None
    user: str | None
    old: Replayed
    new: Replayed
    source: str  # "sample" or "log"


def _rule(origin: Origin | None) -> str:
    return rule_text(origin)


def _client(d: Difference) -> str:
    name = d.name if d.name and d.name.lower() not in NOT_A_HOST else None
    who = name or d.addr or "unknown"
    if name and d.addr:
        who += f" ({d.addr})"
    elif d.name and d.addr:
        who += f" (name {d.name})"
    return f"{d.user}@{who}" if d.user and d.user != "unknown" else who


def run(args: argparse.Namespace) -> int:
    old_allow, old_deny, new_allow, new_deny = _paths(args)
    language = Language(args.language)
    old_policy = read_policy(old_allow, old_deny, language)
    new_policy = read_policy(new_allow, new_deny, language)
    warn_tables(old_policy, "diff")
    warn_tables(new_policy, "diff")
    env = SystemEnvironment()
    lookups = lookups_of(args)
    changes = rule_changes("allow", old_policy.allow, new_policy.allow) + rule_changes(
        "deny", old_policy.deny, new_policy.deny)
    differences: list[Difference] = []
    counts: Counter[str] = Counter()
    reasons: Counter[Missing] = Counter()
    more = 0

    def compare(old: Replayed, new: Replayed, fields: Fields, source: str) -> None:
        nonlocal more
        counts[source] += 1
        if old.outcome is None or new.outcome is None:
            counts["undecidable"] += 1
            missing = old.missing if old.outcome is None else new.missing
            assert missing is not None  # a Replayed without an outcome says what was missing
            reasons[missing] += 1
            return
        if old.outcome is new.outcome:
            return
        counts["differ"] += 1
        if len(differences) < MAX_LISTED:
            differences.append(Difference(*fields, old, new, source))
        else:
            more += 1

    cut = False
    if not args.no_sample:
        sampled = (Replayer(old_policy, env, server_logged=True),
                   Replayer(new_policy, env, server_logged=True))
        probes, cut = sample((old_policy, new_policy))
        for p in probes:
            probe: Fields = (p.daemon, p.addr, p.name, p.user)
            compare(sampled[0].decide(*probe), sampled[1].decide(*probe), probe, "sample")
    stats = Stats()
    if args.logs:
        logged = (Replayer(old_policy, env, lookups), Replayer(new_policy, env, lookups))
        seen: set[Fields] = set()
        with ExitStack() as stack:
            logs = Inputs.build(args.logs, args.year, args.tz)
            for record in logged_records(logs, stats, stack):
                fields = (record.daemon, record.addr, record.name, record.user)
                if fields in seen or len(seen) >= 1_000_000:
                    continue
                seen.add(fields)
                compare(logged[0].decide(*fields), logged[1].decide(*fields), fields, "log")
    for problem in stats.problems:
        sys.stderr.write(f"tcpwrap diff: {clean(problem)}\n")
    tables = (old_allow, old_deny, new_allow, new_deny)
    if args.json:
        sys.stdout.write(_json(changes, differences, counts, reasons, more, cut, tables))
    else:
        sys.stdout.write(_text(changes, differences, counts, reasons, more, cut))
    if stats.problems:
        return 2
    return 1 if counts["differ"] else 0


def _change_json(c: RuleChange) -> dict[str, Any]:
    return {
        "change": c.change,
        "table": c.table,
        "old": None if c.old is None else {"rule": _rule(c.old.origin), "text": c.old.text},
        "new": None if c.new is None else {"rule": _rule(c.new.origin), "text": c.new.text},
    }


def _json_rule(origin: Origin | None) -> str | None:
    return None if origin is None else _rule(origin)


def _difference_json(d: Difference) -> dict[str, Any]:
    assert d.old.outcome is not None and d.new.outcome is not None
    return {
        "daemon": d.daemon,
        "client_addr": d.addr,
        "client_name": d.name,
        "user": d.user,
        "old": d.old.outcome.value,
        "old_rule": _json_rule(d.old.origin),
        "new": d.new.outcome.value,
        "new_rule": _json_rule(d.new.origin),
        "from": d.source,
    }


def _json(changes: list[RuleChange], differences: list[Difference], counts: Counter[str],
          reasons: Counter[Missing], more: int, cut: bool, tables: tuple[str, ...]) -> str:
    document = {
        "tables": dict(zip(("old_allow", "old_deny", "new_allow", "new_deny"), tables,
                           strict=True)),
        "rules": [_change_json(c) for c in changes],
        "requests": {"sample": counts["sample"], "log": counts["log"],
                     "differ": counts["differ"], "undecidable": counts["undecidable"]},
        "undecidable_reasons": {m.value: n for m, n in reasons.most_common()},
        "differences": [_difference_json(d) for d in differences],
        "differences_not_listed": more,
        "sample_cut": cut,
    }
    return json.dumps(document, indent=2) + "\n"


def _text(changes: list[RuleChange], differences: list[Difference], counts: Counter[str],
          reasons: Counter[Missing], more: int, cut: bool) -> str:
    out = [f"Rules ({len(changes)} change{'s' if len(changes) != 1 else ''}):"]
    for c in changes:
        if c.change == "changed":
            assert c.old is not None and c.new is not None
            out.append(f"  changed {_rule(c.old.origin)} -> {_rule(c.new.origin)}")
            out.append(f"      - {clean(c.old.text)}")
            out.append(f"      + {clean(c.new.text)}")
        else:
            rule = c.new if c.new is not None else c.old
            assert rule is not None
            out.append(f"  {c.change:<7} {_rule(rule.origin)}: {clean(rule.text)}")
    out.append("")
    tried = f"{counts['sample']} sampled" + (" (cut short)" if cut else "")
    tried += f", {counts['log']} from logs"
    out.append(f"Requests whose outcome differs: {counts['differ']} of {tried}")
    for d in differences:
        assert d.old.outcome is not None and d.new.outcome is not None
        out.append(
            f"  {clean(d.daemon)} from {clean(_client(d))} [{d.source}]: "
            f"{d.old.outcome.value} by {_rule(d.old.origin)} -> "
            f"{d.new.outcome.value} by {_rule(d.new.origin)}"
        )
    if more:
        out.append(f"  ... and {more} more")
    if counts["undecidable"]:
        out.append(f"Undecidable from logs: {counts['undecidable']}")
        for reason, n in reasons.most_common():
            out.append(f"  {n:>8}  {reason.value}")
    return "\n".join(out) + "\n"
