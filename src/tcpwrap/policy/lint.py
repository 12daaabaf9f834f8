"""tcpdchk's rule checks, plus the silent traps tcpdchk never mentions (pure; `tcpwrap check`).

What it does: walks hosts.allow then hosts.deny line by line (every line, also after a line
that makes tcpd stop) and produces an ordered stream of events: `Finding`s (warning/error with
file:line, tcpdchk's wording where tcpdchk has one, docs/check.md), the `-v` listing lines and
the `option:` records of the dry-run option evaluation. Options are run through the real
evaluator (policy.match) in dry-run mode against tcpdchk's fictitious request (daemon
`daemon_name`, client `client_hostname`/`client_addr`, user `user_name`, server
`server_hostname`/`server_addr`). Unlike tcpdchk it understands `*`/`?` wildcards and port
numbers, and it adds findings for: over-long lines and missing final newlines (what tcpd then
does to the rest of the table), comments swallowing the next line, indented `#`, `#` inside a
rule, continuations gluing two tokens, unbracketed IPv6 addresses, masks and numeric patterns
that can never match, `/file` lists that are missing or include themselves, lists that start
or end with EXCEPT, the old shell-command third field, and rules shadowed by an earlier rule.

Hazards: none here (pure): DNS, netgroups, pattern files and the inetd service table are
asked through the `Probe` given by the caller. Shadowing is reported only when provable
(token-for-token containment or `ALL`, no EXCEPT), never by guessing.
Errors: none raised; everything is a Finding. Severity "error" is used for what makes tcpd
fail closed or behave differently from the text (see docs/check.md).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Protocol

from tcpwrap._record import record, replace
from tcpwrap.errors import Kind, Origin
from tcpwrap.policy.compile import table_of
from tcpwrap.policy.cstr import fold, not_inaddr, scan_uint, split_at
from tcpwrap.policy.decision import Connection, Endpoint, Mode, Verdict
from tcpwrap.policy.environment import Environment
from tcpwrap.policy.lintlines import NUL, TOO_LONG, CheckLine, check_lines
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.options import (
    OPTION_FLAGS,
    Flag,
    OptionStep,
    split_fields,
    split_key_value,
)
from tcpwrap.policy.patterns import (
    compile_client_list,
    compile_daemon_list,
    compile_netmask,
    parse_ipv6,
    split_list,
)
from tcpwrap.policy.rules import Language, Policy, Rule, TableSource, parse_rule
from tcpwrap.policy.shadow import Seen, ShadowIndex
from tcpwrap.policy.tables import LINE_LIMIT, read_lines

WARNING = "warning"
ERROR = "error"

_ALL_DAEMONS = compile_daemon_list("ALL")
_ALL_CLIENTS = compile_client_list("ALL")
_RESERVED = frozenset({"unknown", "known", "paranoid", "all", "local"})
_LISTING_SEPARATORS = re.compile(r"[, \t\n]+")


@record(frozen=True, slots=True)
class Finding:
    severity: str  # WARNING or ERROR
    message: str
    file: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = f"{self.file}, line {self.line}: " if self.line is not None else ""
        return f"{self.severity}: {where}{self.message}"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "severity": self.severity,
            "message": self.message,
        }


@record(frozen=True, slots=True)
class Listing:
    """One line of tcpdchk's `-v` listing (stdout)."""

    text: str


@record(frozen=True, slots=True)
class Debug:
    """An `option:` or `command:` record (shown with `-v`)."""

    text: str


Event = Finding | Listing | Debug


@record(frozen=True, slots=True)
class HostCheck:
    """What tcpdchk's DNS check of one host pattern found."""

    count: int  # number of addresses (0: not found)
    warnings: tuple[str, ...] = ()


class Probe(Protocol):
    """The facts the checks need from the system."""

    @property
    def inetd_file(self) -> str: ...  # as shown in messages; "(null)" when there is none

    @property
    def env(self) -> Environment: ...

    def dns(self, host: str) -> HostCheck | None: ...  # None: DNS checks are disabled

    def netgroup_empty(self, group: str) -> bool: ...

    def pattern_file(self, path: str) -> list[list[str]] | str | None:
        """Tokens per line; None when absent (ENOENT); strerror text on other errors."""
        ...

    def daemon_status(self, daemon: str) -> str | None: ...  # "yes"/"no"/"maybe"/None


