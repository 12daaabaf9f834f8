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
from tcpwrap.policy.check.lines import NO_NEWLINE, CheckLine, check_lines, plain_split
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
_BLANK = " \t\r\n"
# A DenyHosts/fail2ban line, `daemon: a.b.c.d`: no option, one plain daemon name, one
# canonical address (what tcpd compares with). Such lines take the fast path (`_plain_rule`),
# which gives exactly the events of the full path (a property test compares them).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_RULE = re.compile(
    rf"([A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|[A-Za-z0-9_])[ \t]*:[ \t]*"
    rf"({_OCTET}(?:\.{_OCTET}){{3}})[ \t]*\n"
)
_PLAIN_PIECE = re.compile(_PLAIN_RULE.pattern.removesuffix("\\n"))  # the line without "\n"
_NOT_PLAIN_DAEMONS = frozenset({"except", "fail", "known", "paranoid", "local"})


def listing_tokens(text: str) -> str:
    return " ".join(tok for tok in _LISTING_SEPARATORS.split(text) if tok)


def _tcpdchk_tokens(text: str) -> list[str]:
    """strtok(list, ", \t\n"): tcpdchk's separators (not "\r", unlike hosts_access)."""
    return [tok for tok in _LISTING_SEPARATORS.split(text) if tok]


def _listed(line: int, last: int, options: CheckOptions) -> int:
    """The line number in the `-v` listing: tcpdchk's in --debian mode, else the physical."""
    return line if options.debian else last


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
    walk = _Walk(report, patterns, table, probe, options, seen, allow_seen)
    split = plain_split(source.data)
    if split is None:
        walk.lines(check_lines(source.data, resync=not options.debian))
    else:
        walk.plain(*split)


class _Walk:
    """One table's lines through every check (the state the checks of a line share)."""

    def __init__(
        self,
        report: Report,
        patterns: PatternChecks,
        table: TableInput,
        probe: Probe,
        options: CheckOptions,
        seen: ShadowIndex,
        allow_seen: ShadowIndex,
    ) -> None:
        self.report = report
        self.patterns = patterns
        self.table = table
        self.probe = probe
        self.options = options
        self.seen = seen
        self.allow_seen = allow_seen
        self.stop_physical: int | None = None  # where tcpd stops reading (None: it does not)

    def lines(self, lines: list[CheckLine]) -> None:
        """Any table, line by line."""
        table, options, report = self.table, self.options, self.report
        source = table.source
        assert source.data is not None
        # Where tcpd stops reading (at the first line with a problem: a property test checks it).
        stop = read_lines(source.data).stop if any(cl.problem for cl in lines) else None
        self.stop_physical = None if stop is None else stop.physical
        progress = options.progress
        plain = [
            _PLAIN_RULE.fullmatch(cl.text) if cl.first == cl.last and cl.problem is None else None
            for cl in lines
        ]
        self.probe.prefetch([found[2] for found in plain if found is not None])
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
                self.plain_rule(cl.line, cl.last, found[1], found[2])
            else:
                self.rule(cl)
        if progress is not None:
            progress(table.path, len(lines), len(lines))

    def plain(self, pieces: list[str], tail: str) -> None:
        """A table without continuations, NUL bytes or over-long lines (nearly every table,
        every DenyHosts list): `pieces` are its complete lines without their newlines, `tail`
        what follows the last newline. The same events as `lines(check_lines(...))` (a
        property test compares them), without a CheckLine for every comment and plain rule."""
        table, report, progress = self.table, self.report, self.options.progress
        count = len(pieces)
        if tail:  # no final newline: tcpd stops there, after every complete line
            self.stop_physical = count + 1
        found = [_PLAIN_PIECE.fullmatch(piece) for piece in pieces]
        self.probe.prefetch([match[2] for match in found if match is not None])
        total = count + (1 if tail else 0)
        number = 0
        for number, (piece, match) in enumerate(zip(pieces, found, strict=True), 1):
            if progress is not None and not (number - 1) % PROGRESS_EVERY:
                progress(table.path, number - 1, total)
            if match is not None and fold(match[1]) not in _NOT_PLAIN_DAEMONS:
                self.plain_rule(number, number, match[1], match[2])
            elif piece[:1] != "#" and piece.strip(_BLANK):
                text = piece + "\n"
                self.rule(CheckLine(text, number, number, None, len(text), (text,), number))
        if tail:
            cl = CheckLine(tail, count + 1, count + 1, NO_NEWLINE, len(tail), (tail,), count)
            if progress is not None and not count % PROGRESS_EVERY:
                progress(table.path, count, total)
            report.at(table.path, cl.line, cl.first)
            report.warn("missing newline or line too long")
            report.extra_error(stop_explanation(table, cl, count, []))
        if progress is not None:
            progress(table.path, total, total)

    def live(self, last: int) -> bool:
        """Does tcpd read this line (before the line where it stops)?"""
        return self.stop_physical is None or last < self.stop_physical

    def rule(self, cl: CheckLine) -> None:
        """A rule line, through every check."""
        table, options, report, patterns = self.table, self.options, self.report, self.patterns
        report.at(table.path, cl.line, cl.last)
        line_traps(report, cl)
        rule = parse_rule(cl.text, Origin(table.path, cl.line, cl.last), options.language)
        if rule is None:
            report.warn('missing ":" separator')
            return
        first = split_at(cl.text, ":")
        assert first is not None
        daemons_text, rest = first
        second = split_at(rest, ":")
        clients_text = rest if second is None else second[0]
        report.listing("")
        report.listing(f">>> Rule {table.path} line {_listed(cl.line, cl.last, options)}:")
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
        verdict, implicit = dry_run(report, table, rule, self.probe, options)
        if implicit and options.implicit_allow:
            report.warn('implicit "allow" at end of rule')
        third_field_hints(report, rule, options.language)
        if self.live(cl.last) and not options.debian:
            aclexec = any(step.name == "aclexec" for step in rule.options or ())
            me = Seen(table.path, cl.last, tuple(daemons), tuple(clients), aclexec)
            report_shadow(report, me, table.role, self.seen, self.allow_seen)
        report.listing(f"access:   {verdict}")

    def plain_rule(self, line: int, last: int, daemon: str, address: str) -> None:
        """The events of `rule` for a `daemon: a.b.c.d` line, without parsing it: no traps,
        no list-shape or option findings are possible; a dry run without options grants in
        the allow table (implicitly) and denies in the deny table."""
        table, options, report = self.table, self.options, self.report
        report.at(table.path, line, last)
        if report.verbose:
            report.listing("")
            report.listing(f">>> Rule {table.path} line {_listed(line, last, options)}:")
            report.listing(f"daemons:  {daemon}")
            report.listing(f"clients:  {address}")
        self.patterns.plain_rule(daemon, address)
        allow = table.role == "allow"
        if allow and options.implicit_allow:
            report.warn('implicit "allow" at end of rule')
        if not options.debian and self.live(last):
            folded = fold(daemon)
            me = Seen(table.path, last, (daemon,), (address,), False)
            key = (ANY if folded == "all" else folded, address)
            report_shadow(report, me, table.role, self.seen, self.allow_seen, key)
        if report.verbose:
            report.listing(f"access:   {'granted' if allow else 'denied'}")
