"""expand: % letters, the shell allow-list, in-place sanitisation and the limit (docs/rules.md)."""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import pytest

from tcpwrap.policy.decision import Endpoint, Mode, Verdict
from tcpwrap.policy.expand import (
    ALLOWED,
    BANNER_BUFFER,
    OPTION_BUFFER,
    ExpansionTooLong,
    percent_x,
    sanitize,
)
from tcpwrap.policy.facts import KnownName, NameLookup
from tcpwrap.policy.options import Spawn

from .support import Provider, conn, decide, policy, run, texts


@dataclass
class Source:
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def expand_letter(self, letter: str) -> str:
        self.asked.append(letter)
        return self.values.get(letter, letter.upper() * 2)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def test_allow_list_is_exactly_the_documented_set() -> None:
    assert set(string.ascii_letters + string.digits + "!@%-_=+:,./") == ALLOWED
    assert len(ALLOWED) == 62 + 11


def test_sanitize() -> None:
    # D01: every byte outside the allow-list becomes "_", each UTF-8 byte separately
    assert sanitize("j o;e$(id)`x`|&<>\"*?[]{}~#\\\\") == "j_o_e__id__x________________"
    assert sanitize("\xc3\xa9t\xc3\xa9") == "__t__"  # "été" as Latin-1-decoded UTF-8
    assert sanitize("a\tb\nc\x00d\x7f") == "a_b_c_d_"
    assert sanitize("ok!@%-_=+:,./") == "ok!@%-_=+:,./"
    assert sanitize("\u4e00x\U0001f600") == "_x_"  # never let a wide character through
    assert sanitize("") == ""


def test_letters_percent_and_unknown() -> None:
    source = Source({"a": "192.0.2.1"})
    assert percent_x("x=%a%%y%", source) == "x=192.0.2.1%y%"
    assert percent_x("%z-%a", source) == "-192.0.2.1"
    assert source.warnings == ["unrecognized %z"]
    assert percent_x("100%", source) == "100%"  # '%' as the last character is literal
    assert percent_x("%%%", source) == "%%"
    assert source.asked == ["a", "a"]


def test_literal_text_is_not_filtered() -> None:
    source = Source({"u": "joe"})
    assert percent_x("echo $(date) ; %u | mail", source) == "echo $(date) ; joe | mail"


def test_buffer_limit_is_size_minus_two() -> None:
    source = Source({"a": "x" * 10})
    ok = "y" * (OPTION_BUFFER - 2)
    assert percent_x(ok, source) == ok
    with pytest.raises(ExpansionTooLong) as raised:
        percent_x(ok + "z", source)
    assert raised.value.excerpt == "y" * 30
    assert str(raised.value) == "percent_x: expansion too long: " + "y" * 30 + "..."
    # with expansions: 8180 literal + 10 expanded = 8190 fits, one more does not
    assert len(percent_x("q" * 8180 + "%a", source)) == 8190
    with pytest.raises(ExpansionTooLong) as raised:
        percent_x("q" * 8181 + "%a", source)
    assert raised.value.excerpt == "q" * 30
    # the banner buffer is twice as large
    assert len(percent_x("b" * (BANNER_BUFFER - 2), source, BANNER_BUFFER)) == BANNER_BUFFER - 2


def test_excerpt_is_the_output_so_far() -> None:
    source = Source({"h": "H" * 9000})
    with pytest.raises(ExpansionTooLong) as raised:
        percent_x("ab%h", source)
    assert raised.value.excerpt == "ab"


# --------------------------------------------------------------------------- in a decision

SERVER = Endpoint(addr="127.0.0.1", port=37101, resolvable=True)
ALL_LETTERS = "a=%a c=%c d=%d h=%h n=%n s=%s u=%u p=%p r=%r R=%R A=%A H=%H N=%N"


def spawned(decision: object) -> list[str]:
    return [a.command for a in decision.actions if isinstance(a, Spawn)]  # type: ignore[attr-defined]


