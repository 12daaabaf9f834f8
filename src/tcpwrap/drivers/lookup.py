"""Host names from DNS: double-reverse verification and tcpdmatch's lookup (docs/lookup.md).

What it does: `verify_host_name(address)` finds the name of an endpoint address the way
Debian's tcpd does: reverse lookup (getnameinfo NI_NAMEREQD, see `reverse_lookup`),
truncation to 127 characters, the numeric-PTR check, a forward lookup of the same family
(getaddrinfo, AI_CANONNAME), the canonical-name check (except for `localhost`) and the
address-membership check (IPv6: with scope id). It returns a `NameLookup`: `KnownName` (case
as the PTR gave it), `UnknownName` (no usable reverse answer) or `ParanoidName`, plus tcpd's
exact warning texts. A PTR naming a host literally called `unknown` gives `KnownName("unknown")`;
its `text()` is "unknown", which is what tcpd's string comparisons see. `find_inet_addr(host)`
is tcpdmatch/tcpdchk's host lookup: numeric first, then by name, with the `hostname alias`
warnings. The decisions are pure functions (`endpoint`, `forward_name`, `decide`,
`forward_from_addrinfo`, `alias_warnings`), shared with `async_lookup`.

Hazards: names come from whoever controls the client's reverse zone (or /etc/hosts) and are
hostile text; they are only compared and returned, never interpreted here. The system
resolver has no timeout we control, so each blocking call runs in a daemon thread and
`timeout` bounds the whole lookup; a call that outlives it keeps its thread until the resolver
gives up. On timeout we conclude what tcpd concludes when the resolver itself gives up at
that point: during the reverse lookup the name is `unknown` (silently), during the forward
lookup it is `paranoid` with the `can't verify hostname` warning. Host names are passed to
getaddrinfo as bytes, so Python's IDNA codec never rejects (or rewrites) a name the C library
would have looked up.

Errors: none raised for lookup failures: absence is a value (`UnknownName`, a
`HostAddresses` with no addresses). Warnings are returned as texts without the `warning: `
prefix, for the caller to log.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence

from tcpwrap._record import record
from tcpwrap.drivers.config import DNS_TIMEOUT
from tcpwrap.policy.facts import KnownName, NameLookup, ParanoidName, UnknownName

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")
    AddrInfo = tuple[Any, ...]  # one getaddrinfo() entry: (family, type, proto, canon, addr)

NAME_MAX = 127  # tcpd keeps host names in a 128-byte buffer
CANON_SHOWN = 128  # "%.*s" with STRING_LENGTH in the mismatch warnings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _same_name(a: str, b: str) -> bool:
    """strcasecmp(a, b) == 0: ASCII letters only fold, as in C."""
    return a.translate(_ASCII_LOWER) == b.translate(_ASCII_LOWER)


# --- the address -----------------------------------------------------------------------------


@record(frozen=True, slots=True)
class ParsedAddress:
    """An address to name: IPv4 or IPv6 (IPv4-mapped already unmapped), scope id separate."""

    address: IPAddress
    scope_id: int = 0

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET if self.address.version == 4 else socket.AF_INET6

    @property
    def family_name(self) -> str:
        return "AF_INET" if self.address.version == 4 else "AF_INET6"

    @property
    def text(self) -> str:
        """The address as inet_ntop() prints it (no scope)."""
        return ntop(self.address)

    def sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        if self.address.version == 4:
            return (str(self.address), 0)
        return (str(self.address), 0, 0, self.scope_id)


def ntop(address: IPAddress) -> str:
    """inet_ntop() text: like str(), except glibc's dotted tail for ::a.b.c.d and ::ffff:a.b.c.d."""
    if address.version == 4:
        return str(address)
    packed = address.packed
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, 16, 2)]
    # glibc prints the embedded IPv4 form when the longest zero run starts at word 0 and is
    # 6 words long (::a.b.c.d) or 5 long followed by ffff (::ffff:a.b.c.d).
    run = 0
    while run < 8 and words[run] == 0:
        run += 1
    if run == 6 or (run == 5 and words[5] == 0xFFFF):
        longest_elsewhere = _longest_zero_run(words[run:])
        if longest_elsewhere < run:
            prefix = "::" if run == 6 else "::ffff:"
            return prefix + str(ipaddress.IPv4Address(packed[12:]))
    return str(ipaddress.IPv6Address(packed))


def _longest_zero_run(words: Sequence[int]) -> int:
    best = cur = 0
    for w in words:
        cur = cur + 1 if w == 0 else 0
        best = max(best, cur)
    return best


