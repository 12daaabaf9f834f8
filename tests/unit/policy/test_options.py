"""options: splitting, key/value forms and every validation error of docs/rules.md, in order."""

from __future__ import annotations

import pytest

from tcpwrap.policy.decision import Mode, Verdict
from tcpwrap.policy.options import (
    FACILITIES,
    LEVELS,
    OPTION_FLAGS,
    Priority,
    compile_options,
    parse_severity,
    split_fields,
    split_key_value,
    split_setenv,
)

from .support import conn, decide, texts

VERBOSE = Mode(verbose=True)


def test_fields_split_at_every_colon_with_backslash_escape() -> None:
    # D06: a\:b\\:c -> one field "a:b\:c" (no way to write a backslash before a colon)
    assert split_fields("a\\:b\\\\:c") == [("a:b\\:c", False)]
    assert split_fields("spawn echo a\\:b: deny\n") == [
        ("spawn echo a:b", False),
        (" deny\n", False),
    ]
    assert split_fields("a::b") == [("a", False), ("", False), ("b", False)]
    assert split_fields("a\\b") == [("a\\b", False)]  # other backslashes are kept
    assert split_fields("[::1]") == [("[", False), ("", False), ("1]", False)]  # no brackets


def test_trailing_colon_is_flagged_only_at_the_very_end() -> None:
    assert split_fields("deny:") == [("deny", True)]
    assert split_fields("deny:\n") == [("deny", False), ("\n", False)]


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("spawn echo hi", "spawn", "echo hi"),
        ("spawn=echo hi", "spawn", "echo hi"),
        ("spawn = echo hi", "spawn", "echo hi"),
        ("spawn =echo hi", "spawn", "echo hi"),
        ("spawn= echo hi", "spawn", "echo hi"),
        ("spawn=echo =x", "spawn", "echo =x"),  # D07: exactly one '=' is skipped
        ("spawn==x", "spawn", "=x"),
        ("spawn   echo  hi  \n", "spawn", "echo  hi"),  # G10: inner blanks kept
        ("  allow \n", "allow", None),
        ("allow =", "allow", None),
        ("=x", "", "x"),
        ("", "", None),
        ("\tnice\t5", "nice", "5"),
    ],
)
def test_key_value_forms(text: str, key: str, value: str | None) -> None:
    assert split_key_value(text) == (key, value)


def first_error(text: str) -> str | None:
    steps = compile_options(text)
    last = steps[-1]
    return last.error or last.value_error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n", "missing option name"),
        ("   \n", "missing option name"),
        ("=deny\n", "missing option name"),
        ("allow::deny\n", 'option "allow" must be at end'),
        ("spawn x::deny\n", "missing option name"),  # G10: an empty field
        ("bogus_option\n", 'bad option name: "bogus_option"'),
        ("/bin/echo hello\n", 'bad option name: "/bin/echo"'),  # D13
        ("BoGuS x\n", 'bad option name: "BoGuS"'),
        ("spawn\n", 'option "spawn" requires value'),
        ("twist\n", 'option "twist" requires value'),
        ("setenv\n", 'option "setenv" requires value'),
        ("severity\n", 'option "severity" requires value'),
        ("allow yes\n", 'option "allow" requires no value'),
        ("keepalive 1\n", 'option "keepalive" requires no value'),
        ("DENY now\n", 'option "DENY" requires no value'),  # the key as written
        ("allow: spawn x\n", 'option "allow" must be at end'),  # D02
        ("deny:\n", 'option "deny" must be at end'),  # D05: the empty field after it
        ("twist echo: deny\n", 'option "twist" must be at end'),
        ("deny x: y\n", 'option "deny" requires no value'),  # arity before position
        ("umask 999\n", 'bad umask value: "999"'),
        ("umask 1000\n", 'bad umask value: "1000"'),
        ("umask 022x\n", 'bad umask value: "022x"'),
        ("linger -1\n", 'bad linger value: "-1"'),
        ("linger x\n", 'bad linger value: "x"'),
        ("nice x\n", 'bad nice value: "x"'),
        ("nice 5x\n", 'bad nice value: "5x"'),
        ("rfc931 5x\n", 'bad rfc931 timeout: "5x"'),
        ("rfc931 0\n", 'bad rfc931 timeout: "0"'),
        ("rfc931 abc\n", 'bad rfc931 timeout: "abc"'),
        ("rfc931 -3\n", 'bad rfc931 timeout: "-3"'),
        ("severity bogus\n", 'bad syslog facility or severity: "bogus"'),
        ("severity mail.bogus\n", 'bad syslog facility or severity: "bogus"'),
        ("severity bogus.info\n", 'bad syslog facility or severity: "bogus"'),
        ("severity fac.lvl\n", 'bad syslog facility or severity: "fac"'),  # facility first
        ("severity authpriv.info\n", 'bad syslog facility or severity: "authpriv"'),
        ("severity warn\n", 'bad syslog facility or severity: "warn"'),
        ("severity error\n", 'bad syslog facility or severity: "error"'),
        ("severity panic\n", 'bad syslog facility or severity: "panic"'),
    ],
)
def test_error_texts(text: str, message: str) -> None:
    assert first_error(text) == message


