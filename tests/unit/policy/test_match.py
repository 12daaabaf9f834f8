"""match: the decision flow of docs/rules.md, options in a decision, lazy lookups and
the order of diagnostics. Facts come from plain values (support.Provider)."""

from __future__ import annotations

import pytest

from tcpwrap.errors import Kind, TcpwrapError
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import (
    AclExecResult,
    Endpoint,
    Mode,
    NeedRequest,
    Verdict,
)
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.facts import KnownName, NameLookup, Need, ParanoidName, UnknownName
from tcpwrap.policy.match import Evaluation, evaluate
from tcpwrap.policy.options import AclExec, Banner, ChangeUser, SetEnv, Spawn, Umask
from tcpwrap.policy.rules import Language, TableSource

from .support import ALLOW, DENY, Provider, conn, decide, policy, run, texts

LIVE = Mode(dry_run=False)
DEBIAN_LIVE = Mode(dry_run=False, debian_aclexec=True)
VERBOSE = Mode(verbose=True)


def origin(decision: object) -> tuple[str, int] | None:
    found = decision.origin  # type: ignore[attr-defined]
    return None if found is None else (found.file, found.line)


# --------------------------------------------------------------------------- the flow


def test_no_tables_grant() -> None:
    decision = decide(None, None, conn())
    assert decision.verdict is Verdict.GRANT
    assert decision.origin is None and decision.diagnostics == ()


def test_allow_then_deny() -> None:
    allow, deny = "sshd: 192.0.2.1\n", "ALL: ALL\n"
    assert origin(decide(allow, deny, conn("192.0.2.1"))) == (ALLOW, 1)
    decision = decide(allow, deny, conn("192.0.2.2"))
    assert decision.verdict is Verdict.DENY and origin(decision) == (DENY, 1)
    decision = decide(allow, "ALL: 10.0.0.1\n", conn("192.0.2.2"))
    assert decision.granted and decision.origin is None


def test_a_match_in_both_tables_is_granted() -> None:
    # A08
    assert decide("sshd: ALL\n", "sshd: ALL\n", conn()).granted


def test_first_match_wins_and_later_lines_are_never_read() -> None:
    # A07: not even the options of a later line
    decision = decide("sshd: ALL\nsshd: ALL: bogus\n", None, conn(), VERBOSE)
    assert decision.granted and texts(decision) == ["matched:  hosts.allow line 1"]


def test_deny_option_in_allow_and_allow_option_in_deny() -> None:
    # A04, A06
    decision = decide("sshd: ALL: deny\n", None, conn())
    assert decision.verdict is Verdict.DENY and origin(decision) == (ALLOW, 1)
    decision = decide(None, "sshd: ALL: allow\n", conn())
    assert decision.granted and origin(decision) == (DENY, 1)


def test_options_without_a_verdict_leave_it_to_the_table() -> None:
    # D16
    decision = decide(None, "sshd: ALL: spawn echo x\n", conn())
    assert decision.verdict is Verdict.DENY
    assert decision.actions == (Spawn("echo x"),)


def test_option_error_fails_closed_even_in_allow() -> None:
    decision = decide("sshd: ALL: umask 999\n", None, conn())
    assert decision.verdict is Verdict.DENY
    assert texts(decision) == ['error: hosts.allow, line 1: bad umask value: "999"']


def test_side_effects_before_an_error_stay() -> None:
    # D18
    decision = decide("sshd: ALL: setenv A b: spawn echo x: umask 1000\n", None, conn())
    assert decision.verdict is Verdict.DENY
    assert decision.actions == (SetEnv("A", "b"), Spawn("echo x"))


def test_missing_separator_is_a_warning_and_the_line_is_skipped() -> None:
    # B07
    decision = decide("garbage\nsshd: ALL\n", None, conn())
    assert decision.granted and origin(decision) == (ALLOW, 2)
    assert texts(decision) == ['warning: hosts.allow, line 1: missing ":" separator']


def test_notes_after_the_matching_line_are_not_reported() -> None:
    decision = decide("sshd: ALL\ngarbage\n", None, conn())
    assert texts(decision) == []
    decision = decide("ftpd: ALL\ngarbage\n", "a\n", conn())
    assert texts(decision) == [
        'warning: hosts.allow, line 2: missing ":" separator',
        'warning: hosts.deny, line 1: missing ":" separator',
    ]


def test_empty_lists_never_match() -> None:
    # B19
    assert decide(None, ": ALL\nsshd:\n", conn()).granted


# --------------------------------------------------------------------------- ERROR scans


