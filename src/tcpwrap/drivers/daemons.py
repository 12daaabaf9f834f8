"""Which program the wrapper runs, and under which daemon name (docs/wrapper.md).

What it does: `locate(args, config, found)` takes the wrapper's argv the way tcpd does: under
its own name the first argument names the daemon (absolute, or in `real_daemon_dir`); under a
daemon's name (the paper's swap install) the real program lives in `real_daemon_dir`. When a
script interpreter dropped argv[0] from an inetd.conf line that only replaced tcpd's path, the
daemon is recovered from that line by the socket's port and protocol. The wrapper asks this in
its own process, and `tcpwrap serve` for a wrapper that handed its connection over.

Hazards: reads /etc/inetd.conf (root's; bounded to 1 MiB); a wrapper that would exec itself is
an error, not a loop.
Errors: a problem is returned as its text (the caller logs it and refuses); nothing raised.
"""

from __future__ import annotations

import os

from tcpwrap.drivers.config import WrapperConfig
from tcpwrap.drivers.endpoint import Endpoints

OWN_NAMES = ("tcpwrap-tcpd", "tcpd")
INETD_CONF = "/etc/inetd.conf"  # where a dropped argv[0] is recovered from


class Located:
    def __init__(self, program: str, daemon: str, argv: list[str]) -> None:
        self.program = program  # what to exec
        self.daemon = daemon  # the name used for syslog and matching
        self.argv = argv  # argv of the real daemon (argv[0] = daemon name)


def locate(args: list[str], config: WrapperConfig, found: Endpoints | None) -> Located | str:
    """docs/wrapper.md, plus our `DAEMON` argument form; returns an error text on failure.

    Under its own name the first argument is the DAEMON, unless /etc/inetd.conf shows that this
    socket's service line is the classic `... tcpwrap-tcpd in.fingerd ARGS` (tcpd's line with
    only the path replaced): the script interpreter dropped argv[0] (`in.fingerd`), so the
    daemon is recovered from that line and our arguments are the daemon's.
    """
    own = os.path.basename(args[0]) if args else "tcpwrap-tcpd"
    if own in OWN_NAMES:
        recovered = _from_inetd_conf(found, args[1:])
        if recovered is not None:
            daemon_arg, rest = recovered[0], recovered[1:]
        elif len(args) >= 2:
            daemon_arg, rest = args[1], args[2:]
        else:
            return "usage: tcpwrap-tcpd DAEMON [ARGS...] (no daemon named, none in inetd.conf)"
    else:  # swap install: we are /usr/sbin/in.fingerd; the real one lives elsewhere
        daemon_arg, rest = own, args[1:]
    if daemon_arg.startswith("/"):
        name = daemon_arg.rsplit("/", 1)[1]
        located = Located(daemon_arg, name, [name, *rest])
    else:
        located = Located(
            os.path.join(config.real_daemon_dir, daemon_arg), daemon_arg, [daemon_arg, *rest]
        )
    if args and os.path.realpath(located.program) == os.path.realpath(args[0]):
        return f"{located.program}: the wrapper would call itself (set real_daemon_dir)"
    return located


def _from_inetd_conf(found: Endpoints | None, rest: list[str]) -> list[str] | None:
    """The daemon's argv from the one inetd.conf line that runs us, in tcpd's classic form
    (`.../tcpwrap-tcpd NAME ARGS`, NAME not our own), on this socket's port and protocol,
    whose ARGS are exactly the arguments we got; None if there is no such single line."""
    if found is None or found.server is None:
        return None
    try:
        with open(INETD_CONF, "rb") as handle:
            text = handle.read(1024 * 1024).decode("latin-1")
    except OSError:
        return None
    if not any(_dropin_candidate(line.split(), rest) for line in text.splitlines()):
        return None  # the usual case: no need for the full parser (it costs start-up time)
    import socket

    from tcpwrap.proto.inetd import parse_inetd

    protocol = "udp" if found.datagram else "tcp"
    port = found.server[1]
    matches = []
    for entry in parse_inetd(text).entries:
        if os.path.basename(entry.path) not in OWN_NAMES or not entry.args:
            continue
        if os.path.basename(entry.args[0]) in OWN_NAMES or list(entry.args[1:]) != rest:
            continue  # the `tcpwrap-tcpd DAEMON ARGS` form names its daemon itself
        if not entry.protocol.startswith(protocol) or entry.service is None:
            continue
        service = entry.service.rsplit(":", 1)[-1]
        try:
            service_port = (
                int(service) if service.isdigit() else socket.getservbyname(service, protocol)
            )
        except OSError:
            continue
        if service_port == port:
            matches.append(list(entry.args))
    return matches[0] if len(matches) == 1 else None


def _dropin_candidate(fields: list[str], rest: list[str]) -> bool:
    """A quick look at one inetd.conf line: `... PATH/tcpwrap-tcpd NAME REST` with NAME not ours."""
    return (
        len(fields) >= 7
        and not fields[0].startswith("#")
        and os.path.basename(fields[5]) in OWN_NAMES
        and os.path.basename(fields[6]) not in OWN_NAMES
        and fields[7:] == rest
    )
