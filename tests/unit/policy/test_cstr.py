"""cstr: the C string and number semantics the rule language inherits (glibc, C locale)."""

from __future__ import annotations

import pytest

from tcpwrap.policy.cstr import (
    INADDR_NONE,
    chop,
    dot_quad_addr,
    fold,
    inet_addr,
    not_inaddr,
    scan_int,
    scan_octal,
    scan_uint,
    split_at,
    str_eq,
    strip_mapped,
)


def quad(a: int, b: int, c: int, d: int) -> int:
    return (a << 24) | (b << 16) | (c << 8) | d


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("192.0.2.1", quad(192, 0, 2, 1)),
        ("0x7f.0.0.1", quad(127, 0, 0, 1)),
        ("0X7F.0.0.1", quad(127, 0, 0, 1)),
        ("0xc0.0xA8.0x00.0x01", quad(192, 168, 0, 1)),
        ("010.0.0.1", quad(8, 0, 0, 1)),  # octal
        ("00.00.00.00", 0),
        ("1", 1),  # one part: the whole 32 bits
        ("4294967294", 0xFFFFFFFE),
        ("1.2", quad(1, 0, 0, 2)),  # two parts: 8 + 24 bits
        ("1.16777215", quad(1, 255, 255, 255)),
        ("1.2.3", quad(1, 2, 0, 3)),  # three parts: 8 + 8 + 16 bits
        ("1.2.65535", quad(1, 2, 255, 255)),
        ("1.2.3.4 ", quad(1, 2, 3, 4)),  # trailing blank ends the address
        ("1.2.3.4\tjunk after a blank", quad(1, 2, 3, 4)),
        ("1.2.3.4\n", quad(1, 2, 3, 4)),
        ("0x0a.0.0.0", quad(10, 0, 0, 0)),
    ],
)
def test_inet_addr_accepts(text: str, value: int) -> None:
    assert inet_addr(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " 1.2.3.4",  # no leading blanks
        "1.2.3.4x",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.256.0.1",
        "1.2.3.256",
        "1.2.65536",
        "1.16777216",
        "4294967296",
        "08.0.0.1",  # 8 is not an octal digit
        "09",
        "0x",  # "0x" needs a hex digit (glibc)
        "255.0.255.0x",
        "1..2.3",
        ".1.2.3",
        "1.2.3.",
        "a.b.c.d",
        "-1.2.3.4",
        "+1.2.3.4",
        "0x100000000",
    ],
)
def test_inet_addr_rejects(text: str) -> None:
    assert inet_addr(text) == INADDR_NONE


def test_all_ones_is_indistinguishable_from_failure() -> None:
    # inet_addr's old ambiguity: this is why a /255.255.255.255 mask never works (docs/rules.md).
    assert inet_addr("255.255.255.255") == INADDR_NONE
    assert inet_addr("0xffffffff") == INADDR_NONE
    assert inet_addr("255.255.255.254") == 0xFFFFFFFE


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("192.0.2.1", quad(192, 0, 2, 1)),
        ("0x0a.010.0.1", quad(10, 8, 0, 1)),
        ("1.2.3", INADDR_NONE),  # exactly four parts
        ("1", INADDR_NONE),
        ("1.2.3.4.", INADDR_NONE),
        ("1..2.3.4", INADDR_NONE),  # four runs, but inet_addr refuses the empty part
        ("1.2.3.x", INADDR_NONE),
        ("255.255.255.255", INADDR_NONE),
        ("", INADDR_NONE),
    ],
)
def test_dot_quad_addr(text: str, value: int) -> None:
    assert dot_quad_addr(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("  42", 42),  # leading blanks are skipped by %d
        ("\t\n42", 42),
        ("+7", 7),
        ("-7", -7),
        ("007", 7),
        ("2147483647", 2147483647),
        ("2147483648", -2147483648),  # wraps in an int
        ("4294967296", 0),
        ("99999999999999999999", -1),  # strtol saturates at LONG_MAX, then int truncation
        ("-99999999999999999999", 0),  # LONG_MIN truncated to 32 bits
    ],
)
def test_scan_int(text: str, value: int) -> None:
    assert scan_int(text) == value


