"""patterns: every token form of docs/rules.md, against plain facts.

Most tests use a FakeContext (support.py) that records which lookups a pattern forces; /file
lists and netgroups go through evaluate() with a StaticEnvironment, because the file stack
(cycles, depth) lives in the evaluator.
"""

from __future__ import annotations

import pytest

from tcpwrap.errors import Kind
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.patternfile import PatternFile
from tcpwrap.policy.patterns import (
    CLIENT,
    SERVER,
    AddressOrName,
    AllWord,
    Bracket6,
    DaemonAt,
    DaemonName,
    Exact,
    FileList,
    Glob,
    KnownHost,
    KnownWord,
    LocalHost,
    Netgroup,
    NetMask,
    Port,
    Prefix,
    Suffix,
    UserAt,
    compile_client_item,
    compile_client_list,
    compile_daemon_item,
    compile_daemon_list,
    compile_host,
    compile_string,
    names_too,
    split_list,
)

from .support import FakeContext, conn, decide, texts

# --------------------------------------------------------------------------- string_match


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("a*", Glob),
        ("?", Glob),
        (".example.*", Glob),  # the glob pre-empts the suffix form
        ("*.", Glob),
        (".example.com", Suffix),
        ("ALL", AllWord),
        ("all", AllWord),
        ("KnOwN", KnownWord),
        ("192.0.2.", Prefix),
        ("[2001:db8::1]", Bracket6),
        ("sshd", Exact),
        ("UNKNOWN", Exact),
        ("[", Exact),
        ("]", Exact),
    ],
)
def test_string_form_precedence(token: str, kind: type) -> None:
    assert type(compile_string(token)) is kind


@pytest.mark.parametrize(
    ("token", "subject", "expected"),
    [
        ("a*", "a", True),
        ("a*", "abc", True),
        ("a**", "a", False),  # match_pattern_ylo: "**" needs a non-empty remainder
        ("a**", "ab", True),
        ("a*z", "AZ", True),  # G02: case-insensitive
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("*", "", True),
        ("?", "", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "example.com", False),
        (".example.*", "alpha.example.com", False),  # C16: whole-string glob
        (".example.*", ".example.com", True),
        ("[ab]*", "a", False),  # no classes: '[' is literal
        ("[ab]*", "[ab]x", True),
        ("192.0.2.*", "::ffff:192.0.2.9", True),  # IPv4-mapped stripped first
        ("a*", "b\na", False),
    ],
)
def test_glob(token: str, subject: str, expected: bool) -> None:
    assert compile_string(token).match(subject) is expected


@pytest.mark.parametrize(
    ("token", "subject", "expected"),
    [
        (".example.com", "a.example.com", True),
        (".example.com", "A.EXAMPLE.COM", True),
        (".example.com", "example.com", False),
        (".example.com", "notexample.com", False),
        (".example.com", ".example.com", False),  # strictly longer
        (".", "a.", True),
        (".", ".", False),
        (".2.1", "192.0.2.1", True),
        (".2.1", "::ffff:192.0.2.1", True),
        ("192.0.2.", "192.0.2.7", True),
        ("192.0.2.", "192.0.20.1", False),
        ("192.0.2.", "192.0.2.", True),
        ("192.0.2.", "192.0.2", False),
        ("192.0.2.", "::FFFF:192.0.2.7", True),
        ("www.", "WWW.example.com", True),
        ("alpha.example.com.", "alpha.example.com", False),  # C27
        ("in.", "in.fingerd", True),
        ("ALL", "", True),
        ("ALL", "anything", True),
        ("KNOWN", "x", True),
        ("KNOWN", "unknown", False),
        ("KNOWN", "UNKNOWN", False),
        ("KNOWN", "paranoid", True),  # as a string, only "unknown" is unknown
        ("sshd", "SSHD", True),
        ("sshd", "sshd2", False),
        ("192.0.2.1", "::ffff:192.0.2.1", True),  # C15
        ("192.0.2.1", "0xc0.0.2.1", False),  # E08: textual comparison
        ("192.0.2.1", "192.000.2.1", False),
        ("[2001:DB8:0:0::1]", "2001:db8::1", True),  # C13: numeric IPv6 equality
        ("[2001:db8::1]", "2001:db8::2", False),
        ("[2001:db8::1]", "192.0.2.1", False),
        ("[::ffff:192.0.2.1]", "::ffff:192.0.2.1", False),  # H02: never
        ("[::ffff:192.0.2.1]", "192.0.2.1", False),
        ("[garbage]", "garbage", False),
        ("[]", "", False),
    ],
)
def test_string_match(token: str, subject: str, expected: bool) -> None:
    assert compile_string(token).match(subject) is expected


