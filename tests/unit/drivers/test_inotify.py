"""drivers.inotify and the PolicyCache fast path: edits are seen on the very next decision."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

import tcpwrap.drivers.tables as tables_module
from tcpwrap.drivers.inotify import shared_watch
from tcpwrap.drivers.tables import PolicyCache
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.match import evaluate


@pytest.fixture(autouse=True)
def _inotify_available() -> None:
    if shared_watch() is None:
        pytest.skip("no inotify instance to be had here (the per-user limit is 128)")


def _verdict(cache: PolicyCache, address: str) -> bool:
    return evaluate(cache.get(), Connection("sshd", Endpoint(addr=address))).granted


@pytest.fixture
def tables(tmp_path: Path) -> tuple[Path, Path]:
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    allow.write_text("sshd: 192.0.2.1\n")
    deny.write_text("ALL: ALL\n")
    return allow, deny


def test_generation_moves_only_when_something_happens(tables: tuple[Path, Path]) -> None:
    watch = shared_watch()
    assert watch is not None
    assert watch.watch(tuple(map(str, tables))) is not None
    first = watch.generation()
    assert watch.generation() == first
    tables[0].write_text("sshd: 192.0.2.9\n")
    second = watch.generation()
    assert second != first
    assert watch.generation() == second  # drained
    os.chmod(tables[1], 0o600)
    assert watch.generation() != second


def test_one_inotify_instance_for_many_caches(tmp_path: Path) -> None:
    before = _inotify_fds()
    caches = []
    for number in range(300):  # more than the kernel's 128 instances per user
        directory = tmp_path / f"t{number}"
        directory.mkdir()
        (directory / "a").write_text("sshd: 192.0.2.1\n")
        (directory / "d").write_text("ALL: ALL\n")
        cache = PolicyCache(str(directory / "a"), str(directory / "d"))
        assert _verdict(cache, "192.0.2.1")
        caches.append(cache)
    assert _inotify_fds() - before <= 1
    assert all(cache._wds is not None for cache in caches)  # every one on the fast path


def _inotify_fds() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += "inotify" in os.readlink(f"/proc/self/fd/{name}")
    return count


@pytest.mark.parametrize("how", ["rewrite same size", "rename over", "delete", "chmod 000"])
def test_cache_sees_every_kind_of_edit(tables: tuple[Path, Path], how: str) -> None:
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1") and not _verdict(cache, "192.0.2.2")
    assert cache._wds is not None  # the fast path is in use
    if how == "rewrite same size":
        allow.write_text("sshd: 192.0.2.2\n")  # same size, same second: only content differs
        assert not _verdict(cache, "192.0.2.1") and _verdict(cache, "192.0.2.2")
    elif how == "rename over":
        replacement = allow.with_name("new")
        replacement.write_text("sshd: 192.0.2.2\n")
        os.replace(replacement, allow)
        assert _verdict(cache, "192.0.2.2")
    elif how == "delete":
        deny.unlink()  # a missing deny table is empty: everything is granted
        assert _verdict(cache, "192.0.2.2")
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads mode-000 files")
        os.chmod(allow, 0)  # an unreadable allow table: its rule no longer grants
        assert not _verdict(cache, "192.0.2.1")


def test_lost_watch_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    directory = tmp_path / "etc"
    directory.mkdir()
    allow, deny = directory / "hosts.allow", directory / "hosts.deny"
    allow.write_text("sshd: 192.0.2.1\n")
    deny.write_text("ALL: ALL\n")
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    shutil.rmtree(directory)  # the watched directory goes away ...
    directory.mkdir()  # ... and comes back: the old watch is gone
    allow.write_text("sshd: 192.0.2.3\n")
    deny.write_text("ALL: ALL\n")
    assert not _verdict(cache, "192.0.2.1")
    assert _verdict(cache, "192.0.2.3")
    allow.write_text("sshd: 192.0.2.44\n")  # seen through the new watch
    assert _verdict(cache, "192.0.2.44")


def test_fast_path_relies_on_the_watch(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the racy-window re-reads, only the watch can tell the cache to look again."""
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    calls: list[str] = []
    real_identity = tables_module.file_identity
    monkeypatch.setattr(
        tables_module, "file_identity", lambda p: calls.append(p) or real_identity(p)
    )
    assert _verdict(cache, "192.0.2.1")
    assert calls == []  # nothing happened: no stat() at all
    allow.write_text("sshd: 192.0.2.22\n")
    assert not _verdict(cache, "192.0.2.1") and _verdict(cache, "192.0.2.22")
    assert calls  # the event made it check


