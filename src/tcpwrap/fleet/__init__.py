"""The fleet: bans shared by every `tcpwrap serve` of a site, through Redis (docs/fleet.md).

Modules: `banlist` (bans in memory and in ban-list files tcpd reads), `settings` (the
`[fleet]` configuration), `store` (the Redis data model: a sorted set of bans scored by
expiry, an event stream, the ban policy as one atomic script), `agent` (the background task
that publishes, subscribes, survives outages and keeps the local ban list in step).
"""
