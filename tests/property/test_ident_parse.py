"""Property tests for the ident reply parser: hostile input never breaks it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpwrap.proto.ident import MAX_LINE, MAX_USER, frame_reply, parse_reply

ports = st.integers(min_value=0, max_value=65535)
C_BLANKS = set(" \t\n\v\f\r\0")


def _check(user: str | None) -> None:
    if user is None:
        return
    assert 1 <= len(user) <= MAX_USER
    assert not any(ch.isspace() or ch in C_BLANKS for ch in user)
    assert not user.splitlines() or user.splitlines() == [user]


@given(st.binary(max_size=2000), ports, ports)
def test_arbitrary_bytes_never_raise(data: bytes, cport: int, sport: int) -> None:
    _check(parse_reply(data, cport, sport))


@given(st.text(max_size=2000), ports, ports)
def test_arbitrary_text_never_raises(data: str, cport: int, sport: int) -> None:
    _check(parse_reply(data, cport, sport))


_blank = st.sampled_from([" ", "\t", "", "  "])
_latin1 = st.characters(min_codepoint=0, max_codepoint=255)
_user = st.text(alphabet=_latin1, max_size=400)


def _is_blank(ch: str) -> bool:
    return ch.isspace() or ch in C_BLANKS


@given(
    ports,
    ports,
    _blank,
    _blank,
    st.text(_latin1, max_size=30),
    _user,
    st.text(_latin1, max_size=30),
)
def test_well_formed_replies(
    cport: int, sport: int, b1: str, b2: str, os_field: str, user: str, tail: str
) -> None:
    line = f"{b1}{cport}{b2},{b1}{sport}{b2}:{b1}USERID{b2}:{os_field}:{b1}{user} {tail}\r\n"
    got = parse_reply(line.encode("latin-1"), cport, sport)
    _check(got)
    if got is not None:
        assert got in line
    clean_os = os_field and not any(ch in ":\0" for ch in os_field)
    clean_user = user and not any(_is_blank(ch) for ch in user)
    if clean_os and clean_user:
        assert got == user[:MAX_USER]
    # the wrong port never yields a user
    assert parse_reply(line.encode("latin-1"), (cport + 1) % 65536, sport) is None


@given(st.binary(max_size=3000))
def test_framing_is_bounded(data: bytes) -> None:
    line = frame_reply(data)
    if line is not None:
        assert len(line) <= MAX_LINE
        assert data.startswith(line)
        assert line.endswith(b"\n") or len(line) == MAX_LINE
        assert b"\n" not in line[:-1]
    else:
        assert b"\n" not in data and len(data) < MAX_LINE