def test_forked_child_has_its_own_queue(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child must not consume the parent's events (and vice versa)."""
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    pid = os.fork()
    if pid == 0:  # the child edits, decides (draining its own queue) and exits
        code = 1
        try:
            allow.write_text("sshd: 192.0.2.77\n")
            code = 0 if _verdict(cache, "192.0.2.77") else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _verdict(cache, "192.0.2.77")  # the parent still saw the child's edit


def test_forked_child_sees_every_edit(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Watches made before a fork belong to the parent's instance: the child makes its own."""
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0
            for number in range(70, 74):
                allow.write_text(f"sshd: 192.0.2.{number}\n")
                if not _verdict(cache, f"192.0.2.{number}"):
                    code = number
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_ancestor_watch(tmp_path: Path) -> None:
    watch = shared_watch()
    assert watch is not None
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    token = watch.watch((str(deep / "list"),), ancestors=True)
    assert token is not None and len(token) - 1 >= len(deep.parts) - 1
    first = watch.generation()
    (tmp_path / "a").chmod(0o700)  # two levels above the file
    assert watch.generation() != first


def test_racy_window_costs_nothing_while_watched(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Freshly written tables are compared by content only after an event, not per call."""
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    assert cache._state is not None and cache._state.racy_until  # just written: racy
    reads: list[str] = []
    real_read = tables_module.read_table
    monkeypatch.setattr(tables_module, "read_table", lambda p: reads.append(p) or real_read(p))
    for _ in range(5):
        assert _verdict(cache, "192.0.2.1")
    assert reads == []
    before = allow.stat()
    with open(allow, "r+") as handle:  # same size, same mtime: only the content tells
        handle.write("sshd: 192.0.2.3\n")
    os.utime(allow, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert _verdict(cache, "192.0.2.3") and not _verdict(cache, "192.0.2.1")
    assert reads  # the event made it compare


def test_fresh_answers_until_something_happens(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PolicyCache.fresh (hosts_ctl's first question): the verified state while the watch
    reports nothing, None after any event (snapshot() then verifies and arms it again)."""
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert cache.fresh() is None  # nothing verified yet
    state = cache.snapshot()
    assert cache.fresh() is state
    assert cache.fresh() is state
    allow.write_text("sshd: 192.0.2.5\n")
    assert cache.fresh() is None
    assert cache.fresh() is None  # (a probe never drains the queue: still None)
    newer = cache.snapshot()
    assert newer is not state and cache.fresh() is newer
    assert evaluate(newer.policy, Connection("sshd", Endpoint(addr="192.0.2.5"))).granted
    deny.chmod(0o600)
    assert cache.fresh() is None


def test_fresh_after_fork(tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe made before a fork answers None in the child (its instance is the parent's),
    before and after the child makes its own; then the child's snapshot() arms a new one."""
    monkeypatch.setattr(tables_module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    state = cache.snapshot()
    old_probe = cache.fresh
    assert old_probe() is state
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 2 if old_probe() is not None else 0
            again = cache.snapshot()  # makes the child's instance, verifies, arms
            if old_probe() is not None or cache.fresh() is not again:
                code = 3
            allow.write_text("sshd: 192.0.2.6\n")
            if cache.fresh() is not None:
                code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.fresh() is None  # the parent saw the child's edit too
