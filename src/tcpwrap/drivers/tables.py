"""Reading hosts.allow/hosts.deny from disk, and keeping compiled policies fresh.

What it does: `read_table(path)` gives a `TableSource` with tcpd's open semantics (ENOENT =
empty table; a directory reads as empty; any other error = the strerror text, which the
matcher turns into `cannot open <t>: <err>` and an ERROR scan). `PolicyCache` compiles a
(allow, deny) pair once and, before each decision, re-checks both files' identity (device,
inode, size, mtime_ns): an edit takes effect on the next decision, as with tcpd, and an
unchanged table costs two stat() calls.

Hazards: tables can be large (100k lines): reading is bounded by `TABLE_LIMIT` and compiling is
linear; recompilation is atomic (a new Policy object replaces the old one).
Errors: none raised for table problems; they become diagnostics in the decision.
"""

from __future__ import annotations

import os
import stat
import time

from tcpwrap.policy.rules import Language, Policy, TableSource, compile_policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tcpwrap.drivers.inotify import SharedWatch

TABLE_LIMIT = 256 * 1024 * 1024
# File systems keep coarse timestamps: an edit that keeps the size within one tick looks
# unchanged. Files modified this recently are compared by content too (like git's "racy" check).
RACY_WINDOW_NS = 2_000_000_000
Identity = tuple[int, int, int, int, int] | None


def _identity(path: str) -> Identity:
    try:
        info = os.stat(path)
    except OSError as exc:
        return (-1, exc.errno or 0, 0, 0, 0)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)


def read_table(path: str) -> TableSource:
    try:
        with open(path, "rb") as handle:
            if stat.S_ISDIR(os.fstat(handle.fileno()).st_mode):
                return TableSource(path, b"")
            return TableSource(path, handle.read(TABLE_LIMIT))
    except FileNotFoundError:
        return TableSource(path, None)
    except IsADirectoryError:
        return TableSource(path, b"")
    except OSError as exc:
        return TableSource(path, None, os.strerror(exc.errno) if exc.errno else str(exc))


def load_policy(allow: str, deny: str, language: Language = Language.OPTIONS) -> Policy:
    return compile_policy(read_table(allow), read_table(deny), language)


def _shared_watch() -> SharedWatch | None:
    from tcpwrap.drivers.inotify import shared_watch

    return shared_watch()


class PolicyCache:
    """A compiled policy that follows its files (thread-safe; one compile per change)."""

    def __init__(self, allow: str, deny: str, language: Language = Language.OPTIONS) -> None:
        self.allow = allow
        self.deny = deny
        self.language = language
        import threading  # only long-lived callers need the cache: keep it off tcpd's start-up

        self._lock = threading.Lock()
        self._identity: tuple[Identity, Identity] | None = None
        self._policy: Policy | None = None
        # Verdicts of side-effect-free queries against the current policy (see library.py);
        # replaced, not cleared, when the policy changes, so readers never see a mix.
        self.memo: dict[tuple[str, str, str, str], bool] = {}
        self._sources: tuple[TableSource, TableSource] | None = None
        self._racy_until = 0  # wall-clock ns until which contents are compared too
        # With inotify watching the tables' directories, "nothing happened" is one ioctl and
        # the identity check (two stat calls) is done only after an event.
        self._watch: SharedWatch | None = None
        self._wds: tuple[int, ...] | None = None
        self._seen = -1  # the watch generation last verified
        self._watch_tried = False

    def get(self) -> Policy:
        policy = self._policy
        watch = self._watch
        if policy is not None and watch is not None and self._wds is not None:
            generation = watch.generation()
            if generation == self._seen and not self._racy_until:
                return policy
            if watch.lost(self._wds):
                self._wds = watch.watch((self.allow, self.deny))  # re-watch, or give up
            self._seen = generation  # before checking: later events are seen next time
        identity = (_identity(self.allow), _identity(self.deny))
        if policy is not None and identity == self._identity and not self._racy_until:
            return policy
        with self._lock:
            if not self._watch_tried:
                self._watch_tried = True
                self._watch = _shared_watch()
                if self._watch is not None:
                    self._seen = self._watch.generation()
                    self._wds = self._watch.watch((self.allow, self.deny))
            if self._policy is not None and identity == self._identity:
                if time.time_ns() > self._racy_until:
                    self._racy_until = 0
                sources = (read_table(self.allow), read_table(self.deny))
                if sources == self._sources:
                    return self._policy
            else:
                sources = (read_table(self.allow), read_table(self.deny))
            self._policy = compile_policy(sources[0], sources[1], self.language)
            self._sources = sources
            self.memo = {}
            self._identity = identity
            newest = max((i[3] for i in identity if i is not None and i[0] >= 0), default=0)
            now = time.time_ns()
            self._racy_until = newest + RACY_WINDOW_NS if now - newest < RACY_WINDOW_NS else 0
            return self._policy
