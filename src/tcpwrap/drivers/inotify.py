"""Linux inotify, just enough to learn cheaply that nothing changed in some directories.

What it does: `DirectoryWatch(paths)` watches the directories holding the given files (and,
for symlinks, the directories of their targets) for anything that could change what reading
those files gives: writes, attribute changes, creations, deletions and renames. `changed()`
asks the kernel whether events are queued (one ioctl, no exception, ~0.4 us: cheaper than the
two stat() calls it replaces) and drains them. Events are queued by the kernel before the
writer's system call returns, so an edit finished before a decision starts is always seen.

Hazards: inotify does not see changes made on other hosts (NFS) or to a directory that was
replaced; `changed()` then keeps answering True once the watch is lost, and the caller falls
back to checking file identity every time. Events for unrelated files in the same directory
only cause an extra (cheap) identity check.
Errors: `DirectoryWatch.create()` returns None when inotify is unavailable (not Linux, no libc,
limits reached); nothing here raises after that.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import fcntl
import os
import termios

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = (
    0x400, 0x800, 0x2000, 0x4000, 0x8000,
)  # fmt: skip
MASK = (
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
    | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
)  # fmt: skip
LOST = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED | IN_Q_OVERFLOW


def _directories(paths: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for candidate in (os.path.abspath(path), os.path.realpath(path)):
            found.add(os.path.dirname(candidate))
    return found


class DirectoryWatch:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lost = False
        self._count = array.array("i", [0])

    @classmethod
    def create(cls, paths: tuple[str, ...]) -> DirectoryWatch | None:
        name = ctypes.util.find_library("c")
        if name is None:
            return None
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return None
        if fd < 0:
            return None
        for directory in _directories(paths):
            if libc.inotify_add_watch(fd, os.fsencode(directory), MASK) < 0:
                os.close(fd)
                return None  # a directory we cannot watch: check identities instead
        return cls(fd)

    def changed(self) -> bool:
        """True if anything happened since the last call (or the watch is no longer valid)."""
        if self._lost:
            return True
        fcntl.ioctl(self._fd, termios.FIONREAD, self._count, True)
        if not self._count[0]:
            return False
        try:
            data = os.read(self._fd, max(self._count[0], 4096))
        except BlockingIOError:
            return True
        offset = 0
        while offset + 16 <= len(data):
            mask = int.from_bytes(data[offset + 4 : offset + 8], "little")
            length = int.from_bytes(data[offset + 12 : offset + 16], "little")
            if mask & LOST:
                self._lost = True
            offset += 16 + length
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._lost = True
