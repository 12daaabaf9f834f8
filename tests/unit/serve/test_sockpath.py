"""serve.sockpath: only a socket is cleared for bind(); a file at the path is left alone."""

from __future__ import annotations

import socket
from pathlib import Path

from tcpwrap.serve.sockpath import clear_for_bind


def test_free_stale_and_foreign_paths(tmp_path: Path) -> None:
    assert clear_for_bind(str(tmp_path / "nothing")) is None
    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(stale))
    assert clear_for_bind(str(stale)) is None
    assert not stale.exists()
    precious = tmp_path / "precious"
    precious.write_text("keep\n")
    assert clear_for_bind(str(precious)) == "exists and is not a socket"
    assert precious.read_text() == "keep\n"
    (tmp_path / "dir").mkdir()
    assert clear_for_bind(str(tmp_path / "dir")) == "exists and is not a socket"
