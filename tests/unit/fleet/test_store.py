"""fleet.store and fleet.settings: what is read back from Redis is data, checked to the letter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tcpwrap.fleet.settings import FleetConfig, SiteKeys, shown_url
from tcpwrap.fleet.store import Event, parse_ban, parse_event


def test_parse_ban() -> None:
    assert parse_ban(b"192.0.2.7", 1.5e9) == ("192.0.2.7", 1.5e9)
    assert parse_ban(b"[2001:db8::]/64", b"1e9") == ("[2001:db8::]/64", 1e9)
    for member in (
        b"; rm -rf /",
        b"x" * 1000,
        b"example.com",
        b"/etc/passwd",
        b"1.2.3.4\n",
        b"\xff\xfe",
        "192.0.2.7",
        None,
    ):
        problem = parse_ban(member, 1.0)
        assert isinstance(problem, str) and "not a ban token" in problem and len(problem) < 150
    assert isinstance(parse_ban(b"192.0.2.7", float("inf")), str)
    assert isinstance(parse_ban(b"192.0.2.7", "soon"), str)


def test_parse_event() -> None:
    ban = {
        b"kind": b"ban",
        b"token": b"192.0.2.7",
        b"node": b"a",
        b"time": b"100.5",
        b"expires": b"700",
        b"reason": b"trap 127.0.0.1:23/tcp",
    }
    assert parse_event(b"1-0", ban) == Event(
        "1-0", "ban", "192.0.2.7", "a", 100.5, 700.0, "trap 127.0.0.1:23/tcp"
    )
    hit = {
        b"kind": b"hit",
        b"token": b"192.0.2.7",
        b"node": b"a",
        b"time": b"1",
        b"record": b'{"x": 1}',
    }
    assert parse_event(b"2-0", hit).record == '{"x": 1}'  # type: ignore[union-attr]
    assert parse_event(b"3-0", {**hit, b"record": b"x" * 5000}).record is None  # type: ignore[union-attr]
    unban = {b"kind": b"unban", b"token": b"192.0.2.7", b"node": b"a", b"time": b"1"}
    assert parse_event(b"4-0", unban).kind == "unban"  # type: ignore[union-attr]
    hostile = [
        ({**ban, b"kind": b"exec"}, "unknown kind"),
        ({**ban, b"token": b"$(reboot)"}, "not a ban token"),
        ({**ban, b"node": b"a;b"}, "bad node name"),
        ({**ban, b"node": b"n" * 65}, "bad node name"),
        ({**ban, b"time": b"nan"}, "bad time"),
        ({**ban, b"expires": b"later"}, "bad expiry"),
    ]
    for fields, problem in hostile:
        found = parse_event(b"9-0", fields)
        assert isinstance(found, str) and problem in found, (fields, found)
    weird = parse_event(b"5-0", {**ban, b"reason": b"\x1b[31mred\x07"})
    assert isinstance(weird, Event) and "\x1b" not in weird.reason


@given(st.dictionaries(st.binary(max_size=10), st.binary(max_size=80), max_size=8), st.binary())
def test_parse_event_never_raises(fields: dict[bytes, bytes], entry_id: bytes) -> None:
    result = parse_event(entry_id, fields)
    assert isinstance(result, (str, Event))
    if isinstance(result, str):
        assert "\n" not in result


def test_urls_never_show_credentials() -> None:
    assert shown_url("redis://user:s3cret@redis.example:6380/2") == "redis://redis.example:6380/2"
    assert shown_url("rediss://:pw@[2001:db8::1]:6379/0") == "rediss://[2001:db8::1]:6379/0"
    assert "s3cret" not in FleetConfig(redis="redis://u:s3cret@h/0").shown_url()


def test_password_from_file_or_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    config = FleetConfig(redis="redis://h/0", password_file=str(secret), username="fleet")
    options = config.client_options()
    assert options["password"] == "hunter2" and options["username"] == "fleet"
    monkeypatch.setenv("TCPWRAP_REDIS_PASSWORD", "from-env")
    assert FleetConfig(redis="redis://h/0").client_options()["password"] == "from-env"
    tls = FleetConfig(redis="rediss://h/0", tls_ca="/ca.pem", tls_verify=False).client_options()
    assert tls["ssl_ca_certs"] == "/ca.pem" and tls["ssl_cert_reqs"] == "none"
    assert SiteKeys("lab").bans == "tcpwrap:lab:bans"
    assert SiteKeys("lab").hits("192.0.2.7") == "tcpwrap:lab:hits:192.0.2.7"
