"""The programs: one module per `tcpwrap` subcommand (configure(parser) + run(args) -> int)."""