def parse_address(address: str) -> ParsedAddress | None:
    """Parse a numeric address (IPv6 may carry `%scope`); None if it is not IPv4/IPv6."""
    text, _, scope = address.partition("%")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return None if scope else ParsedAddress(ip)
    if ip.ipv4_mapped is not None:
        return ParsedAddress(ip.ipv4_mapped)
    scope_id = 0
    if scope:
        if scope.isdigit():
            scope_id = int(scope)
        else:
            try:
                scope_id = socket.if_nametoindex(scope)
            except OSError:
                return None
    return ParsedAddress(ip, scope_id)


# --- the pure verification -------------------------------------------------------------------


@record(frozen=True, slots=True)
class Forward:
    """What a successful forward lookup gave: canonical name and same-family addresses."""

    canonical: str | None
    addresses: tuple[tuple[IPAddress, int], ...]  # (address, scope id), resolver order

    @classmethod
    def of(cls, canonical: str | None, *addresses: str) -> Forward:
        """Convenience for tests: addresses as text, IPv6 scope as `%N`."""
        out: list[tuple[IPAddress, int]] = []
        for a in addresses:
            text, _, scope = a.partition("%")
            out.append((ipaddress.ip_address(text), int(scope) if scope else 0))
        return cls(canonical, tuple(out))


def truncate(name: str) -> str:
    return name[:NAME_MAX]


_INET_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_INET_MAX = (0, 0xFFFFFFFF, 0xFFFFFF, 0xFFFF, 0xFF)


def is_inet_aton(text: str) -> bool:
    """glibc's inet_aton_exact(): 1-4 parts, each decimal, octal (0...) or hex (0x...)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return False
    values = []
    for part in parts:
        if _INET_PART.fullmatch(part) is None:
            return False
        values.append(
            int(part, 0) if part[:2].lower() == "0x" else int(part, 8 if part[0] == "0" else 10)
        )
    if any(v > 0xFF for v in values[:-1]):
        return False
    return values[-1] <= _INET_MAX[len(parts)]


def is_numeric_for(name: str, ep: ParsedAddress) -> bool:
    """Does `name` parse as a numeric address of the endpoint's family (AI_NUMERICHOST)?"""
    if ep.address.version == 4:
        return is_inet_aton(name)
    try:
        ipaddress.IPv6Address(name)
    except ValueError:
        return False
    return True


def forward_name(ep: ParsedAddress, reverse: str | None) -> str | None:
    """The name to look up forward after reverse lookup `reverse`, or None if none is needed."""
    if reverse is None:
        return None
    name = truncate(reverse)
    return None if is_numeric_for(name, ep) else name


def conclude(ep: ParsedAddress, reverse: str | None, forward: Forward | None) -> NameLookup:
    """The verification of docs/lookup.md on plain values.

    `reverse` is the getnameinfo(NI_NAMEREQD) answer (None: failed). `forward` is the
    getaddrinfo(AI_CANONNAME) answer for `forward_name(ep, reverse)` (None: failed, or not
    asked because no forward lookup was needed).
    """
    if reverse is None:
        return NameLookup(UnknownName())
    name = truncate(reverse)
    if is_numeric_for(name, ep):
        return _paranoid(f"host name/name mismatch: reverse lookup results in non-FQDN {name}")
    if forward is None:
        return _paranoid(f"can't verify hostname: getaddrinfo({name}, {ep.family_name}) failed")
    canonical = forward.canonical or ""
    if (not forward.canonical or not _same_name(name, canonical)) and not _same_name(
        name, "localhost"
    ):
        return _paranoid(f"host name/name mismatch: {name} != {canonical[:CANON_SHOWN]}")
    for address, scope_id in forward.addresses:
        if address == ep.address and (address.version == 4 or scope_id == ep.scope_id):
            return NameLookup(KnownName(name))
    return _paranoid(f"host name/address mismatch: {ep.text} != {canonical[:CANON_SHOWN]}")


def _paranoid(message: str) -> NameLookup:
    return NameLookup(ParanoidName(), (message,))


