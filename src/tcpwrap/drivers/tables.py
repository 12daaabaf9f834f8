"""Reading hosts.allow/hosts.deny from disk, and keeping compiled policies fresh.

What it does: `read_table(path)` gives a `TableSource` with tcpd's open semantics (ENOENT =
empty table; a directory reads as empty; any other error = the strerror text, which the
matcher turns into `cannot open <t>: <err>` and an ERROR scan). `PolicyCache` compiles an
(allow, deny) pair once and, before each decision, checks that the files did not change: one
ioctl while inotify watches their directories (drivers/inotify.py), else both files' identity
(device, inode, size, mtime_ns, mode). A table read less than `RACY_WINDOW_NS` after its last
modification is compared by content too when its identity looks unchanged (a same-size edit in
the same timestamp tick keeps it): after each event while watched, on every call otherwise.
After a change only what changed is redone: a table
whose new content is its old content plus complete lines (DenyHosts, fail2ban) is extended
(policy.compile.extend_table: the cost of the appended lines, a few ms at 100,000 lines); an
unchanged table is kept; any other change compiles that table anew (about a second at
100,000 lines).

Two ways to ask for the policy:
  get()      exact: the policy of the files as they are now. A full recompile blocks the
             caller (and every other get() caller, who waits for the same compile).
  current()  for resident servers: never waits for a full recompile once a policy exists.
             It applies appends inline like get(); when a full recompile is needed it starts
             one in a background thread (one at a time) and returns the previous policy until
             the new one is ready, then swaps it in atomically. See its docstring for the
             staleness window.
And for the library's hosts_ctl(), which asks before every decision: `snapshot()` (get()'s
policy with its verdict memo) and `fresh()`, snapshot()'s common case in one call (the state
while the inotify watch reports nothing since it was verified, else None: ask snapshot()).

Hazards: tables can be large (100k lines): reading is bounded by `TABLE_LIMIT`; compiling is
linear, with the cyclic garbage collector paused (drivers/gcpause.py). A new Policy replaces
the old one as a whole (one reference); a Policy handed out stays valid and unchanged. A
background compile shares the GIL with the threads that decide (see current()).
Errors: none raised for table problems; they become diagnostics in the decision.
"""

from __future__ import annotations

import os
import stat
import time

from tcpwrap._record import field, record
from tcpwrap.drivers.gcpause import paused_gc
from tcpwrap.drivers.oserror import strerror
from tcpwrap.policy.compile import compile_policy, compile_table, extend_table
from tcpwrap.policy.rules import Language, Policy, TableSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from tcpwrap.drivers.inotify import SharedWatch
    from tcpwrap.policy.rules import Table

TABLE_LIMIT = 256 * 1024 * 1024
# File systems keep coarse timestamps: an edit that keeps the size within one tick looks
# unchanged. Files modified this recently are compared by content too (like git's "racy" check).
RACY_WINDOW_NS = 2_000_000_000
Identity = tuple[int, int, int, int, int] | None