def test_error_in_allow_goes_on_to_deny() -> None:
    # B13: allow without final newline; the deny table decides
    decision = decide("ftpd: ALL\nsshd: ALL", None, conn())
    assert decision.granted
    assert decision.reason == "no rule matched (the allow table had an error)"
    assert texts(decision) == [
        "warning: hosts.allow, line 1: missing newline or line too long",
        "warning: hosts.allow, line 1: all the subsequent rules will be ignored",
    ]
    assert decide("ftpd: ALL\nsshd: ALL", "ALL: ALL\n", conn()).verdict is Verdict.DENY


def test_error_in_deny_denies() -> None:
    # B12: the last line lacks its newline: every client not granted is denied
    decision = decide(None, "ftpd: ALL\nALL: 10.0.0.1", conn())
    assert decision.verdict is Verdict.DENY
    assert origin(decision) == (DENY, 1)
    decision = decide(None, "x" * 3000 + "\n", conn())  # B09: over-long, line 0
    assert decision.verdict is Verdict.DENY
    assert texts(decision)[0] == "warning: hosts.deny, line 0: missing newline or line too long"


def test_a_match_before_the_bad_line_still_counts() -> None:
    assert decide(None, "sshd: ALL\nbad", conn()).verdict is Verdict.DENY
    assert decide("sshd: ALL\nbad", None, conn()).granted


def test_unreadable_tables() -> None:
    # B14/B15: "cannot open", no line context; allow goes on, deny denies
    unreadable = TableSource(ALLOW, None, "Permission denied")
    pol = compile_policy(unreadable, TableSource(DENY, None))
    decision = evaluate(pol, conn())
    assert decision.granted
    assert texts(decision) == ["warning: cannot open hosts.allow: Permission denied"]
    pol = compile_policy(TableSource(ALLOW, b""), TableSource(DENY, None, "Permission denied"))
    decision = evaluate(pol, conn())
    assert decision.verdict is Verdict.DENY
    assert texts(decision) == ["warning: cannot open hosts.deny: Permission denied"]
    pol = compile_policy(TableSource(ALLOW, b"sshd: ALL\n"), TableSource(DENY, None, "EIO"))
    assert evaluate(pol, conn()).granted


# --------------------------------------------------------------------------- actions


def test_actions_in_order() -> None:
    decision = decide(
        "sshd: ALL: setenv X %d: umask 022: spawn echo %a: user nobody.nogroup: group root\n",
        None,
        conn(),
    )
    assert decision.granted
    assert decision.actions == (
        SetEnv("X", "sshd"),
        Umask(0o22),
        Spawn("echo 192.0.2.1"),
        ChangeUser("nobody", "nogroup"),
        ChangeUser(None, "root"),
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("user nosuch", 'unknown user: "nosuch"'),
        ("user nobody.nosuch", 'unknown group: "nosuch"'),
        ("user nosuch.nosuch", 'unknown group: "nosuch"'),  # the group is checked first
        ("group nosuch", 'unknown group: "nosuch"'),
        ("setenv A=B x", "memory allocation failure"),
    ],
)
def test_request_dependent_option_errors(option: str, message: str) -> None:
    decision = decide(f"sshd: ALL: {option}\n", None, conn())
    assert decision.verdict is Verdict.DENY
    assert texts(decision) == [f"error: hosts.allow, line 1: {message}"]


def test_severity_changes_both_priorities() -> None:
    decision = decide(None, "sshd: ALL: severity auth.crit\n", conn())
    assert decision.verdict is Verdict.DENY
    assert decision.priority.names == "auth.crit"


def test_twist_dry_live_resident() -> None:
    rule = "sshd: ALL: twist echo %a\n"
    dry = decide(rule, None, conn())
    assert dry.delegated and dry.granted and dry.twist is None
    dry_deny = decide(None, rule, conn())
    assert dry_deny.delegated and dry_deny.verdict is Verdict.DENY
    live = decide(rule, None, conn(), LIVE)
    assert live.verdict is Verdict.TWIST and live.twist == "echo 192.0.2.1"
    assert origin(live) == (ALLOW, 1)
    resident = decide(rule, None, conn(), Mode(dry_run=False, resident=True))
    assert resident.verdict is Verdict.DENY
    assert texts(resident) == ["error: hosts.allow, line 1: twist option in resident process"]


