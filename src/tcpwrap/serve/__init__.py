"""`tcpwrap serve`: the resident super-server (docs/serve.md).

Modules: `cli` (the command line), `config` (the TOML file), `services` (inetd.conf lines and
trap addresses -> listening sockets), `server` (the event loop: accept, decide, act),
`conduct` (how a decision is carried out for a child), `children` (starting and reaping),
`internal` (echo, discard, daytime, chargen, time), `limits`, `bans`, `namecache`,
`records` (syslog, stdout, JSON; flood aggregation), `stats` (counters, Prometheus, --status),
`systemd` (sd_notify, LISTEN_FDS), `demo` (the loopback demo).
"""
