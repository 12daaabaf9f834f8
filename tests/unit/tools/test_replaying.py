"""tools.replaying: records that logged address and name are decided by the quick path, with
the full evaluation's outcome, deciding rule and missing fact; options go to the evaluator."""

from __future__ import annotations

import pytest

from tcpwrap.errors import Origin
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.environment import StaticEnvironment
from tcpwrap.policy.rules import TableSource
from tcpwrap.tools.replaying import Missing, Outcome, Replayed, Replayer

ALLOW = b"""\
in.ftpd: ALL
sshd: .example.net EXCEPT guest.example.net
in.fingerd: root@.example.net
sshd@192.0.2.9: ALL
in.rshd: 10.0.0.1 : spawn echo %u
"""
DENY = b"""\
ALL: .evil.example 198.51.100.0/255.255.255.0
22: ALL
in.telnetd: ALL EXCEPT 10.
ALL: PARANOID
in.rshd: ALL
in.talkd: /nolist
"""


def replayer(server_logged: bool = False, deny: bytes = DENY) -> Replayer:
    policy = compile_policy(TableSource("hosts.allow", ALLOW), TableSource("hosts.deny", deny))
    return Replayer(policy, StaticEnvironment(), server_logged=server_logged)


def no_evaluation(*_: object) -> Replayed:
    raise AssertionError("the full evaluation ran")


GRANTED, DENIED = Outcome.GRANTED, Outcome.DENIED


def at(table: str, line: int) -> Origin:
    return Origin(f"hosts.{table}", line)


CASES = [
    # (daemon, addr, name, user), expected
    (("in.ftpd", "10.0.0.5", "a.example.net", None), Replayed(GRANTED, at("allow", 1))),
    (("sshd", "10.0.0.5", "a.example.net", None), Replayed(GRANTED, at("allow", 2))),
    # EXCEPT: guest is not granted by line 2; line 4 reads the server address, not logged
    (("sshd", "10.0.0.5", "guest.example.net", None), Replayed(None, None, Missing.SERVER_ADDR)),
    # user@host: the host part matches, then the user is read (not logged)
    (("in.fingerd", "10.0.0.5", "a.example.net", None), Replayed(None, None, Missing.CLIENT_USER)),
    (("in.fingerd", "10.0.0.5", "a.example.net", "root"), Replayed(GRANTED, at("allow", 3))),
    # ... the host part does not match: the user is never read; a port rule reads the server's
    (("in.fingerd", "10.0.0.5", "a.example.org", None), Replayed(None, None, Missing.SERVER_PORT)),
    (("in.telnetd", "198.51.100.7", "x.example.org", None), Replayed(DENIED, at("deny", 1))),
]


@pytest.mark.parametrize(("fields", "expected"), CASES)
def test_the_quick_path_decides_without_the_evaluator(
    monkeypatch: pytest.MonkeyPatch, fields: tuple[str, str, str, str | None], expected: Replayed
) -> None:
    full = replayer()._evaluate(*fields)
    assert full == expected
    quick = replayer()
    monkeypatch.setattr(quick, "_evaluate", no_evaluation)
    assert quick.decide(*fields) == expected


def test_samples_have_no_server_side(monkeypatch: pytest.MonkeyPatch) -> None:
    """diff's samples (`server_logged`): the server is unknown, not a fact to ask for (no
    port: `22` does not match; `sshd@192.0.2.9` neither): no rule matched."""
    fields = ("sshd", "10.0.0.5", "guest.example.net", None)
    sample = replayer(server_logged=True)
    expected = sample._evaluate(*fields)
    assert expected == Replayed(Outcome.GRANTED, None)
    monkeypatch.setattr(sample, "_evaluate", no_evaluation)
    assert sample.decide(*fields) == expected


def test_options_and_unlogged_fields_go_to_the_evaluator(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = replayer()
    calls: list[tuple[str, str | None, str | None, str | None]] = []
    evaluate = quick._evaluate

    def counted(*fields: str | None) -> Replayed:
        calls.append(fields)  # type: ignore[arg-type]
        return evaluate(*fields)  # type: ignore[arg-type]

    monkeypatch.setattr(quick, "_evaluate", counted)
    # the deciding rule has options (%u of an unlogged user changes no verdict)
    assert quick.decide("in.rshd", "10.0.0.1", "a.example.net", None) == Replayed(
        Outcome.GRANTED, Origin("hosts.allow", 5)
    )
    # no address logged (the paper's format)
    assert quick.decide("in.ftpd", None, "a.example.net", None).outcome is Outcome.GRANTED
    assert len(calls) == 2


NAMELESS = b"""\
sshd: .example.net 10.0.0.5
in.ftpd: 10.0.0.6 .example.net
in.telnetd: ALL EXCEPT 10.0.0.7
ALL: 10.0.0.8
"""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # the name token comes before the matching address token: the name is read first
        (("sshd", "10.0.0.5", None, None), Replayed(None, None, Missing.CLIENT_NAME)),
        # ... after it: the address decides
        (("in.ftpd", "10.0.0.6", None, None), Replayed(GRANTED, at("allow", 2))),
        # the name-reading rule comes before the address's hit (line 4)
        (("sshd", "10.0.0.8", None, None), Replayed(None, None, Missing.CLIENT_NAME)),
        # no name-reading rule on the way
        (("in.telnetd", "10.0.0.8", None, None), Replayed(GRANTED, at("allow", 3))),
        (("in.telnetd", "10.0.0.7", None, None), Replayed(GRANTED, None)),
        (("in.ftpd", "10.0.0.8", None, None), Replayed(None, None, Missing.CLIENT_NAME)),
        (("in.talkd", "10.0.0.9", None, None), Replayed(GRANTED, None)),
    ],
)
def test_records_without_a_name_take_the_quick_path(
    monkeypatch: pytest.MonkeyPatch, fields: tuple[str, str, None, None], expected: Replayed
) -> None:
    """A refusal logged as `ADDR (ADDR)`: the evaluator's Candidates evaluates every rule
    that reads the name before the address's index hit; so does the quick path."""
    policy = compile_policy(TableSource("hosts.allow", NAMELESS), TableSource("hosts.deny", b""))
    full = Replayer(policy, StaticEnvironment())._evaluate(*fields)
    assert full == expected
    quick = Replayer(policy, StaticEnvironment())
    monkeypatch.setattr(quick, "_evaluate", no_evaluation)
    assert quick.decide(*fields) == expected


def test_a_table_cut_short_denies_at_its_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    cut = b"in.ftpd: 10.9.9.9\nsshd: 10.9.9.8"  # no final newline: tcpd stops, fail closed
    fields = ("in.talkd", "10.0.0.5", "a.example.org", None)
    quick = replayer(deny=cut)
    expected = quick._evaluate(*fields)
    assert expected == Replayed(DENIED, at("deny", 1))  # where tcpd says it stopped
    monkeypatch.setattr(quick, "_evaluate", no_evaluation)
    assert quick.decide(*fields) == expected