def test_classic_language_runs_the_third_field_and_keeps_the_verdict() -> None:
    # docs/rules.md#the-classic-language: the booby trap denies *and* fingers the client
    pol = policy(None, "in.tftpd: ALL: (safe_finger -l @%h | mail -s %d-%h root) &\n",
                 Language.CLASSIC)
    decision = evaluate(pol, conn(daemon="in.tftpd"))
    assert decision.verdict is Verdict.DENY
    assert decision.actions == (
        Spawn(" (safe_finger -l @192.0.2.1 | mail -s in.tftpd-192.0.2.1 root) &\n", "classic"),
    )
    # the same text in the options language is a bad option name (D13)
    options = evaluate(policy("sshd: ALL: /bin/echo hello\n"), conn())
    assert texts(options) == ['error: hosts.allow, line 1: bad option name: "/bin/echo"']


# --------------------------------------------------------------------------- banners


def banner(data: bytes | None, directory_exists: bool = True) -> tuple[list[object], list[str]]:
    env = StaticEnvironment(banner_dirs={"/b"} if directory_exists else set())
    if data is not None:
        env.banners[("/b", "sshd")] = data
    decision = decide("sshd: ALL: banners /b: spawn x\n", None, conn(), env=env)
    return [a for a in decision.actions if isinstance(a, Banner)], texts(decision)


def test_banners() -> None:
    # T09/D10: lines end in CRLF, contents are expanded, a last line without newline as is
    assert banner(b"Welcome %a to %d\nline2\nlast") == (
        [Banner("Welcome 192.0.2.1 to sshd\r\nline2\r\nlast")],
        [],
    )
    assert banner(b"crlf\r\n") == ([Banner("crlf\r\r\n")], [])
    assert banner(b"\x00\x00hi\n") == ([Banner("\x00\x00hi\r\n")], [])  # leading NULs
    assert banner(b"ab\x00cd\nef\n") == ([Banner("abef\r\n")], [])  # strlen() per chunk
    assert banner(b"%u;\n") == ([Banner("unknown;\r\n")], [])  # literal ';' kept


def test_banner_file_missing() -> None:
    assert banner(None) == ([], [])  # directory there, no file: silent
    assert banner(None, directory_exists=False) == (
        [],
        ["warning: hosts.allow, line 1: /b: No such file or directory"],
    )


def test_banner_chunks_of_8189() -> None:
    actions, _ = banner(b"x" * 9000 + b"\n")
    assert actions == [Banner("x" * 9000 + "\r\n")]


# --------------------------------------------------------------------------- aclexec


def acl(status: int | None, signal: int | None = None) -> Provider:
    return Provider(aclexec=lambda request: AclExecResult(77, status, signal))


def test_aclexec_documented_semantics() -> None:
    # docs/compat.md: exit 0 allows, anything else refuses (hosts_options(5))
    pol = policy(None, "sshd: ALL: spawn echo first: aclexec check %a\n")
    provider = acl(0)
    decision = run(pol, conn(), provider, LIVE)
    assert decision.verdict is Verdict.GRANT
    [request] = provider.asked
    assert request.need is Need.ACLEXEC
    assert request.command == "check 192.0.2.1"
    assert request.actions == (Spawn("echo first"),)  # what must happen before it runs
    assert decision.actions == (Spawn("echo first"), AclExec("check 192.0.2.1"))
    assert run(policy("sshd: ALL: aclexec x\n"), conn(), acl(1), LIVE).verdict is Verdict.DENY


def test_aclexec_debian_semantics() -> None:
    # T28/T28b/T28d/T28e: failure turns the table match into NO-MATCH
    allow = "sshd: ALL: aclexec x\n"
    decision = run(policy(allow, "ALL: ALL\n"), conn(), acl(1), DEBIAN_LIVE)
    assert decision.verdict is Verdict.DENY and origin(decision) == (DENY, 1)
    assert [d.render() for d in decision.diagnostics if d.kind is Kind.INFO] == [
        "aclexec returned 1"
    ]
    assert run(policy(allow, None), conn(), acl(1), DEBIAN_LIVE).granted
    assert run(policy(None, allow), conn(), acl(1), DEBIAN_LIVE).granted  # T28d
    assert run(policy(None, allow), conn(), acl(0), DEBIAN_LIVE).verdict is Verdict.DENY
    assert run(policy(allow, "ALL: ALL\n"), conn(), acl(0), DEBIAN_LIVE).granted
    # a list ending in allow/deny never looks at the flag
    assert run(policy(None, "sshd: ALL: aclexec x: allow\n"), conn(), acl(1), DEBIAN_LIVE).granted


def test_aclexec_signal_warns() -> None:
    decision = run(policy(None, "sshd: ALL: aclexec x\n"), conn(), acl(None, 9), DEBIAN_LIVE)
    assert "warning: hosts.deny, line 1: process 77 exited with signal 9" in texts(decision)
    assert decision.granted  # abnormal exit = failure = NO-MATCH in hosts.deny


