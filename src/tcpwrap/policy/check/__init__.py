"""`tcpwrap check`'s pure core: tcpdchk's rule checks plus the silent traps tcpdchk never names.

What it does: `check_policy` (walk.py) walks hosts.allow then hosts.deny line by line and
returns an ordered stream of events (events.py): findings as `errors.Diagnostic` (the engine's
diagnostic type: warning/error with file:line, tcpdchk's wording where tcpdchk has one), the
`-v` listing lines, and the `option:` records of the option dry run. One concern per module:
lines.py (the check reader: every line, also after tcpd would stop), traps.py (silent traps),
patterns.py (tcpdchk's pattern checks), options.py (option dry run), shadow.py (provable
shadowing), probe.py (what the caller provides).

Hazards: none here (pure): DNS, netgroups, pattern files and the inetd service table are asked
through the `Probe` given by the caller. Shadowing is reported only when provable.
Errors: none raised; everything is a finding. `Kind.ERROR` is used for what makes tcpd fail
closed or behave differently from the text (see docs/check.md).
"""

from __future__ import annotations

from tcpwrap.policy.check.events import Event, Listing, finding, is_problem
from tcpwrap.policy.check.probe import CheckOptions, HostCheck, Probe, TableInput
from tcpwrap.policy.check.walk import check_policy

__all__ = [
    "CheckOptions",
    "Event",
    "HostCheck",
    "Listing",
    "Probe",
    "TableInput",
    "check_policy",
    "finding",
    "is_problem",
]
