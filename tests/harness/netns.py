"""Where am I? Helpers for tests that need the private test namespace (ns_enter.sh).

What it does: tells whether the process runs inside the namespace prepared by
tests/harness/ns_enter.sh (private /etc, test addresses on lo, dnsmasq on 127.0.0.1:53,
private /dev), and whether the run demands it (TCPWRAP_E2E=required, set by scripts/test).

Hazards: none; it only reads environment variables. The namespace itself is made by the shell
script; nothing here changes the machine.

Errors: none raised; the pytest hook in tests/conftest.py turns "needed but absent" into a skip
or a failure.
"""

from __future__ import annotations

import os

NS_ENV = "TCPWRAP_NS"
E2E_ENV = "TCPWRAP_E2E"

# Where the conformance world lives (the records dnsmasq serves are translated from it): the
# recorded oracle data in the repository (tests/conformance/recorded/README.md; harness/oracle.py).
CONFORMANCE_DIR = os.path.realpath(
    os.path.join(os.path.dirname(__file__), "..", "conformance", "recorded")
)


def in_test_namespace() -> bool:
    """True inside the namespace ns_enter.sh prepared (it exports TCPWRAP_NS=1)."""
    return os.environ.get(NS_ENV) == "1"


def e2e_required() -> bool:
    """True when the run must execute the e2e tests (scripts/test as root sets it)."""
    return os.environ.get(E2E_ENV) == "required"


def dnsmasq_log() -> str | None:
    """Path of dnsmasq's query log in the namespace (handy when a DNS test fails)."""
    return os.environ.get("TCPWRAP_NS_DNSMASQ_LOG")


NOT_IN_NAMESPACE = (
    "needs the private test namespace (root: run `bash scripts/test`, which enters it via "
    "tests/harness/ns_enter.sh)"
)
