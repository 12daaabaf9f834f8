"""Linux inotify, just enough to learn cheaply that nothing changed in some directories.

What it does: one `SharedWatch` per process (a single inotify instance: the kernel allows only
128 per user, so one per table pair would starve other programs) watches the directories
holding the files callers care about (and, for symlinks, the directories of their targets) for
anything that could change what reading those files gives: writes, attribute changes,
creations, deletions and renames. `generation()` asks the kernel whether events are queued
(one ioctl, no exception, ~0.4 us: cheaper than the two stat() calls it replaces), drains them
and counts a new generation when there were any. A caller that remembers the generation it last
verified knows that nothing happened while the number stays the same. Events are queued by the
kernel before the writer's system call returns, so an edit finished before a decision starts is
always seen.

Hazards: inotify does not see changes made on other hosts (NFS) or in a directory that was
removed; such a watch is reported `lost` and the caller must check file identity every time.
A forked child gets its own instance on first use (sharing the queue with the parent would let
one of them consume the other's events); watches made before the fork are then reported `lost`,
so every caller watches again in the child. Events for unrelated files in a watched directory
only cause an extra, cheap identity check.
`watch(paths, ancestors=True)` also watches every directory above the files (up to /): a
rename, removal or permission change of any directory on the way changes what opening the file
gives, and only the directory holding that directory's entry reports it.
Errors: `shared_watch()` returns None when inotify is unavailable (not Linux, no libc, limits
reached) and `watch()` None when a directory cannot be watched; nothing here raises.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import fcntl
import os
import termios
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = (
    0x400, 0x800, 0x2000, 0x4000, 0x8000,
)  # fmt: skip
MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
    | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
)  # fmt: skip
LOST = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED
_ioctl, _FIONREAD = fcntl.ioctl, termios.FIONREAD
# A queue overflow (IN_Q_OVERFLOW) needs nothing special: events were dropped, but the new
# generation alone makes every caller verify its files again.


def directories(paths: tuple[str, ...], ancestors: bool = False) -> set[str]:
    """The directories holding `paths` (as written and with symlinks resolved), and with
    `ancestors` every directory above them too."""
    found: set[str] = set()
    for path in paths:
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            directory = os.path.dirname(candidate)
            found.add(directory)
            while ancestors and directory != os.path.dirname(directory):
                directory = os.path.dirname(directory)
                found.add(directory)
    return found


class SharedWatch:
    def __init__(self, libc: ctypes.CDLL) -> None:
        self._libc = libc
        self._lock = threading.Lock()
        self._count = array.array("i", [0])
        self._pid = -1
        self._fd = -1
        self._wds: dict[str, int] = {}
        self._lost: set[int] = set()
        self._instance = 0  # counts inotify instances: watches of an earlier one are lost
        self.generation_number = 0
        # After fork the child must not share the parent's queue; noticing that through a
        # fork hook costs nothing per call (getpid() is a system call).
        self._forked = False
        os.register_at_fork(after_in_child=self._mark_forked)

    def _mark_forked(self) -> None:
        self._forked = True

    def _ensure(self) -> bool:
        """A live inotify instance of this process (a new one after fork)."""
        if self._pid == os.getpid() and self._fd >= 0:
            return True
        self._forked = False
        if self._fd >= 0:
            os.close(self._fd)  # the parent's instance: its queue is not ours
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pid = os.getpid()
        self._wds.clear()
        self._lost.clear()
        self._instance += 1
        self.generation_number += 1  # everything must be verified again
        return self._fd >= 0

    def watch(self, paths: tuple[str, ...], ancestors: bool = False) -> tuple[int, ...] | None:
        """Watch the directories of `paths` (see `directories`); a token for `lost()` (the
        instance, then the watch descriptors), or None if impossible."""
        with self._lock:
            if not self._ensure():
                return None
            wds: list[int] = [self._instance]
            for directory in sorted(directories(paths, ancestors)):
                wd = self._wds.get(directory)
                if wd is None or wd in self._lost:
                    wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), MASK)
                    if wd < 0:
                        return None
                    self._wds[directory] = wd
                    self._lost.discard(wd)
                wds.append(wd)
            return tuple(wds)

    def generation(self) -> int:
        """The current generation: it changes whenever anything happened in any watched dir."""
        if self._forked:
            with self._lock:
                self._ensure()
            return self.generation_number
        _ioctl(self._fd, _FIONREAD, self._count, True)
        if self._count[0]:
            with self._lock:
                self._drain()
        return self.generation_number

    def probe(self, generation: int, value: T) -> Callable[[], T | None]:
        """A function that returns `value` while nothing happened in any watched directory
        since `generation` (what the caller last verified), else None: generation()'s one
        ioctl in a closure, for a caller that asks before every decision (PolicyCache.fresh).
        None means "ask generation()", which drains the queue (the probe never does). A
        probe made before a fork or a new instance answers None."""
        fd, count = self._fd, self._count

        def probe() -> T | None:
            if self._forked:
                return None
            try:
                _ioctl(fd, _FIONREAD, count, True)
            except OSError:  # (the instance it was made for is closed: a stale probe)
                return None
            if count[0] or self.generation_number != generation:
                return None
            return value

        return probe

    def _drain(self) -> None:
        try:
            data = os.read(self._fd, max(self._count[0], 4096))
        except OSError:
            data = b""
        offset = 0
        while offset + 16 <= len(data):
            wd = int.from_bytes(data[offset : offset + 4], "little", signed=True)
            mask = int.from_bytes(data[offset + 4 : offset + 8], "little")
            length = int.from_bytes(data[offset + 12 : offset + 16], "little")
            if mask & LOST:
                self._lost.add(wd)
            offset += 16 + length
        self.generation_number += 1

    def lost(self, wds: tuple[int, ...]) -> bool:
        """Whether any of these watches (a token from `watch()`) no longer reports changes:
        removed, or made by the instance of a parent process."""
        if self._forked:
            with self._lock:
                self._ensure()
        return wds[0] != self._instance or any(wd in self._lost for wd in wds[1:])


_shared: SharedWatch | None = None
_tried = False
_create_lock = threading.Lock()


def shared_watch() -> SharedWatch | None:
    """The process's one inotify instance (created on first use), or None if unavailable."""
    global _shared, _tried
    if _tried:
        return _shared
    with _create_lock:
        if not _tried:
            name = ctypes.util.find_library("c")
            try:
                libc = ctypes.CDLL(name, use_errno=True) if name else None
                if libc is not None and hasattr(libc, "inotify_init1"):
                    candidate = SharedWatch(libc)
                    if candidate._ensure():
                        _shared = candidate
            except OSError:
                _shared = None
            _tried = True
    return _shared