# --------------------------------------------------------------------------- host_match


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        ("@trusted", Netgroup),
        ("/etc/blacklist", FileList),
        ("KNOWN", KnownHost),
        ("local", LocalHost),
        ("192.0.2.0/24", NetMask),
        ("[2001:db8::]/32", NetMask),
        ("a/b", NetMask),
        ("192.0.2.1", AddressOrName),
        ("ALL", AddressOrName),
        ("UNKNOWN", AddressOrName),
        ("PARANOID", AddressOrName),
    ],
)
def test_host_dispatch_order(token: str, kind: type) -> None:
    assert type(compile_host(token)) is kind


def host(token: str, ctx: FakeContext, side: int = CLIENT) -> bool:
    return compile_host(token).match(ctx, side)


@pytest.mark.parametrize(
    ("token", "address", "expected"),
    [
        ("192.0.2.0/255.255.255.0", "192.0.2.7", True),
        ("192.0.2.0/255.255.255.0", "192.0.3.7", False),
        ("192.0.2.1/255.255.255.0", "192.0.2.1", False),  # C11: no normalisation of net
        ("192.0.2.0/255.255.255.128", "192.0.2.127", True),
        ("192.0.2.0/255.255.255.128", "192.0.2.128", False),
        ("192.0.2.1/255.255.255.255", "192.0.2.1", False),  # C12: all-ones mask invalid
        ("192.0.2.1/32", "192.0.2.1", True),
        ("192.0.2.0/24", "192.0.2.200", True),
        ("192.0.2.0/24junk", "192.0.2.200", True),  # atoi: trailing junk ignored
        ("192.0.2.0/24", "192.0.3.1", False),
        ("192.0.2.1/24", "192.0.2.1", False),
        ("0.0.0.0/0.0.0.0", "203.0.113.9", True),
        ("0.0.0.0/0", "203.0.113.9", False),  # /0 is out of range
        ("192.0.2.0/33", "192.0.2.1", False),
        ("192.0.2.0/-8", "192.0.2.1", False),
        ("192.0.2/24", "192.0.2.1", False),  # three parts never match
        ("0x0a.0.0.0/255.0.0.0", "10.9.8.7", True),  # inet_addr forms for the net
        ("010.0.0.0/255.0.0.0", "8.1.2.3", True),
        ("192.0.2.0/24", "::ffff:192.0.2.9", True),  # mapped address: IPv4 rules
        ("192.0.2.0/24", "2001:db8::1", False),
        ("192.0.2.0/24", "unknown", False),
        ("192.0.2.0/24", "192.0.2", False),
        ("[2001:db8::]/32", "2001:db8:ffff::1", True),
        ("[2001:db8::]/32", "2001:db9::1", False),
        ("[2001:db8::]/32", "192.0.2.1", False),
        ("[::]/0", "2001:db8::1", True),  # /0 is valid for IPv6...
        ("[::]/0", "192.0.2.1", False),  # ...but only for IPv6
        ("[::]/0", "::ffff:192.0.2.1", False),
        ("[2001:db8::1]/128", "2001:db8::1", True),
        ("[2001:db8::]/129", "2001:db8::1", False),
        ("[::ffff:192.0.2.0]/120", "::ffff:192.0.2.1", False),  # H02
        ("[bogus]/16", "2001:db8::1", False),
        ("2001:db8::/32", "2001:db8::1", False),  # an IPv6 net needs brackets
    ],
)
def test_net_mask_validity(token: str, address: str, expected: bool) -> None:
    ctx = FakeContext(addrs=(address, "unknown"))
    assert host(token, ctx) is expected
    assert ctx.looked_up == []  # net/mask never looks a name up


