"""`check_policy`: both tables, line by line, through every check, in tcpdchk's order.

What it does: reads hosts.allow then hosts.deny with `lines.check_lines` (every line, also
after a line that makes tcpd stop), and for each rule line emits tcpdchk's `-v` listing, the
silent traps (traps.py), tcpdchk's pattern checks (patterns.py), the option dry run
(options.py) and the shadowing report (shadow.py), in that order; returns the events.

Hazards: none here (pure): the system is asked through the `Probe`. A missing table is empty
(a warning only when it was named explicitly); an unreadable one is an error (tcpd denies).
Errors: none raised; everything is an event.
"""

from __future__ import annotations

import re

from tcpwrap.errors import Origin
from tcpwrap.policy.check.events import Event, Report
from tcpwrap.policy.check.lines import CheckLine, check_lines
from tcpwrap.policy.check.options import dry_run, third_field_hints
from tcpwrap.policy.check.patterns import PatternChecks
from tcpwrap.policy.check.probe import PROGRESS_EVERY, CheckOptions, Probe, TableInput
from tcpwrap.policy.check.shadow import ANY, Seen, ShadowIndex, report_shadow
from tcpwrap.policy.check.traps import (
    line_traps,
    list_shape,
    nul_bytes,
    stop_explanation,
    swallowing_comment,
)
from tcpwrap.policy.cstr import fold, split_at
from tcpwrap.policy.patterns import split_list
from tcpwrap.policy.rules import parse_rule
from tcpwrap.policy.tables import read_lines

_LISTING_SEPARATORS = re.compile(r"[, \t\n]+")
# A DenyHosts/fail2ban line, `daemon: a.b.c.d`: no option, one plain daemon name, one
# canonical address (what tcpd compares with). Such lines take the fast path (`_plain_rule`),
# which gives exactly the events of the full path (a property test compares them).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_RULE = re.compile(
    rf"([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|[A-Za-z0-9_])[ \t]*:[ \t]*"
    rf"({_OCTET}(?:\.{_OCTET}){{3}})[ \t]*\n"
)
_NOT_PLAIN_DAEMONS = frozenset({"except", "fail", "known", "paranoid", "local"})


def listing_tokens(text: str) -> str:
    return " ".join(tok for tok in _LISTING_SEPARATORS.split(text) if tok)


def _tcpdchk_tokens(text: str) -> list[str]:
    """strtok(list, ", \t\n"): tcpdchk's separators (not "\r", unlike hosts_access)."""
    return [tok for tok in _LISTING_SEPARATORS.split(text) if tok]


def _listed(cl: CheckLine, options: CheckOptions) -> int:
    """The line number in the `-v` listing: tcpdchk's in --debian mode, else the physical."""
    return cl.line if options.debian else cl.last


def check_policy(
    allow: TableInput, deny: TableInput, probe: Probe, options: CheckOptions | None = None
) -> list[Event]:
    """All findings and listing lines for a pair of tables, in tcpdchk's order."""
    options = options or CheckOptions()
    report = Report(verbose=options.verbose, debian=options.debian)
    patterns = PatternChecks(report, probe, options.progress)
    allow_seen = ShadowIndex()  # the allow table's live rules, which can shadow deny rules
    _table(report, patterns, allow, probe, options, allow_seen, allow_seen)
    _table(report, patterns, deny, probe, options, ShadowIndex(), allow_seen)
    return report.events