def file_identity(path: str) -> Identity:
    """What tells a file's versions apart (device, inode, size, mtime, mode; an absent or
    unreadable file by its errno), without reading it."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return (-1, exc.errno or 0, 0, 0, 0)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)


def read_table(path: str) -> TableSource:
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISDIR(info.st_mode):
                return TableSource(path, b"")
            # Sized by fstat: read(TABLE_LIMIT) would allocate the whole limit on every
            # read (a third of the time of reading a 100,000-line table). One byte more
            # shows EOF; a file that grew meanwhile is read on up to the limit.
            data = handle.read(min(TABLE_LIMIT, info.st_size + 1))
            if len(data) > info.st_size and len(data) < TABLE_LIMIT:
                data += handle.read(TABLE_LIMIT - len(data))
            return TableSource(path, data)
    except FileNotFoundError:
        return TableSource(path, None)
    except IsADirectoryError:
        return TableSource(path, b"")
    except OSError as exc:
        return TableSource(path, None, strerror(exc))


def load_policy(allow: str, deny: str, language: Language = Language.OPTIONS) -> Policy:
    with paused_gc():
        return compile_policy(read_table(allow), read_table(deny), language)


def _shared_watch() -> SharedWatch | None:
    from tcpwrap.drivers.inotify import shared_watch

    return shared_watch()


@record(frozen=True)
class _State:
    """A compiled policy and what it was compiled from (replaced whole, never changed)."""

    identity: tuple[Identity, Identity]
    sources: tuple[TableSource, TableSource]
    policy: Policy
    racy_until: int  # wall-clock ns until which the contents are compared too (0: never)
    # Verdicts of side-effect-free queries against `policy` (library.ctl): it lives and dies
    # with the policy, so a verdict is never filed under another version's memo.
    memo: dict[tuple[str, str, str, str], bool] = field(default_factory=dict, compare=False)


def _unknown() -> _State | None:
    """PolicyCache.fresh when it cannot tell (not watching, nothing verified, a compile)."""
    return None


class _Job:
    """A full recompile: what it compiles, the tables it keeps, and when it is done."""

    def __init__(
        self,
        identity: tuple[Identity, Identity],
        sources: tuple[TableSource, TableSource],
        keep: tuple[Table | None, Table | None],
        version: int,
        generation: int,
        read_ns: int,
    ) -> None:
        import threading

        self.identity = identity
        self.sources = sources
        self.keep = keep  # None: compile this table
        self.version = version  # the cache's version when the job began
        self.generation = generation
        self.read_ns = read_ns
        self.done = threading.Event()


class PolicyCache:
    """A compiled policy that follows its files (thread-safe; see the module docstring)."""

    def __init__(self, allow: str, deny: str, language: Language = Language.OPTIONS) -> None:
        self.allow = allow
        self.deny = deny
        self.language = language
        import threading  # only long-lived callers need the cache: keep it off tcpd's start-up

        self._lock = threading.Lock()  # held for checks and appends, never for a full compile
        self._state: _State | None = None
        self._version = 0  # counts installed states: a job installs only onto its own
        self._job: _Job | None = None  # the full recompile under way, if any
        # With inotify watching the tables' directories, "nothing happened" is one ioctl and
        # the identity check (two stat calls) is done only after an event.
        self._watch: SharedWatch | None = None
        self._wds: tuple[int, ...] | None = None
        self._seen = -1  # the watch generation last verified
        self._watch_tried = False
        # Whether get()/snapshot() poll the shared watch on every call (else they compare file
        # identities): after such a call, the watch's generation counter is current.
        self.watching = False
        # snapshot()'s common case in one call (SharedWatch.probe, made whenever the state is
        # installed or verified while watched): the state while the watch reports nothing
        # since, else None (then ask snapshot()). A returned state was just polled for, as
        # snapshot() polls. hosts_ctl() asks it first: one Python call less per decision.
        self.fresh: Callable[[], _State | None] = _unknown

    @property
    def compiling(self) -> bool:
        """Whether a full recompile is under way (current() may be serving the previous one)."""
        return self._job is not None

    @property
    def memo(self) -> dict[tuple[str, str, str, str], bool]:
        """The verdict memo of the installed policy (see `snapshot`)."""
        state = self._state
        return {} if state is None else state.memo

    def get(self) -> Policy:
        """The policy of the tables as they are now; waits for a full recompile if needed."""
        state = self._unchanged()
        return state.policy if state is not None else self._settle().policy

    def snapshot(self) -> _State:
        """As get(), with the policy's verdict memo: `.policy` and `.memo` belong together."""
        state, watch = self._state, self._watch
        if (  # _unchanged()'s common case, inline: hosts_ctl() calls this every time
            state is not None
            and watch is not None
            and self._wds is not None
            and self._job is None
            and watch.generation() == self._seen
        ):
            return state
        state = self._unchanged()
        return state if state is not None else self._settle()

    def _settle(self) -> _State:
        while True:
            state = self._unchanged()
            if state is not None:
                return state
            state, job, mine = self._refresh()
            if state is not None:
                return state
            assert job is not None
            if mine:
                self._compile(job)  # in this thread: the caller waits anyway
            else:
                job.done.wait()  # someone else compiles; then look again

    def current(self) -> Policy:
        """The policy to decide with now, without ever waiting for a full recompile.

        Like get(), except when a table changed in a way other than an append (an edit, a
        rewrite, a replacement) and a policy already exists: the recompile then runs in a
        background thread (one at a time) and this returns the previous policy until the new
        one is ready; the call after that returns the new one.

        Staleness window: from the first call that sees such a change until the background
        compile ends (about a second per 100,000 lines), decisions follow the tables as they
        were before the change, including appends made to the new content meanwhile (they
        are applied once the new policy is in). Appends to the content the current policy was
        compiled from are honoured at once. Without a policy yet (the first call), it
        compiles in the caller's thread, as get() does.

        The background compile runs in this process and shares the GIL: meanwhile, decisions
        in other threads may wait up to one switch interval (5 ms) at a time, and the first
        garbage collection after it walks the new policy once (about 0.1 s per 100,000 lines,
        in whichever thread triggers it). This returns the previous policy in well under a
        millisecond (benchmarks/filelist_bench.py).
        """
        state = self._state
        if state is None:
            return self.get()
        fresh = self._unchanged()
        if fresh is not None:
            return fresh.policy
        fresh, job, mine = self._refresh()
        if fresh is not None:
            return fresh.policy
        assert job is not None
        if mine:
            import threading

            threading.Thread(
                target=self._compile_aside, args=(job,), name="tcpwrap-policy-compile", daemon=True
            ).start()
        state = self._state
        assert state is not None
        return state.policy

    # ------------------------------------------------------------------ internals

    def _unchanged(self) -> _State | None:
        """The state if nothing can have changed (no lock; the common case), else None.

        With the watch, "nothing happened since the state was verified" is enough even in the
        racy window: the generation was taken before the files were read, and any later
        write, however small and quick, queues an event. Without it, a racy state is checked
        (content compared) on every call.
        """
        state = self._state
        if state is None or self._job is not None:
            return None
        watch, wds = self._watch, self._wds
        if watch is not None and wds is not None:
            return state if watch.generation() == self._seen else None
        if state.racy_until:
            return None
        if (file_identity(self.allow), file_identity(self.deny)) == state.identity:
            return state
        return None

    def _refresh(self) -> tuple[_State | None, _Job | None, bool]:
        """Check the files and apply what can be applied now.

        Returns (state, None, False) when the policy is up to date (maybe after appends), or
        (None, job, mine) when a full recompile is needed: `mine` says the caller must run the
        new job; otherwise `job` is the one already under way.
        """
        with self._lock:
            self.fresh = _unknown  # (until installed or verified again: _arm)
            if not self._watch_tried:
                self._watch_tried = True
                self._watch = _shared_watch()
                if self._watch is not None:
                    self._wds = self._watch.watch((self.allow, self.deny))
                self.watching = self._wds is not None
            generation = -1
            watch = self._watch
            if watch is not None and self._wds is not None:
                generation = watch.generation()  # before the checks: later events show later
                if watch.lost(self._wds):
                    self._wds = watch.watch((self.allow, self.deny))  # re-watch, or give up
                    self.watching = self._wds is not None
            identity = (file_identity(self.allow), file_identity(self.deny))
            job = self._job
            if job is not None and identity == job.identity:
                return None, job, False
            state = self._state
            read_ns = time.time_ns()
            if state is not None and identity == state.identity:
                if not state.racy_until:
                    self._fresh(generation)
                    return state, None, False
                sources = (read_table(self.allow), read_table(self.deny))
                if sources == state.sources:
                    if read_ns > state.racy_until:
                        state = self._state = _State(
                            state.identity, state.sources, state.policy, 0, state.memo
                        )
                    self._fresh(generation)
                    return state, None, False
            else:
                sources = (
                    self._read(0, self.allow, identity, state),
                    self._read(1, self.deny, identity, state),
                )
            keep: tuple[Table | None, Table | None] = (None, None)
            if state is not None:
                if sources == state.sources:
                    fresh = self._install(identity, sources, state.policy, generation, read_ns)
                    return fresh, None, False
                old = state.policy
                keep = (
                    self._reuse(old.allow, state.sources[0], sources[0]),
                    self._reuse(old.deny, state.sources[1], sources[1]),
                )
                if keep[0] is not None and keep[1] is not None:
                    policy = Policy(keep[0], keep[1], self.language)
                    fresh = self._install(identity, sources, policy, generation, read_ns)
                    return fresh, None, False
            if job is not None:
                return None, job, False  # one compile at a time: the caller waits or serves
            job = self._job = _Job(identity, sources, keep, self._version, generation, read_ns)
            return None, job, True

    def _read(
        self, which: int, path: str, identity: tuple[Identity, Identity], state: _State | None
    ) -> TableSource:
        """The table's content; an unchanged table (same identity, not racy) is not re-read."""
        if state is not None and not state.racy_until and identity[which] == state.identity[which]:
            return state.sources[which]
        return read_table(path)

    def _reuse(self, table: Table, old: TableSource, new: TableSource) -> Table | None:
        """The table for `new` without a full compile (unchanged or appended), or None."""
        if new == old:
            return table
        return extend_table(table, old, new, self.language)

    def _compile_aside(self, job: _Job) -> None:
        # Thread.start() returns only once this thread runs; were it to compile at once, it
        # would hold the GIL and the caller of current() would wait a whole switch interval
        # (5 ms) to get it back. A short sleep lets the caller return first.
        time.sleep(0.001)
        self._compile(job)

    def _compile(self, job: _Job) -> None:
        """Run a full recompile and install its result unless something newer came first."""
        try:
            with paused_gc():
                allow, deny = (
                    kept if kept is not None else compile_table(source, self.language)
                    for kept, source in zip(job.keep, job.sources, strict=True)
                )
            policy = Policy(allow, deny, self.language)
            with self._lock:
                if self._version == job.version:
                    self._install(job.identity, job.sources, policy, job.generation, job.read_ns)
                self._job = None  # after the install: "not compiling" means the new one is in
                self._arm()
        finally:
            with self._lock:
                if self._job is job:
                    self._job = None
            job.done.set()

    def _install(
        self,
        identity: tuple[Identity, Identity],
        sources: tuple[TableSource, TableSource],
        policy: Policy,
        generation: int,
        read_ns: int,
    ) -> _State:
        """Make `policy` the current one (the lock is held)."""
        state = self._state
        newest = max((i[3] for i in identity if i is not None and i[0] >= 0), default=0)
        # Racy: a same-size edit within the file system's timestamp tick after our read
        # would not show in the identity; until the tick is surely over, compare contents.
        racy_until = newest + RACY_WINDOW_NS if read_ns - newest < RACY_WINDOW_NS else 0
        memo = state.memo if state is not None and policy is state.policy else {}
        fresh = self._state = _State(identity, sources, policy, racy_until, memo)
        self._version += 1  # a job begun before this would install an older view: it won't
        if generation >= 0:
            self._seen = generation
        self._arm()
        return fresh

    def _fresh(self, generation: int) -> None:
        """The installed state was found to match the files (the lock is held)."""
        if self._job is not None:
            self._version += 1  # the job compiles content that is gone: drop its result
        if generation >= 0:
            self._seen = generation
        self._arm()

    def _arm(self) -> None:
        """Set `fresh` for the installed state as verified at generation `_seen`, when
        snapshot()'s fast path would serve it (the lock is held)."""
        watch, state = self._watch, self._state
        if watch is not None and self._wds is not None and self._job is None and state is not None:
            self.fresh = watch.probe(self._seen, state)
        else:
            self.fresh = _unknown
