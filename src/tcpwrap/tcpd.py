"""tcpwrap-tcpd: the wrapper inetd, xinetd or systemd runs in place of a network server.

What it does per connection (docs/wrapper.md): umask 022; find the daemon and the real program; open
syslog as the daemon; learn the endpoints from the socket (fd 0, or systemd's fd 3); refuse
source-routed IPv4; decide with the rule engine, answering its questions (reverse/forward DNS
with double-reverse verification, ident, aclexec) only when a rule needs them; act on the
options; log `connect from` / `refused connect from` / `twist ... to ...` exactly as tcpd; then
exec the real server (or refuse: drain a UDP datagram, pause, exit 0; or twist).

This is the in-process path: the launcher (bin/tcpwrap-tcpd) first offers the connection to a
running `tcpwrap serve --handoff` (drivers/handoff.py), which does all of the above with this
wrapper's configuration (serve/handoff.py), and calls main() only when there is none.

Invocation: `tcpwrap-tcpd DAEMON [ARGS...]` (DAEMON absolute, or a name in the real-daemon
directory), or installed/linked under a daemon's own name (the paper's swap install). Without a
DAEMON argument (an inetd.conf line that only replaced /usr/sbin/tcpd: a script loses argv[0]),
the DAEMON is recovered from inetd.conf by the socket's port and protocol.

Hazards: every value from the network is hostile; commands only see them through the % allow
list. Lookups have explicit timeouts. Imports are kept to what this path needs: this runs once
per connection.
Errors: nothing escapes: any failure is logged and ends in the clean exit (fail closed).
"""

from __future__ import annotations

import os
import sys
import time

from tcpwrap.drivers.config import WrapperConfig, load_config
from tcpwrap.drivers.daemons import INETD_CONF, OWN_NAMES, Located, locate
from tcpwrap.drivers.endpoint import (
    Endpoints,
    connection_for,
    discover,
    drain,
    inspect,
    release,
    systemd_socket,
)
from tcpwrap.drivers.logsink import JsonSink, SyslogSink
from tcpwrap.drivers.oserror import strerror
from tcpwrap.errors import ConfigError, Origin
from tcpwrap.policy.decision import Connection, Decision, Ending, Mode, conclude
from tcpwrap.policy.facts import UNKNOWN
from tcpwrap.policy.options import OPENLOG_FACILITIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tcpwrap.drivers.deciding import Outcome

