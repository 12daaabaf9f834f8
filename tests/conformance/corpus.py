"""Random table pairs and hosts_ctl queries that exercise every corner of the rule language.

Used by the differential test against the real libwrap (and by the index property test). The
generator is seeded, so a failing corpus can be reproduced from the seed it prints. It covers
every pattern kind, EXCEPT nesting, user@host and daemon@host, ports, /file lists, netgroups,
every option (valid and broken), escaped colons, continuation lines, comments (also indented),
CRLF, lines without ':', over-long lines and a last line without a newline.

Constraints from the oracle, not from us: `user`/`group` options only name users and groups
that do not exist (Debian's dry run would really call setuid()), and /file lists never include
themselves (libwrap recurses until it crashes; we warn, see docs/compat.md).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ["sshd", "in.ftpd", "in.fingerd", "in.telnetd", "unknown", "local", "SSHD", "22", "x"]
# No name that merely looks numeric ("192.0.2.evil.example"): address wildcards deliberately
# never match names (docs/compat.md), so libwrap and we differ there by design.
NAMES = [
    "unknown",
    "",
    "paranoid",
    "alpha.example.com",
    "ALPHA.Example.COM",
    "plain",
    "gamma.example.org",
    "host10.corp.example.net",
    "www.example.com",
    "UNKNOWN",
    "Paranoid",
    "a.b",
    "example.com",
    "beta.example.com",
]
ADDRS = [
    "192.0.2.1",
    "192.0.2.5",
    "192.0.2.20",
    "192.0.20.1",
    "10.1.2.3",
    "10.0.2.1",
    "2001:db8::1",
    "2001:DB8:0:0::1",
    "2001:db8:1::5",
    "::1",
    "::ffff:192.0.2.1",
    "::FFFF:192.0.2.5",
    "unknown",
    "",
    "0xc0.0.2.1",
    "192.000.002.001",
    "127.0.0.1",
    "198.51.100.7",
    "255.255.255.255",
]
USERS = ["unknown", "", "joe", "JOE", "ann", "a_b", "jo.x", "x.oe", "AZ", "root", "local"]

DAEMON_TOKENS = [
    "ALL",
    "sshd",
    "in.ftpd",
    "in.fingerd",
    "in.",
    ".fingerd",
    "KNOWN",
    "LOCAL",
    "UNKNOWN",
    "PARANOID",
    "s*d",
    "in.?tpd",
    "*",
    "22",
    "0",
    "+0",
    "65536",
    "022x",
    "SSHD",
    "all",
    "sshd@ALL",
    "sshd@192.0.2.1",
    "ALL@unknown",
    "in.ftpd@KNOWN",
    "0@ALL",
    "x",
]
CLIENT_TOKENS = [
    "ALL",
    "KNOWN",
    "UNKNOWN",
    "PARANOID",
    "LOCAL",
    "all",
    "known",
    "unknown",
    "Local",
    "192.0.2.1",
    "192.0.2.5",
    "10.1.2.3",
    "192.0.2.",
    "192.0.",
    "10.",
    "192.0.2",
    ".2.1",
    ".example.com",
    ".EXAMPLE.COM",
    ".com",
    ".",
    "example.com",
    "alpha.example.com",
    "ALPHA.EXAMPLE.COM",
    "plain",
    "www.",
    "alpha.example.com.",
    "192.0.2.*",
    "*.example.com",
    "?lpha.example.com",
    ".example.*",
    "*",
    "192.0.2.?",
    "a**",
    "192.0.2.0/24",
    "192.0.2.0/255.255.255.0",
    "192.0.2.1/32",
    "192.0.2.1/255.255.255.255",
    "0.0.0.0/0.0.0.0",
    "0.0.0.0/0",
    "192.0.2.0/33",
    "192.0.2/24",
    "192.0.2.0/24junk",
    "10.0.0.0/8",
    "10.0.0.0/255.0.0.0",
    "[2001:db8::1]",
    "[2001:DB8:0:0::1]",
    "[2001:db8::]/32",
    "[::]/0",
    "[::ffff:192.0.2.1]",
    "[::ffff:192.0.2.0]/120",
    "[2001:db8::]/200",
    "[bad]",
    "[::1]",
    "joe@ALL",
    "KNOWN@ALL",
    "UNKNOWN@192.0.2.1",
    "JOE@ALL",
    "j?e@10.1.2.3",
    "jo.@ALL",
    ".oe@ALL",
    "a*z@ALL",
    "ALL@.example.com",
    "a@b@192.0.2.1",
    "@trusted",
    "@TRUSTED",
    "@users@ALL",
    "@nosuchgroup",
    "192.0.2.evil.example",
    "0xc0.0.2.1",
    "::ffff:192.0.2.1",
    "a_b@ALL",
    "local@ALL",
    "EXCEPT",
    "EXCEPT",
    "EXCEPT",
    "except",
]
OPTIONS = [
    "allow",
    "deny",
    "ALLOW",
    "Deny",
    "spawn echo %a %h %u %d",
    "spawn=echo =x",
    "twist echo x",
    "severity auth.info",
    "severity LOCAL0.WARNING",
    "severity bogus",
    "severity mail.bogus",
    "severity bogus.info",
    "severity info",
    "umask 022",
    "umask 999",
    "umask 0777",
    "umask 1000",
    "umask -1",
    "nice",
    "nice -5",
    "nice abc",
    "rfc931",
    "rfc931 3",
    "rfc931 0",
    "rfc931 5x",
    "linger 10",
    "linger -1",
    "linger abc",
    "keepalive",
    "keepalive 1",
    "setenv TCPWRAP_DIFF x",
    "setenv A=B x",
    "setenv TCPWRAP_DIFF",
    "banners /nonexistent/tcpwrap-banners",
    "aclexec /bin/false",
    "user nosuchuser9",
    "user nosuchuser9.nosuchgroup9",
    "group nosuchgroup9",
    "frobnicate",
    "/bin/echo hello",
    "",
    " ",
    "=x",
    "spawn",
    "allow yes",
    "deny = now",
    "spawn echo a\\:b\\\\:c",
    "spawn echo %x %%",
]


@dataclass(frozen=True)
class Corpus:
    allow: bytes
    deny: bytes
    files: dict[str, bytes]
    queries: list[tuple[str, str, str, str]]


def _list(rng: random.Random, tokens: list[str], at_most: int) -> str:
    count = rng.randint(0, at_most)
    picked = [rng.choice(tokens) for _ in range(count)]
    seps = [", ", " ", ",", "\t", " , ", ",,"]
    out = ""
    for i, tok in enumerate(picked):
        out += (rng.choice(seps) if i else "") + tok
    return out


def _rule(rng: random.Random, file_tokens: list[str]) -> str:
    daemons = _list(rng, DAEMON_TOKENS, 3) or "ALL"
    clients = _list(rng, CLIENT_TOKENS + file_tokens, 4)
    line = f"{daemons}: {clients}"
    if rng.random() < 0.45:
        opts = [rng.choice(OPTIONS) for _ in range(rng.randint(1, 3))]
        sep = rng.choice([": ", ":", " : "])
        line += sep + sep.join(opts)
    return line


def _line(rng: random.Random, file_tokens: list[str]) -> str:
    roll = rng.random()
    if roll < 0.04:
        return "# a comment"
    if roll < 0.06:
        return "  # " + _rule(rng, file_tokens)  # indented: a live rule
    if roll < 0.08:
        return ""
    if roll < 0.10:
        return _rule(rng, file_tokens).replace(":", " ", 1)  # missing ':' separator
    if roll < 0.12:
        rule = _rule(rng, file_tokens)
        cut = rng.randint(0, len(rule))
        return rule[:cut] + "\\\n" + rule[cut:]  # continuation line
    if roll < 0.13:
        return "# " + "x" * rng.choice([2040, 2044, 2045, 2046, 2050])  # around the limit
    if roll < 0.14:
        return "# comment ending in backslash \\"
    return _rule(rng, file_tokens)


def _table(rng: random.Random, file_tokens: list[str]) -> bytes:
    lines = [_line(rng, file_tokens) for _ in range(rng.randint(0, 8))]
    text = "\n".join(lines)
    if rng.random() < 0.1:
        text = text.replace("\n", "\r\n")
    if lines and rng.random() > 0.05:
        text += "\n"  # 5%: the last line has no newline
    return text.encode("latin-1")


def make_corpus(rng: random.Random, directory: Path, queries: int = 20) -> Corpus:
    files: dict[str, bytes] = {}
    file_tokens: list[str] = []
    for i in range(rng.randint(0, 2)):
        path = directory / f"list{i}"
        body = " ".join(rng.choice(CLIENT_TOKENS[:60]) for _ in range(rng.randint(0, 5)))
        if i and rng.random() < 0.5:
            body += f"\n{directory / 'list0'}"  # nesting (never a cycle: list0 names nothing)
        files[str(path)] = (body + "\n").encode()
        file_tokens.append(str(path))
    file_tokens.append(str(directory / "missing-list"))
    allow = _table(rng, file_tokens)
    deny = _table(rng, file_tokens)
    qs = [
        (rng.choice(DAEMONS), rng.choice(NAMES), rng.choice(ADDRS), rng.choice(USERS))
        for _ in range(queries)
    ]
    return Corpus(allow, deny, files, qs)
