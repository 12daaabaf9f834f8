"""drivers.inetd: a NUL byte in an inetd.conf path is what C sees, the name up to it (issue 12
item 7: only the project's errors leave the engine; `os.stat` would raise ValueError)."""

from __future__ import annotations

from pathlib import Path

from tcpwrap.drivers.inetd import analyze_inetd


def test_a_nul_in_a_path_is_looked_up_as_c_would(tmp_path: Path) -> None:
    conf = tmp_path / "inetd.conf"
    conf.write_bytes(
        b"finger stream tcp nowait nobody /usr/sbin/tcpd in.fing\x00erd\n"
        b"ssh stream tcp nowait root " + str(tmp_path).encode() + b"/tc\x00pd sshd\n"
        b"include " + str(tmp_path).encode() + b"/no\x00such\n"
    )
    analysis = analyze_inetd(str(conf), real_daemon_dir=str(tmp_path), for_check=True)
    texts = [d.render() for d in analysis.warnings]
    assert any(f"{tmp_path}/tc\x00pd: not found: No such file or directory" in t for t in texts)
