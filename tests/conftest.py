"""Suite-wide pytest wiring: the `e2e` marker policy and the `syslog` fixture.

Tests marked `e2e` need the private namespace made by tests/harness/ns_enter.sh (scripts/test
enters it when run as root). Outside it they are skipped with the reason, except when
TCPWRAP_E2E=required (scripts/test sets it): then they fail, so a broken harness can never
pass as "all skipped". Keep this file small; put fixtures of one area in that directory's own
conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.netns import NOT_IN_NAMESPACE, e2e_required, in_test_namespace
from harness.syslog_capture import SyslogCapture


def _need_namespace(what: str) -> None:
    if in_test_namespace():
        return
    if e2e_required():
        pytest.fail(f"{what}: TCPWRAP_E2E=required but {NOT_IN_NAMESPACE}", pytrace=False)
    pytest.skip(f"{what}: {NOT_IN_NAMESPACE}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("e2e") is not None:
        _need_namespace("e2e test")


@pytest.fixture
def syslog() -> Iterator[SyslogCapture]:
    """Capture everything logged to /dev/log during the test (namespace only)."""
    _need_namespace("syslog fixture")
    with SyslogCapture("/dev/log") as capture:
        yield capture
