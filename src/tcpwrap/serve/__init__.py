"""`tcpwrap serve`: the resident super-server (docs/serve.md).

Modules: `cli` (the command line), `config` (the TOML file), `services` (inetd.conf lines and
trap addresses -> listening sockets), `server` (the event loop, the sockets, reload and
stop), `connections` (one request: admit, decide, act), `conduct` (how a decision is carried
out for a child), `traps` (trap hits, booby traps, bans), `children` (starting and reaping),
`internal` (echo, discard, daytime, chargen, time), `limits`, `bans`, `namecache`, `logbook`
and `records` (syslog, stdout, JSON; flood summaries), `stats` (counters, Prometheus,
--status), `systemd` (sd_notify, LISTEN_FDS), `demo` (the loopback demo).
"""