def test_every_letter_like_t08() -> None:
    provider = Provider(
        client=NameLookup(KnownName("alpha.example.com")),
        server=NameLookup(KnownName("localhost")),
        user=None,
    )
    connection = conn(
        "192.0.2.1", "in.fingerd", resolvable=True, identable=True, server=SERVER, port=36205
    )
    decision = run(policy(f"ALL: ALL: spawn echo {ALL_LETTERS}\n"), connection, provider)
    assert spawned(decision) == [
        "echo a=192.0.2.1 c=192.0.2.1 d=in.fingerd h=192.0.2.1 n=alpha.example.com "
        "s=in.fingerd@127.0.0.1 u=unknown p=4242 r=36205 R=37101 A=127.0.0.1 H=127.0.0.1 "
        "N=localhost"
    ]
    # %h came before %n, so it showed the address; the log line uses the name afterwards
    assert decision.client_info == "alpha.example.com"
    assert [need.value for need in provider.needs] == ["client name", "client user", "server name"]


def test_name_known_before_makes_h_and_c_show_it() -> None:
    provider = Provider(client=NameLookup(KnownName("alpha.example.com")), user="joe")
    connection = conn(resolvable=True, identable=True)
    decision = run(policy("ALL: ALL: spawn echo %n %h %c %u %c\n"), connection, provider)
    assert spawned(decision) == [
        "echo alpha.example.com alpha.example.com alpha.example.com joe joe@alpha.example.com"
    ]
    assert decision.client_info == "joe@alpha.example.com"


def test_missing_facts_expand_to_unknown_and_zero() -> None:
    decision = decide("ALL: ALL: spawn echo %a %A %r %R %n %u %s\n", None, conn(None))
    assert spawned(decision) == ["echo unknown unknown 0 0 unknown unknown sshd"]


def test_hostile_values_are_sanitised_in_place() -> None:
    # T25b: after %u the stored user stays sanitised: the log line shows it too
    provider = Provider(user="ev;il$(x)")
    connection = conn(identable=True)
    decision = run(policy("ALL: ALL: spawn echo %u\n"), connection, provider)
    assert spawned(decision) == ["echo ev_il__x_"]
    assert decision.client_info == "ev_il__x_@192.0.2.1"
    assert decision.user == "ev_il__x_"


def test_unexpanded_values_stay_raw_in_the_log() -> None:
    provider = Provider(user="ev;il")
    decision = run(policy("ALL: joe@ALL EXCEPT x@ALL\nALL: ALL: spawn echo %a\n"),
                   conn(identable=True), provider)
    assert decision.client_info == "ev;il@192.0.2.1"


def test_sanitised_header_values_are_matched() -> None:
    # G03: tcpdmatch expands its header first, so "a b" is matched as "a_b"
    decision = decide("sshd: a_b@ALL\n", "ALL: ALL\n", conn(user="a b"), Mode(header=True))
    assert decision.granted
    decision = decide("sshd: a_b@ALL\n", "ALL: ALL\n", conn(user="a b"))
    assert not decision.granted


def test_hostile_name_in_c_and_n() -> None:
    provider = Provider(client=NameLookup(KnownName("a;b$(id).example")))
    decision = run(policy("ALL: ALL: spawn echo %n %c\n"), conn(resolvable=True), provider)
    assert spawned(decision) == ["echo a_b__id_.example a_b__id_.example"]
    assert decision.client_info == "a_b__id_.example"


def test_unknown_letter_warns_with_file_and_line() -> None:
    decision = decide("ALL: ALL: spawn echo %y%a\n", None, conn())
    assert spawned(decision) == ["echo 192.0.2.1"]
    assert texts(decision) == ["warning: hosts.allow, line 1: unrecognized %y"]


def test_overflow_aborts_with_the_warning() -> None:
    daemon = "d" * 127  # request strings hold 127 characters: 100 x %d overflow 8 KiB
    decision = decide("ALL: ALL: spawn echo " + "%d" * 100 + "\n", None, conn(daemon=daemon))
    assert decision.verdict is Verdict.ABORT
    assert texts(decision) == [
        "warning: hosts.allow, line 1: percent_x: expansion too long: echo " + "d" * 25 + "..."
    ]
    assert decision.actions == ()


def test_no_expansion_outside_expanding_options() -> None:
    # G04: severity is not expanded, so "%d" is an error
    decision = decide("ALL: ALL: severity %d\n", None, conn())
    assert texts(decision) == ['error: hosts.allow, line 1: bad syslog facility or severity: "%d"']