@pytest.mark.parametrize(
    "text",
    [
        "umask 022\n",
        "umask 22\n",
        "umask 0777\n",
        "umask 0\n",
        "linger 0\n",
        "linger 10\n",
        "nice\n",
        "nice -5\n",
        "nice +3\n",
        "rfc931\n",
        "rfc931 2\n",
        "severity auth.info\n",
        "severity LOCAL7.DEBUG\n",
        "severity emerg\n",
        "keepalive\n",
        "ALLOW\n",  # D17: option names in any case
        "spawn echo %h: twist echo %d\n",
        "setenv A b c\n",
        "banners /x\n",
        "aclexec /bin/true\n",
        "user nobody\n",
        "group nogroup\n",
        "deny",  # no trailing newline: fine
    ],
)
def test_valid_options(text: str) -> None:
    assert first_error(text) is None


def test_steps_stop_at_the_first_error() -> None:
    steps = compile_options("spawn a: bogus: deny: more\n")
    assert [s.key for s in steps] == ["spawn", "bogus"]
    assert steps[0].error is None and steps[0].value == "a"
    assert steps[1].error == 'bad option name: "bogus"'


def test_expanded_values_are_not_checked_statically() -> None:
    steps = compile_options("setenv %u x\n")
    assert steps[0].value_error is None and steps[0].value == "%u x"


def test_option_table_flags() -> None:
    assert set(OPTION_FLAGS) == {
        "user", "group", "umask", "linger", "keepalive", "spawn", "twist", "rfc931",
        "setenv", "nice", "severity", "allow", "deny", "banners", "aclexec",
    }  # fmt: skip


def test_severity_values() -> None:
    assert parse_severity("mail.info") == Priority(LEVELS["info"], FACILITIES["mail"])
    assert parse_severity("WARNING") == Priority(LEVELS["warning"])
    assert parse_severity("local3.err").names == "local3.err"
    assert parse_severity("crit").names == "crit"
    with pytest.raises(ValueError, match='"kern2"'):
        parse_severity("kern2.crit")


def test_setenv_split() -> None:
    assert split_setenv("NAME  value with  spaces ") == ("NAME", "value with  spaces")
    assert split_setenv("NAME") == ("NAME", "")
    assert split_setenv("A\tb") == ("A", "b")


# --------------------------------------------------------------------------- in a decision


def test_option_error_denies_with_file_and_line_even_in_allow() -> None:
    decision = decide("sshd: ALL: bogus_option\n", None, conn())
    assert decision.verdict is Verdict.DENY
    assert texts(decision) == ['error: hosts.allow, line 1: bad option name: "bogus_option"']
    assert decision.origin is not None and decision.origin.line == 1


def test_structure_errors_come_instead_of_the_option_record() -> None:
    # D02/D08: arity/position errors replace the "option:" record; value errors follow it
    decision = decide("sshd: ALL: spawn echo x: allow: deny\n", None, conn(), VERBOSE)
    assert texts(decision) == [
        "matched:  hosts.allow line 1",
        "option:   spawn echo x",
        'error: hosts.allow, line 1: option "allow" must be at end',
    ]
    decision = decide("sshd: ALL: umask 999: allow\n", None, conn(), VERBOSE)
    assert texts(decision) == [
        "matched:  hosts.allow line 1",
        "option:   umask 999",
        'error: hosts.allow, line 1: bad umask value: "999"',
    ]
    assert decision.verdict is Verdict.DENY


def test_rule_ends_in_colon_warning() -> None:
    # only possible without a final newline (the table reader stops there), so drive the
    # option list directly through a rule whose third field ends in ":"
    steps = compile_options("allow:")
    assert steps[0].rule_ends_in_colon
    decision = decide("sshd: ALL: spawn x:", None, conn(), VERBOSE)
    # the table lacks its final newline: an ERROR scan, the rule never runs
    assert "warning: hosts.allow, line 0: missing newline or line too long" in texts(decision)


def test_option_record_shows_key_as_written_and_expanded_value() -> None:
    decision = decide("sshd: ALL: SPAWN = echo %d %a: DeNy\n", None, conn(), VERBOSE)
    assert texts(decision) == [
        "matched:  hosts.allow line 1",
        "option:   SPAWN echo sshd 192.0.2.1",
        "option:   DeNy ",
    ]
    assert decision.verdict is Verdict.DENY


def test_severity_facility_first_in_a_decision() -> None:
    decision = decide("sshd: ALL: severity foo.bar\n", None, conn())
    assert texts(decision) == [
        'error: hosts.allow, line 1: bad syslog facility or severity: "foo"'
    ]
    decision = decide("sshd: ALL: severity mail.notice\n", None, conn())
    assert decision.granted
    assert decision.allow_priority == decision.deny_priority == parse_severity("mail.notice")