def forward_from_addrinfo(ep: ParsedAddress, infos: Sequence[AddrInfo]) -> Forward:
    """Turn getaddrinfo() entries into a `Forward` (canonical name: the first entry's)."""
    canonical = str(infos[0][3]) if infos and infos[0][3] else None
    addresses: list[tuple[IPAddress, int]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family != ep.family:
            continue
        text = str(sockaddr[0]).partition("%")[0]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        addresses.append((address, int(sockaddr[3]) if len(sockaddr) >= 4 else 0))
    return Forward(canonical, tuple(addresses))


def lookup_failed(exc: BaseException) -> bool:
    """Errors from getnameinfo/getaddrinfo that mean "no answer" (not a programming error)."""
    return isinstance(exc, (OSError, UnicodeError))


def host_bytes(name: str) -> bytes:
    """A host name as the C library would get it (bypasses Python's IDNA codec)."""
    return name.encode("utf-8", "surrogateescape")


# --- the blocking driver ---------------------------------------------------------------------


class _Timeout:
    pass


_TIMED_OUT = _Timeout()


def _with_deadline(fn: Callable[[], T], deadline: float | None) -> T | _Timeout:
    """Run `fn` in a daemon thread; give up waiting at `deadline` (time.monotonic()).

    With no deadline, `fn` simply runs here (no thread), as tcpd would.
    """
    if deadline is None:
        return fn()
    result: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="tcpwrap-lookup", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        return _TIMED_OUT
    if failure:
        raise failure[0]
    return result[0]


def reverse_lookup(ep: ParsedAddress) -> str | None:
    """getnameinfo(NI_NAMEREQD), done as glibc does it: gethostbyaddr_r(), then h_name.

    CPython 3.11's socket.getnameinfo() keeps the GIL while the resolver waits, which would
    freeze every thread (and the timeout) for as long as a dead DNS server takes;
    socket.gethostbyaddr() releases it and asks glibc the same question.
    """
    try:
        return socket.gethostbyaddr(str(ep.address))[0]
    except Exception as exc:
        if lookup_failed(exc):
            return None
        raise


def _getaddrinfo(name: str, family: int, flags: int) -> list[AddrInfo] | None:
    """getaddrinfo() for one stream entry per address; None when the name does not resolve."""
    try:
        return socket.getaddrinfo(
            host_bytes(name), None, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE | flags
        )
    except Exception as exc:
        if lookup_failed(exc):
            return None
        raise


def _forward(ep: ParsedAddress, name: str) -> Forward | None:
    infos = _getaddrinfo(name, ep.family, socket.AI_CANONNAME)
    return None if infos is None else forward_from_addrinfo(ep, infos)


def verify_host_name(address: str, *, timeout: float | None = DNS_TIMEOUT) -> NameLookup:
    """The verified name of numeric `address` (docs/lookup.md), within `timeout` seconds.

    `timeout=None` waits as long as the resolver does (tcpd's behaviour) and uses no thread.
    """
    ep = parse_address(address)
    if ep is None:
        return NameLookup(UnknownName())
    deadline = None if timeout is None else time.monotonic() + timeout
    reverse = _with_deadline(lambda: reverse_lookup(ep), deadline)
    if isinstance(reverse, _Timeout):
        return NameLookup(UnknownName())
    name = forward_name(ep, reverse)
    forward: Forward | None = None
    if name is not None:
        answer = _with_deadline(lambda: _forward(ep, name), deadline)
        forward = None if isinstance(answer, _Timeout) else answer
    return conclude(ep, reverse, forward)


# --- tcpdmatch / tcpdchk: find_inet_addr -----------------------------------------------------


@record(frozen=True, slots=True)
class HostAddresses:
    """All addresses of a host argument, in resolver order; none means "host not found"."""

    host: str
    addresses: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    numeric: bool = False
    canonical: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.addresses)


def alias_warnings(host: str, canonical: str | None) -> tuple[str, ...]:
    """tcpdmatch's warnings when a name is not the official one (docs/lookup.md)."""
    if canonical and _same_name(host, canonical):
        return ()
    if not canonical:
        return (f"{host}: hostname alias", "(cannot obtain official name)")
    return (f"{host}: hostname alias", f"(official name: {canonical[:CANON_SHOWN]})")


def not_found(host: str) -> HostAddresses:
    return HostAddresses(host, (), (f"{host}: host not found",))


def _printable(infos: Sequence[AddrInfo]) -> tuple[str, ...]:
    return tuple(str(info[4][0]) for info in infos)


def find_inet_addr(host: str, *, timeout: float | None = DNS_TIMEOUT) -> HostAddresses:
    """Addresses of `host`: numeric (any family) first, else by name with AI_CANONNAME."""
    infos = _getaddrinfo(host, socket.AF_UNSPEC, socket.AI_NUMERICHOST)
    if infos is not None:
        return HostAddresses(host, _printable(infos), numeric=True)

    def by_name() -> list[AddrInfo] | None:
        return _getaddrinfo(host, socket.AF_UNSPEC, socket.AI_CANONNAME)

    answer = _with_deadline(by_name, None if timeout is None else time.monotonic() + timeout)
    if isinstance(answer, _Timeout) or not answer:
        return not_found(host)
    canonical = str(answer[0][3]) if answer[0][3] else None
    return HostAddresses(
        host, _printable(answer), alias_warnings(host, canonical), canonical=canonical
    )