def _table(
    report: Report,
    patterns: PatternChecks,
    table: TableInput,
    probe: Probe,
    options: CheckOptions,
    seen: ShadowIndex,
    allow_seen: ShadowIndex,
) -> None:
    """Check one table; `seen` collects its live rules."""
    source = table.source
    report.at(table.path, None)
    if source.error is not None:
        report.error(f"cannot open {table.path}: {source.error}")
        return
    if source.data is None:
        if table.explicit:
            report.extra_warn(
                f"{table.path}: no such file (tcpd treats a missing table as empty)"
            )
        return
    lines = check_lines(source.data, resync=not options.debian)
    # Where tcpd stops reading (at the first line with a problem: a property test checks it).
    stop = read_lines(source.data).stop if any(cl.problem for cl in lines) else None
    progress = options.progress
    plain = [
        _PLAIN_RULE.fullmatch(cl.text) if cl.first == cl.last and cl.problem is None else None
        for cl in lines
    ]
    probe.prefetch([found[2] for found in plain if found is not None])
    for index, cl in enumerate(lines):
        if progress is not None and not index % PROGRESS_EVERY:
            progress(table.path, index, len(lines))
        if cl.nuls:
            nul_bytes(report, table, cl.nuls)
        if cl.problem is not None:
            report.at(table.path, cl.line, cl.first)
            report.warn("missing newline or line too long")
            if stop is not None and cl.first == stop.physical:
                report.extra_error(stop_explanation(table, cl, stop.line, lines[index + 1 :]))
            continue
        if cl.comment:
            swallowing_comment(report, table, cl)
            continue
        if cl.blank:
            continue
        found = plain[index]
        if found is not None and fold(found[1]) not in _NOT_PLAIN_DAEMONS:
            live = stop is None or cl.last < stop.physical
            _plain_rule(report, patterns, table, options, cl, found[1], found[2], live, seen,
                        allow_seen)
            continue
        report.at(table.path, cl.line, cl.last)
        line_traps(report, cl)
        rule = parse_rule(cl.text, Origin(table.path, cl.line, cl.last), options.language)
        if rule is None:
            report.warn('missing ":" separator')
            continue
        first = split_at(cl.text, ":")
        assert first is not None
        daemons_text, rest = first
        second = split_at(rest, ":")
        clients_text = rest if second is None else second[0]
        report.listing("")
        report.listing(f">>> Rule {table.path} line {_listed(cl, options)}:")
        report.listing(f"daemons:  {listing_tokens(daemons_text)}")
        report.listing(f"clients:  {listing_tokens(clients_text)}")
        if options.debian:  # tcpdchk's own separators: a CRLF line's "\r" stays in its token
            daemons, clients = _tcpdchk_tokens(daemons_text), _tcpdchk_tokens(clients_text)
        else:
            daemons, clients = split_list(daemons_text), split_list(clients_text)
        patterns.daemon_list(daemons)
        patterns.client_list(clients)
        list_shape(report, daemons, "daemon")
        list_shape(report, clients, "client")
        verdict, implicit = dry_run(report, table, rule, probe, options)
        if implicit and options.implicit_allow:
            report.warn('implicit "allow" at end of rule')
        third_field_hints(report, rule, options.language)
        live = stop is None or cl.last < stop.physical
        if live and not options.debian:
            aclexec = any(step.name == "aclexec" for step in rule.options or ())
            me = Seen(table.path, cl.last, tuple(daemons), tuple(clients), aclexec)
            report_shadow(report, me, table.role, seen, allow_seen)
        report.listing(f"access:   {verdict}")
    if progress is not None:
        progress(table.path, len(lines), len(lines))


def _plain_rule(
    report: Report,
    patterns: PatternChecks,
    table: TableInput,
    options: CheckOptions,
    cl: CheckLine,
    daemon: str,
    address: str,
    live: bool,
    seen: ShadowIndex,
    allow_seen: ShadowIndex,
) -> None:
    """The events of the full path for a `daemon: a.b.c.d` line, without parsing it: no
    traps, no list-shape or option findings are possible; a dry run without options grants
    in the allow table (implicitly) and denies in the deny table."""
    report.at(table.path, cl.line, cl.last)
    if report.verbose:
        report.listing("")
        report.listing(f">>> Rule {table.path} line {_listed(cl, options)}:")
        report.listing(f"daemons:  {daemon}")
        report.listing(f"clients:  {address}")
    patterns.plain_rule(daemon, address)
    allow = table.role == "allow"
    if allow and options.implicit_allow:
        report.warn('implicit "allow" at end of rule')
    if live and not options.debian:
        folded = fold(daemon)
        me = Seen(table.path, cl.last, (daemon,), (address,), False)
        key = (ANY if folded == "all" else folded, address)
        report_shadow(report, me, table.role, seen, allow_seen, key)
    if report.verbose:
        report.listing(f"access:   {'granted' if allow else 'denied'}")
