"""SystemEnvironment's `/file` lists: compiled once per file version, appends filed alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Connection, Endpoint
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.patternfile import PatternFile
from tcpwrap.policy.rules import TableSource


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
    assert compiled(env, banned).tokens == _whole_tokens(banned.read_bytes(), limit)
    with banned.open("ab") as handle:
        handle.write(b" 192.0.2.3\n")
    first = compiled(env, banned)
    assert first.tokens == _whole_tokens(banned.read_bytes(), limit)  # as if read whole
    assert first.cut_at == limit


def _whole_tokens(data: bytes, limit: int) -> tuple[str, ...]:
    """The tokens wholly inside the first `limit` bytes (a token cut by the limit is left out)."""
    tokens = data[:limit].decode().split()
    if len(data) > limit and not data[limit : limit + 1].isspace() and data[:limit][-1:] != b" ":
        tokens = tokens[:-1]
    return tuple(tokens)


# --------------------------------------------------------------------------- the watch


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths SystemEnvironment opens (skips the test without inotify)."""
    from tcpwrap.drivers.inotify import shared_watch

    if shared_watch() is None:
        pytest.skip("no inotify instance to be had here")
    import tcpwrap.drivers.environment as environment

    opened: list[str] = []
    real_open = os.open

    def counting(path: str, flags: int, *args: int) -> int:
        opened.append(path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(environment.os, "open", counting)
    return opened


def test_unchanged_file_is_not_opened_again_while_watched(
    tmp_path: Path, watched: list[str]
) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n")
    env = SystemEnvironment()
    first = compiled(env, banned)  # opened (a one-shot process pays nothing more)
    assert compiled(env, banned) is first  # opened again, and watched from now on
    assert watched == [str(banned)] * 2
    for _ in range(3):
        assert compiled(env, banned) is first
    assert watched == [str(banned)] * 2  # nothing happened: not opened
    (tmp_path / "unrelated").write_text("x")  # an event in the directory: opened once more
    assert compiled(env, banned) is first
    assert compiled(env, banned) is first
    assert watched == [str(banned)] * 3


def _loop(path: Path) -> None:
    """Replace `path` by a symlink loop (opening it fails even for root)."""
    link = path.with_name("loop.tmp")
    link.symlink_to(path.name)  # `path` -> `path` once renamed into place
    os.replace(link, path)


@pytest.mark.parametrize(
    "how",
    ["same size, same mtime", "append", "rename over", "delete", "symlink loop",
     "directory on the way renamed", "chmod 000"],
)  # fmt: skip
def test_every_change_is_seen_on_the_next_call(
    tmp_path: Path, watched: list[str], how: str
) -> None:
    directory = tmp_path / "a" / "b"
    directory.mkdir(parents=True)
    banned = directory / "banned"
    banned.write_text("192.0.2.1\n")
    env = SystemEnvironment()
    path = str(banned)
    for _ in range(3):
        first = compiled(env, banned)
    opened = len(watched)
    expected: object
    if how == "same size, same mtime":
        before = banned.stat()
        with banned.open("r+") as handle:
            handle.write("192.0.2.9\n")
        os.utime(banned, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert banned.stat().st_mtime_ns == before.st_mtime_ns
        expected = ("192.0.2.9",)
    elif how == "append":
        with banned.open("a") as handle:
            handle.write("192.0.2.2\n")
        expected = ("192.0.2.1", "192.0.2.2")
    elif how == "rename over":
        replacement = directory / "new"
        replacement.write_text("192.0.2.3\n")
        os.replace(replacement, banned)
        expected = ("192.0.2.3",)
    elif how == "delete":
        banned.unlink()
        expected = None
    elif how == "symlink loop":
        _loop(banned)
        expected = "Too many levels of symbolic links"
    elif how == "directory on the way renamed":
        (tmp_path / "a").rename(tmp_path / "old")
        directory.mkdir(parents=True)
        banned.write_text("192.0.2.4 192.0.2.5\n")
        expected = ("192.0.2.4", "192.0.2.5")
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads mode-000 files")
        banned.chmod(0)
        expected = "Permission denied"
    for _ in range(2):  # seen at once, and kept
        result = env.pattern_file(path)
        if isinstance(result, PatternFile):
            assert result is not first
            result = result.tokens
        assert result == expected
    assert len(watched) == opened + 1  # opened once after the change, then reused


def test_error_outcome_is_reused_and_cleared(tmp_path: Path, watched: list[str]) -> None:
    banned = tmp_path / "banned"
    _loop(banned)
    env = SystemEnvironment()
    for _ in range(3):
        assert env.pattern_file(str(banned)) == "Too many levels of symbolic links"
    assert len(watched) == 2
    banned.unlink()
    assert env.pattern_file(str(banned)) is None
    banned.write_text("192.0.2.1\n")
    assert compiled(env, banned).tokens == ("192.0.2.1",)


def test_unwatchable_path_is_opened_every_time(tmp_path: Path, watched: list[str]) -> None:
    env = SystemEnvironment()
    missing = str(tmp_path / "no" / "such" / "list")
    for _ in range(3):
        assert env.pattern_file(missing) is None
    assert watched == [missing] * 3


def test_racy_rewrite_is_seen_without_the_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tcpwrap.drivers.inotify as inotify

    monkeypatch.setattr(inotify, "shared_watch", lambda: None)
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n")
    env = SystemEnvironment()
    first = compiled(env, banned)
    before = banned.stat()
    with banned.open("r+") as handle:
        handle.write("192.0.2.7\n")
    os.utime(banned, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert compiled(env, banned).tokens == ("192.0.2.7",)
    assert first.tokens == ("192.0.2.1",)


def test_forked_child_watches_for_itself(tmp_path: Path, watched: list[str]) -> None:
    banned = tmp_path / "banned"
    banned.write_text("192.0.2.1\n")
    env = SystemEnvironment()
    for _ in range(3):
        compiled(env, banned)
    pid = os.fork()
    if pid == 0:  # every edit made in the child is seen by the child
        code = 1
        try:
            code = 0
            for number in range(2, 5):
                banned.write_text(f"192.0.2.{number}\n")
                if compiled(env, banned).tokens != (f"192.0.2.{number}",):
                    code = number
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert compiled(env, banned).tokens == ("192.0.2.4",)  # and by the parent


# --------------------------------------------------------------------------- over the cap
# issue 12 item 10: a list longer than PATTERN_FILE_LIMIT says so (file:line) and fails
# closed: what could not be read is a match where a match denies, and none where it grants.


@pytest.fixture
def cut_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import tcpwrap.drivers.environment as environment

    monkeypatch.setattr(environment, "PATTERN_FILE_LIMIT", 28)
    banned = tmp_path / "banned"
    banned.write_bytes(b"192.0.2.1 192.0.2.2\n192.0.2.33 192.0.2.4\n")  # cut inside 192.0.2.33
    return banned


def test_a_cut_list_keeps_whole_tokens_and_says_where_it_was_cut(cut_list: Path) -> None:
    env = SystemEnvironment()
    result = compiled(env, cut_list)
    assert result.tokens == ("192.0.2.1", "192.0.2.2")  # not "192.0.2.3": a cut token
    assert result.cut_at == 28
    assert compiled(env, cut_list) is result


@pytest.mark.parametrize(
    ("allow", "deny", "client", "verdict", "taken"),
    [
        ("", "ALL: {list}\n", "192.0.2.4", "deny", "a match"),  # libwrap denies it too
        ("", "ALL: {list}\n", "192.0.2.1", "deny", None),  # found in the part read
        ("sshd: {list}\n", "ALL: ALL\n", "192.0.2.4", "deny", "no match"),  # never granted
        # the EXCEPT of a grant takes the rest as a match: not granted here (the empty deny
        # table then grants, as for any client this rule does not grant)
        ("sshd: ALL EXCEPT {list}\n", "", "192.0.2.9", "grant", "a match"),
        ("sshd: ALL EXCEPT {list}\n", "ALL: ALL\n", "192.0.2.9", "deny", "a match"),
        ("", "ALL: ALL EXCEPT {list}\n", "192.0.2.9", "deny", "no match"),
    ],
)
def test_a_cut_list_fails_closed_with_a_warning(
    cut_list: Path, allow: str, deny: str, client: str, verdict: str, taken: str | None
) -> None:
    policy = compile_policy(
        TableSource("hosts.allow", allow.format(list=cut_list).encode()),
        TableSource("hosts.deny", deny.format(list=cut_list).encode()),
    )
    decision = evaluate(policy, Connection("sshd", Endpoint(client)), env=SystemEnvironment())
    assert decision.verdict.name.lower() == verdict
    warnings = [d.render() for d in decision.diagnostics if "pattern file" in d.message]
    if taken is None:
        assert warnings[1:] == []
    else:
        table = "hosts.allow" if allow else "hosts.deny"
        assert warnings[0] == (
            f"warning: {table}, line 1: {cut_list}: longer than 28 bytes, the most tcpwrap "
            f"reads of a pattern file: the rest is not read, and a client not found in the "
            f"part read is taken as {taken} here (fail closed)"
        )


def test_hosts_ctl_fails_closed_on_a_cut_list(cut_list: Path, tmp_path: Path) -> None:
    import tcpwrap

    (tmp_path / "a").write_text("")
    (tmp_path / "d").write_text(f"ALL: {cut_list}\n")
    for client, granted in (("192.0.2.4", False), ("192.0.2.1", False), ("198.51.100.1", False)):
        assert tcpwrap.hosts_ctl("sshd", "", client, allow=str(tmp_path / "a"),
                                 deny=str(tmp_path / "d")) is granted  # fmt: skip


@pytest.mark.oracle
def test_libwrap_denies_what_lies_beyond_the_cap_too(cut_list: Path, tmp_path: Path) -> None:
    # libwrap reads the whole list: 192.0.2.4 (after the cut) is denied there; tcpwrap denies
    # it because it fails closed (test_hosts_ctl_fails_closed_on_a_cut_list)
    from harness.oracle import libwrap_ctl

    module = libwrap_ctl()
    (tmp_path / "a").write_text("")
    (tmp_path / "d").write_text(f"ALL: {cut_list}\n")
    wrap = module.LibWrap(str(tmp_path / "a"), str(tmp_path / "d"))
    assert wrap.ctl("sshd", "unknown", "192.0.2.4") == "denied"
