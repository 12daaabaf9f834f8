"""Facts a log did not record (`Endpoint.ask_absent`): the matcher asks for the client address,
the server address and the server port only when a rule really reads them, a token that cannot
match any address (a name, `.domain`, UNKNOWN) or ALL needs no address, and the decision
driver answers these needs with "no answer" (what every program without ask_absent sees)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.drivers.deciding import Check
from tcpwrap.policy.decision import Connection, Endpoint, NeedRequest, Verdict
from tcpwrap.policy.facts import Need
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.patterns import address_like, compile_string

from .support import policy


def needs(allow: str, deny: str, connection: Connection) -> list[Need]:
    """The needs of a run that answers each with "no answer" (None or unknown)."""
    evaluation = Evaluation(policy(allow, deny), connection, use_index=False)
    asked: list[Need] = []
    while (request := evaluation.next_need()) is not None:
        asked.append(request.need)
        name = request.need in (Need.CLIENT_NAME, Need.SERVER_NAME)
        evaluation.supply(_no_name() if name else None)
    return asked


def _no_name() -> object:
    from tcpwrap.policy.facts import NameLookup, UnknownName

    return NameLookup(UnknownName())


def name_only(name: str = "a.example.org") -> Connection:
    return Connection(
        "in.telnetd",
        client=Endpoint(name=name, resolvable=True, ask_absent=True),
        server=Endpoint(resolvable=True, ask_absent=True),
        user="someone",
    )


def test_address_patterns_ask_for_the_absent_address() -> None:
    assert needs("", "ALL: 10.0.0.0/8\n", name_only()) == [Need.CLIENT_ADDR]
    assert needs("", "ALL: 10.\n", name_only()) == [Need.CLIENT_ADDR]
    assert needs("", "ALL: 192.0.2.1\n", name_only()) == [Need.CLIENT_ADDR]


def test_name_tokens_unknown_and_all_need_no_address() -> None:
    for table in ("ALL: .example.org\n", "ALL: b.example.org\n", "ALL: UNKNOWN\n",
                  "ALL: ALL\n", "ALL: KNOWN\n", "ALL: LOCAL\n", "ALL: *.example.org\n"):
        assert needs("", table, name_only()) == [], table


def test_known_needs_no_address_and_an_unlogged_address_was_not_unknown() -> None:
    decision = Evaluation(policy("", "ALL: KNOWN\n"), name_only()).run(lambda r: None)
    assert decision.verdict is Verdict.DENY
    # UNKNOWN compares the address too: a real (if unlogged) address is never "unknown"
    decision = Evaluation(policy("", "ALL: UNKNOWN\n"), name_only()).run(lambda r: None)
    assert decision.verdict is Verdict.GRANT


def test_server_side_needs() -> None:
    assert needs("", "in.telnetd@10.0.0.1: ALL\n", name_only()) == [Need.SERVER_ADDR]
    assert needs("", "in.telnetd@.example.org: ALL\n", name_only()) == [Need.SERVER_NAME]
    assert needs("", "23: ALL\n", name_only()) == [Need.SERVER_PORT]


def test_without_ask_absent_nothing_changes() -> None:
    plain = Connection("in.telnetd", client=Endpoint(name="a.example.org"), user="x")
    assert needs("", "ALL: 10.0.0.0/8 UNKNOWN\n23: ALL\nx@y: ALL\n", plain) == []
    decision = Evaluation(policy("", "ALL: UNKNOWN\n"), plain).run(lambda r: None)
    assert decision.verdict is Verdict.DENY  # tcpdmatch's "unknown" address matches UNKNOWN


def test_the_decision_driver_gives_no_answer() -> None:
    check = Check(Evaluation(policy("", "ALL: 10.0.0.0/8\n"), name_only(), use_index=False))
    assert check.next_task() is None  # answered at once, no I/O task
    assert check.evaluation.decision.verdict is Verdict.GRANT


def test_the_decision_record_does_not_ask() -> None:
    # A name-only client granted by a name rule: the record's address stays "unknown".
    evaluation = Evaluation(policy("ALL: a.example.org\n", ""), name_only(), use_index=False)
    assert evaluation.next_need() is None
    assert evaluation.decision.client_addr == "unknown"
    assert evaluation.decision.client_info == "someone@a.example.org"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefxyz.:*?[]-ALKNOWU", min_size=1, max_size=12),
       st.ip_addresses())
def test_a_token_that_is_not_address_like_matches_no_address(token: str, address: object) -> None:
    matcher = compile_string(token)
    if not address_like(token, matcher):
        assert not matcher.match(str(address)) or token.upper() == "ALL"


def test_need_request_for_addresses_has_a_key() -> None:
    evaluation = Evaluation(policy("", "ALL: 10.0.0.0/8\n"), name_only())  # the index too
    request = evaluation.next_need()
    assert isinstance(request, NeedRequest) and request.key is Need.CLIENT_ADDR
    evaluation.supply("10.1.2.3")
    assert evaluation.next_need() is None
    assert evaluation.decision.verdict is Verdict.DENY


def first_request(
    allow: str, deny: str, connection: Connection, mode: object = None
) -> NeedRequest:
    from tcpwrap.policy.decision import Mode

    run_mode = mode if isinstance(mode, Mode) else Mode(dry_run=False)
    evaluation = Evaluation(policy(allow, deny), connection, run_mode, use_index=False)
    request = evaluation.next_need()
    assert request is not None
    return request


def address_only() -> Connection:
    return Connection(
        "in.fingerd",
        client=Endpoint(addr="192.0.2.1", resolvable=True, ask_absent=True),
        server=Endpoint(resolvable=True, ask_absent=True),
        identable=True,
    )


def test_needs_of_the_deciding_rules_options_say_so() -> None:
    # matching reads the name: not acting
    request = first_request("ALL: .example.org\n", "", address_only())
    assert (request.need, request.acting) == (Need.CLIENT_NAME, False)
    request = first_request("ALL: root@ALL\n", "", address_only())
    assert (request.need, request.acting) == (Need.CLIENT_USER, False)
    # the deciding rule's expansions: acting (its verdict is chosen already)
    request = first_request("ALL: 192.0.2.1: spawn echo %n\n", "", address_only())
    assert (request.need, request.acting) == (Need.CLIENT_NAME, True)
    request = first_request("", "ALL: ALL: twist echo %u\n", address_only())
    assert (request.need, request.acting) == (Need.CLIENT_USER, True)
    request = first_request("ALL: ALL: rfc931\n", "", address_only())
    assert (request.need, request.acting) == (Need.CLIENT_USER, True)


def test_debian_aclexec_fall_through_matches_again_not_acting() -> None:
    from tcpwrap.policy.decision import AclExecResult, Mode

    debian = Mode(dry_run=False, debian_aclexec=True)
    evaluation = Evaluation(
        policy("ALL: ALL: aclexec /bin/false\n", "ALL: .example.org\n"), address_only(), debian,
        use_index=False,
    )
    request = evaluation.next_need()
    assert request is not None and (request.need, request.acting) == (Need.ACLEXEC, True)
    evaluation.supply(AclExecResult(1, 1))  # failed: Debian goes on to the deny table
    request = evaluation.next_need()
    assert request is not None and (request.need, request.acting) == (Need.CLIENT_NAME, False)
