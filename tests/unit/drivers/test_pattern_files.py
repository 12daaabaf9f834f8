"""SystemEnvironment's `/file` lists: compiled once per file version, appends filed alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.patternfile import PatternFile
from tcpwrap.policy.rules import TableSource, compile_policy


def compiled(env: SystemEnvironment, path: Path) -> PatternFile:
    result = env.pattern_file(str(path))
    assert isinstance(result, PatternFile)
    return result


def test_unchanged_file_is_compiled_once(tmp_path: Path) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n192.0.2.2\n")
    env = SystemEnvironment()
    first = compiled(env, banned)
    assert first.tokens == ("192.0.2.1", "192.0.2.2")
    assert compiled(env, banned) is first


def test_append_files_only_the_new_tokens(tmp_path: Path) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n192.0.2.2\n")
    env = SystemEnvironment()
    first = compiled(env, banned)
    with banned.open("a") as handle:
        handle.write("192.0.2.3 .example.com\n")
    second = compiled(env, banned)
    assert second.tokens == ("192.0.2.1", "192.0.2.2", "192.0.2.3", ".example.com")
    assert second._index is first._index  # extended in place, not recompiled
    assert first.tokens == ("192.0.2.1", "192.0.2.2")  # the old version is unchanged


def test_append_that_continues_the_last_token_recompiles(tmp_path: Path) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1 192.0.2")  # no whitespace at the end
    env = SystemEnvironment()
    first = compiled(env, banned)
    with banned.open("a") as handle:
        handle.write(".7\n")
    second = compiled(env, banned)
    assert second.tokens == ("192.0.2.1", "192.0.2.7")
    assert second._index is not first._index


def test_rewrite_recompiles(tmp_path: Path) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n")
    env = SystemEnvironment()
    first = compiled(env, banned)
    banned.write_text("192.0.2.9\n192.0.2.8\n")
    second = compiled(env, banned)
    assert second.tokens == ("192.0.2.9", "192.0.2.8")
    assert first.tokens == ("192.0.2.1",)


def test_missing_directory_and_unreadable(tmp_path: Path) -> None:
    env = SystemEnvironment()
    assert env.pattern_file(str(tmp_path / "nothing")) is None
    assert compiled(env, tmp_path).tokens == ()  # a directory reads as empty
    assert env.pattern_file(str(tmp_path / "nothing" / "x")) is None
    if os.geteuid() != 0:
        secret = tmp_path / "secret"
        secret.write_text("192.0.2.1\n")
        env.pattern_file(str(secret))
        secret.chmod(0)
        assert env.pattern_file(str(secret)) == "Permission denied"  # opened every time


def test_decisions_follow_appends(tmp_path: Path) -> None:
    banned = tmp_path / "banned"
    banned.write_text("".join(f"10.0.{i >> 8}.{i & 255}\n" for i in range(5000)))
    policy = compile_policy(
        TableSource("hosts.allow", b""), TableSource("hosts.deny", f"ALL: {banned}\n".encode())
    )
    env = SystemEnvironment()

    def granted(address: str) -> bool:
        return evaluate(policy, Connection("sshd", Endpoint(addr=address)), env=env).granted

    assert not granted("10.0.3.7") and granted("192.0.2.50")
    with banned.open("a") as handle:
        handle.write("192.0.2.50\n")
    assert not granted("192.0.2.50")


@pytest.mark.parametrize("limit", [16, 17, 20])
def test_limit_applies_to_appends_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    import tcpwrap.drivers.environment as environment

    monkeypatch.setattr(environment, "PATTERN_FILE_LIMIT", limit)
    banned = tmp_path / "banned"
    banned.write_bytes(b"192.0.2.1 192.0.2.2")  # 19 bytes: the limit cuts into the last token
    env = SystemEnvironment()
    assert compiled(env, banned).tokens == tuple(b"192.0.2.1 192.0.2.2"[:limit].decode().split())
    with banned.open("ab") as handle:
        handle.write(b" 192.0.2.3\n")
    expected = tuple(banned.read_bytes()[:limit].decode().split())
    assert compiled(env, banned).tokens == expected  # as if read whole up to the limit
