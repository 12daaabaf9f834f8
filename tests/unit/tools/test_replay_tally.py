"""tools.replay_tally: the JSON text is json.dumps(indent=2) of the document, byte for byte,
whatever the log's strings hold (quotes, backslashes, control characters, non-ASCII)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.errors import Origin
from tcpwrap.report.model import CONNECT, Event
from tcpwrap.tools.replay_tally import Tally, json_document, json_text
from tcpwrap.tools.replaying import Missing, Outcome, Replayed

HOSTILE = ["", 'a"b', "back\\slash", "ctl\x00\x1b\n\t", "caf\u00e9", "\U0001f600", "x" * 400]
text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))
optional = st.one_of(st.none(), text)
outcome = st.sampled_from([Outcome.GRANTED, Outcome.DENIED, Outcome.TWIST, None])
origin = st.one_of(st.none(), st.builds(Origin, text, st.integers(0, 10**6)))
record = st.tuples(text, optional, optional, optional, outcome, outcome, origin, text, text)


def event(ts: float, src: int, line: str) -> Event:
    return Event(ts, src, 1, 0, 0, "gate", "sshd", 1, CONNECT, "x", None, None, line)


def tally_of(records: list[tuple[object, ...]], sources: list[str]) -> Tally:
    tally = Tally(sources)
    for n, (daemon, addr, name, user, old, new, rule, line, _) in enumerate(records):
        replayed = (
            Replayed(None, missing=Missing.CLIENT_USER) if new is None else Replayed(new, rule)
        )
        fields = (daemon, addr, name, user)
        tally.add(fields, old or Outcome.GRANTED, replayed, event(n * 3600.5, n % 3, line))
    return tally


@settings(max_examples=200, deadline=None)
@given(st.lists(record, max_size=12), st.lists(text, max_size=3))
def test_json_text_is_json_dumps(records: list[tuple[object, ...]], sources: list[str]) -> None:
    tally = tally_of(records, sources)
    assert json_text(tally) == json.dumps(json_document(tally), indent=2) + "\n"


@pytest.mark.parametrize("sources", [[], ['"flips": []'], ['\n  "flips": []']])
def test_no_flips_and_sources_that_look_like_the_flips_key(sources: list[str]) -> None:
    flipping = [("sshd", "10.0.0.1", None, None, Outcome.GRANTED, Outcome.DENIED, None, "l", "")]
    for records in ([], flipping):
        tally = tally_of(records, sources)  # type: ignore[arg-type]
        assert json_text(tally) == json.dumps(json_document(tally), indent=2) + "\n"


def test_a_flip_without_examples() -> None:
    flipping = [("sshd", "10.0.0.1", None, None, Outcome.GRANTED, Outcome.DENIED, None, "l", "")]
    tally = tally_of(flipping, [])  # type: ignore[arg-type]
    for flip in tally.flips.values():
        flip.examples.clear()
    assert json_text(tally) == json.dumps(json_document(tally), indent=2) + "\n"