@pytest.mark.parametrize(
    ("token", "address", "name", "expected", "lookups"),
    [
        ("192.0.2.1", "192.0.2.1", "x", True, []),
        ("192.0.2.1", "192.0.2.9", "192.0.2.1", False, []),  # numeric: address only
        ("192.0.2.", "203.0.113.7", "192.0.2.evil.example", False, []),
        (".2.1", "203.0.113.7", "a.2.1", False, []),
        ("ALL", "192.0.2.9", "x", True, []),  # never a lookup
        ("host.example.com", "192.0.2.9", "HOST.example.com", True, ["name0"]),
        ("host.example.com", "192.0.2.9", "other", False, ["name0"]),
        (".example.com", "192.0.2.9", "a.example.com", True, ["name0"]),
        ("UNKNOWN", "unknown", "x", True, []),  # the address already says unknown
        ("UNKNOWN", "192.0.2.9", "unknown", True, ["name0"]),
        ("UNKNOWN", "192.0.2.9", "a.example", False, ["name0"]),
        ("PARANOID", "192.0.2.9", "paranoid", True, ["name0"]),
        ("PARANOID", "192.0.2.9", "a.example", False, ["name0"]),
        ("KNOWN", "192.0.2.9", "a.example", True, ["name0"]),
        ("KNOWN", "192.0.2.9", "paranoid", False, ["name0"]),
        ("KNOWN", "192.0.2.9", "unknown", False, ["name0"]),
        ("KNOWN", "unknown", "a.example", False, ["name0"]),
        ("LOCAL", "192.0.2.9", "plain", True, ["name0"]),
        ("LOCAL", "192.0.2.9", "a.example", False, ["name0"]),
        ("LOCAL", "192.0.2.9", "unknown", False, ["name0"]),
        ("LOCAL", "192.0.2.9", "PARANOID", False, ["name0"]),
        ("[2001:db8::1]", "192.0.2.9", "x", False, ["name0"]),  # pointless lookup (docs/rules.md)
        ("a*", "192.0.2.9", "alpha", True, ["name0"]),
        # compat (docs/compat.md, H01): an all-numeric wildcard is an address pattern only
        ("192.0.2.*", "203.0.113.74", "192.0.2.evil2.dns.test", False, []),
        ("192.0.2.*", "192.0.2.74", "x", True, []),
        ("1?2.0.2.1", "132.0.2.1", "x", True, []),
        # wildcards alone are no address patterns: the name too, as in Debian (issue 12)
        ("*.*", "2001:db8::1", "v6.example", True, ["name0"]),
        ("??", "2001:db8::1", "ab", True, ["name0"]),
    ],
)
def test_address_then_name(
    token: str, address: str, name: str, expected: bool, lookups: list[str]
) -> None:
    ctx = FakeContext(addrs=(address, "unknown"), names=(name, "unknown"))
    assert host(token, ctx) is expected
    assert ctx.looked_up == lookups


@pytest.mark.parametrize(
    ("token", "address", "name", "expected", "lookups"),
    [
        # where a match denies, an address wildcard reads the name as Debian's does
        ("192.0.2.*", "203.0.113.74", "192.0.2.evil2.dns.test", True, ["name0"]),
        ("192.0.2.*", "192.0.2.74", "x", True, []),
        ("1?2.0.2.1", "203.0.113.1", "x", False, ["name0"]),
    ],
)
def test_address_wildcard_in_a_restrictive_position(
    token: str, address: str, name: str, expected: bool, lookups: list[str]
) -> None:
    ctx = FakeContext(addrs=(address, "unknown"), names=(name, "unknown"), restrictive=True)
    assert host(token, ctx) is expected
    assert ctx.looked_up == lookups


def test_except_flips_the_position() -> None:
    ctx = FakeContext(addrs=("203.0.113.74", "unknown"), names=("192.0.2.x", "unknown"))
    grant = compile_client_list("ALL EXCEPT 192.0.2.*")
    assert not grant.match(ctx)  # in an allow rule the EXCEPT is restrictive: name compared
    assert ctx.restrictive is False  # restored after the EXCEPT
    ctx.restrictive = True
    assert grant.match(ctx)  # in a deny rule the EXCEPT would grant: address only
    assert ctx.restrictive is True


def test_names_too() -> None:
    assert not names_too("192.0.2.1")
    assert not names_too("192.0.2.*")
    assert names_too("*") and names_too("*.*") and names_too("??")  # no address patterns
    assert names_too("*.example")
    assert names_too("[::1]")
    assert names_too("ALL")  # ALL matches by the address anyway


