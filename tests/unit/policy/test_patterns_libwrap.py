"""patterns: the address-wildcard deviation (docs/compat.md 4) against the real libwrap.

The deviation may only ever make a verdict stricter than libwrap's: an address wildcard
(`192.0.2.*`) matches addresses only where a match would grant, and reads the name as libwrap
does where a match denies (a deny rule, an EXCEPT in a grant rule, `deny`/`allow` options).
Tokens of wildcards alone (`*.*`, `??`) are Debian's everywhere. Generated table pairs and
hosts_ctl() queries with names that look like addresses are asked of both.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from types import ModuleType

import pytest

import tcpwrap
from harness.oracle import libwrap_ctl

TABLES = int(os.environ.get("TCPWRAP_WILDCARD_TABLES", "400"))
SEED = int(os.environ.get("TCPWRAP_WILDCARD_SEED", "8"))

pytestmark = pytest.mark.oracle

TOKENS = ["192.0.2.*", "192.0.?.1", "*.*", "??", "*", "*.example", "192.0.2.1", "ALL",
          "198.51.100.", "v6.example"]  # fmt: skip
CLIENTS = [
    ("192.0.2.evil.example", "203.0.113.74"),
    ("v6.example", "2001:db8::1"),
    ("ab", "2001:db8::2"),
    ("unknown", "192.0.2.9"),
    ("192.0.2.1", "198.51.100.3"),
    ("host.example", "192.0.9.1"),
]


def _libwrap() -> ModuleType:
    return libwrap_ctl()


def _rule(rng: random.Random) -> str:
    clients = " ".join(rng.sample(TOKENS, rng.randrange(1, 3)))
    if rng.randrange(3) == 0:
        clients += " EXCEPT " + rng.choice(TOKENS)
    option = rng.choice(["", "", "", ": allow", ": deny"])
    return f"sshd: {clients}{option}\n"


def test_the_deviation_never_grants_what_libwrap_denies(tmp_path: Path) -> None:
    module = _libwrap()
    rng = random.Random(SEED)
    stricter = equal = 0
    for number in range(TABLES):
        allow, deny = tmp_path / f"allow{number}", tmp_path / f"deny{number}"
        allow.write_text("".join(_rule(rng) for _ in range(rng.randrange(0, 3))))
        deny.write_text("".join(_rule(rng) for _ in range(rng.randrange(0, 3))))
        wrap = module.LibWrap(str(allow), str(deny))
        for name, address in CLIENTS:
            wrap.dry_run.value = 1
            theirs = bool(wrap.lib.hosts_ctl(b"sshd", name.encode(), address.encode(), b"x"))
            ours = tcpwrap.hosts_ctl("sshd", name, address, "x", allow=str(allow),
                                     deny=str(deny))  # fmt: skip
            case = (number, name, address, allow.read_text(), deny.read_text())
            assert not (ours and not theirs), case
            if ours == theirs:
                equal += 1
            else:
                stricter += 1
    assert equal > stricter > 0  # the deviation still applies somewhere, and only there


@pytest.mark.parametrize(
    ("deny", "name", "address"),
    [
        ("ALL: *.*\n", "v6.example", "2001:db8::1"),  # issue 12 item 8
        ("ALL: ??\n", "ab", "2001:db8::1"),
        ("ALL: 192.0.2.*\n", "192.0.2.evil.example", "203.0.113.74"),  # H01 in a deny table
        ("ALL: ALL EXCEPT *.*\n", "v6.example", "2001:db8::1"),
    ],
)
def test_deny_table_wildcards_deny_as_libwrap_does(
    tmp_path: Path, deny: str, name: str, address: str
) -> None:
    module = _libwrap()
    (tmp_path / "a").write_text("")
    (tmp_path / "d").write_text(deny)
    wrap = module.LibWrap(str(tmp_path / "a"), str(tmp_path / "d"))
    wrap.dry_run.value = 1
    theirs = bool(wrap.lib.hosts_ctl(b"sshd", name.encode(), address.encode(), b"x"))
    ours = tcpwrap.hosts_ctl("sshd", name, address, allow=str(tmp_path / "a"),
                             deny=str(tmp_path / "d"))  # fmt: skip
    assert ours is theirs


SCOPED_RULES = ["[fe80::1]", "[fe80::]/10", "[fe80::1%lo]", "[::1]", "[::1%1]", "fe80*",
                "ALL EXCEPT [fe80::1]", "[::]/0"]  # fmt: skip
SCOPED_CLIENTS = ["fe80::1%lo", "fe80::1%1", "fe80::1%nosuch", "fe80::1%", "::1%lo", "::1%1",
                  "2001:db8::1%lo", "ff02::1%lo", "fe80::1%1x", "fe80::1"]  # fmt: skip


@pytest.mark.parametrize("rule", SCOPED_RULES)
def test_scoped_ipv6_clients_through_hosts_ctl_as_libwrap(tmp_path: Path, rule: str) -> None:
    # issue 12 item 9: a %scope is accepted exactly where glibc's getaddrinfo accepts it (a
    # number anywhere, an existing interface's name on a link-local address), never compared
    module = _libwrap()
    (tmp_path / "a").write_text("")
    (tmp_path / "d").write_text(f"sshd: {rule}\n")
    wrap = module.LibWrap(str(tmp_path / "a"), str(tmp_path / "d"))
    for client in SCOPED_CLIENTS:
        wrap.dry_run.value = 1
        theirs = bool(wrap.lib.hosts_ctl(b"sshd", b"unknown", client.encode(), b"x"))
        ours = tcpwrap.hosts_ctl("sshd", "unknown", client, allow=str(tmp_path / "a"),
                                 deny=str(tmp_path / "d"))  # fmt: skip
        assert ours is theirs, (rule, client)
