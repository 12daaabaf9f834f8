"""config: the wrapper's `key = value` file and TCPWRAP_<KEY> overrides, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpwrap.drivers.config import WrapperConfig, load_config, parse_config
from tcpwrap.errors import ConfigError


def test_defaults_are_tcpds() -> None:
    config = WrapperConfig()
    assert (config.allow, config.deny, config.real_daemon_dir) == (
        "/etc/hosts.allow", "/etc/hosts.deny", "/usr/sbin",
    )  # fmt: skip
    assert config.ident_timeout == 10 and config.refuse_pause == 5.0
    assert config.language == "options" and config.facility == "daemon"


def test_file_values_are_typed_and_comments_skipped() -> None:
    text = "# comment\n\nallow = /x/allow\ndns_timeout = 2.5\nident_port=1113\nfacility = auth\n"
    config = parse_config(text, "/etc/tcpwrap/tcpd.conf")
    assert config.allow == "/x/allow" and config.dns_timeout == 2.5
    assert config.ident_port == 1113 and config.facility == "auth"
    assert config.deny == "/etc/hosts.deny"  # untouched keys keep their defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("allow /x\n", "/c, line 1: expected key = value"),
        ("\n# c\ncolour = red\n", "/c, line 3: unknown key 'colour'"),
        ("dns_timeout = soon\n", "/c, line 1: dns_timeout: not a number: 'soon'"),
        ("dns_timeout = 1000\n", "/c, line 1: dns_timeout: must be between 0.1 and 300.0: '1000'"),
        ("ident_port = 0\n", "/c, line 1: ident_port: must be a whole number from 1 to 65535: '0'"),
        ("ident_timeout = -1\n", "/c, line 1: ident_timeout: must be a whole number from 1 to 300"),
        ("language = perl\n", "/c, line 1: language: must be one of options, classic: 'perl'"),
        ("facility = kern\n", "/c, line 1: facility: must be one of"),
    ],
)
def test_bad_lines_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "/c")
    assert str(caught.value).startswith(message)


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tcpd.conf"
    path.write_text("deny = /from/file\nrefuse_pause = 1\n")
    config = load_config({"TCPWRAP_CONFIG": str(path), "TCPWRAP_REFUSE_PAUSE": "0"})
    assert config.deny == "/from/file" and config.refuse_pause == 0.0


def test_a_bad_variable_is_named(tmp_path: Path) -> None:
    path = tmp_path / "tcpd.conf"
    path.write_text("")
    with pytest.raises(ConfigError, match="TCPWRAP_ACLEXEC: aclexec: must be one of"):
        load_config({"TCPWRAP_CONFIG": str(path), "TCPWRAP_ACLEXEC": "x"})


def test_a_named_missing_file_is_an_error_the_default_is_not(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config({"TCPWRAP_CONFIG": str(tmp_path / "absent")})
    assert load_config({}) == WrapperConfig() or Path("/etc/tcpwrap/tcpd.conf").exists()


def test_an_unreadable_file_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Is a directory"):
        load_config({"TCPWRAP_CONFIG": str(tmp_path)})