@pytest.mark.parametrize("text", ["", " ", "-", "+", "7x", "7 ", "x7", "+-7", "1.5", "0x10"])
def test_scan_int_rejects_junk(text: str) -> None:
    assert scan_int(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("+0", 0),
        ("00", 0),
        ("022", 22),  # decimal: leading zeros do not make it octal
        ("65535", 65535),
        ("65536", 65536),  # callers compare with 65535
        ("-1", 0xFFFFFFFF),  # strtoul negates in unsigned long
        ("4294967296", 0),
        ("99999999999999999999", 0xFFFFFFFF),  # ULONG_MAX saturation, then 32 bits
    ],
)
def test_scan_uint(text: str, value: int) -> None:
    assert scan_uint(text) == value


@pytest.mark.parametrize("text", ["022x", "22 ", "", "0x16", "abc"])
def test_scan_uint_rejects(text: str) -> None:
    assert scan_uint(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("022", 0o22), ("22", 0o22), ("0777", 0o777), ("1000", 0o1000), ("-1", 0xFFFFFFFF), ("+7", 7)],
)
def test_scan_octal(text: str, value: int) -> None:
    assert scan_octal(text) == value


@pytest.mark.parametrize("text", ["8", "099", "7x", "", "0o7"])
def test_scan_octal_rejects(text: str) -> None:
    assert scan_octal(text) is None


@pytest.mark.parametrize(
    ("text", "delimiter", "expected"),
    [
        ("a:b:c", ":", ("a", "b:c")),
        ("sshd: [::1] [2001:db8::1]: allow", ":", ("sshd", " [::1] [2001:db8::1]: allow")),
        (" [::1] [2001:db8::1]: allow", ":", (" [::1] [2001:db8::1]", " allow")),
        ("[a:b]", ":", None),
        ("nothing", ":", None),
        ("[[a]:b]:c", ":", ("[[a]:b]", "c")),
        # the counter may go negative: a delimiter counts only at depth exactly 0
        ("]a:b", ":", None),
        ("]a[:b", ":", ("]a[", "b")),
        ("][:x", ":", ("][", "x")),
        ("[2001:db8::]/32", "/", ("[2001:db8::]", "32")),
        ("joe@[::1]@x", "@", ("joe", "[::1]@x")),
        ("", ":", None),
    ],
)
def test_split_at_counts_brackets(
    text: str, delimiter: str, expected: tuple[str, str] | None
) -> None:
    assert split_at(text, delimiter) == expected


def test_fold_is_ascii_only() -> None:
    assert fold("SSHD.Example.COM") == "sshd.example.com"
    assert fold("ÉTÉ") == "ÉtÉ"  # strcasecmp in the C locale leaves other letters alone
    assert fold("İX") == "İx"  # and never changes the length
    assert fold("\u212a") == "\u212a"  # the Kelvin sign is not a K
    assert str_eq("ALL", "all")
    assert not str_eq("é", "É")


def test_chop_strips_c_whitespace_only() -> None:
    assert chop(" \t\v\f\r\n x y \n") == "x y"
    assert chop("\xa0x\xa0") == "\xa0x\xa0"  # not a C isspace() character


def test_not_inaddr() -> None:
    assert not not_inaddr("192.0.2.1")
    assert not not_inaddr("192.0.2.0/24")
    assert not_inaddr("192.0.2.*")
    assert not_inaddr("[::1]")
    assert not_inaddr("host")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("::FFFF:192.0.2.1", "192.0.2.1"),
        ("::ffff:192.0.2", "::ffff:192.0.2"),  # not a dotted quad: kept
        ("::ffff:", "::ffff:"),
        ("::ffff:c000:201", "::ffff:c000:201"),
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_strip_mapped(text: str, expected: str) -> None:
    assert strip_mapped(text) == expected