def test_server_side_uses_the_server_endpoint() -> None:
    ctx = FakeContext(addrs=("192.0.2.1", "198.51.100.1"), names=("c.example", "s.example"))
    assert host("198.51.100.1", ctx, SERVER)
    assert not host("192.0.2.1", ctx, SERVER)
    assert host("s.example", ctx, SERVER)
    assert ctx.looked_up == ["name1"]


def test_netgroup_uses_the_name() -> None:
    ctx = FakeContext(names=("h.example", "unknown"), netgroups={"trusted": {"h.example"}})
    assert host("@trusted", ctx)
    assert not host("@TRUSTED", ctx)  # netgroup names are case-sensitive
    assert not host("@other", ctx)
    assert ctx.looked_up == ["name0"] * 3


# --------------------------------------------------------------------------- daemon items


@pytest.mark.parametrize(
    ("token", "port", "expected"),
    [
        ("22", 22, True),
        ("022", 22, True),
        ("+22", 22, True),
        ("22", 23, False),
        ("22", None, False),  # server endpoint unknown
        ("0", 0, True),
        ("00", 0, True),
        ("+0", 0, True),
        ("65535", 65535, True),
    ],
)
def test_port_patterns(token: str, port: int | None, expected: bool) -> None:
    item = compile_daemon_item(token)
    assert isinstance(item, Port)
    assert item.match(FakeContext(port=port)) is expected


@pytest.mark.parametrize("token", ["65536", "022x", "-1x", "22 "])
def test_non_ports_are_daemon_names(token: str) -> None:
    item = compile_daemon_item(token)
    assert isinstance(item, DaemonName)
    assert not item.match(FakeContext(port=22, daemon_name="sshd"))
    assert item.match(FakeContext(daemon_name=token.upper()))


@pytest.mark.parametrize(
    ("token", "daemon", "expected"),
    [
        ("sshd", "SSHD", True),
        ("in.", "in.fingerd", True),  # G01: dot magic on daemon names
        (".fingerd", "in.fingerd", True),
        ("in.*", "in.ftpd", True),
        ("ALL", "x", True),
        ("KNOWN", "x", True),
        ("KNOWN", "unknown", False),  # C29
        ("LOCAL", "local", True),  # literal in daemon lists
        ("LOCAL", "sshd", False),
        ("UNKNOWN", "unknown", True),
        ("PARANOID", "paranoid", True),
        ("@netgroup", "@netgroup", True),  # literal, never a netgroup here
        ("/etc/file", "/etc/file", True),
    ],
)
def test_daemon_names(token: str, daemon: str, expected: bool) -> None:
    assert compile_daemon_item(token).match(FakeContext(daemon_name=daemon)) is expected


def test_daemon_at_host() -> None:
    item = compile_daemon_item("sshd@198.51.100.1")
    assert isinstance(item, DaemonAt)
    ctx = FakeContext(addrs=("192.0.2.1", "198.51.100.1"))
    assert item.match(ctx)
    assert not compile_daemon_item("sshd@192.0.2.1").match(ctx)
    assert not compile_daemon_item("ftpd@198.51.100.1").match(ctx)
    # C24/H03: 0@host matches tcpdmatch's port-0 server endpoint
    assert compile_daemon_item("0@198.51.100.1").match(FakeContext(port=0, addrs=ctx.addrs))
    assert compile_daemon_item("sshd@[2001:db8::5]").match(
        FakeContext(addrs=("192.0.2.1", "2001:db8::5"))
    )
    # a leading @ is not a separator: "@x" is a literal daemon name
    assert isinstance(compile_daemon_item("@x"), DaemonName)


def test_daemon_name_not_evaluated_when_host_would_need_a_lookup() -> None:
    ctx = FakeContext(daemon_name="ftpd", names=("c", "s.example"))
    assert not compile_daemon_item("sshd@s.example").match(ctx)
    assert ctx.looked_up == []  # the daemon part failed first


# --------------------------------------------------------------------------- client items


def test_user_at_host_checks_the_host_first() -> None:
    item = compile_client_item("joe@192.0.2.1")
    assert isinstance(item, UserAt)
    ctx = FakeContext(addrs=("192.0.2.9", "unknown"))
    assert not item.match(ctx)
    assert ctx.looked_up == []  # no ident query when the host part failed
    ctx = FakeContext(user_name="JOE")
    assert item.match(ctx)
    assert ctx.looked_up == ["user"]


