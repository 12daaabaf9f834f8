"""The ident request and reply-line parser (docs/ident.md, conformance T22-T25d)."""

from __future__ import annotations

import pytest

from tcpwrap.proto.ident import (
    MAX_LINE,
    IdentError,
    build_request,
    frame_reply,
    parse_reply,
)

C, S = 34719, 43387  # the ports of T22's query


def test_request_is_decimal_client_port_comma_server_port_crlf() -> None:
    assert build_request(C, S) == b"34719,43387\r\n"
    assert build_request(0, 65535) == b"0,65535\r\n"


@pytest.mark.parametrize("port", [-1, 65536, True, 1.0, "80"])
def test_request_rejects_non_ports(port: object) -> None:
    with pytest.raises(IdentError):
        build_request(port, 80)  # type: ignore[arg-type]
    with pytest.raises(IdentError):
        parse_reply(b"", 80, port)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "user"),
    [
        # T22/T23: the fake identd's normal answer
        (b"34719 , 43387 : USERID : UNIX : joe\r\n", "joe"),
        # no blanks at all, no CR
        (b"34719,43387:USERID:UNIX:joe\n", "joe"),
        # blanks (including tabs) anywhere the format has a blank; leading blanks too
        (b"  34719\t,\t43387\t:\tUSERID\t:UNIX:\tjoe\r\n", "joe"),
        # leading zeros and '+' are still the same number
        (b"+034719 , 0043387 : USERID : UNIX : joe\r\n", "joe"),
        # T25b: charset after the OS, metacharacters kept, trailing words dropped
        (b"34719 , 43387 : USERID : UNIX,US-ASCII : ev;il$(x) trailing words\r\n", "ev;il$(x)"),
        # T25d: colons inside the user token are kept, no CR
        (b"34719,43387 : USERID : OTHER :j:o:e\n", "j:o:e"),
        # an OS field of blanks is still an OS field (scanf's %[^:] takes blanks)
        (b"34719,43387:USERID: :joe\n", "joe"),
        # the OS field may be anything but a colon
        (b"34719,43387:USERID:\x01\xff$;:joe\n", "joe"),
        # the user keeps control characters and high bytes (decoded as Latin-1)
        (b"34719,43387:USERID:UNIX:j\x1bo\xe9\n", "j\x1bo\xe9"),
        # the reply may be a str as well
        ("34719,43387:USERID:UNIX:joe\n", "joe"),
        # a long line without a newline (what frame_reply hands over after 511 bytes)
        (b"34719,43387:USERID:UNIX:" + b"u" * 487, "u" * 127),
    ],
)
def test_accepted_replies(reply: bytes | str, user: str) -> None:
    assert parse_reply(reply, C, S) == user


@pytest.mark.parametrize(
    "reply",
    [
        # T25: no OS field
        b"34719,43387:USERID::joe\r\n",
        # T23b: ERROR responses
        b"34719 , 43387 : ERROR : NO-USER\r\n",
        b"34719 , 43387 : ERROR : HIDDEN-USER\r\n",
        # T25c: wrong ports, or swapped ports
        b"1 , 2 : USERID : UNIX : joe\r\n",
        b"43387 , 34719 : USERID : UNIX : joe\r\n",
        b"34719 , 43388 : USERID : UNIX : joe\r\n",
        # C's %u accepted a sign and wrapped modulo 2**32; we do not
        b"-4294932577 , 43387 : USERID : UNIX : joe\r\n",
        b"4295002015 , 43387 : USERID : UNIX : joe\r\n",
        b"34719" + b"0" * 600 + b", 43387 : USERID : UNIX : joe\r\n",
        # USERID is case-sensitive
        b"34719 , 43387 : userid : UNIX : joe\r\n",
        b"34719 , 43387 : UserID : UNIX : joe\r\n",
        # no user at all, or only blanks after the third colon
        b"34719 , 43387 : USERID : UNIX :\r\n",
        b"34719 , 43387 : USERID : UNIX :   \r\n",
        b"34719 , 43387 : USERID : UNIX",
        # missing pieces / garbage
        b"",
        b"\r\n",
        b"joe\r\n",
        b"34719\r\n",
        b"34719 , 43387\r\n",
        b"34719 , : USERID : UNIX : joe\r\n",
        b", 43387 : USERID : UNIX : joe\r\n",
        b"34719 43387 : USERID : UNIX : joe\r\n",
        b"\x00\x01\x02\xff\xfe",
        # a NUL ends the C string: everything after it is invisible
        b"34719,43387:USERID:UNIX:\x00joe\n",
        b"34719,43387:USERID\x00:UNIX:joe\n",
        # Unicode digits are not digits for %u
        "\uff13\uff14\uff17\uff11\uff19,43387:USERID:UNIX:joe\n",
        # the user lies beyond the 511 bytes tcpd reads
        b"34719,43387:USERID:" + b"o" * 600 + b":joe\n",
        # a user token that begins with a Python-only blank is empty
        b"34719,43387:USERID:UNIX:\x85joe\n",
    ],
)
def test_rejected_replies(reply: bytes | str) -> None:
    assert parse_reply(reply, C, S) is None


def test_user_is_truncated_to_127_characters() -> None:
    long_user = b"x" * 300
    assert parse_reply(b"34719,43387:USERID:UNIX:" + long_user + b"\r\n", C, S) == "x" * 127
    assert parse_reply(b"34719,43387:USERID:UNIX:" + b"y" * 127 + b"\n", C, S) == "y" * 127
    assert parse_reply(b"34719,43387:USERID:UNIX:" + b"y" * 128 + b"\n", C, S) == "y" * 127


@pytest.mark.parametrize("blank", ["\t", "\v", "\f", "\r", "\x1c", "\x1f", "\x85", "\xa0"])
def test_user_token_ends_at_any_blank(blank: str) -> None:
    assert parse_reply(f"34719,43387:USERID:UNIX:jo{blank}e\n", C, S) == "jo"


def test_ports_zero_and_max() -> None:
    assert parse_reply(b"0,65535:USERID:UNIX:joe\n", 0, 65535) == "joe"
    assert parse_reply(b"000,65535:USERID:UNIX:joe\n", 0, 65535) == "joe"


class TestFraming:
    def test_incomplete_line_needs_more(self) -> None:
        assert frame_reply(b"") is None
        assert frame_reply(b"34719 , 43387 : USERID : UNIX : joe") is None
        assert frame_reply(b"x" * (MAX_LINE - 1)) is None

    def test_line_ends_at_first_newline(self) -> None:
        assert frame_reply(b"a,b\r\nsecond line\n") == b"a,b\r\n"
        assert frame_reply(b"\n") == b"\n"

    def test_511_bytes_without_newline_is_a_line(self) -> None:
        assert frame_reply(b"x" * MAX_LINE) == b"x" * MAX_LINE
        assert frame_reply(b"x" * 5000) == b"x" * MAX_LINE

    def test_newline_just_past_the_limit_is_not_seen(self) -> None:
        assert frame_reply(b"x" * MAX_LINE + b"\n") == b"x" * MAX_LINE
        assert frame_reply(b"x" * (MAX_LINE - 1) + b"\n") == b"x" * (MAX_LINE - 1) + b"\n"