@record(frozen=True, slots=True)
class TableInput:
    path: str  # as shown in messages
    source: TableSource
    role: str  # "allow" or "deny"
    explicit: bool = False  # named on the command line (a missing file is worth a warning)


@record(frozen=True, slots=True)
class CheckOptions:
    language: Language = Language.OPTIONS
    implicit_allow: bool = False  # -a
    verbose: bool = False  # -v
    pid: int = 0


def listing_tokens(text: str) -> str:
    return " ".join(tok for tok in _LISTING_SEPARATORS.split(text) if tok)


def check_policy(
    allow: TableInput, deny: TableInput, probe: Probe, options: CheckOptions | None = None
) -> list[Event]:
    """All findings and listing lines for a pair of tables, in tcpdchk's order."""
    options = options or CheckOptions()
    checker = _Checker(probe, options)
    checker.table(allow)
    checker.table(deny)
    return checker.events


class _Checker:
    def __init__(self, probe: Probe, options: CheckOptions) -> None:
        self.probe = probe
        self.options = options
        self.events: list[Event] = []
        self.file: str | None = None
        self.line: int | None = None
        self.reported: dict[str, str] = {}  # daemon name -> status after a warning
        self.file_stack: list[str] = []
        self.allow_seen = ShadowIndex()

    # ------------------------------------------------------------------ output

    def at(self, file: str | None, line: int | None) -> None:
        self.file, self.line = file, line

    def warn(self, message: str) -> None:
        self.events.append(Finding(WARNING, message, self.file, self.line))

    def error(self, message: str) -> None:
        self.events.append(Finding(ERROR, message, self.file, self.line))

    def listing(self, text: str) -> None:
        if self.options.verbose:
            self.events.append(Listing(text))

    # ------------------------------------------------------------------ tables

    def table(self, table: TableInput) -> None:
        source = table.source
        self.at(table.path, None)
        if source.error is not None:
            self.error(f"cannot open {table.path}: {source.error}")
            return
        if source.data is None:
            if table.explicit:
                self.warn(f"{table.path}: no such file (tcpd treats a missing table as empty)")
            return
        stop = read_lines(source.data).stop
        lines = check_lines(source.data)
        seen = ShadowIndex()
        for index, cl in enumerate(lines):
            if cl.problem is not None:
                self.at(table.path, cl.first)
                self.warn("missing newline or line too long")
                if stop is not None and cl.first == stop.physical:
                    self.error(self._stop_explanation(table, cl, stop.line, lines[index + 1 :]))
                continue
            if cl.comment:
                self._comment(table, cl)
                continue
            if cl.blank:
                continue
            self.at(table.path, cl.last)
            self._line_traps(cl)
            rule = parse_rule(cl.text, Origin(table.path, cl.last), self.options.language)
            if rule is None:
                self.warn('missing ":" separator')
                continue
            live = stop is None or cl.last < stop.physical
            self._rule(table, cl, rule, seen if live else None)
        if table.role == "allow":
            self.allow_seen = seen

    def _stop_explanation(
        self, table: TableInput, cl: CheckLine, logged: int, after: list[CheckLine]
    ) -> str:
        later = sum(1 for x in after if not x.comment and not x.blank)
        if cl.problem == TOO_LONG:
            what = (
                f"this line is {cl.length} bytes long, more than tcpd's {LINE_LIMIT}-byte line "
                f"buffer (newline included)"
            )
        elif cl.problem == NUL:
            what = "this line contains a NUL byte, which hides its newline from tcpd"
        else:
            what = "the last line has no final newline"
        rest = f" and the {later} rule line(s) after it" if later else ""
        consequence = (
            "; in the deny table this denies every client that the allow table does not grant"
            if table.role == "deny"
            else "; clients not granted by earlier lines go on to the deny table"
        )
        return (
            f"{what}: tcpd stops reading {table.path} here and ignores this line{rest} "
            f'(it logs "{table.path}, line {logged}: missing newline or line too long")'
            f"{consequence}"
        )

    def _comment(self, table: TableInput, cl: CheckLine) -> None:
        if cl.last == cl.first:
            return
        swallowed = [p for p in cl.pieces[1:] if p.strip(" \t\r\n")]
        if not swallowed:
            return
        self.at(table.path, cl.first)
        span = (
            f"line {cl.first + 1}"
            if cl.last == cl.first + 1
            else (f"lines {cl.first + 1}-{cl.last}")
        )
        self.warn(
            f"this comment ends in a backslash, so {span} is joined to it and ignored as part "
            f"of the comment"
        )

    def _line_traps(self, cl: CheckLine) -> None:
        text = cl.text
        stripped = text.lstrip(" \t\r")
        if stripped.startswith("#"):
            self.warn(
                '"#" is not in the first column, so this line is not a comment: tcpd reads it '
                "as a rule"
            )
        else:
            hash_at = re.search(r"(?<=[\s,:])#", text)
            if hash_at is not None:
                shown = text[hash_at.start() :].rstrip("\n")[:60]
                self.warn(
                    f'"{shown}" is not a comment: only a "#" in the first column starts one, '
                    f"so this text is part of the rule"
                )
        for before, after in zip(cl.pieces, cl.pieces[1:], strict=False):
            if before and after and before[-1] not in " \t,:" and after[0] not in " \t,:\r\n":
                left = re.split(r"[\s,:]", before)[-1]
                right = re.split(r"[\s,:]", after)[0]
                self.warn(
                    f'the backslash continuation joins "{left}" and "{right}" into one token '
                    f'"{left}{right}" (nothing is inserted between the lines)'
                )
        # Only addresses that start inside the daemon or client list (an address in an
        # option value, e.g. `spawn echo 2001:db8::1`, is fine).
        lists_end = len(text)
        first = split_at(text, ":")
        if first is not None:
            second = split_at(first[1], ":")
            if second is not None:
                lists_end = len(first[0]) + 1 + len(second[0])
        for found in re.finditer(r"[^\s,]+", text):
            if found.start() > lists_end:
                break
            candidate = found.group().split("@")[-1].rstrip(":")
            if candidate.startswith("[") or candidate.count(":") < 2:
                continue
            address = candidate.split("/", 1)[0]
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                continue
            self.warn(
                f"{candidate}: an IPv6 address must be written in brackets ([{address}]"
                f"{candidate[len(address) :]}): unbracketed, the rule is cut at its first "
                f'":", so this address never matches and its tail becomes the next field'
            )

    # ------------------------------------------------------------------ one rule

    def _rule(self, table: TableInput, cl: CheckLine, rule: Rule, seen: ShadowIndex | None) -> None:
        first = split_at(cl.text, ":")
        assert first is not None
        daemons_text, rest = first
        second = split_at(rest, ":")
        clients_text = rest if second is None else second[0]
        self.listing("")
        self.listing(f">>> Rule {table.path} line {cl.last}:")
        self.listing(f"daemons:  {listing_tokens(daemons_text)}")
        self.listing(f"clients:  {listing_tokens(clients_text)}")
        daemons = split_list(daemons_text)
        clients = split_list(clients_text)
        self._daemon_list(daemons)
        self._client_list(clients)
        self._list_shape(daemons, "daemon")
        self._list_shape(clients, "client")
        verdict, implicit = self._options(table, rule)
        if implicit and self.options.implicit_allow:
            self.warn('implicit "allow" at end of rule')
        self._third_field_hint(rule)
        if seen is not None:
            self._shadow(table, cl, rule, daemons, clients, seen)
        self.listing(f"access:   {verdict}")

    def _list_shape(self, tokens: list[str], kind: str) -> None:
        folded = [fold(t) for t in tokens]
        if folded and folded[0] == "except":
            self.warn(
                f"the {kind} list starts with EXCEPT, so it matches nothing and this rule "
                f"never applies"
            )
        elif len(folded) > 1 and folded[-1] == "except":
            before = " ".join(tokens[:-1])
            self.warn(
                f'"{before} EXCEPT" excludes nothing: with nothing after EXCEPT the {kind} '
                f'list matches exactly like "{before}"'
            )

    # ------------------------------------------------------------------ daemon list

    def _daemon_list(self, tokens: list[str]) -> None:
        count = 0
        for token in tokens:
            if fold(token) == "except":
                count = 0
                continue
            count += 1
            daemon = token
            cut = split_at(token[1:], "@")
            if cut is not None:
                daemon = token[0] + cut[0]
                host = cut[1]
                if self._host(host) > 1:
                    self.warn(f"host {host} has more than one address")
                    self.warn("(consider using an address instead)")
            self._daemon(daemon)
        if count == 0:
            self.warn("daemon list is empty or ends in EXCEPT")

    def _daemon(self, pattern: str) -> None:
        folded = fold(pattern)
        if pattern.startswith("@"):
            self.warn(f'{pattern}: daemon name begins with "@"')
        elif pattern.startswith("/"):
            self.warn(f'{pattern}: daemon name begins with "/"')
        elif pattern.startswith("."):
            self.warn(f"{pattern}: daemon name begins with dot")
        elif pattern.endswith("."):
            self.warn(f"{pattern}: daemon name ends in dot")
        elif folded in ("all", "unknown"):
            pass
        elif folded == "fail":
            self._fail()
        elif folded in ("known", "paranoid", "local"):
            self.warn(f"{pattern}: daemon name may be reserved word")
        elif _is_port(pattern) or "*" in pattern or "?" in pattern:
            pass  # understood: a port number or a wildcard (tcpdchk would say "no such process")
        else:
            status = self.reported.get(folded, self.probe.daemon_status(pattern))
            if status is None:
                self.warn(f"{pattern}: no such process name in {self.probe.inetd_file}")
                self.reported[folded] = "yes"
            elif status == "no":
                self.warn(f"{pattern}: service possibly not wrapped")
                self.reported[folded] = "maybe"

    def _fail(self) -> None:
        self.warn("FAIL is no longer recognized")
        self.warn("(use EXCEPT or DENY instead)")

    # ------------------------------------------------------------------ client list

    def _client_list(self, tokens: list[str]) -> None:
        count = 0
        for token in tokens:
            if fold(token) == "except":
                count = 0
                continue
            count += 1
            cut = split_at(token[1:], "@")
            if cut is not None:
                self._user(token[0] + cut[0])
                self._host(cut[1])
            else:
                self._host(token)
        if count == 0:
            self.warn("client list is empty or ends in EXCEPT")

    def _user(self, pattern: str) -> None:
        folded = fold(pattern)
        if pattern.startswith("@"):
            self.warn(f'{pattern}: user name begins with "@"')
        elif pattern.startswith("/"):
            self.warn(f'{pattern}: user name begins with "/"')
        elif pattern.startswith("."):
            self.warn(f"{pattern}: user name begins with dot")
        elif pattern.endswith("."):
            self.warn(f"{pattern}: user name ends in dot")
        elif folded in ("all", "unknown", "known"):
            pass
        elif folded == "fail":
            self._fail()
        elif folded in ("local", "paranoid"):
            self.warn(f"{pattern}: user name may be reserved word")

    def _host(self, pattern: str) -> int:
        """tcpdchk's check_host(); returns the number of addresses of a host name (or 1)."""
        if not pattern:
            return 1
        folded = fold(pattern)
        if pattern.startswith("@"):
            if self.probe.netgroup_empty(pattern[1:]):
                self.warn(f"{pattern[1:]}: unknown or empty netgroup")
            return 1
        if pattern.startswith("/"):
            self._pattern_file(pattern)
            return 1
        cut = split_at(pattern, "/")
        if cut is not None:
            self._netmask(*cut)
            return 1
        if folded == "fail":
            self._fail()
            return 1
        if folded in _RESERVED:
            return 1
        if pattern.startswith("[") and pattern.endswith("]"):
            self._bracketed(pattern, pattern[1:-1])
            return 1
        if "*" in pattern or "?" in pattern:
            return 1  # understood: a wildcard (tcpdchk would look it up as a name)
        if not_inaddr(pattern):
            if pattern.endswith("."):
                self.warn(f"{pattern}: domain or host name ends in dot")
            elif not pattern.startswith("."):
                return self._dns(pattern)
            return 1
        if pattern in ("255.255.255.255", "0.0.0.0"):  # noqa: S104 - a pattern, not a bind
            return 1
        if pattern.startswith("."):
            self.warn(f"{pattern}: network number begins with dot")
        elif not pattern.endswith("."):
            self._dns(pattern)
            if not _canonical_quad(pattern):
                self.warn(
                    f"{pattern}: not an address in the form tcpd compares with (four decimal "
                    f'parts without leading zeros, or a prefix ending in "."): this pattern '
                    f"never matches"
                )
        return 1

    def _dns(self, host: str) -> int:
        result = self.probe.dns(host)
        if result is None:
            return 1
        for text in result.warnings:
            self.warn(text)
        return result.count

    def _netmask(self, net: str, mask: str) -> None:
        compiled = compile_netmask(net, mask)
        if compiled.v4 is None and compiled.v6 is None:
            self.warn(f"{net}/{mask}: bad net/mask pattern")
            if mask == "255.255.255.255":
                self.warn(
                    f"{net}/{mask}: never matches: 255.255.255.255 is not accepted as a mask; "
                    f"write {net}/32 or just {net}"
                )
            elif mask.strip() in ("0", "00") and not net.startswith("["):
                self.warn(
                    f"{net}/{mask}: never matches: a prefix length must be 1-32; write ALL "
                    f"(or 0.0.0.0/0.0.0.0) to match every address"
                )
            return
        if compiled.v4 is not None:
            value, bits = compiled.v4
            if value & bits != value:
                network = ipaddress.IPv4Address(value & bits)
                self.warn(
                    f"{net}/{mask}: the network part has bits outside the mask, and tcpd "
                    f"compares (address & mask) with it unchanged: this pattern never matches; "
                    f"write {network}/{mask}"
                )
            if not re.fullmatch(r"\d+", mask) and "." not in mask:
                self.warn(f'{net}/{mask}: prefix length "{mask}" is read as {bits.bit_count()}')
        if compiled.v6 is not None and _mapped(net[1:-1]):
            self._mapped_warning(f"{net}/{mask}")

    def _bracketed(self, pattern: str, inner: str) -> None:
        if parse_ipv6(inner) is None:
            self.warn(f"{pattern}: not a valid IPv6 address: this pattern never matches")
        elif _mapped(inner):
            self._mapped_warning(pattern)

    def _mapped_warning(self, pattern: str) -> None:
        self.warn(
            f"{pattern}: an IPv4-mapped IPv6 pattern never matches: IPv4 clients (also those "
            f"arriving as ::ffff:a.b.c.d) are compared as IPv4; write the IPv4 form"
        )

    def _pattern_file(self, path: str) -> None:
        if path in self.file_stack:
            chain = " -> ".join([*self.file_stack, path])
            self.error(
                f"{path}: pattern file includes itself ({chain}): tcpd recurses until it "
                f"crashes; tcpwrap treats it as no match"
            )
            return
        content = self.probe.pattern_file(path)
        if content is None:
            self.warn(f"{path}: no such pattern file: this pattern never matches")
            return
        if isinstance(content, str):
            self.error(f"open {path}: {content}")
            return
        saved = (self.file, self.line)
        self.file_stack.append(path)
        try:
            for number, tokens in enumerate(content, 1):
                self.at(path, number)
                for token in tokens:
                    if token.startswith("#"):
                        self.warn(f'"{token}": a pattern file has no comments; this is a pattern')
                    elif fold(token) == "except" or "," in token:
                        self.warn(
                            f'"{token}": a pattern file has only whitespace-separated host '
                            f"patterns (no EXCEPT, no commas); this token is a literal pattern"
                        )
                    self._host(token)
        finally:
            self.file_stack.pop()
            self.at(*saved)

    # ------------------------------------------------------------------ options

    def _options(self, table: TableInput, rule: Rule) -> tuple[str, bool]:
        """Dry-run the rule's options; returns (listing verdict, implicit allow?)."""
        if rule.third is None:  # nothing to run: the table decides
            return ("granted", True) if table.role == "allow" else ("denied", False)
        single = replace(rule, daemons=_ALL_DAEMONS, clients=_ALL_CLIENTS)
        mine = table_of(table.path, (single,))
        empty = table_of("", ())
        language = self.options.language
        if table.role == "allow":
            policy = Policy(mine, empty, language)
        else:
            policy = Policy(empty, mine, language)
        connection = Connection(
            "daemon_name",
            client=Endpoint(addr="client_addr", name="client_hostname"),
            server=Endpoint(addr="server_addr", name="server_hostname"),
            user="user_name",
            pid=self.options.pid,
        )
        decision = evaluate(policy, connection, Mode(verbose=True), self.probe.env, use_index=False)
        failed = False
        for diag in decision.diagnostics:
            if diag.kind is Kind.DEBUG:
                if not diag.message.startswith("matched:") and self.options.verbose:
                    self.events.append(Debug(diag.message.rstrip("\n")))
            elif diag.kind is Kind.ERROR:
                failed = True
                self.error(diag.message)
            elif diag.kind is Kind.WARNING:
                self.warn(diag.message)
        granted = decision.verdict is Verdict.GRANT
        decided = any(step.name in ("allow", "deny") for step in rule.options or ())
        implicit = (
            table.role == "allow"
            and granted
            and not failed
            and not decided
            and not decision.delegated
        )
        return ("granted" if granted else "denied"), implicit

    def _colon_hint(self, third: str, steps: tuple[OptionStep, ...]) -> None:
        """An option error caused by a ':' inside a command (spawn, twist, ...)."""
        if not steps or steps[-1].error is None:
            return
        fields = split_fields(third)
        last = len(steps) - 1
        for index in (last - 1, last):
            if index < 0 or index + 1 >= len(fields):
                continue
            step = steps[index]
            flags = OPTION_FLAGS.get(step.name)
            if step.value is None or flags is None or not flags & Flag.EXPAND:
                continue
            following = fold(split_key_value(fields[index + 1][0])[0])
            if following not in OPTION_FLAGS:
                self.warn(
                    f'the value of "{step.key}" ends at the next ":", which starts a new '
                    f'option; if that ":" belongs to the command, write it as "\\:"'
                )
                return

    def _third_field_hint(self, rule: Rule) -> None:
        if rule.third is None:
            return
        if self.options.language is Language.OPTIONS:
            steps = rule.options or ()
            self._colon_hint(rule.third, steps)
            if (
                steps
                and (steps[0].error or "").startswith("bad option name")
                and (steps[0].key[:1] in ("/", "(") or "|" in rule.third or "&" in rule.third)
            ):
                self.warn(
                    "the third field looks like a shell command (the classic language): with "
                    'options, write "spawn <command>" (or check with --language classic)'
                )
        else:
            word = (
                fold(rule.third.strip().split(" ", 1)[0].split("=", 1)[0])
                if (rule.third.strip())
                else ""
            )
            if word in OPTION_FLAGS:
                self.warn(
                    f'the third field looks like options ("{word}"), but in the classic '
                    f"language it is a shell command run by /bin/sh"
                )

    # ------------------------------------------------------------------ shadowing

    def _shadow(
        self,
        table: TableInput,
        cl: CheckLine,
        rule: Rule,
        daemons: list[str],
        clients: list[str],
        seen: ShadowIndex,
    ) -> None:
        me = Seen(
            table.path,
            cl.last,
            tuple(daemons),
            tuple(clients),
            any(step.name == "aclexec" for step in rule.options or ()),
        )
        earlier = seen.find(me)
        if earlier is not None:
            self.warn(
                f"this rule can never match: line {earlier.line} ({' '.join(earlier.daemons)}"
                f" : {' '.join(earlier.clients)}) already matches every connection it would "
                f"match, and the first matching rule ends the scan of {table.path}"
            )
        elif table.role == "deny":
            earlier = self.allow_seen.find(me, skip_aclexec=True)
            if earlier is not None:
                self.warn(
                    f"this rule can never match: {earlier.path} line {earlier.line} "
                    f"already matches every connection it would match, and a match "
                    f"in the allow table decides before the deny table is read"
                )
        seen.add(me)


def _is_port(pattern: str) -> bool:
    value = scan_uint(pattern)
    return value is not None and value <= 65535


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _canonical_quad(pattern: str) -> bool:
    """A dotted quad as inet_ntop() prints it (what tcpd compares a numeric pattern with)."""
    return _CANONICAL_QUAD.fullmatch(pattern) is not None


def _mapped(text: str) -> bool:
    value = parse_ipv6(text)
    return value is not None and value >> 32 == 0xFFFF


__all__ = [
    "ERROR",
    "WARNING",
    "CheckOptions",
    "Debug",
    "Event",
    "Finding",
    "HostCheck",
    "Listing",
    "Probe",
    "TableInput",
    "check_policy",
]
