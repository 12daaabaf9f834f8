"""`tcpwrap fleet`: the site's shared bans by hand, and the agent for hosts without serve.

What it does: `tcpwrap fleet ban ADDR [--for 1h]` bans an address (or a network) on every node
of the site, `unban ADDR` lifts it, `list [--json]` shows the bans in force; `sync` runs the
fleet agent (`fleet.agent`) without a server, keeping a local ban-list file in step with Redis
so the classic wrapper and libwrap-linked daemons of a host honour the site's bans (`--once`:
one sync, for cron). The Redis URL, site and node come from serve's configuration file
(`--config`, its `[fleet]` and `[bans]` sections) or from `--redis/--site/--node`; the
password from `[fleet] password_file` or `$TCPWRAP_REDIS_PASSWORD`, never from the command
line (every user can read it in /proc).

Errors: exit status 0 on success, 1 when Redis cannot be reached or the address is refused
(never-ban list, not an address), 2 on usage and configuration errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import re
import signal
import sys
import time
from typing import Any

from tcpwrap.errors import ConfigError
from tcpwrap.fleet.settings import FleetConfig
from tcpwrap.proto.prefix import Network, ban_token, overlaps, parse_networks, token_network

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="serve's TOML file ([fleet], [bans])")
    parser.add_argument("--redis", metavar="URL", help="redis://HOST:PORT/DB (no password here)")
    parser.add_argument("--site", metavar="NAME", help="the site (default: the config's)")
    parser.add_argument("--node", metavar="NAME", help="this node's name (default: host name)")
    sub = parser.add_subparsers(dest="action", required=True)
    ban = sub.add_parser("ban", help="ban an address or network on every node of the site")
    ban.add_argument("address", help="an address (banned at [bans] prefix) or a network")
    ban.add_argument("--for", dest="duration", default="1h", help="e.g. 600, 90s, 10m, 1h, 2d")
    ban.add_argument("--reason", default="manual", help="recorded with the ban")
    unban = sub.add_parser("unban", help="lift a ban on every node of the site")
    unban.add_argument("address", help="the address or network that was banned")
    listing = sub.add_parser("list", help="the bans in force")
    listing.add_argument("--json", action="store_true", help="as JSON")
    sync = sub.add_parser("sync", help="keep a local ban-list file in step with the site")
    sync.add_argument("--ban-list", metavar="FILE", help="the local list (default: [fleet])")
    sync.add_argument("--once", action="store_true", help="one sync, then exit")


def duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"--for {text!r}: expected a duration such as 600, 90s, 10m, 1h, 2d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _settings(args: argparse.Namespace) -> tuple[FleetConfig, int, int, tuple[Network, ...]]:
    import dataclasses

    v4, v6 = 32, 64
    never: tuple[Network, ...] = ()
    fleet: FleetConfig | None = None
    if args.config:
        from tcpwrap.serve.config import load_config

        config = load_config(args.config)
        fleet = config.fleet
        v4, v6 = config.bans.prefix_v4, config.bans.prefix_v6
        never = parse_networks(list(config.bans.never_ban))
        if fleet is None and not args.redis:
            raise ConfigError(f"{args.config}: no [fleet] section (or give --redis)")
    if args.redis:
        if not args.redis.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"--redis {args.redis!r}: expected redis://HOST:PORT/DB")
        if "@" in args.redis.split("//", 1)[-1].split("/", 1)[0]:
            raise ConfigError(
                "--redis: no credentials on the command line (every user can "
                "read it); use [fleet] password_file or TCPWRAP_REDIS_PASSWORD"
            )
        fleet = (
            dataclasses.replace(fleet, redis=args.redis)
            if fleet is not None
            else FleetConfig(redis=args.redis)
        )
    if fleet is None:
        raise ConfigError("name the site's Redis: --config FILE (with [fleet]) or --redis URL")
    changes = {k: v for k, v in (("site", args.site), ("node", args.node)) if v}
    for key, value in changes.items():
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", value):
            raise ConfigError(f"--{key} {value!r}: 1-64 letters, digits, '.', '_' or '-'")
    return dataclasses.replace(fleet, **changes), v4, v6, never


def token_of(address: str, v4: int, v6: int) -> str | None:
    """An address (at the ban prefixes) or an explicit network -> its canonical token."""
    text = address.strip()
    if "/" in text:
        try:
            network = ipaddress.ip_network(text.strip("[]").replace("]/", "/"), strict=False)
        except ValueError:
            return None
        if network.version == 6:
            token = f"[{network.network_address}]/{network.prefixlen}"
        elif network.prefixlen == 32:
            token = str(network.network_address)
        else:
            token = f"{network.network_address}/{network.prefixlen}"
        return token if token_network(token) is not None else None
    return ban_token(text.strip("[]"), v4, v6)


def run(args: argparse.Namespace) -> int:
    try:
        fleet, v4, v6, never = _settings(args)
        if args.action == "sync":
            return _sync(args, fleet, v4, v6, never)
        return asyncio.run(_once(args, fleet, v4, v6, never))
    except ConfigError as exc:
        sys.stderr.write(f"tcpwrap fleet: {exc}\n")
        return 2


async def _once(
    args: argparse.Namespace, fleet: FleetConfig, v4: int, v6: int, never: tuple[Network, ...]
) -> int:
    from tcpwrap.fleet.agent import connect
    from tcpwrap.fleet.store import FleetStore, parse_ban

    token: str | None = None
    if args.action in ("ban", "unban"):
        token = token_of(args.address, v4, v6)
        if token is None:
            sys.stderr.write(f"tcpwrap fleet: {args.address!r} is not an address or a network\n")
            return 1
        if args.action == "ban" and overlaps(token, never):
            sys.stderr.write(f"tcpwrap fleet: {token} covers the never-ban list ([bans])\n")
            return 1
    seconds = duration(args.duration) if args.action == "ban" else 0.0
    client = connect(fleet)
    try:
        store = FleetStore(client, fleet)
        if args.action == "ban":
            assert token is not None
            expiry = await store.ban(token, seconds, fleet.node, args.reason, growth=1.0)
            sys.stdout.write(f"banned {token} until {_iso(expiry)} on site {fleet.site}\n")
        elif args.action == "unban":
            assert token is not None
            if not await store.unban(token, fleet.node, time.time()):
                sys.stdout.write(f"{token} was not banned on site {fleet.site}\n")
                return 1
            sys.stdout.write(f"lifted the ban of {token} on site {fleet.site}\n")
        else:
            now = time.time()
            rows: list[dict[str, Any]] = []
            for member, score in await store.bans(now, 10_000_000):
                parsed = parse_ban(member, score)
                if isinstance(parsed, str):
                    sys.stderr.write(f"tcpwrap fleet: skipped {parsed}\n")
                    continue
                rows.append(
                    {
                        "token": parsed[0],
                        "expires": parsed[1],
                        "expires_at": _iso(parsed[1]),
                        "remaining": round(parsed[1] - now, 1),
                    }
                )
            rows.sort(key=lambda row: row["expires"])
            if args.json:
                sys.stdout.write(json.dumps({"site": fleet.site, "bans": rows}, indent=2) + "\n")
            else:
                for row in rows:
                    sys.stdout.write(
                        f"{row['token']:<24} until {row['expires_at']} ({row['remaining']:.0f} s)\n"
                    )
                sys.stdout.write(f"{len(rows)} bans in force on site {fleet.site}\n")
    except (OSError, _redis_errors()) as exc:
        sys.stderr.write(
            f"tcpwrap fleet: {fleet.shown_url()}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:120] if str(exc) else ''}\n"
        )
        return 1
    finally:
        await client.aclose()
    return 0


def _redis_errors() -> type[Exception]:
    from redis.exceptions import RedisError

    return RedisError


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))


def _sync(
    args: argparse.Namespace, fleet: FleetConfig, v4: int, v6: int, never: tuple[Network, ...]
) -> int:
    from tcpwrap.fleet.agent import FleetAgent
    from tcpwrap.fleet.banlist import Bans

    ban_list = args.ban_list or fleet.ban_list
    if not ban_list or not ban_list.startswith("/"):
        raise ConfigError("sync: name the local ban list (--ban-list /path, or [fleet] ban_list)")

    def say(text: str) -> None:
        line = f"tcpwrap {text}" if text.startswith("fleet: ") else f"tcpwrap fleet: {text}"
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    async def main() -> int:
        bans = Bans(v4, v6, 10_000_000, say, never)
        bans.file(ban_list, time.time())
        agent = FleetAgent(fleet, bans, ban_list, notice=say, error=say)
        if args.once:
            try:
                await agent.run(once=True)
            except Exception:
                return 1
            bans.prune(time.time())
            return 0
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        task = loop.create_task(agent.run())
        while not stop.is_set():
            for token in bans.prune(time.time()):
                say(f"ban of {token} expired")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return 0

    return asyncio.run(main())