def test_aclexec_dry_run_is_success_and_asks_nothing() -> None:
    # D14
    evaluation = Evaluation(policy(None, "sshd: ALL: aclexec x\n"), conn())
    assert evaluation.next_need() is None
    assert evaluation.decision.verdict is Verdict.DENY


def test_aclexec_needs_an_aclexec_result() -> None:
    evaluation = Evaluation(policy(None, "sshd: ALL: aclexec x\n"), conn(), LIVE)
    assert evaluation.next_need() is not None
    evaluation.supply("not a result")
    with pytest.raises(TcpwrapError):
        evaluation.next_need()


# --------------------------------------------------------------------------- lazy lookups

ADDRESS_ONLY = (
    "sshd: 192.0.2.9 192.0.2. 10.0.0.0/255.0.0.0 172.16.0.0/12 [2001:db8::]/32 .9.9 ALL EXCEPT "
    "198.51.100.1\nALL: 203.0.113.*, 0@198.51.100.7, 22\n"
)


@pytest.mark.parametrize("address", ["192.0.2.1", "198.51.100.1", "2001:db8::1", "unknown"])
def test_address_only_policy_never_yields_a_need(address: str) -> None:
    connection = conn(address, resolvable=True, identable=True, server=Endpoint(
        addr="198.51.100.7", port=22, resolvable=True))
    evaluation = Evaluation(policy(ADDRESS_ONLY, ""), connection, LIVE)
    assert evaluation.next_need() is None


def test_an_address_wildcard_in_the_deny_table_reads_the_name_as_debian_does() -> None:
    # docs/compat.md 4: the address-only reading never applies where a match denies
    connection = conn("198.51.100.1", resolvable=True)
    evaluation = Evaluation(policy("", "ALL: 203.0.113.*\n"), connection, LIVE)
    request = evaluation.next_need()
    assert request is not None and request.need is Need.CLIENT_NAME


def needs_for(allow: str, address: str = "192.0.2.1", **kw: object) -> tuple[list[Need], object]:
    provider = Provider()
    decision = run(policy(allow, "ALL: ALL\n"), conn(address, resolvable=True, identable=True),
                   provider, **kw)  # type: ignore[arg-type]
    return provider.needs, decision


def test_a_name_rule_asks_for_the_name_only_when_reached() -> None:
    rules = "sshd: 192.0.2.1\nsshd: .example.com\n"
    assert needs_for(rules, "192.0.2.1")[0] == []
    assert needs_for(rules, "192.0.2.2")[0] == [Need.CLIENT_NAME]
    assert needs_for("ftpd: .example.com\n")[0] == []  # the daemon list failed first
    assert needs_for("sshd: 192.0.2.9 EXCEPT .example.com\n")[0] == []
    assert needs_for("sshd: KNOWN\n")[0] == [Need.CLIENT_NAME]
    assert needs_for("sshd: UNKNOWN\n")[0] == [Need.CLIENT_NAME]
    assert needs_for("sshd: PARANOID\n")[0] == [Need.CLIENT_NAME]
    assert needs_for("sshd: LOCAL\n")[0] == [Need.CLIENT_NAME]
    assert needs_for("sshd: a.example b.example c.example .x\n")[0] == [Need.CLIENT_NAME]


def test_each_fact_is_asked_for_once_and_recorded() -> None:
    found, decision = needs_for("sshd: a.example\nsshd: joe@b.example\nsshd: KNOWN@ALL: spawn %u\n")
    assert found == [Need.CLIENT_NAME, Need.CLIENT_USER]
    assert decision.lookups == ("client name", "client user")  # type: ignore[attr-defined]


def test_ident_is_asked_only_after_the_host_part_matched() -> None:
    assert needs_for("sshd: joe@10.0.0.1\n")[0] == []
    assert needs_for("sshd: joe@192.0.2.1\n")[0] == [Need.CLIENT_USER]
    provider = Provider()
    run(policy("sshd: joe@ALL\n"), conn(identable=False), provider)
    assert provider.needs == []  # no ident possible: unknown at once


def test_ident_need_carries_the_rfc931_timeout() -> None:
    provider = Provider()
    run(policy("sshd: ALL: rfc931 3\n"), conn(identable=True), provider)
    assert [(r.need, r.timeout) for r in provider.asked] == [(Need.CLIENT_USER, 3)]
    provider = Provider()
    run(policy("sshd: joe@ALL\n"), conn(identable=True), provider)
    assert [(r.need, r.timeout) for r in provider.asked] == [(Need.CLIENT_USER, 10)]


