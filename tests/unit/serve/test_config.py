"""serve.config: the TOML configuration, every error naming file, key and line."""

from __future__ import annotations

import pytest

from tcpwrap.errors import ConfigError
from tcpwrap.serve.config import (
    ListenAddress,
    ServeConfig,
    parse_config,
    parse_listen,
    with_overrides,
)

FULL = """\
[serve]
inetd_conf = "/etc/inetd.conf"
wrap = "all"
backlog = 64

[tables]
allow = "/srv/hosts.allow"
language = "classic"

[lookups]
dns_timeout = 2
cache_ttl = 30

[log]
json = "/var/log/tcpwrap.jsonl"
syslog = false

[limits]
rate = 5.5
per_source = 4

[metrics]
listen = "127.0.0.1:9911"
control = "/run/tcpwrap.sock"

[[trap]]
listen = ["127.0.0.1:7991", "udp:127.0.0.1:7991", "[::1]:7992"]
spawn = "/bin/echo %a >> /tmp/hits"
ban_seconds = 600
ban_list = "/var/lib/tcpwrap/banned"

[[trap]]
listen = "0.0.0.0:23"
daemon = "telnet-trap"
"""


def test_every_section() -> None:
    config = parse_config(FULL, "serve.toml")
    assert config.path == "serve.toml"
    assert (config.inetd_conf, config.wrap, config.backlog) == ("/etc/inetd.conf", "all", 64)
    assert (config.allow, config.deny, config.language) == (
        "/srv/hosts.allow", "/etc/hosts.deny", "classic")
    assert config.lookups.dns_timeout == 2.0 and config.lookups.cache_ttl == 30.0
    assert config.lookups.ident_timeout == 10  # default kept
    assert config.log.json == "/var/log/tcpwrap.jsonl" and config.log.syslog is False
    assert config.limits.rate == 5.5 and config.limits.per_source == 4
    assert config.metrics.listen == "127.0.0.1:9911"
    first, second = config.traps
    assert first.listen == (
        ListenAddress("tcp", "127.0.0.1", 7991),
        ListenAddress("udp", "127.0.0.1", 7991),
        ListenAddress("tcp", "::1", 7992),
    )
    assert (first.ban_seconds, first.spawn_interval, first.daemon) == (600.0, 60.0, "trap")
    assert first.origin is not None and first.origin.line == 26
    assert second.listen == (ListenAddress("tcp", "0.0.0.0", 23),)
    assert second.daemon == "telnet-trap" and second.ban_list is None


def test_empty_file_is_the_defaults() -> None:
    assert parse_config("", "x.toml") == ServeConfig(path="x.toml")


@pytest.mark.parametrize(("text", "message"), [
    ("[limits]\nrate = -1\n", "x.toml, line 2: [limits] rate: must be a number from 0.01"),
    ("[limits]\n\nburst = 1.5\n", "x.toml, line 3: [limits] burst: must be a whole number"),
    ("[limits]\nrate = true\n", "x.toml, line 2: [limits] rate: must be a number"),
    ("[serve]\nwrap = \"some\"\n", 'x.toml, line 2: [serve] wrap: must be one of "tcpd", "all"'),
    ("[tables]\nallow = \"relative\"\n", "[tables] allow: must be an absolute path"),
    ("[log]\nverbose = true\n", "x.toml, line 2: [log] verbose: unknown key (known: "),
    ("[logs]\njson = \"/x\"\n", "x.toml, line 1: unknown section [logs]"),
    ("[metrics]\nlisten = \"udp:127.0.0.1:9\"\n", "the metrics endpoint is TCP"),
    ("[metrics]\nlisten = \"example.com:9\"\n", "the host must be a numeric address"),
    ("[[trap]]\nspawn = \"x\"\n", "x.toml, line 1: [trap]: listen is required"),
    ("[[trap]]\nlisten = []\n", "[trap] listen: must be a list of 1 to 4096 addresses"),
    ("[[trap]]\nlisten = [\"1.2.3.4:0\"]\n", "the port must be from 1 to 65535"),
    ("[[trap]]\nlisten = [\"::1:7\"]\n", "IPv6 as [ADDR]:PORT"),
    ("[[trap]]\nlisten = [\"1.2.3.4:7\"]\n[[trap]]\nlisten = [\"1.2.3.4:8\"]\nban_seconds = 5\n",
     "x.toml, line 3: [trap]: ban_seconds and ban_list go together"),
    ("[[trap]]\nlisten = [\"1.2.3.4:7\"]\ndaemon = \"a b\"\n", "x.toml, line 3: [trap] daemon"),
    ("[trap]\nlisten = [\"1.2.3.4:7\"]\n", "write trap tables as [[trap]]"),
    ("[limits\nrate = 1\n", "x.toml: not valid TOML"),
])
def test_errors_name_file_key_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.toml")
    assert message in str(info.value), str(info.value)


def test_parse_listen() -> None:
    assert parse_listen("udp:[2001:db8::1]:53") == ListenAddress("udp", "2001:db8::1", 53)
    assert parse_listen("tcp:localhost:7") == ListenAddress("tcp", "localhost", 7)
    assert str(ListenAddress("udp", "::1", 9)) == "udp:[::1]:9"


def test_command_line_over_the_file() -> None:
    config = parse_config(FULL, "serve.toml")
    changed = with_overrides(config, allow="/a", listen="127.0.0.1:1", log={"stdout": True})
    assert changed.allow == "/a" and changed.deny == "/etc/hosts.deny"
    assert changed.metrics.listen == "127.0.0.1:1"
    assert changed.metrics.control == "/run/tcpwrap.sock"
    assert changed.log.stdout is True and changed.log.json == "/var/log/tcpwrap.jsonl"
    with pytest.raises(ConfigError, match="--metrics"):
        with_overrides(config, listen="nowhere")
