"""fleet.banlist: the in-memory bans and the ban-list files tcpd's `/file` patterns read."""

from __future__ import annotations

from pathlib import Path

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.fleet.banlist import Bans
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Connection, Endpoint, Verdict
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.rules import TableSource
from tcpwrap.proto.prefix import ban_token, overlaps, parse_networks, token_key


def test_tokens_are_tcpd_file_patterns() -> None:
    assert ban_token("192.0.2.7", 32, 64) == "192.0.2.7"
    assert ban_token("::ffff:192.0.2.7", 32, 64) == "192.0.2.7"
    assert ban_token("192.0.2.7", 24, 64) == "192.0.2.0/24"
    assert ban_token("2001:db8:1:2::99", 32, 64) == "[2001:db8:1:2::]/64"
    assert ban_token("a;rm -rf /", 32, 64) is None  # never a name, never a path
    assert ban_token("/etc/passwd", 32, 64) is None
    for token in ("192.0.2.7", "192.0.2.0/24", "[2001:db8:1:2::]/64"):
        assert token_key(token) is not None
    assert token_key("#") is None and token_key("example.com") is None


def test_ban_list_is_honoured_by_the_rule_engine(tmp_path: Path) -> None:
    """What we write is what a hosts.deny `ALL: /path` include matches (the same engine as
    tcpd's conformance suite checks against libwrap)."""
    path = tmp_path / "banned"
    bans = Bans(32, 64, 1000, lambda message: None)
    for address in ("192.0.2.7", "2001:db8:1:2::99"):
        assert bans.ban(address, 600, str(path), 1000.0) is not None
    assert path.read_text() == "192.0.2.7\n[2001:db8:1:2::]/64\n"
    policy = compile_policy(TableSource("allow", None),
                            TableSource("deny", f"ALL: {path}\n".encode()))  # fmt: skip

    def verdict(address: str) -> Verdict:
        connection = Connection("sshd", client=Endpoint(address, name="unknown"))
        return evaluate(policy, connection, env=SystemEnvironment()).verdict

    assert verdict("192.0.2.7") is Verdict.DENY
    assert verdict("2001:db8:1:2::1") is Verdict.DENY  # the whole /64
    assert verdict("192.0.2.8") is Verdict.GRANT
    assert verdict("2001:db8:1:3::1") is Verdict.GRANT


def test_memory_checks_prefixes_and_expiry(tmp_path: Path) -> None:
    bans = Bans(32, 64, 1000, lambda message: None)
    path = str(tmp_path / "b")
    bans.ban("2001:db8::5", 10, path, 100.0)
    assert bans.banned("2001:db8::77", 105.0)
    assert not bans.banned("2001:db9::77", 105.0)
    assert not bans.banned("2001:db8::77", 111.0)  # expired
    bans.ban("192.0.2.1", 10, path, 100.0)
    assert bans.banned("::ffff:192.0.2.1", 101.0)


def test_extend_prune_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "banned"
    path.write_text("10.9.9.9\n")  # someone else's entry: kept, never expires
    errors: list[str] = []
    bans = Bans(32, 64, 1000, errors.append)
    first = bans.ban("192.0.2.1", 10, str(path), 100.0)
    again = bans.ban("192.0.2.1", 50, str(path), 101.0)
    bans.ban("192.0.2.2", 100, str(path), 100.0)
    assert first is not None and first.new and again is not None and not again.new
    assert path.read_text().split() == ["10.9.9.9", "192.0.2.1", "192.0.2.2"]
    # a restart takes the bans over from the file and its .expires
    later = Bans(32, 64, 1000, errors.append)
    later.file(str(path), 120.0)
    assert later.banned("192.0.2.1", 120.0) and later.banned("192.0.2.2", 120.0)
    assert later.next_expiry() == 151.0
    assert later.prune(160.0) == ["192.0.2.1"]
    assert path.read_text().split() == ["10.9.9.9", "192.0.2.2"]
    assert (tmp_path / "banned.expires").read_text() == "192.0.2.2 200.000\n"
    assert not later.banned("192.0.2.1", 160.0)
    assert errors == []


def test_bounded(tmp_path: Path) -> None:
    bans = Bans(32, 64, 3, lambda message: None)
    for n in range(6):
        bans.ban(f"192.0.2.{n}", 100 + n, str(tmp_path / "b"), 0.0)
    assert len(bans.active) == 3
    assert bans.banned("192.0.2.5", 1.0) and not bans.banned("192.0.2.0", 1.0)


