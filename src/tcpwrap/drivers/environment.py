"""The real local environment a decision reads: /file lists, banners, netgroups, passwd.

What it does: implements `tcpwrap.policy.environment.Environment` on the running system.
Pattern files are read whole, split on C whitespace (fscanf("%s")) and compiled into an indexed
`PatternFile` (policy.patternfile), cached by file identity (device, inode, size, mtime_ns). A
changed file is read again; when the new content is the old content plus an append (ban lists
grow at the end) and the old content ended with whitespace, only the appended tokens are
compiled (the old bytes are kept to check that they are really unchanged). A file modified
less than `RACY_WINDOW_NS` before it was read is compared by content too when its identity
looks unchanged (a same-size rewrite within one timestamp tick keeps the identity), as
drivers.tables does for the tables.

What a decision costs while nothing changes: the first time a path is asked for, it is opened
(open, fstat, close), as the original does on every decision. From the second time on (a
long-lived process), the directories from / down to the file are watched through the shared
inotify instance (drivers/inotify.py) and the outcome of opening it (the compiled file, "absent",
or the error text, which the matcher logs on every decision as the original does) is reused
while the watch reports nothing: one ioctl. Any event in those directories (a write, chmod,
chown, rename or removal of the file or of a directory on the way, a file created there) makes
the next decision open the file again. Without inotify, or for a path whose directories cannot
be watched, the file is opened on every decision.
What the watch cannot see (so a reused outcome could differ from a fresh open): changes made on
another host (NFS), a mount over a directory on the way, and a change of this process's own
credentials (a process that drops privileges should decide with a new SystemEnvironment).

Netgroups go through glibc's innetgr() (NSS: files, NIS, ...) via ctypes; users and groups
through pwd/grp.

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
import time
from _thread import allocate_lock  # not threading: the wrapper's start-up does not need it
from functools import lru_cache

from tcpwrap.drivers.oserror import strerror
from tcpwrap.policy import patterns
from tcpwrap.policy.cstr import c_string

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import Any

    from tcpwrap.drivers.inotify import SharedWatch
    from tcpwrap.policy.patternfile import PatternFile

    FileResult = PatternFile | str | None
    # st_dev, st_ino, st_size, st_mtime_ns: what must stay the same for the content to be
    Identity = tuple[int, int, int, int]


PATTERN_FILE_LIMIT = 16 * 1024 * 1024
BANNER_LIMIT = 1024 * 1024
# File systems keep coarse timestamps: a same-size edit within one tick of the previous one
# keeps the identity. Files read this soon after their last change are compared by content.
RACY_WINDOW_NS = 2_000_000_000
_C_SPACE = b" \t\n\v\f\r"


class SystemEnvironment:
    """Environment backed by the file system, NSS and the passwd/group databases."""

    def __init__(self) -> None:
        # path -> (identity, the bytes read, the compiled file, racy_until: the wall-clock ns
        # until which an unchanged identity is not enough, 0 = never)
        self._files: dict[str, tuple[Identity, bytes, PatternFile, int]] = {}
        # path -> (watch, generation, outcome): what opening `path` gave with the watch at
        # that generation (see the module docstring)
        self._verified: dict[str, tuple[SharedWatch, int, FileResult]] = {}
        self._tokens: dict[str, tuple[int, ...]] = {}  # path -> its watch token
        self._asked: set[str] = set()  # paths opened at least once
        self._lock = allocate_lock()

    def pattern_file(self, path: str) -> PatternFile | str | None:
        if "\x00" in path:  # fopen() opens what comes before the NUL; os.open would raise
            path = c_string(path)
        verified = self._verified.get(path)
        if verified is not None and verified[0].generation() == verified[1]:
            return verified[2]  # nothing happened on the way to the file since it was opened
        watch, generation = self._watch_for(path)
        result = self._open_pattern_file(path)
        if watch is not None:
            self._verified[path] = (watch, generation, result)
        else:
            self._verified.pop(path, None)
        return result

    def pattern_file_polled(self, path: str) -> PatternFile | str | None:
        """pattern_file() for a caller that has polled the shared inotify watch (its
        `generation()`) since its decision began, as PolicyCache.snapshot() does while it
        watches the tables: the generation counter is read as that poll left it, instead of
        asking the kernel again. An edit finished before the decision began was drained by
        that poll, so it is seen."""
        verified = self._verified.get(path)
        if verified is not None and verified[0].generation_number == verified[1]:
            return verified[2]
        return self.pattern_file(path)

    def _watch_for(self, path: str) -> tuple[SharedWatch | None, int]:
        """The shared watch and its generation before `path` is opened, once the path is asked
        for a second time (the wrapper's single decision pays no inotify set-up)."""
        if path not in self._asked:
            self._asked.add(path)
            return None, -1
        from tcpwrap.drivers.inotify import shared_watch

        watch = shared_watch()
        if watch is None:
            return None, -1
        generation = watch.generation()  # before opening: any later change moves it
        token = self._tokens.get(path)
        if token is None or watch.lost(token):
            token = watch.watch((path,), ancestors=True)
            if token is None:  # e.g. a directory on the way does not exist
                self._tokens.pop(path, None)
                return None, -1
            self._tokens[path] = token
        return watch, generation

    def _open_pattern_file(self, path: str) -> PatternFile | str | None:
        """Open the file as the original does, and compile it when its content changed."""
        cached = self._files.get(path)
        read_ns = time.time_ns()  # before reading: see RACY_WINDOW_NS
        # A file that became unreadable (mode, owner, directory permissions) must give its
        # warning, which no identity check would show. os.open, not open(): no file object.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return strerror(exc)
        try:
            info = os.fstat(fd)
            identity = _identity(info)
            if cached is not None and cached[0] == identity and not cached[3]:
                return cached[2]
            # A directory, device or FIFO reads as empty (fopen+fscanf on a directory fails).
            regular = stat.S_ISREG(info.st_mode)
            data = _read(fd, PATTERN_FILE_LIMIT + 1, info.st_size) if regular else b""
        except OSError as exc:
            return strerror(exc)
        finally:
            os.close(fd)
        from tcpwrap.policy.patternfile import load_pattern_file, whole_tokens

        data, cut_at = whole_tokens(data, PATTERN_FILE_LIMIT)  # fails closed on the rest
        racy_until = _racy_until(identity, read_ns)
        if (
            cached is not None
            and cached[0] == identity
            and cached[1] == data
            and cached[2].cut_at == cut_at
        ):
            if not racy_until:  # read late enough: the identity alone will tell from now on
                self._files[path] = (identity, data, cached[2], 0)
            return cached[2]
        with self._lock:  # one compile at a time: appends extend a shared index in place
            cached = self._files.get(path)
            if (
                cached is not None
                and cached[0] == identity
                and cached[1] == data
                and cached[2].cut_at == cut_at
            ):
                return cached[2]
            compiled = load_pattern_file(data, None if cached is None else cached[1:3], cut_at)
            self._files[path] = (identity, data, compiled, racy_until)
        return compiled

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        path = c_string(os.path.join(directory, daemon))  # what fopen() gets; open() would raise
        try:
            with open(path, "rb") as handle:
                return handle.read(BANNER_LIMIT)
        except OSError:
            pass
        try:
            os.stat(directory)
        except OSError as exc:
            return strerror(exc)
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


def _racy_until(identity: Identity, read_ns: int) -> int:
    """When a read begun at `read_ns` stops being racy for a file of this identity (0: now)."""
    mtime = identity[3]
    return mtime + RACY_WINDOW_NS if read_ns - mtime < RACY_WINDOW_NS else 0


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


def _interface_exists(name: str) -> bool:
    """if_nametoindex(name) != 0, for patterns.parse_ipv6's `%scope` check."""
    import socket

    try:
        return socket.if_nametoindex(name) != 0
    except (OSError, ValueError):  # no such interface; a NUL in the name
        return False


patterns.interface_exists = _interface_exists  # the pure core asks the kernel through this
