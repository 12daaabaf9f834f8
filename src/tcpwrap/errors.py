"""The one root exception, and diagnostics as values.

What it does: defines `TcpwrapError` (every exception this package raises on purpose derives from
it), `ConfigError` (a problem that has a file:line origin) and `Diagnostic`, the value the pure
core returns instead of logging: the engine's warnings, errors and verbose records, and every
finding of `tcpwrap check` (policy/check/), one type for both.

Hazards: none; no I/O. Diagnostics keep the original tcp_wrappers wording (docs/rules.md)
because people grep their logs for it; render them with `Diagnostic.render()`.
"""

from __future__ import annotations

import enum

from tcpwrap._record import field, record


class TcpwrapError(Exception):
    """Root of every exception tcpwrap raises on purpose."""


@record(frozen=True, slots=True)
class Origin:
    """Where a rule or a diagnostic comes from: a table path and tcpd's line number for it.

    `line` is what tcpd, tcpdchk and libwrap say (NUL-hidden newlines are not counted,
    docs/rules.md); `physical` is the last physical line, the one an editor shows, when the reader
    knows it (not compared: two origins are the same place when tcpd names them the same).
    """

    file: str
    line: int
    physical: int | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}"


class ConfigError(TcpwrapError):
    """A configuration problem with a file:line origin (may be None when there is no line)."""

    def __init__(self, message: str, origin: Origin | None = None) -> None:
        super().__init__(f"{origin}: {message}" if origin else message)
        self.message = message
        self.origin = origin


class Severity(enum.IntEnum):
    """The one severity ladder: syslog's levels (lower is more severe), as tcp_wrappers uses
    them. policy.options.LEVELS names them as syslog.conf and the `severity` option do."""

    EMERG = 0
    ALERT = 1
    CRIT = 2
    ERR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


class Kind(enum.Enum):
    """What sort of record a diagnostic is; decides its text prefix."""

    WARNING = "warning"  # tcpd_warn(): "warning: [file, line n: ]msg" at LOG_ERR
    ERROR = "error"  # tcpd_jump(): "error: [file, line n: ]msg" at LOG_ERR, then deny
    DEBUG = "debug"  # verbose records: "matched:  ..." / "option:   ..." (printed as is)
    INFO = "info"  # plain records at LOG_INFO, e.g. "aclexec returned 1"


@record(frozen=True, slots=True)
class Diagnostic:
    """One message the core wants a driver to log (or a tool to print)."""

    kind: Kind
    message: str
    origin: Origin | None = None
    # The file a diagnostic is about when it has no line (`tcpwrap check`'s findings about a
    # whole table, e.g. "cannot open ..."): not rendered, since such messages name the file.
    file: str | None = None

    @property
    def path(self) -> str | None:
        """The file this diagnostic is about, if any (with or without a line)."""
        return self.origin.file if self.origin is not None else self.file

    @property
    def line(self) -> int | None:
        return self.origin.line if self.origin is not None else None

    @property
    def severity(self) -> Severity:
        if self.kind is Kind.DEBUG:
            return Severity.DEBUG
        return Severity.INFO if self.kind is Kind.INFO else Severity.ERR

    def render(self) -> str:
        """The exact text tcpd/tcpdmatch would log for this record."""
        if self.kind in (Kind.DEBUG, Kind.INFO):
            return self.message
        where = f"{self.origin}: " if self.origin is not None else ""
        return f"{self.kind.value}: {where}{self.message}"


def warning(message: str, origin: Origin | None = None) -> Diagnostic:
    return Diagnostic(Kind.WARNING, message, origin)


def error(message: str, origin: Origin | None = None) -> Diagnostic:
    return Diagnostic(Kind.ERROR, message, origin)