def test_given_names_are_never_looked_up() -> None:
    # hosts_ctl / tcpdmatch: the name is given
    evaluation = Evaluation(policy("sshd: .example.com\n"), conn(name="a.example.com"))
    assert evaluation.next_need() is None
    assert evaluation.decision.granted


def test_server_name_need() -> None:
    provider = Provider(server=NameLookup(KnownName("srv.example")))
    connection = conn(server=Endpoint(addr="198.51.100.1", resolvable=True))
    decision = run(policy("sshd@srv.example: ALL\n"), connection, provider)
    assert provider.needs == [Need.SERVER_NAME] and decision.granted


def test_lookup_warnings_carry_the_rule_and_come_before_matched() -> None:
    warning = "host name/address mismatch: 192.0.2.1 != x.example.com"
    provider = Provider(client=NameLookup(ParanoidName(), (warning,)))
    pol = policy("sshd: 192.0.2.9\nsshd: .example.com\nsshd: PARANOID\n")
    decision = run(pol, conn(resolvable=True), provider, VERBOSE)
    assert texts(decision) == [
        f"warning: hosts.allow, line 2: {warning}",
        "matched:  hosts.allow line 3",
    ]
    assert decision.client_name == "paranoid"


def test_unknown_name_states() -> None:
    provider = Provider(client=NameLookup(UnknownName()))
    decision = run(policy("sshd: UNKNOWN\n"), conn(resolvable=True), provider)
    assert decision.granted and decision.client_info == "192.0.2.1"


def test_wrong_fact_type_is_a_programming_error() -> None:
    evaluation = Evaluation(policy("sshd: a.example\n"), conn(resolvable=True))
    request = evaluation.next_need()
    assert isinstance(request, NeedRequest) and request.need is Need.CLIENT_NAME
    evaluation.supply("a.example")
    with pytest.raises(TcpwrapError):
        evaluation.next_need()
    with pytest.raises(TcpwrapError):
        Evaluation(policy(None), conn()).supply(1)


def test_evaluate_refuses_to_guess_a_fact() -> None:
    with pytest.raises(TcpwrapError, match="client name"):
        evaluate(policy("sshd: a.example\n"), conn(resolvable=True))


# --------------------------------------------------------------------------- order


def test_diagnostics_order() -> None:
    provider = Provider(client=NameLookup(KnownName("h.example"), ("lookup note",)))
    allow = "x\nsshd: .example: setenv A %z: spawn echo %n: bogus\n"
    decision = run(policy(allow, None), conn(resolvable=True), provider, VERBOSE)
    assert texts(decision) == [
        'warning: hosts.allow, line 1: missing ":" separator',
        "warning: hosts.allow, line 2: lookup note",
        "matched:  hosts.allow line 2",
        "warning: hosts.allow, line 2: unrecognized %z",
        "option:   setenv A",
        "option:   spawn echo h.example",
        'error: hosts.allow, line 2: bad option name: "bogus"',
    ]


def test_header_mode() -> None:
    connection = conn("192.0.2.1", "in.fingerd", name="alpha.example.com", user="joe",
                      server=Endpoint(addr="198.51.100.1", name="unknown"))
    decision = evaluate(policy("ALL: ALL\n"), connection, Mode(header=True))
    assert [(label, value) for label, value, _ in decision.header] == [
        ("client:   hostname", "alpha.example.com"),
        ("client:   address ", "192.0.2.1"),
        ("client:   username", "joe"),
        ("server:   address ", "198.51.100.1"),
        ("server:   process ", "in.fingerd"),
    ]


def test_long_strings_are_cut_to_127() -> None:
    name = "n" * 200
    decision = evaluate(policy("ALL: " + "n" * 127 + "\n"), conn("unknown", name=name))
    assert decision.granted
    assert decision.client_info == "n" * 127


@pytest.mark.parametrize("use_index", [True, False])
def test_an_unread_name_is_not_recorded(use_index: bool) -> None:
    # found by the index property test: the index used to set the name of a client without
    # a socket address to "unknown" while merely peeking, so --json showed a name nobody read
    decision = decide("ftpd: ALL\n", "sshd: 10.0.0.1\n", conn("192.0.2.1"), use_index=use_index)
    assert decision.client_name is None
    assert "client_name" not in decision.facts
    read = decide("sshd: .example\n", None, conn("192.0.2.1"), use_index=use_index)
    assert read.client_name == "unknown"