def test_unwritable_list_is_reported_ban_still_holds(tmp_path: Path) -> None:
    errors: list[str] = []
    bans = Bans(32, 64, 10, errors.append)
    bans.ban("192.0.2.1", 10, str(tmp_path / "missing-dir" / "banned"), 0.0)
    assert bans.banned("192.0.2.1", 1.0)
    assert errors and "No such file or directory" in errors[0]


def test_tokens_are_accepted_only_in_canonical_form() -> None:
    for token in ("010.1.1.1", "1.2.3.4/33", "[::1]", "1.2.3.4/24", "[2001:DB8::]/64",
                  "192.0.2.7 ", "", "x" * 100, "[2001:db8::1]/64"):
        assert token_key(token) is None, token
    assert token_key("1.2.3.0/24") == "1.2.3.0/24"
    assert token_key("[2001:db8::]/64") == "2001:db8::/64"


def test_fleet_apply_and_lift(tmp_path: Path) -> None:
    path = str(tmp_path / "banned")
    bans = Bans(32, 64, 100, lambda message: None)
    first = bans.apply("198.51.100.0/24", 500.0, path, 100.0)
    assert first is not None and first.new and bans.banned("198.51.100.9", 200.0)
    assert bans.apply("198.51.100.0/24", 400.0, path, 100.0) == first.__class__(
        "198.51.100.0/24", "198.51.100.0/24", 500.0, False)  # an earlier expiry changes nothing
    later = bans.apply("198.51.100.0/24", 900.0, path, 100.0)
    assert later is not None and later.expires == 900.0 and not later.new
    assert bans.apply("example.com", 900.0, path, 100.0) is None
    assert bans.apply("192.0.2.1", 50.0, path, 100.0) is None  # over already
    assert bans.lift("198.51.100.0/24") and not bans.banned("198.51.100.9", 200.0)
    assert (tmp_path / "banned").read_text() == ""
    assert not bans.lift("198.51.100.0/24")


def test_never_ban_networks() -> None:
    networks = parse_networks(["10.0.0.0/8", "[2001:db8:ffff::]/48", "192.0.2.7"])
    assert overlaps("10.1.2.3", networks) and overlaps("10.0.0.0/7", networks)
    assert overlaps("[2001:db8:ffff:1::]/64", networks) and overlaps("192.0.2.0/24", networks)
    assert not overlaps("11.0.0.1", networks) and not overlaps("[2001:db8::]/64", networks)


def test_many_bans_one_write_each_file_and_a_compacted_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "banned"
    bans = Bans(32, 64, 1_000_000, lambda message: None)
    tokens = [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(20_000)]
    results = bans.apply_many([(t, 1000.0 + n) for n, t in enumerate(tokens)], str(path), 0.0)
    assert all(r is not None and r.new for r in results)
    assert path.read_text().split() == tokens
    assert len((tmp_path / "banned.expires").read_text().splitlines()) == 20_000
    # extensions append one line each; the sidecar is compacted before it doubles
    for n in range(25_000):
        bans.apply(tokens[n % 100], 90_000.0 + n, str(path), 0.0)
    lines = (tmp_path / "banned.expires").read_text().splitlines()
    assert len(lines) <= 2 * 20_000 + 1000
    again = Bans(32, 64, 1_000_000, lambda message: None)
    restored = again.file(str(path), 0.0)
    assert restored.expiries[tokens[0]] == 90_000.0 + 24_900  # the last line for it won
    assert len(again.active) == 20_000
    assert bans.lift_many([*tokens[:10], "example.com"]) == tokens[:10]
    assert len(path.read_text().split()) == 19_990


def test_prune_skips_extended_and_lifted_bans(tmp_path: Path) -> None:
    path = str(tmp_path / "banned")
    bans = Bans(32, 64, 100, lambda message: None)
    bans.ban("192.0.2.1", 10, path, 0.0)
    bans.ban("192.0.2.2", 10, path, 0.0)
    bans.ban("192.0.2.3", 10, path, 0.0)
    bans.ban("192.0.2.1", 100, path, 5.0)  # extended to 105
    bans.lift("192.0.2.2")
    assert bans.next_expiry() == 10.0
    assert bans.prune(11.0) == ["192.0.2.3"]
    assert bans.banned("192.0.2.1", 50.0) and not bans.banned("192.0.2.2", 50.0)
    assert bans.next_expiry() == 105.0
    assert bans.prune(200.0) == ["192.0.2.1"] and bans.next_expiry() is None
