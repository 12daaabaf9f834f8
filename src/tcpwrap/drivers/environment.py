"""The real local environment a decision reads: /file lists, banners, netgroups, passwd.

What it does: implements `tcpwrap.policy.environment.Environment` on the running system.
Pattern files are read whole, split on C whitespace (fscanf("%s")) and compiled into an indexed
`PatternFile` (policy.patternfile), cached by file identity (device, inode, size, mtime_ns): a
decision costs one stat() while the file is unchanged. A changed file is read again; when the
new content is the old content plus an append (ban lists grow at the end) and the old content
ended with whitespace, only the appended tokens are compiled (the old bytes are kept to check
that they are really unchanged). Netgroups go through glibc's innetgr() (NSS: files, NIS, ...)
via ctypes; users and groups through pwd/grp.

Hazards: files named in tables are admin-chosen but may be huge: a pattern file is read up to
`PATTERN_FILE_LIMIT` bytes and a banner up to `BANNER_LIMIT` (the rest is ignored, as a safety
bound the original lacked). Netgroup lookups may reach a network name service (NIS); they are
synchronous, as in the original. A pattern file keeps its bytes and its compiled index in
memory (a 100,000-address list: a few MB). Decisions may run in many threads: compiling is
serialised by a lock, and a compiled version handed out stays valid while newer ones are made.
Errors: never raised for missing or unreadable files: they come back as None (absent) or as the
strerror text.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from _thread import allocate_lock  # not threading: the wrapper's start-up does not need it
from functools import lru_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any

    from tcpwrap.policy.patternfile import PatternFile

    # st_dev, st_ino, st_size, st_mtime_ns: what must stay the same for the content to be
    Identity = tuple[int, int, int, int]


PATTERN_FILE_LIMIT = 16 * 1024 * 1024
BANNER_LIMIT = 1024 * 1024
_C_SPACE = b" \t\n\v\f\r"


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class SystemEnvironment:
    """Environment backed by the file system, NSS and the passwd/group databases."""

    def __init__(self) -> None:
        # path -> (identity, the bytes read, the compiled file)
        self._files: dict[str, tuple[Identity, bytes, PatternFile]] = {}
        self._lock = allocate_lock()

    def pattern_file(self, path: str) -> PatternFile | str | None:
        cached = self._files.get(path)
        # Opened on every decision, as the original does: a file that became unreadable
        # (mode, owner, directory permissions) must give its warning, which no identity check
        # would show. os.open, not open(): no file object to build (a third of the cost).
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return _strerror(exc)
        try:
            info = os.fstat(fd)
            identity = _identity(info)
            if cached is not None and cached[0] == identity:
                return cached[2]
            # A directory, device or FIFO reads as empty (fopen+fscanf on a directory fails).
            regular = stat.S_ISREG(info.st_mode)
            data = _read(fd, PATTERN_FILE_LIMIT, info.st_size) if regular else b""
        except OSError as exc:
            return _strerror(exc)
        finally:
            os.close(fd)
        from tcpwrap.policy.patternfile import load_pattern_file  # only /file users need it

        with self._lock:  # one compile at a time: appends extend a shared index in place
            cached = self._files.get(path)
            if cached is not None and cached[0] == identity:
                return cached[2]
            compiled = load_pattern_file(data, None if cached is None else cached[1:])
            self._files[path] = (identity, data, compiled)
        return compiled

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


def _read(fd: int, limit: int, expected: int) -> bytes:
    """Up to `limit` bytes from `fd` (read() may return less than asked: loop to EOF).

    `expected` (the size fstat gave) sizes the first read, so a small file does not cost a
    buffer of `limit` bytes; a file that grew meanwhile is read on in 64 KiB steps.
    """
    chunks: list[bytes] = []
    size = 0
    want = expected + 1  # one more byte: EOF shows at once
    while size < limit:
        chunk = os.read(fd, min(limit - size, max(want, 65536)))
        want = 0
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _identity(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


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
