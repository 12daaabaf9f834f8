"""Tables with the shapes real hosts.allow/hosts.deny files have, generated deterministically.

Written for these tests (no third-party file is copied): the shapes are those seen in published
DenyHosts and fail2ban deny lists, distro defaults and configuration roles:
* a DenyHosts hosts.deny: a commented header, then per ban a `# DenyHosts: <date> | ALL: <a>`
  comment and the rule, thousands of lines, some `sshd:` bans; variants with a NUL run left
  by a crash during an append, with CRLF line ends, without a final newline;
* an allow list with zero-width spaces (UTF-8 e2 80 8b) and non-breaking spaces (c2 a0) pasted
  into addresses, unbracketed IPv6 networks (`2001:db8::/32`) next to bracketed ones, tabs,
  trailing-backslash continuations, EXCEPT chains, `spawn` lines with `%` expansions;
* a deny table that includes big `/file` lists (one address a line, and several a line).
Each `Fixture` comes with queries: banned and free addresses, the addresses around the NUL run,
and clients whose address carries the same non-ASCII bytes as the table.

Spawned commands only run /bin/true (libwrap's dry run and ours run none, but a mistake must
stay harmless).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

HEADER = (
    "#\n"
    "# hosts.deny\tRules for clients that may not use the wrapped services.\n"
    "#\t\tThis copy is kept by DenyHosts: do not edit the lines below by hand.\n"
    "#\n"
    "# The format is described in hosts_access(5) and hosts_options(5).\n"
    "#\n"
    "# ALL: PARANOID\n"
    "\n"
)
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
ZWSP = "\u00e2\u0080\u008b"  # U+200B in UTF-8, one character per byte (Latin-1 view)
NBSP = "\u00c2\u00a0"  # U+00A0 in UTF-8
# Addresses the generated lists never ban (the "free" clients), outside 100.64.0.0/10.
FREE = ["192.0.2.1", "192.0.2.200", "198.51.100.7", "203.0.113.5", "10.1.2.3", "127.0.0.1"]


@dataclass
class Fixture:
    name: str
    allow: bytes
    deny: bytes
    files: dict[str, bytes] = field(default_factory=dict)  # absolute path -> content
    queries: list[tuple[str, str, str, str]] = field(default_factory=list)  # ctl arguments


def banned(i: int) -> str:
    """The i-th banned address (distinct for i < 2**22), in 100.64.0.0/10."""
    value = (i * 2654435761) % (1 << 22)
    return f"100.{64 + (value >> 16)}.{(value >> 8) & 255}.{value & 255}"


def _stamp(rng: random.Random) -> str:
    return (
        f"{rng.choice(DAYS)} {rng.choice(MONTHS)} {rng.randint(1, 28):2d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} 2026"
    )


def denyhosts_lines(rng: random.Random, count: int, start: int = 0) -> list[str]:
    """`count` bans as DenyHosts appends them: a dated comment, then the rule."""
    lines: list[str] = []
    for i in range(start, start + count):
        address = banned(i)
        daemon = "sshd" if i % 7 == 3 else "ALL"
        lines.append(f"# DenyHosts: {_stamp(rng)} | {daemon}: {address}")
        lines.append(f"{daemon}: {address}")
    return lines


def _queries(addresses: list[str], rng: random.Random) -> list[tuple[str, str, str, str]]:
    daemons = ["sshd", "in.ftpd", "sshd", "smtpd"]
    names = ["unknown", "unknown", "host.example.com"]
    return [
        (rng.choice(daemons), rng.choice(names), address, rng.choice(["unknown", "joe"]))
        for address in addresses
    ]


def denyhosts(rng: random.Random, size: int) -> Fixture:
    text = HEADER + "\n".join(denyhosts_lines(rng, size)) + "\n"
    sample = [banned(i) for i in rng.sample(range(size), 60)] + FREE
    return Fixture("denyhosts", b"", text.encode("latin-1"), {}, _queries(sample, rng))


def denyhosts_nul_run(rng: random.Random, size: int) -> Fixture:
    """A crash while appending: the text of a line, a run of NUL bytes, then the next bans."""
    half = size // 2
    before = HEADER + "\n".join(denyhosts_lines(rng, half)) + "\n"
    torn = f"# DenyHosts: {_stamp(rng)} | ALL: {banned(half)}\nALL: {banned(half)}"
    after = "\n".join(denyhosts_lines(rng, size - half - 1, half + 1)) + "\n"
    data = (before + torn).encode("latin-1") + b"\x00" * 1337 + b"\n" + after.encode("latin-1")
    around = [banned(i) for i in range(half - 3, half + 5)]
    sample = around + [banned(i) for i in rng.sample(range(size), 40)] + FREE
    return Fixture("denyhosts-nul-run", b"", data, {}, _queries(sample, rng))


def denyhosts_crlf(rng: random.Random, size: int) -> Fixture:
    """Edited on another system: CRLF line ends."""
    text = (HEADER + "\n".join(denyhosts_lines(rng, size)) + "\n").replace("\n", "\r\n")
    sample = [banned(i) for i in rng.sample(range(size), 40)] + [banned(size - 1)] + FREE
    return Fixture("denyhosts-crlf", b"", text.encode("latin-1"), {}, _queries(sample, rng))


def allow_list(rng: random.Random, directory: Path) -> Fixture:
    """A hand-kept allow list with the traps of copied and pasted text, and a deny-all."""
    allow = "\n".join([
        "# hosts.allow: who may use the wrapped services",
        "#",
        "ALL:\tLOCAL, 127.0.0.1, [::1]",
        f"sshd: 192.0.2.{ZWSP}1\t# pasted from a web page",
        f"sshd:{NBSP}198.51.100.7",
        "sshd: 2001:db8::/32",
        "sshd: [2001:db8:1::]/48, 203.0.113.0/255.255.255.0",
        "in.ftpd: 10.0.0.0/8 EXCEPT 10.1.0.0/16 EXCEPT 10.1.2.3",
        "sshd, in.ftpd: .example.com EXCEPT evil.example.com, \\",
        "\t192.0.2.128/25, \\",
        "\t198.51.100.",
        "in.fingerd: ALL EXCEPT 192.0.2.5: spawn /bin/true %a %c %d %h %n %p %s %u : allow",
        "smtpd: ALL: spawn (/bin/true %h %a) & : severity auth.info : allow",
        "sshd: ALL EXCEPT 100.64.0.0/10: setenv CLIENT=%a : allow \\",
        "",
        "ALL: ALL: deny",
        "",
    ]) + "\n"
    deny = "ALL: ALL\n"
    queries: list[tuple[str, str, str, str]] = []
    for address in [
        f"192.0.2.{ZWSP}1", "192.0.2.1", "198.51.100.7", f"{NBSP}198.51.100.7", "2001:db8::1",
        "2001:db8:1::5", "203.0.113.9", "10.9.9.9", "10.1.5.5", "10.1.2.3", "192.0.2.130",
        "198.51.100.99", "192.0.2.5", "192.0.2.6", "100.64.1.1", "127.0.0.1", "::1",
    ]:
        for daemon in ("sshd", "in.ftpd", "in.fingerd", "smtpd", "in.telnetd"):
            name = rng.choice(["unknown", "a.example.com", "evil.example.com"])
            queries.append((daemon, name, address, "unknown"))
    return Fixture("allow-list", allow.encode("latin-1"), deny.encode("latin-1"), {}, queries)


def file_includes(rng: random.Random, directory: Path, size: int) -> Fixture:
    """hosts.deny including big /file lists, as fail2ban-style setups keep them."""
    one = directory / "banned-one-a-line"
    many = directory / "banned-several-a-line"
    nested = directory / "banned-nested"
    first = [banned(i) for i in range(size)]
    second = [banned(i) for i in range(size, size + size // 2)]
    files = {
        str(one): ("\n".join(first) + "\n").encode(),
        str(many): "".join(
            "\t".join(second[i : i + 5]) + "\n" for i in range(0, len(second), 5)
        ).encode(),
        str(nested): f"{many}\n{banned(3 * size)}\n".encode(),
    }
    deny = (
        "# bans kept by the ban script\n"
        f"ALL: {one}\n"
        f"sshd: {nested} EXCEPT 100.64.0.0/16\n"
        "in.ftpd: ALL EXCEPT LOCAL\n"
    )
    sample = (
        [first[i] for i in rng.sample(range(size), 40)]
        + [second[i] for i in rng.sample(range(len(second)), 40)]
        + [banned(3 * size)]
        + FREE
    )
    return Fixture("file-includes", b"", deny.encode(), files, _queries(sample, rng))


def fixtures(directory: Path, seed: int = 20261201, scale: int = 1) -> list[Fixture]:
    """Every fixture; `scale` multiplies the sizes (1: thousands of lines each)."""
    rng = random.Random(seed)
    return [
        denyhosts(rng, 6000 * scale),
        denyhosts_nul_run(rng, 6000 * scale),
        denyhosts_crlf(rng, 3000 * scale),
        allow_list(rng, directory),
        file_includes(rng, directory, 8000 * scale),
    ]


def write(fixture: Fixture, directory: Path) -> tuple[Path, Path]:
    """Write the fixture's tables (hosts.allow, hosts.deny) and lists; returns the tables."""
    directory.mkdir(parents=True, exist_ok=True)
    allow, deny = directory / "hosts.allow", directory / "hosts.deny"
    allow.write_bytes(fixture.allow)
    deny.write_bytes(fixture.deny)
    for path, data in fixture.files.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return allow, deny
