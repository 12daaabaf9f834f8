"""The facts a decision may need about a connection, as values.

What it does: models the lazily learned facts (host name with its double-reverse state, ident
user) and the `Need` a matcher asks a driver for. "unknown" and "paranoid" are states, not
strings; `text()` gives the word tcp_wrappers would compare against, because the original's
keywords work by plain string comparison (docs/rules.md) and we must agree with it.

Hazards: none (pure). Names come from DNS and are hostile; they are only ever compared or
passed through `expand` sanitisation, never interpreted here.
"""

from __future__ import annotations

import enum

from tcpwrap._record import record

UNKNOWN = "unknown"
PARANOID = "paranoid"


class Need(enum.Enum):
    """A fact the matcher cannot decide without; the driver supplies it."""

    CLIENT_NAME = "client name"  # reverse lookup + double-reverse verification
    SERVER_NAME = "server name"
    CLIENT_USER = "client user"  # RFC 931 / ident
    ACLEXEC = "aclexec"  # run an aclexec command and report how it exited (live mode only)
    # Asked only for an endpoint made with `ask_absent` (replaying a log that did not record
    # them); every other program knows these from its socket. No answer (None) = "unknown".
    CLIENT_ADDR = "client address"
    SERVER_ADDR = "server address"
    SERVER_PORT = "server port"


@record(frozen=True, slots=True)
class KnownName:
    """A verified host name (reverse and forward agree), case as the PTR gave it."""

    name: str

    def text(self) -> str:
        return self.name


@record(frozen=True, slots=True)
class UnknownName:
    """No usable name: no address, or the reverse lookup failed.

    `word` is the spelling shown by %n (tcpdmatch keeps what was typed, e.g. "UNKNOWN").
    """

    word: str = UNKNOWN

    def text(self) -> str:
        return self.word


@record(frozen=True, slots=True)
class ParanoidName:
    """A reverse name was found but failed verification (docs/lookup.md)."""

    word: str = PARANOID

    def text(self) -> str:
        return self.word


HostName = KnownName | UnknownName | ParanoidName


def host_name_from_text(text: str) -> HostName:
    """Turn a word as tcpdmatch/hosts_ctl take it into a state ("" and unknown -> Unknown)."""
    if text == "":
        return UnknownName()
    if text.lower() == UNKNOWN:
        return UnknownName(text)
    if text.lower() == PARANOID:
        return ParanoidName(text)
    return KnownName(text)


@record(frozen=True, slots=True)
class NameLookup:
    """What a name lookup found, with the warnings tcpd would log about it (texts only)."""

    name: HostName
    warnings: tuple[str, ...] = ()
