"""The real local environment a decision reads: /file lists, banners, netgroups, passwd.

What it does: implements `tcpwrap.policy.environment.Environment` on the running system.
Pattern files are read whole and split on C whitespace (fscanf("%s")), cached by file identity
(inode, size, mtime) so a long-lived process rereads them only when they change. Netgroups go
through glibc's innetgr() (NSS: files, NIS, ...) via ctypes; users and groups through pwd/grp.

Hazards: files named in tables are admin-chosen but may be huge: a pattern file is read up to
`PATTERN_FILE_LIMIT` bytes and a banner up to `BANNER_LIMIT` (the rest is ignored, as a safety
bound the original lacked). Netgroup lookups may reach a network name service (NIS); they are
synchronous, as in the original.
Errors: never raised for missing or unreadable files: they come back as None (absent) or as the
strerror text.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any


PATTERN_FILE_LIMIT = 16 * 1024 * 1024
BANNER_LIMIT = 1024 * 1024
_C_SPACE = b" \t\n\v\f\r"


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class SystemEnvironment:
    """Environment backed by the file system, NSS and the passwd/group databases."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[int, int, int], list[str]]] = {}

    def pattern_file(self, path: str) -> list[str] | str | None:
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                identity = (info.st_ino, info.st_size, info.st_mtime_ns)
                cached = self._files.get(path)
                if cached is not None and cached[0] == identity:
                    return cached[1]
                data = handle.read(PATTERN_FILE_LIMIT) if stat.S_ISREG(info.st_mode) else b""
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return []
        except OSError as exc:
            return _strerror(exc)
        tokens = data.split()  # bytes.split(): C isspace() separators, like fscanf("%s")
        text = [tok.decode("latin-1") for tok in tokens]
        self._files[path] = (identity, text)
        return text

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        try:
            with open(os.path.join(directory, daemon), "rb") as handle:
                return handle.read(BANNER_LIMIT)
        except OSError:
            pass
        try:
            os.stat(directory)
        except OSError as exc:
            return _strerror(exc)
        return None

    def innetgr(self, group: str, host: str) -> bool:
        fn = _libc_innetgr()
        if fn is None:
            return False
        return bool(fn(group.encode("latin-1"), host.encode("latin-1"), None, None))

    def user_exists(self, name: str) -> bool:
        try:
            pwd.getpwnam(name)
        except (KeyError, ValueError):
            return False
        return True

    def group_exists(self, name: str) -> bool:
        try:
            grp.getgrnam(name)
        except (KeyError, ValueError):
            return False
        return True

    def netgroup_members(self, group: str) -> list[tuple[str | None, str | None, str | None]]:
        """setnetgrent/getnetgrent: the (host, user, domain) triples of a netgroup."""
        import ctypes

        libc = _libc()
        if libc is None:
            return []
        host, user, domain = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_char_p()
        members: list[tuple[str | None, str | None, str | None]] = []
        if not libc.setnetgrent(group.encode("latin-1")):
            libc.endnetgrent()
            return members
        try:
            while len(members) < 100_000 and libc.getnetgrent(
                ctypes.byref(host), ctypes.byref(user), ctypes.byref(domain)
            ):
                members.append(
                    tuple(  # type: ignore[arg-type]
                        v.value.decode("latin-1") if v.value is not None else None
                        for v in (host, user, domain)
                    )
                )
        finally:
            libc.endnetgrent()
        return members


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    import ctypes
    import ctypes.util  # only netgroup patterns need libc: keep it off the wrapper's start-up

    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@lru_cache(maxsize=1)
def _libc_innetgr() -> Any:
    import ctypes

    libc = _libc()
    if libc is None:
        return None
    fn = libc.innetgr
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return fn
