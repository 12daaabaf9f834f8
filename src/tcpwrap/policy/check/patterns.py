"""tcpdchk's checks of daemon, user and host patterns (check_daemon/check_user/check_host).

What it does: `PatternChecks` walks a rule's daemon and client lists token by token with
tcpdchk's wording (docs/check.md): reserved words, names beginning with `@`, `/` or a dot, `FAIL`,
daemon names unknown to the inetd configuration, netgroups that are empty, DNS checks of host
names (through the `Probe`), and `/file` lists (read through the Probe and checked pattern by
pattern, their findings naming the list file and its line). Unlike tcpdchk it understands
`*`/`?` wildcards and port numbers, and adds what never matches: bad or impossible masks,
network parts with bits outside the mask, non-canonical dotted quads, invalid or IPv4-mapped
bracketed IPv6 addresses, missing and self-including `/file` lists.

Hazards: a `/file` list may include itself: the chain of open lists is kept and a cycle is
reported instead of followed. DNS and file reads are the Probe's (bounded by the driver).
Errors: none raised; everything is a finding on the `Report`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from tcpwrap.policy.check.events import Report
from tcpwrap.policy.check.probe import PROGRESS_EVERY, PatternLines, Probe
from tcpwrap.policy.cstr import fold, not_inaddr, scan_uint, split_at
from tcpwrap.policy.patterns import compile_netmask, parse_ipv6

_RESERVED = frozenset({"unknown", "known", "paranoid", "all", "local"})
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


class PatternChecks:
    def __init__(
        self,
        report: Report,
        probe: Probe,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.report = report
        self.probe = probe
        self.progress = progress
        self.reported: dict[str, str] = {}  # daemon name -> status after a warning
        self.file_stack: list[str] = []
        self._quiet_daemons: set[str] = set()  # plain daemon names checked without a warning

    # ------------------------------------------------------------------ daemon list

    def daemon_list(self, tokens: list[str]) -> None:
        warn = self.report.warn
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
                if self.host(host) > 1:
                    warn(f"host {host} has more than one address")
                    warn("(consider using an address instead)")
            self._daemon(daemon)
        if count == 0:
            warn("daemon list is empty or ends in EXCEPT")

    def _name_shape(self, pattern: str, what: str) -> bool:
        """tcpdchk's shape checks of a daemon or user name; True when one of them warned."""
        if pattern.startswith(("@", "/")):
            self.report.warn(f'{pattern}: {what} name begins with "{pattern[0]}"')
        elif pattern.startswith("."):
            self.report.warn(f"{pattern}: {what} name begins with dot")
        elif pattern.endswith("."):
            self.report.warn(f"{pattern}: {what} name ends in dot")
        else:
            return False
        return True

    def _daemon(self, pattern: str) -> None:
        warn = self.report.warn
        folded = fold(pattern)
        if self._name_shape(pattern, "daemon") or folded in ("all", "unknown"):
            pass
        elif folded == "fail":
            self._fail()
        elif folded in ("known", "paranoid", "local"):
            warn(f"{pattern}: daemon name may be reserved word")
        elif not self.report.debian and (_is_port(pattern) or "*" in pattern or "?" in pattern):
            pass  # understood: a port number or a wildcard (tcpdchk says "no such process")
        else:
            status = self.reported.get(folded, self.probe.daemon_status(pattern))
            if status is None:
                warn(f"{pattern}: no such process name in {self.probe.inetd_file}")
                self.reported[folded] = "yes"
            elif status == "no":
                warn(f"{pattern}: service possibly not wrapped")
                self.reported[folded] = "maybe"

    def _fail(self) -> None:
        self.report.warn("FAIL is no longer recognized")
        self.report.warn("(use EXCEPT or DENY instead)")

    # ------------------------------------------------------------------ client list

    def client_list(self, tokens: list[str]) -> None:
        count = 0
        for token in tokens:
            if fold(token) == "except":
                count = 0
                continue
            count += 1
            cut = split_at(token[1:], "@")
            if cut is not None:
                self._user(token[0] + cut[0])
                self.host(cut[1])
            else:
                self.host(token)
        if count == 0:
            self.report.warn("client list is empty or ends in EXCEPT")

    def _user(self, pattern: str) -> None:
        warn = self.report.warn
        folded = fold(pattern)
        if self._name_shape(pattern, "user") or folded in ("all", "unknown", "known"):
            pass
        elif folded == "fail":
            self._fail()
        elif folded in ("local", "paranoid"):
            warn(f"{pattern}: user name may be reserved word")

    def host(self, pattern: str) -> int:
        """tcpdchk's check_host(); returns the number of addresses of a host name (or 1)."""
        warn = self.report.warn
        if not pattern:
            return 1
        folded = fold(pattern)
        if pattern.startswith("@"):
            if self.probe.netgroup_empty(pattern[1:]):
                warn(f"{pattern[1:]}: unknown or empty netgroup")
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
        if not self.report.debian and ("*" in pattern or "?" in pattern):
            return 1  # understood: a wildcard (tcpdchk looks it up as a name: "host not found")
        if not_inaddr(pattern):
            if pattern.endswith("."):
                warn(f"{pattern}: domain or host name ends in dot")
            elif not pattern.startswith("."):
                return self._dns(pattern)
            return 1
        if pattern in ("255.255.255.255", "0.0.0.0"):  # noqa: S104 - a pattern, not a bind
            return 1
        if pattern.startswith("."):
            warn(f"{pattern}: network number begins with dot")
        elif not pattern.endswith("."):
            self._dns(pattern)
            if _CANONICAL_QUAD.fullmatch(pattern) is None:
                self.report.extra_warn(
                    f"{pattern}: not an address in the form tcpd compares with (four decimal "
                    f'parts without leading zeros, or a prefix ending in "."): this pattern '
                    f"never matches"
                )
        return 1

    def plain_rule(self, daemon: str, address: str) -> None:
        """`daemon_list([daemon])` and `client_list([address])` for a DenyHosts-style line:
        `daemon` a name (not a reserved word, FAIL, EXCEPT, or beginning or ending with a dot,
        `@` or `/`), `address` a canonical dotted quad. Gives the same findings."""
        folded = fold(daemon)
        if folded not in self.reported and folded not in self._quiet_daemons:
            self._daemon(daemon)
            self._quiet_daemons.add(folded)  # asked once: later uses add nothing (see _daemon)
        self._address(address)

    def _address(self, address: str) -> None:
        """`host(address)` for a canonical dotted quad: only the DNS check can say anything."""
        if address not in ("255.255.255.255", "0.0.0.0"):  # noqa: S104 - patterns
            self._dns(address)

    def _dns(self, host: str) -> int:
        result = self.probe.dns(host)
        if result is None:
            return 1
        for text in result.warnings:
            self.report.warn(text)
        return result.count

    def _netmask(self, net: str, mask: str) -> None:
        warn = self.report.warn
        compiled = compile_netmask(net, mask)
        if compiled.v4 is None and compiled.v6 is None:
            warn(f"{net}/{mask}: bad net/mask pattern")
            if mask == "255.255.255.255":
                self.report.extra_warn(
                    f"{net}/{mask}: never matches: 255.255.255.255 is not accepted as a mask; "
                    f"write {net}/32 or just {net}"
                )
            elif mask.strip() in ("0", "00") and not net.startswith("["):
                self.report.extra_warn(
                    f"{net}/{mask}: never matches: a prefix length must be 1-32; write ALL "
                    f"(or 0.0.0.0/0.0.0.0) to match every address"
                )
            return
        if compiled.v4 is not None:
            value, bits = compiled.v4
            if value & bits != value:
                network = ipaddress.IPv4Address(value & bits)
                self.report.extra_warn(
                    f"{net}/{mask}: the network part has bits outside the mask, and tcpd "
                    f"compares (address & mask) with it unchanged: this pattern never matches; "
                    f"write {network}/{mask}"
                )
            if not re.fullmatch(r"\d+", mask) and "." not in mask:
                self.report.extra_warn(
                    f'{net}/{mask}: prefix length "{mask}" is read as {bits.bit_count()}'
                )
        if compiled.v6 is not None and _mapped(net[1:-1]):
            self._mapped_warning(f"{net}/{mask}")

    def _bracketed(self, pattern: str, inner: str) -> None:
        if parse_ipv6(inner) is None:
            self.report.extra_warn(
                f"{pattern}: not a valid IPv6 address: this pattern never matches"
            )
        elif _mapped(inner):
            self._mapped_warning(pattern)

    def _mapped_warning(self, pattern: str) -> None:
        self.report.extra_warn(
            f"{pattern}: an IPv4-mapped IPv6 pattern never matches: IPv4 clients (also those "
            f"arriving as ::ffff:a.b.c.d) are compared as IPv4; write the IPv4 form"
        )

    def _pattern_file(self, path: str) -> None:
        report = self.report
        if path in self.file_stack:
            chain = " -> ".join([*self.file_stack, path])
            report.extra_error(
                f"{path}: pattern file includes itself ({chain}): tcpd recurses until it "
                f"crashes; tcpwrap treats it as no match"
            )
            return
        content = self.probe.pattern_file(path)
        if content is None:
            report.extra_warn(f"{path}: no such pattern file: this pattern never matches")
            return
        if isinstance(content, str):
            report.error(f"open {path}: {content}")
            return
        self.probe.prefetch(
            [t for tokens in content for t in tokens if _CANONICAL_QUAD.fullmatch(t) is not None]
        )
        saved = (report.file, report.line)
        self.file_stack.append(path)
        try:
            for number, tokens in enumerate(content, 1):
                if self.progress is not None and not number % PROGRESS_EVERY:
                    self.progress(path, number, len(content))
                report.at(path, number)
                for token in tokens:
                    if _CANONICAL_QUAD.fullmatch(token) is not None:
                        self._address(token)  # the common case (big lists), quickly
                        continue
                    if token.startswith("#"):
                        report.extra_warn(
                            f'"{token}": a pattern file has no comments; this is a pattern'
                        )
                    elif fold(token) == "except" or "," in token:
                        report.extra_warn(
                            f'"{token}": a pattern file has only whitespace-separated host '
                            f"patterns (no EXCEPT, no commas); this token is a literal pattern"
                        )
                    self.host(token)
            if isinstance(content, PatternLines) and content.cut_at is not None:
                report.at(path, len(content))
                report.extra_error(
                    f"{path} is longer than {content.cut_at} bytes, the most tcpwrap reads of "
                    f"a pattern file: tcpd reads it whole, tcpwrap stops here and fails closed "
                    f"for the rest (a client not found in the part read is taken as a match "
                    f"where a match denies, and as no match where it would grant): split the "
                    f"list into several files"
                )
        finally:
            self.file_stack.pop()
            report.at(*saved)


def _is_port(pattern: str) -> bool:
    value = scan_uint(pattern)
    return value is not None and value <= 65535


def _mapped(text: str) -> bool:
    value = parse_ipv6(text)
    return value is not None and value >> 32 == 0xFFFF
