"""Option text -> validated option steps and the actions they ask for (hosts_options(5)).

What it does: splits a rule's third field at `:` (`\\:` is a literal colon), trims, cuts
key/value (`key value`, `key=value`, `key = value`), and checks each field in the original's
order (missing name, bad name, value arity, "must be at end"). Value checks that need no
request (umask, linger, nice, rfc931, severity) are done here too; their error texts are
Debian's, byte for byte (docs/rules.md#options). Actions are plain values: nothing here executes.

Hazards: option values may later reach /bin/sh (spawn, twist, aclexec); they are only expanded
through `expand.percent_x`, which sanitises every network-derived value.
Errors: problems are returned as error texts on the step (the evaluator turns them into a
fail-closed deny with file:line), never raised.
"""

from __future__ import annotations

import enum

from tcpwrap._record import record
from tcpwrap.errors import Severity
from tcpwrap.policy.cstr import C_SPACE, chop, fold, scan_int, scan_octal, split_at


class Flag(enum.Flag):
    NONE = 0
    TAKES_VALUE = enum.auto()  # OPT_ARG
    NEEDS_VALUE = enum.auto()  # NEED_ARG (implies TAKES_VALUE)
    EXPAND = enum.auto()  # EXPAND_ARG: value is %-expanded before use
    LAST = enum.auto()  # USE_LAST: must be the last option


_NEED = Flag.TAKES_VALUE | Flag.NEEDS_VALUE

# Debian's option table, in its order (lookup is case-insensitive).
OPTION_FLAGS: dict[str, Flag] = {
    "user": _NEED,
    "group": _NEED,
    "umask": _NEED,
    "linger": _NEED,
    "keepalive": Flag.NONE,
    "spawn": _NEED | Flag.EXPAND,
    "twist": _NEED | Flag.EXPAND | Flag.LAST,
    "rfc931": Flag.TAKES_VALUE,
    "setenv": _NEED | Flag.EXPAND,
    "nice": Flag.TAKES_VALUE,
    "severity": _NEED,
    "allow": Flag.LAST,
    "deny": Flag.LAST,
    "banners": _NEED,
    "aclexec": _NEED | Flag.EXPAND,
}

# The one syslog table (names as syslog.conf and tcpd spell them). FACILITIES are those tcpd's
# `severity` option accepts; OPENLOG_FACILITIES those a program may openlog() with (the
# wrapper's and serve's `facility` setting). LEVELS is the one severity ladder (lower is
# more severe); drivers log at these numbers.
FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    **{f"local{i}": 16 + i for i in range(8)},
}
LEVELS = {level.name.lower(): level for level in Severity}  # emerg, alert, ..., err, ..., debug
# (kern is the kernel's own: a program that names it gets user)
OPENLOG_FACILITIES = {**{k: v for k, v in FACILITIES.items() if k != "kern"}, "authpriv": 10}


@record(frozen=True, slots=True)
class Priority:
    """A syslog priority; facility None means "the facility openlog() chose"."""

    level: int
    facility: int | None = None

    @property
    def names(self) -> str:
        level = next(k for k, v in LEVELS.items() if v == self.level)
        if self.facility is None:
            return level
        facility = next(k for k, v in FACILITIES.items() if v == self.facility)
        return f"{facility}.{level}"


ALLOW_PRIORITY = Priority(LEVELS["info"])
DENY_PRIORITY = Priority(LEVELS["warning"])


@record(frozen=True, slots=True)
class OptionStep:
    """One option field, parsed. `error` set means: processing stops here and denies."""

    key: str  # as written (for the verbose "option:" record)
    name: str  # folded table name ("" when the key is unknown or missing)
    value: str | None
    error: str | None = None  # found before the option runs (no "option:" record)
    value_error: str | None = None  # raised by the option's own function (after the record)
    rule_ends_in_colon: bool = False  # get_field()'s warning, raised when fetched


