"""drivers.inotify and the PolicyCache fast path: edits are seen on the very next decision."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tcpwrap.drivers.inotify import DirectoryWatch
from tcpwrap.drivers.tables import PolicyCache
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.match import evaluate


def _verdict(cache: PolicyCache, address: str) -> bool:
    return evaluate(cache.get(), Connection("sshd", Endpoint(addr=address))).granted


@pytest.fixture
def tables(tmp_path: Path) -> tuple[Path, Path]:
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    allow.write_text("sshd: 192.0.2.1\n")
    deny.write_text("ALL: ALL\n")
    return allow, deny


def test_watch_reports_nothing_until_something_happens(tables: tuple[Path, Path]) -> None:
    watch = DirectoryWatch.create(tuple(map(str, tables)))
    assert watch is not None
    assert not watch.changed()
    tables[0].write_text("sshd: 192.0.2.9\n")
    assert watch.changed()
    assert not watch.changed()  # drained
    os.chmod(tables[1], 0o600)
    assert watch.changed()
    watch.close()


@pytest.mark.parametrize("how", ["rewrite same size", "rename over", "delete", "chmod 000"])
def test_cache_sees_every_kind_of_edit(tables: tuple[Path, Path], how: str) -> None:
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1") and not _verdict(cache, "192.0.2.2")
    assert cache._watch is not None  # the fast path is in use
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
        os.chmod(deny, 0)
        assert not _verdict(cache, "192.0.2.1")  # unreadable deny table: fail closed


def test_lost_watch_falls_back_to_identity_checks(tmp_path: Path) -> None:
    directory = tmp_path / "etc"
    directory.mkdir()
    allow, deny = directory / "hosts.allow", directory / "hosts.deny"
    allow.write_text("sshd: 192.0.2.1\n")
    deny.write_text("ALL: ALL\n")
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    shutil.rmtree(directory)  # the watched directory goes away ...
    directory.mkdir()  # ... and comes back: no watch covers it any more
    allow.write_text("sshd: 192.0.2.3\n")
    deny.write_text("ALL: ALL\n")
    assert not _verdict(cache, "192.0.2.1")
    assert _verdict(cache, "192.0.2.3")
    allow.write_text("sshd: 192.0.2.4\n")  # still followed, by identity and content
    assert _verdict(cache, "192.0.2.4")


def test_fast_path_relies_on_the_watch(
    tables: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the racy-window re-reads, only the watch can tell the cache to look again."""
    import tcpwrap.drivers.tables as module

    monkeypatch.setattr(module, "RACY_WINDOW_NS", 0)
    allow, deny = tables
    cache = PolicyCache(str(allow), str(deny))
    assert _verdict(cache, "192.0.2.1")
    calls: list[str] = []
    real_identity = module._identity
    monkeypatch.setattr(module, "_identity", lambda p: calls.append(p) or real_identity(p))
    assert _verdict(cache, "192.0.2.1")
    assert calls == []  # nothing happened: no stat() at all
    allow.write_text("sshd: 192.0.2.22\n")
    assert not _verdict(cache, "192.0.2.1") and _verdict(cache, "192.0.2.22")
    assert calls  # the event made it check
