"""Wildcard matching (patterns._glob_regex) gives match_pattern_ylo()'s answers, in linear-ish
time: compared with a direct port of the C function, with the earlier `.*`-per-star regex,
and with fnmatch where their languages agree. The adversarial tokens of issue 12 (item 11,
seconds in libwrap and in the earlier regex) are among the examples; their speed is measured
in benchmarks/glob_bench.py, not here."""

from __future__ import annotations

import fnmatch
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tcpwrap.policy.cstr import fold
from tcpwrap.policy.patterns import Glob, compile_string


def ylo(s: str, pattern: str) -> bool:
    """match_pattern_ylo() as Debian's hosts_access.c has it, on ASCII-folded text."""
    while True:
        if not pattern:
            return not s
        if pattern[0] == "*":
            pattern = pattern[1:]
            if not pattern:
                return True
            if pattern[0] not in "?*":
                return any(
                    s[i] == pattern[0] and ylo(s[i + 1 :], pattern[1:]) for i in range(len(s))
                )
            return any(ylo(s[i:], pattern) for i in range(len(s)))
        if not s:
            return False
        if pattern[0] != "?" and pattern[0] != s[0]:
            return False
        s, pattern = s[1:], pattern[1:]


def old_regex(token: str) -> re.Pattern[str]:
    """The earlier translation (exponential on several stars), for comparison."""
    parts: list[str] = []
    for i, c in enumerate(token):
        if c == "*":
            parts.append(".*(?=.)" if token[i + 1 : i + 2] == "*" else ".*")
        elif c == "?":
            parts.append(".")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.IGNORECASE | re.ASCII | re.DOTALL)


TOKENS = st.text(alphabet="ab*?.A", min_size=1, max_size=9).filter(
    lambda t: "*" in t or "?" in t
)
SUBJECTS = st.text(alphabet="abAB.x", max_size=12)


def glob_match(token: str, subject: str) -> bool:
    glob = compile_string(token)
    assert isinstance(glob, Glob)
    return glob.match(subject)


@settings(max_examples=3000, deadline=None)
@given(TOKENS, SUBJECTS)
@example("a**", "a")
@example("**", "")
@example("*", "")
@example("*a*a*a*a*b", "a" * 127)
@example("*a*a*a*a*a*b", "a" * 127)
@example("*a*a*a*a*a*a*a*a*a*a*b", "a" * 120 + "b")
def test_glob_equals_match_pattern_ylo(token: str, subject: str) -> None:
    expected = ylo(fold(subject), fold(token)) if len(subject) < 20 else None
    got = glob_match(token, subject)
    if expected is not None:
        assert got is expected
        old = old_regex(token).fullmatch(subject) is not None
        assert got is (old or (not subject and token == "*"))
    if "**" not in token:  # fnmatch has no `**` quirk; its language is the same otherwise
        assert got is fnmatch.fnmatchcase(fold(subject), fold(token))


def test_the_adversarial_cases_answer() -> None:
    assert not glob_match("*a*a*a*a*b", "a" * 127)
    assert not glob_match("*a*a*a*a*a*b", "a" * 127)
    assert glob_match("*a*a*a*a*a*b", "a" * 126 + "b")
