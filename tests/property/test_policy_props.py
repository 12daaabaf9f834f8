"""Properties of the rule engine: hostile tables never raise, expansions only ever emit
allow-listed characters, and cstr.inet_addr agrees with glibc's inet_addr()."""

from __future__ import annotations

import ctypes
import ctypes.util
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.compile import compile_policy, compile_table
from tcpwrap.policy.cstr import INADDR_NONE, inet_addr
from tcpwrap.policy.decision import AclExecResult, Connection, Endpoint, Mode, NeedRequest
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.expand import ALLOWED
from tcpwrap.policy.facts import KnownName, NameLookup, Need
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.options import Spawn
from tcpwrap.policy.rules import Language, TableSource

# --------------------------------------------------------------------------- (b) robustness

PIECES = st.sampled_from([
    "sshd", "ALL", ":", ": ", "EXCEPT", "@", "/", "[", "]", "\\", "\\\n", "\n", "\r\n", "#", ",",
    " ", "\t", "%", "%u", "%z", "=", "spawn", "twist", "allow", "deny", "192.0.2.1", "[::1]",
    "/etc/f", "@g", "*", "?", ".", "x" * 700, "\x00", "aclexec x", "banners /b", "rfc931",
    "severity", "user", "umask 8", "setenv", "0", "65536",
])  # fmt: skip
STRUCTURED = st.lists(PIECES, max_size=40).map("".join)
ENV = StaticEnvironment(files={"/etc/f": "/etc/f 192.0.2.1"}, banner_dirs={"/b"})


def answer(request: NeedRequest) -> object:
    if request.need in (Need.CLIENT_NAME, Need.SERVER_NAME):
        return NameLookup(KnownName("h.example"))
    if request.need is Need.CLIENT_USER:
        return "joe"
    return AclExecResult(1, 0)


def parse_and_decide(data: bytes) -> None:
    for language in Language:
        table = compile_table(TableSource("t", data), language)
        assert all(rule.origin.line >= 1 for rule in table.rules)
        policy = compile_policy(TableSource("a", data), TableSource("d", data), language)
        connection = Connection(
            "sshd",
            client=Endpoint("192.0.2.1", 1234, resolvable=True),
            server=Endpoint("192.0.2.9", 22, resolvable=True),
            identable=True,
        )
        for mode in (Mode(verbose=True), Mode(dry_run=False, resident=True)):
            Evaluation(policy, connection, mode, ENV).run(answer)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    parse_and_decide(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_arbitrary_text_never_raises(data: str) -> None:
    parse_and_decide(data.encode("utf-8", "surrogatepass"))


@settings(max_examples=500, deadline=None)
@given(STRUCTURED)
def test_rule_shaped_text_never_raises(data: str) -> None:
    parse_and_decide(data.encode("latin-1"))


# --------------------------------------------------------------------------- (c) allow-list

HOSTILE = st.text(
    st.characters(codec="latin-1") | st.sampled_from(list(" ;$`|&<>\"'\\(){}[]*?~#^\n\t\r\x00")),
    min_size=1,
    max_size=200,
)


@settings(max_examples=400, deadline=None)
@given(HOSTILE, HOSTILE, HOSTILE, st.booleans())
def test_expanded_values_are_allow_listed(name: str, user: str, daemon: str, header: bool) -> None:
    policy = compile_policy(
        TableSource("a", b"ALL: ALL: spawn echo %h %n %u %c %d\n"), TableSource("d", None)
    )
    connection = Connection(
        daemon,
        client=Endpoint("192.0.2.1", 1234, resolvable=True),
        identable=True,
    )

    def facts(request: NeedRequest) -> object:
        if request.need is Need.CLIENT_NAME:
            return NameLookup(KnownName(name))
        return user

    decision = Evaluation(policy, connection, Mode(header=header)).run(facts)
    [spawn] = [a for a in decision.actions if isinstance(a, Spawn)]
    assert spawn.command.startswith("echo ")
    parts = spawn.command[len("echo "):].split(" ")
    assert len(parts) == 5
    for part in parts:
        assert part and ALLOWED.issuperset(part), part
    # the stored values were sanitised in place: what the log line shows is clean too
    assert ALLOWED.issuperset(decision.client_info)


# --------------------------------------------------------------------------- (d) glibc


def _libc_inet_addr() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        pytest.skip("no C library")
    fn = ctypes.CDLL(name).inet_addr
    fn.argtypes = [ctypes.c_char_p]
    fn.restype = ctypes.c_uint32
    return fn


GLIBC_INET_ADDR = _libc_inet_addr()
ADDRESS_ALPHABET = st.sampled_from(list("0123456789.xX" "abcdefABCDEF" " \t\n\v-+gz"))
ADDRESSISH = st.one_of(
    st.lists(ADDRESS_ALPHABET, max_size=24).map("".join),
    st.lists(
        st.one_of(
            st.integers(0, 300).map(str),
            st.integers(0, 2**32).map(hex),
            st.integers(0, 0o777).map(lambda v: "0" + oct(v)[2:]),
            st.integers(0, 2**33).map(str),
        ),
        min_size=1,
        max_size=5,
    ).map(".".join),
    st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
)


@settings(max_examples=3000, deadline=None)
@given(ADDRESSISH, st.sampled_from(["", "", " ", "\t", " junk", "x", "."]))
def test_inet_addr_agrees_with_glibc(text: str, tail: str) -> None:
    text += tail
    expected = socket.ntohl(GLIBC_INET_ADDR(text.encode("latin-1")))
    assert inet_addr(text) == expected


def test_glibc_oracle_is_alive() -> None:
    assert socket.ntohl(GLIBC_INET_ADDR(b"0x7f.1")) == 0x7F000001
    assert GLIBC_INET_ADDR(b"1.2.3.4x") == INADDR_NONE