@pytest.mark.parametrize(
    ("token", "user", "expected"),
    [
        ("KNOWN@ALL", "joe", True),
        ("KNOWN@ALL", "unknown", False),
        ("UNKNOWN@ALL", "unknown", True),  # compared literally
        ("UNKNOWN@ALL", "joe", False),
        ("ALL@ALL", "unknown", True),
        ("j*@ALL", "JOE", True),
        (".oe@ALL", "j.oe", True),
        ("@staff@ALL", "@staff", True),  # C20: not a netgroup in the user part
        ("@staff@ALL", "joe", False),
        ("LOCAL@ALL", "local", True),
    ],
)
def test_user_patterns(token: str, user: str, expected: bool) -> None:
    assert compile_client_item(token).match(FakeContext(user_name=user)) is expected


def test_several_at_signs_cut_at_the_first() -> None:
    # G09: "a@b@host" is user "a" with the literal host part "b@host"
    item = compile_client_item("a@b@host")
    assert isinstance(item, UserAt)
    ctx = FakeContext(user_name="a", addrs=("b@host", "unknown"))
    assert item.match(ctx)
    assert not item.match(FakeContext(user_name="a"))


def test_at_sign_at_position_zero_is_a_netgroup() -> None:
    item = compile_client_item("@trusted")
    assert type(item).__name__ == "ClientHost"
    assert isinstance(item.host, Netgroup)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- lists


def test_split_list_separators() -> None:
    # B18: runs of comma, space, tab, CR, LF vanish; other blanks do not separate
    assert split_list("a,,b \t c\r\nd,") == ["a", "b", "c", "d"]
    assert split_list("a\vb") == ["a\vb"]
    assert split_list(" , ") == []


def clients(text: str, address: str) -> bool:
    return compile_client_list(text).match(FakeContext(addrs=(address, "unknown")))


@pytest.mark.parametrize(
    ("text", "address", "expected"),
    [
        # C02: A EXCEPT B EXCEPT C = A and not (B and not C)
        ("192.0.2. EXCEPT 192.0.2.0/255.255.255.128 EXCEPT 192.0.2.1", "192.0.2.1", True),
        ("192.0.2. EXCEPT 192.0.2.0/255.255.255.128 EXCEPT 192.0.2.1", "192.0.2.2", False),
        ("192.0.2. EXCEPT 192.0.2.0/255.255.255.128 EXCEPT 192.0.2.1", "192.0.2.200", True),
        ("192.0.2. EXCEPT 192.0.2.0/255.255.255.128 EXCEPT 192.0.2.1", "198.51.100.1", False),
        # C07: alternatives after EXCEPT belong to the exception
        ("192.0.2.1 EXCEPT 192.0.2.1 192.0.2.2", "192.0.2.1", False),
        ("192.0.2.1 EXCEPT 192.0.2.1 192.0.2.2", "192.0.2.2", False),
        # C04: ALL EXCEPT with nothing after it is ALL
        ("ALL EXCEPT", "192.0.2.1", True),
        # C05: a list starting with EXCEPT matches nothing
        ("EXCEPT 192.0.2.1", "192.0.2.1", False),
        ("EXCEPT ALL", "192.0.2.9", False),
        # C03: except in any case
        ("ALL except 192.0.2.1", "192.0.2.1", False),
        ("ALL ExCePt 192.0.2.1", "192.0.2.2", True),
        ("192.0.2.1, 192.0.2.2 EXCEPT 192.0.2.2", "192.0.2.2", False),
        ("192.0.2.2 192.0.2.1 EXCEPT 192.0.2.2", "192.0.2.1", True),
        ("", "192.0.2.1", False),  # B19: an empty list matches nothing
    ],
)
def test_except_nesting(text: str, address: str, expected: bool) -> None:
    assert clients(text, address) is expected


def test_except_lists_are_evaluated_only_when_needed() -> None:
    ctx = FakeContext(addrs=("192.0.2.9", "unknown"), names=("x.example", "unknown"))
    assert not compile_client_list("192.0.2.1 EXCEPT .example").match(ctx)
    assert ctx.looked_up == []
    assert compile_client_list("192.0.2.9 EXCEPT .other").match(ctx)
    assert ctx.looked_up == ["name0"]


def test_except_in_daemon_lists() -> None:
    # C01
    items = compile_daemon_list("ALL EXCEPT in.fingerd")
    assert items.match(FakeContext(daemon_name="sshd"))
    assert not items.match(FakeContext(daemon_name="in.fingerd"))
    assert items.tokens == ("ALL", "EXCEPT", "in.fingerd")


