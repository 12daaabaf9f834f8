"""PolicyCache: appends without recompiling, per-table recompiles, and the non-stalling
current() accessor (the previous policy while a full recompile runs in the background)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tcpwrap.drivers.tables as tables_module
from tcpwrap.drivers.gcpause import paused_gc
from tcpwrap.drivers.tables import PolicyCache, read_table
from tcpwrap.policy.compile import compile_table
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.rules import Language, Policy, Table, TableSource

DENY_LINES = 2_000


def denied(policy: Policy, address: str) -> bool:
    return not evaluate(policy, Connection("sshd", Endpoint(addr=address))).granted


def deny_text(count: int) -> str:
    return "".join(f"ALL: 10.{i >> 8 & 255}.{i & 255}.1\n" for i in range(count))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    allow, deny = tmp_path / "hosts.allow", tmp_path / "hosts.deny"
    allow.write_text("sshd: 192.0.2.1\n")
    deny.write_text(deny_text(DENY_LINES))
    return allow, deny


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the tables the cache compiles in full."""
    calls: list[str] = []

    def counting(source: TableSource, language: Language = Language.OPTIONS) -> Table:
        calls.append(source.path)
        return compile_table(source, language)

    monkeypatch.setattr(tables_module, "compile_table", counting)
    return calls


class Gate:
    """A full compile that waits until the test opens the gate."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.started = threading.Event()

    def __call__(self, source: TableSource, language: Language = Language.OPTIONS) -> Table:
        self.started.set()
        assert self.open.wait(10), "the test never opened the gate"
        return compile_table(source, language)


@pytest.fixture
def gate() -> Iterator[Gate]:
    installed = Gate()
    yield installed
    installed.open.set()  # never leave a compile thread waiting


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_append_extends_without_a_full_compile(
    files: tuple[Path, Path], compiles: list[str]
) -> None:
    allow, deny = files
    cache = PolicyCache(str(allow), str(deny))
    assert not denied(cache.get(), "192.0.2.99")
    assert sorted(compiles) == sorted([str(allow), str(deny)])
    with deny.open("a") as handle:
        handle.write("# banned by a script\nALL: 192.0.2.99\n")
    policy = cache.get()
    assert denied(policy, "192.0.2.99")
    assert len(compiles) == 2  # no full compile
    assert policy.deny.rules[-1].origin.line == DENY_LINES + 2
    full = compile_table(read_table(str(deny)))
    assert policy.deny == full and policy.deny.index == full.index
    assert cache.current() is policy  # nothing changed since


def test_only_the_changed_table_is_recompiled(
    files: tuple[Path, Path], compiles: list[str]
) -> None:
    allow, deny = files
    cache = PolicyCache(str(allow), str(deny))
    first = cache.get()
    allow.write_text("sshd: 192.0.2.2\n")  # a rewrite, not an append
    second = cache.get()
    assert compiles[2:] == [str(allow)]
    assert second.deny is first.deny
    assert evaluate(second, Connection("sshd", Endpoint(addr="192.0.2.2"))).granted


def test_current_serves_the_old_policy_while_a_full_compile_runs(
    files: tuple[Path, Path], gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow, deny = files
    cache = PolicyCache(str(allow), str(deny))
    old = cache.current()  # no policy yet: compiled inline
    assert not denied(old, "198.51.100.1")
    monkeypatch.setattr(tables_module, "compile_table", gate)
    deny.write_text("ALL: 198.51.100.1\n" + deny_text(DENY_LINES))  # not an append
    started = time.monotonic()
    assert cache.current() is old  # at once: the compile runs aside
    assert gate.started.wait(10)
    assert cache.compiling
    for _ in range(5):
        assert cache.current() is old
    assert time.monotonic() - started < 2
    results: list[Policy] = []
    waiter = threading.Thread(target=lambda: results.append(cache.get()))
    waiter.start()  # get() is exact: it waits for the compile
    time.sleep(0.1)
    assert not results
    gate.open.set()
    waiter.join(10)
    wait_until(lambda: not cache.compiling)
    new = cache.current()
    assert new is not old and denied(new, "198.51.100.1")
    assert results == [new]


def test_current_applies_appends_at_once(files: tuple[Path, Path], gate: Gate,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    allow, deny = files
    cache = PolicyCache(str(allow), str(deny))
    cache.get()
    monkeypatch.setattr(tables_module, "compile_table", gate)  # a full compile would hang
    with deny.open("a") as handle:
        handle.write("ALL: 203.0.113.7\n")
    assert denied(cache.current(), "203.0.113.7")
    assert not cache.compiling


def test_a_compile_of_content_gone_meanwhile_is_dropped(
    files: tuple[Path, Path], gate: Gate, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow, deny = files
    original = deny.read_text()
    cache = PolicyCache(str(allow), str(deny))
    old = cache.get()
    monkeypatch.setattr(tables_module, "compile_table", gate)
    deny.write_text("ALL: ALL\n")  # a rewrite: compiled in the background ...
    assert cache.current() is old
    assert gate.started.wait(10)
    deny.write_text(original + "ALL: 203.0.113.8\n")  # ... but now the old content + an append
    appended = cache.current()
    assert denied(appended, "203.0.113.8") and not denied(appended, "192.0.2.200")
    gate.open.set()
    wait_until(lambda: not cache.compiling)
    assert cache.current() is appended  # the finished compile of "ALL: ALL" was not installed
    assert cache.get() is appended


def test_paused_gc_nests_and_restores() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_read_table_limit_and_unsized_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "hosts.deny"
    table.write_bytes(b"ALL: 192.0.2.1\nALL: 192.0.2.2\n")
    assert read_table(str(table)).data == table.read_bytes()
    monkeypatch.setattr(tables_module, "TABLE_LIMIT", 10)
    assert read_table(str(table)).data == b"ALL: 192.0"
    monkeypatch.undo()
    status = read_table("/proc/self/status")  # st_size 0, yet it has content
    assert status.data is not None and b"Name:" in status.data
