"""The wrapper run by an interpreter `nobody` cannot reach (issue 12 item 12, issue 11 item 7).

README's first command makes .venv with whatever python3 is first on PATH, e.g. a version
manager under /root: after a `user nobody` option has dropped privileges the wrapper can no
longer read one file of its interpreter. Here the interpreter, its standard library and the
package are bind-mounted under a root-only directory and the wrapper, with the JSON log on,
must still grant, exec the daemon as nobody, write its JSON record and run a later spawn.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.wrapper.conftest import Kit
from e2e.wrapper.wrapkit import ROOT, run_inetd_style
from harness.syslog_capture import SyslogCapture

pytestmark = pytest.mark.e2e


def _bind(source: str, target: Path, mounted: list[Path]) -> None:
    if os.path.isdir(source):
        target.mkdir(parents=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    subprocess.run(["mount", "--bind", source, str(target)], check=True)
    mounted.append(target)


@pytest.fixture(scope="module")
def locked_wrapper() -> Iterator[Path]:
    """`tcpwrap-tcpd` on an interpreter under a mode-0700 directory (bind mounts, namespace)."""
    top = Path(tempfile.mkdtemp(prefix="tcpwrap-locked."))  # mkdtemp: mode 0700, root's
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    mounted: list[Path] = []
    try:
        _bind(os.path.realpath(sys.executable), top / "bin" / version, mounted)
        _bind(sysconfig.get_paths()["stdlib"], top / "lib" / version, mounted)
        _bind(str(ROOT / "src"), top / "src", mounted)
        script = top / "bin" / "tcpwrap-tcpd"
        script.write_text(
            f"#!{top}/bin/{version} -I\n"
            f"import sys\nsys.path.insert(0, {str(top / 'src')!r})\n"
            "from tcpwrap.tcpd import main\nsys.exit(main())\n"
        )
        script.chmod(0o755)
        yield script
    finally:
        for target in reversed(mounted):
            subprocess.run(["umount", str(target)], check=False)
        # Never remove through a bind mount still in place: that would delete the real files.
        points = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
        still = [str(target) for target in mounted if str(target) in points]
        assert not still, f"left mounted (not removed): {still}"
        shutil.rmtree(top)


def test_nobody_really_cannot_reach_it(locked_wrapper: Path) -> None:
    nobody = pwd.getpwnam("nobody")

    def demote() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    python = locked_wrapper.parent / f"python{sys.version_info.major}.{sys.version_info.minor}"
    with pytest.raises(PermissionError):
        subprocess.run([str(python), "-c", "pass"], preexec_fn=demote, check=False)
    assert subprocess.run([str(python), "-I", "-c", "import json"], check=False).returncode == 0


def test_user_nobody_with_the_json_log(
    locked_wrapper: Path, kit: Kit, syslog: SyslogCapture
) -> None:
    kit.expect_handoff = False  # the script below runs tcpd.main() itself: in-process
    kit.dir.chmod(0o777)  # the spawn, as nobody, writes there
    kit.tables(allow=f"ALL: ALL: user nobody : spawn id -u > {kit.dir}/uid\n")
    got = run_inetd_style(str(locked_wrapper), ["tcpwrap-tcpd", str(kit.fake)], kit.env())
    assert b" uid=65534 euid=65534 gid=65534 " in got.received, syslog.records()
    assert not [r for r in syslog.records() if "internal error" in r.message]
    assert (kit.dir / "uid").read_text() == "65534\n"
    (record,) = kit.records()
    assert (record.event, record.verdict, record.traps) == ("connect", "granted", ("spawn",))