# --------------------------------------------------------------------------- /file lists


class Unreadable(StaticEnvironment):
    def pattern_file(self, path: str) -> PatternFile | str | None:
        if path == "/secret":
            return "Permission denied"
        return super().pattern_file(path)


def file_decision(
    clients_text: str, address: str, env: StaticEnvironment
) -> tuple[bool, list[str]]:
    decision = decide(f"sshd: {clients_text}\n", "ALL: ALL\n", conn(address), env=env)
    return decision.granted, [t for t in texts(decision) if not t.startswith("matched")]


def test_file_lists() -> None:
    env = StaticEnvironment(
        files={
            "/bl": "# 192.0.2.5,192.0.2.6\n192.0.2.0/255.255.255.128 /nested\n",
            "/nested": "198.51.100.\n",
            "/except": "ALL EXCEPT 192.0.2.1\n",
        }
    )
    assert file_decision("/bl", "192.0.2.7", env) == (True, [])
    assert file_decision("/bl", "198.51.100.4", env) == (True, [])  # nesting
    assert file_decision("/bl", "192.0.2.200", env) == (False, [])
    # no comma splitting, no comments: "192.0.2.5,192.0.2.6" is one literal token
    assert file_decision("/bl", "192.0.2.5", env)[0] is True  # by the net/mask token
    assert file_decision("/bl", "192.0.2.5,192.0.2.6", env)[0] is True
    # G08: EXCEPT inside a file is an ordinary token; ALL matches
    assert file_decision("/except", "192.0.2.1", env) == (True, [])
    # a missing file does not match, silently
    assert file_decision("/missing", "192.0.2.7", env) == (False, [])


def test_unreadable_file_warns_and_does_not_match() -> None:
    env = Unreadable()
    granted, diags = file_decision("/secret", "192.0.2.7", env)
    assert not granted
    assert diags == ["warning: hosts.allow, line 1: open /secret: Permission denied"]


def test_self_including_file_warns_and_does_not_match() -> None:
    env = StaticEnvironment(files={"/a": "/b\n", "/b": "198.51.100.1 /a\n"})
    granted, diags = file_decision("/a", "192.0.2.7", env)
    assert not granted
    assert diags == [
        "warning: hosts.allow, line 1: /a: pattern file includes itself; not matched"
    ]
    # a match found before the cycle still counts
    assert file_decision("/a", "198.51.100.1", env) == (True, [])


def test_file_nesting_depth_limit() -> None:
    files = {f"/f{i}": f"/f{i + 1}\n" for i in range(40)}
    files["/f40"] = "192.0.2.7\n"
    env = StaticEnvironment(files=files)
    granted, diags = file_decision("/f0", "192.0.2.7", env)
    assert not granted
    assert diags == [
        "warning: hosts.allow, line 1: /f32: pattern file includes itself; not matched"
    ]
    files["/f31"] = "192.0.2.7\n"  # within 32 levels: fine
    assert file_decision("/f0", "192.0.2.7", StaticEnvironment(files=files)) == (True, [])


def test_file_is_not_special_in_daemon_lists_or_user_parts() -> None:
    env = StaticEnvironment(files={"/users": "joe\n"})
    decision = decide("/users@ALL: ALL\n", "ALL: ALL\n", conn(user="joe"), env=env)
    assert not decision.granted
    decision = decide("ALL: /users@ALL\n", "ALL: ALL\n", conn(user="/users"), env=env)
    assert decision.granted


# --------------------------------------------------------------------------- netgroups


def test_netgroups_through_the_environment() -> None:
    env = StaticEnvironment(netgroups={"trusted": {"Host.Example"}})
    good = conn(name="host.example")
    assert decide("sshd: @trusted\n", "ALL: ALL\n", good, env=env).granted  # H04: host case
    assert not decide("sshd: @TRUSTED\n", "ALL: ALL\n", good, env=env).granted  # C20
    assert not decide("sshd: @nosuch\n", "ALL: ALL\n", good, env=env).granted
    assert not decide("sshd: @trusted\n", "ALL: ALL\n", conn(name="paranoid"), env=env).granted
    decision = decide("@trusted: ALL\n", "ALL: ALL\n", good, env=env)  # daemon: literal
    assert not decision.granted
    assert all(d.kind is not Kind.WARNING for d in decision.diagnostics)
