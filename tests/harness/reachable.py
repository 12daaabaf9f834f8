"""An interpreter another user can run: for tests whose child process runs as `nobody`.

What it does: `python_for(user, workdir)` returns (interpreter, PYTHONPATH) with which `user`
can run `python -m tcpwrap...`: the suite's own interpreter when `user` can execute it and
import tcpwrap; else a copy of the tcpwrap package in `workdir` run by the first interpreter
`user` can execute (Debian's /usr/bin/python3, then python3 on PATH); else a copy of the suite's
interpreter and its standard library in `workdir`. The suite's interpreter may live where
`nobody` cannot enter (README's command 1 uses whatever python3 is first on PATH, e.g. a
version manager under /root).

Hazards: runs probe processes as `user` (root only); copies files into `workdir`, which the
caller creates (mode 0755) and removes.
Errors: AssertionError when not root; RuntimeError when no interpreter can be made reachable.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import tcpwrap

_PROBE = "import sys, tcpwrap; assert sys.version_info >= (3, 11)"


def _runs_as(user: str, python: str, pythonpath: str | None) -> bool:
    entry = pwd.getpwnam(user)

    def demote() -> None:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    env = {"PATH": "/usr/bin:/bin"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        done = subprocess.run(
            [python, "-c", _PROBE], env=env, preexec_fn=demote, cwd="/",
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return False
    return done.returncode == 0


def python_for(user: str, workdir: Path) -> tuple[str, str | None]:
    assert os.geteuid() == 0, "only root can run a probe as another user"
    if _runs_as(user, sys.executable, None):
        return sys.executable, None
    package = workdir / "site"
    shutil.copytree(Path(tcpwrap.__file__).parent, package / "tcpwrap",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for root, dirs, files in os.walk(workdir):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and _runs_as(user, candidate, str(package)):
            return candidate, str(package)
    # Last resort: the suite's own interpreter and standard library, copied where `user` can
    # read them (the interpreter finds its library beside it: bin/ and lib/pythonX.Y/).
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    prefix = workdir / "python"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(os.path.realpath(sys.executable), prefix / "bin" / version)
    skip = shutil.ignore_patterns("__pycache__", "test", "site-packages", "config-*")
    shutil.copytree(sysconfig.get_paths()["stdlib"], prefix / "lib" / version, True, skip)
    for root, dirs, files in os.walk(prefix):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, 0o755 if os.access(path, os.X_OK) else 0o644)
    copied = str(prefix / "bin" / version)
    if _runs_as(user, copied, str(package)):
        return copied, str(package)
    raise RuntimeError(f"no interpreter that {user} can run could be found or made")