def split_fields(text: str) -> list[tuple[str, bool]]:
    """get_field(): fields at ':' with '\\:' as a literal colon; flags a trailing ':'."""
    fields: list[tuple[str, bool]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while True:
        if i >= n:
            fields.append(("".join(buf), False))
            return fields
        ch = text[i]
        if ch == ":":
            at_end = i + 1 >= n
            fields.append(("".join(buf), at_end))
            if at_end:
                return fields
            buf = []
            i += 1
            continue
        if ch == "\\" and i + 1 < n and text[i + 1] == ":":
            i += 1
        buf.append(text[i])
        i += 1


def split_key_value(field_text: str) -> tuple[str, str | None]:
    """The key runs to the first blank or '='; exactly one '=' is skipped (docs/rules.md)."""
    opt = chop(field_text)
    cut = len(opt)
    for i, ch in enumerate(opt):
        if ch in " \t\r\n=":
            cut = i
            break
    key, rest = opt[:cut], opt[cut:]
    if rest:
        if rest[0] != "=":
            rest = rest[1:].lstrip(" \t\r\n")
        if rest[:1] == "=":
            rest = rest[1:].lstrip(" \t\r\n")
    return key, (rest if rest else None)


def compile_options(text: str) -> tuple[OptionStep, ...]:
    """All steps up to and including the first statically detectable error."""
    fields = split_fields(text)
    steps: list[OptionStep] = []
    for index, (field_text, ends_in_colon) in enumerate(fields):
        more = index + 1 < len(fields)
        key, value = split_key_value(field_text)
        name = fold(key)
        flags = OPTION_FLAGS.get(name)
        error: str | None = None
        value_error: str | None = None
        if not key:
            error, name = "missing option name", ""
        elif flags is None:
            error, name = f'bad option name: "{key}"', ""
        elif value is None and Flag.NEEDS_VALUE in flags:
            error = f'option "{key}" requires value'
        elif value is not None and Flag.TAKES_VALUE not in flags:
            error = f'option "{key}" requires no value'
        elif more and Flag.LAST in flags:
            error = f'option "{key}" must be at end'
        elif value is not None and Flag.EXPAND not in flags:
            value_error = check_static_value(name, value)
        steps.append(OptionStep(key, name, value, error, value_error, ends_in_colon))
        if error is not None or value_error is not None:
            break
    return tuple(steps)


def check_static_value(name: str, value: str) -> str | None:
    """Value errors that do not depend on the request (or on the passwd database)."""
    if name == "umask":
        mask = scan_octal(value)
        if mask is None or (mask & 0o777) != mask:
            return f'bad umask value: "{value}"'
    elif name == "linger":
        secs = scan_int(value)
        if secs is None or secs < 0:
            return f'bad linger value: "{value}"'
    elif name == "nice":
        if scan_int(value) is None:
            return f'bad nice value: "{value}"'
    elif name == "rfc931":
        timeout = scan_int(value)
        if timeout is None or timeout <= 0:
            return f'bad rfc931 timeout: "{value}"'
    elif name == "severity":
        try:
            parse_severity(value)
        except ValueError as exc:
            return str(exc)
    return None


def parse_severity(value: str) -> Priority:
    """`[facility.]level`, facility checked first; ValueError carries Debian's message."""
    cut = split_at(value, ".")
    if cut is None:
        level = LEVELS.get(fold(value))
        if level is None:
            raise ValueError(f'bad syslog facility or severity: "{value}"')
        return Priority(level)
    facility_name, level_name = cut
    facility = FACILITIES.get(fold(facility_name))
    if facility is None:
        raise ValueError(f'bad syslog facility or severity: "{facility_name}"')
    level = LEVELS.get(fold(level_name))
    if level is None:
        raise ValueError(f'bad syslog facility or severity: "{level_name}"')
    return Priority(level, facility)


def split_setenv(value: str) -> tuple[str, str]:
    """setenv NAME VALUE: the name runs to the first blank; both parts trimmed."""
    cut = len(value)
    for i, ch in enumerate(value):
        if ch in " \t\r\n":
            cut = i
            break
    return chop(value[:cut]), chop(value[cut + 1 :])


# ----------------------------------------------------------------------------- actions


@record(frozen=True, slots=True)
class Spawn:
    """Run `/bin/sh -c command` with stdio on /dev/null and wait for it (spawn, classic)."""

    command: str
    origin: str = ""


@record(frozen=True, slots=True)
class Banner:
    """Send these bytes to the client (banners: already expanded, CRLF line ends)."""

    data: str


@record(frozen=True, slots=True)
class SetEnv:
    name: str
    value: str


@record(frozen=True, slots=True)
class Umask:
    mask: int


@record(frozen=True, slots=True)
class Nice:
    increment: int


@record(frozen=True, slots=True)
class KeepAlive:
    pass


@record(frozen=True, slots=True)
class Linger:
    seconds: int


@record(frozen=True, slots=True)
class ChangeUser:
    """user NAME[.GROUP] / group NAME: drop privileges before exec (documented deviation)."""

    user: str | None
    group: str | None


@record(frozen=True, slots=True)
class AclExec:
    command: str


Action = Spawn | Banner | SetEnv | Umask | Nice | KeepAlive | Linger | ChangeUser | AclExec

# Characters that end a setenv name (whitespace per strcspn(value, " \t\r\n")).
SETENV_BLANKS = C_SPACE
