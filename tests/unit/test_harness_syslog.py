"""The syslog capture helper's pure parts (tests/harness/syslog_capture.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.syslog_capture import SyslogCapture, parse_record


def test_capture_refuses_to_replace_a_non_socket(tmp_path: Path) -> None:
    target = tmp_path / "log"
    target.write_text("not a socket")
    with pytest.raises(RuntimeError, match="not a socket"):
        SyslogCapture(str(target)).start()


def test_parse_record_forms() -> None:
    assert parse_record(b"<11>Nov  7 01:02:03 tcpd[42]: warning: a: b\n\0") == (
        "user",
        "err",
        "tcpd",
        42,
        "warning: a: b",
    )
    assert parse_record(b"<30>in.fingerd: connect")[:3] == ("daemon", "info", "in.fingerd")
    assert parse_record(b"garbage")[0] == "?"
