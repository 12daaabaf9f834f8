"""The wrapper's configuration: a small `key = value` file plus environment overrides.

What it does: `load_config()` reads `$TCPWRAP_CONFIG` (default /etc/tcpwrap/tcpd.conf, if it
exists), then applies `TCPWRAP_<KEY>` environment variables (inetd passes its environment to
the wrapper, so tests and one-off setups need no file). Keys: allow, deny, language
(options|classic), real_daemon_dir, dns_timeout, ident_timeout, ident_port, refuse_pause,
json_log, aclexec (documented|debian), user_option (drop|validate), facility.

Hazards: the file is root's; values are validated (numbers bounded, paths taken as given).
Errors: a bad value raises ConfigError naming the file:line (or the variable); the wrapper
then refuses the connection and logs why (fail closed).
"""

from __future__ import annotations

import os

from tcpwrap._record import field_names, record, replace
from tcpwrap.drivers.oserror import strerror
from tcpwrap.errors import ConfigError, Origin
from tcpwrap.policy.options import OPENLOG_FACILITIES
from tcpwrap.proto.ident import IDENT_PORT as IDENT_PORT  # re-exported with the other defaults

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_CONFIG = "/etc/tcpwrap/tcpd.conf"
# The one default of every program that does not configure its own (the wrapper, serve, the
# library, try-from; docs/lookup.md): the resolver's own give-up time is ~10 s (two tries of
# 5 s); a client, and the inetd slot it holds, should not wait that long for a name.
DNS_TIMEOUT = 5.0
RFC931_TIMEOUT = 10  # tcpd's ident default, until a rule's `rfc931 N` changes it


@record(frozen=True)
class WrapperConfig:
    allow: str = "/etc/hosts.allow"
    deny: str = "/etc/hosts.deny"
    language: str = "options"  # or "classic" (the paper's shell-command third field)
    real_daemon_dir: str = "/usr/sbin"
    dns_timeout: float = DNS_TIMEOUT  # the whole reverse + forward verification
    ident_timeout: int = RFC931_TIMEOUT  # the rfc931 option overrides it per rule
    ident_port: int = IDENT_PORT
    refuse_pause: float = 5.0  # tcpd's clean exit sleeps 5 s (protects inetd's respawn)
    json_log: str = ""  # a file to append one JSON line per connection to ("" = off)
    aclexec: str = "documented"  # or "debian" (docs/rules.md#aclexec)
    user_option: str = "drop"  # or "validate" (Debian: names checked, privileges kept)
    facility: str = "daemon"


_FLOATS = {"dns_timeout": (0.1, 300.0), "refuse_pause": (0.0, 60.0)}
_INTS = {"ident_timeout": (1, 300), "ident_port": (1, 65535)}
_CHOICES = {
    "language": ("options", "classic"),
    "aclexec": ("documented", "debian"),
    "user_option": ("drop", "validate"),
    "facility": tuple(OPENLOG_FACILITIES),
}
KEYS = field_names(WrapperConfig)


def _value(key: str, text: str, where: Origin | None, variable: str | None) -> object:
    place = variable or ""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{place + ': ' if place else ''}{key}: {why}: {text!r}", where)

    if key in _FLOATS:
        low, high = _FLOATS[key]
        try:
            number = float(text)
        except ValueError:
            raise bad("not a number") from None
        if not low <= number <= high:
            raise bad(f"must be between {low} and {high}")
        return number
    if key in _INTS:
        low_i, high_i = _INTS[key]
        if not text.isdigit() or not low_i <= int(text) <= high_i:
            raise bad(f"must be a whole number from {low_i} to {high_i}")
        return int(text)
    if key in _CHOICES and text not in _CHOICES[key]:
        raise bad("must be one of " + ", ".join(_CHOICES[key]))
    return text


def parse_config(text: str, path: str, base: WrapperConfig | None = None) -> WrapperConfig:
    values: dict[str, object] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = Origin(path, number)
        if "=" not in line:
            raise ConfigError("expected key = value", where)
        key, _, text_value = (part.strip() for part in line.partition("="))
        if key not in KEYS:
            raise ConfigError(f"unknown key {key!r}", where)
        values[key] = _value(key, text_value, where, None)
    return replace(base or WrapperConfig(), **values)


def load_config(environ: Mapping[str, str] | None = None) -> WrapperConfig:
    env = os.environ if environ is None else environ
    path = env.get("TCPWRAP_CONFIG", DEFAULT_CONFIG)
    config = WrapperConfig()
    try:
        with open(path, encoding="utf-8") as handle:
            config = parse_config(handle.read(64 * 1024), path)
    except FileNotFoundError:
        if "TCPWRAP_CONFIG" in env:
            raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: {strerror(exc)}") from None
    overrides = {
        key: _value(key, env[f"TCPWRAP_{key.upper()}"], None, f"TCPWRAP_{key.upper()}")
        for key in KEYS
        if f"TCPWRAP_{key.upper()}" in env
    }
    return replace(config, **overrides)