class Wrapper:
    def __init__(self, config: WrapperConfig, located: Located, sink: SyslogSink) -> None:
        self.config = config
        self.located = located
        self.sink = sink
        self.json = JsonSink(config.json_log, sink) if config.json_log else None
        self.fd = 0
        self.found = Endpoints()
        self.traps: list[str] = []

    # ------------------------------------------------------------------ endings

    def clean_exit(self, pause: float | None = None) -> int:
        drain(self.found)
        time.sleep(self.config.refuse_pause if pause is None else pause)
        return 0

    def warn(self, message: str, origin: Origin | None = None) -> None:
        where = f"{origin}: " if origin is not None else ""
        self.sink.level("err", f"warning: {where}{message}")

    # ------------------------------------------------------------------ the connection

    def run(self, found: Endpoints | None = None) -> int:
        """Decide and act for the connection; `found`: its endpoints, if main() has them."""
        systemd_fd = systemd_socket()
        if systemd_fd is not None:
            self.fd = systemd_fd
        self.found = found if found is not None else discover(self.fd)
        report = inspect(self.found)
        for level, message in report.records:
            self.sink.level(level, message)
        if report.fatal:
            return self.clean_exit()
        return self.act(self.decide())

    def connection(self) -> Connection:
        found = self.found
        return connection_for(
            self.located.daemon, found.client, found.server, datagram=found.datagram
        )

    def decide(self) -> Outcome:
        """Decide with the one decision driver (drivers.deciding), acting in this process."""
        from tcpwrap.drivers.deciding import BlockingConduct, Check, Settings, drive
        from tcpwrap.drivers.environment import SystemEnvironment
        from tcpwrap.drivers.tables import load_policy
        from tcpwrap.policy.match import Evaluation
        from tcpwrap.policy.rules import Language

        config = self.config
        found = self.found
        debian = config.aclexec == "debian"
        policy = load_policy(config.allow, config.deny, Language(config.language))
        mode = Mode(
            dry_run=False,
            debian_aclexec=debian,
            ident_timeout=config.ident_timeout,  # until a rule's `rfc931 N` changes it
        )
        settings = Settings(dns_timeout=config.dns_timeout, ident_port=config.ident_port)
        conduct = BlockingConduct(
            settings,
            self.sink.diagnostic,
            fd=self.fd,
            sock=found.sock,
            drop_users=config.user_option == "drop",
            aclexec_stdio=self.fd if debian else None,
        )
        self.traps = conduct.traps
        evaluation = Evaluation(policy, self.connection(), mode, SystemEnvironment())
        check = Check(evaluation, settings, client=found.client, server=found.server)
        return drive(check, conduct)

    def act(self, outcome: Outcome) -> int:
        decision = outcome.decision
        ending = conclude(decision, outcome.carried_out)
        if ending.priority is not None:
            self.sink.at(ending.priority, ending.message)
        if ending.ending is Ending.TWIST:
            self.traps.append("twist")
        self.record(decision, ending.event, ending.verdict)
        if ending.ending is Ending.SERVE:
            return self.exec_daemon()
        if ending.ending is Ending.TWIST:
            from tcpwrap.drivers.execute import twist

            self.sink.close()
            release(self.found)
            twist(decision.twist or "", self.fd, self.warn)
        # ABORT: tcpd's percent_x sleeps 5 s; here refuse_pause (same default)
        return self.clean_exit()

    def exec_daemon(self) -> int:
        located = self.located
        release(self.found)
        if self.fd != 0:  # systemd Accept=yes: give the daemon the inetd layout
            os.dup2(self.fd, 0)
            os.dup2(self.fd, 1)
            os.close(self.fd)
            for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
                os.environ.pop(key, None)
        try:
            os.execv(located.program, located.argv)  # noqa: S606 - the configured daemon
        except OSError as exc:
            self.sink.level(
                "err", f"error: cannot execute {located.program}: {strerror(exc)}"
            )
        return self.clean_exit()

    def record(self, decision: Decision, event: str, verdict: str | None) -> None:
        if self.json is None:
            return
        import socket
        from datetime import UTC, datetime

        from tcpwrap.proto.logrecord import Client, ConnectionRecord, RuleRef, Server

        found = self.found
        origin = decision.origin
        entry = ConnectionRecord(
            time=datetime.now(UTC).astimezone(),
            host=socket.gethostname(),
            daemon=self.located.daemon,
            pid=os.getpid(),
            event=event,  # type: ignore[arg-type]
            client=Client(
                addr=decision.client_addr if decision.client_addr != UNKNOWN else None,
                name=decision.client_name,
                user=decision.user,
                port=found.client[1] if found.client else None,
            ),
            server=Server(
                addr=found.server[0] if found.server else None,
                port=found.server[1] if found.server else None,
            ),
            verdict=verdict,  # type: ignore[arg-type]
            rule=None if origin is None else RuleRef(origin.file, origin.line),
            message=decision.reason,
            lookups=decision.lookups,
            traps=tuple(self.traps),
        )
        self.json.write(entry.to_json())


def _refuse_early(pause: float, found: Endpoints | None = None) -> int:
    """The clean exit before a Wrapper exists: drain a pending datagram, pause, exit 0."""
    if found is None or found.sock is None:
        found = discover(systemd_socket() or 0)
    drain(found)
    release(found)
    time.sleep(pause)
    return 0


USAGE = (
    "usage: tcpwrap-tcpd DAEMON [ARGS...]\n"
    "  run by inetd, xinetd or systemd with a connection on stdin, in place of DAEMON;\n"
    "  see docs/wrapper.md (tcpwrap match predicts what it would do)\n"
)


def main(argv: list[str] | None = None) -> int:
    os.umask(0o022)
    args = list(sys.argv if argv is None else argv)
    if os.isatty(0) and systemd_socket() is None:
        # A terminal is never a connection: someone ran us by hand. tcpd would log, sleep 5 s
        # and exit; tell them instead.
        sys.stderr.write(USAGE)
        return 2
    try:
        config = load_config()
    except ConfigError as exc:
        sink = SyslogSink(os.path.basename(args[0]) if args else "tcpwrap-tcpd")
        sink.level("err", f"error: configuration: {exc}")
        return _refuse_early(5.0)  # no configured pause to trust: tcpd's
    facility = OPENLOG_FACILITIES[config.facility] << 3
    own = os.path.basename(args[0]) if args else "tcpwrap-tcpd"
    found: Endpoints | None = None
    if own in OWN_NAMES and os.path.exists(INETD_CONF):
        # the daemon may have to be recovered from inetd.conf: needs the socket's port (the
        # endpoints are learned once, here, and handed to the wrapper)
        found = discover(systemd_socket() or 0)
    located = locate(args, config, found)
    if isinstance(located, str):
        sink = SyslogSink(own, facility)
        sink.level("err", f"error: {located}")
        return _refuse_early(config.refuse_pause, found)
    sink = SyslogSink(located.daemon, facility)
    wrapper = Wrapper(config, located, sink)
    try:
        return wrapper.run(found)
    except Exception as exc:
        sink.level("err", f"error: internal error, connection refused: {exc!r}")
        return _refuse_early(config.refuse_pause, wrapper.found)


if __name__ == "__main__":
    sys.exit(main())
