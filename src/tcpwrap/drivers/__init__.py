"""Everything that touches the world: DNS, ident, sockets, processes, syslog."""
