"""endpoint: a live link-local IPv6 client is named as tcpd names it (issue 12 item 9).

Python prints a peer address without its scope; tcpd's getnameinfo(NI_NUMERICHOST) adds it
(`fe80::5%veth0`). The wrapper takes tcpd's text, so `[fe80::5]`, `[fe80::]/10` and text
patterns match as in tcpd, `%a` and the records read the same, and lookups reach the peer
through its interface. Needs a private network namespace (tests/harness: nstest) to make a
veth pair with link-local addresses; skipped elsewhere.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

import tcpwrap
from tcpwrap._record import replace
from tcpwrap.drivers.endpoint import connection_for, discover, release
from tcpwrap.policy.compile import compile_policy
from tcpwrap.policy.decision import Verdict
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.rules import TableSource


@pytest.fixture
def link_local() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connection from fe80::6 (veth1) to fe80::5 (veth0): (accepted, client)."""
    commands = [
        ["ip", "link", "add", "ttw0", "type", "veth", "peer", "name", "ttw1"],
        ["ip", "link", "set", "ttw0", "up"],
        ["ip", "link", "set", "ttw1", "up"],
        ["ip", "-6", "addr", "add", "fe80::5/64", "dev", "ttw0", "nodad"],
        ["ip", "-6", "addr", "add", "fe80::6/64", "dev", "ttw1", "nodad"],
    ]
    for command in commands:
        if subprocess.run(command, capture_output=True, check=False).returncode != 0:
            subprocess.run(["ip", "link", "del", "ttw0"], capture_output=True, check=False)
            pytest.skip(f"cannot {' '.join(command)} here (needs a private network namespace)")
    try:
        index = socket.if_nametoindex("ttw0")
        server = socket.socket(socket.AF_INET6)
        server.bind(("fe80::5", 0, 0, index))
        server.listen()
        client = socket.socket(socket.AF_INET6)
        client.connect(("fe80::5", server.getsockname()[1], 0, index))
        accepted, _ = server.accept()
        server.close()
        yield accepted, client
        accepted.close()
        client.close()
    finally:
        subprocess.run(["ip", "link", "del", "ttw0"], capture_output=True, check=False)


def test_a_link_local_client_is_named_with_its_interface(
    link_local: tuple[socket.socket, socket.socket],
) -> None:
    accepted, _ = link_local
    assert accepted.getpeername()[0] == "fe80::5"  # Python's text: no scope
    found = discover(accepted.fileno())
    try:
        assert found.client is not None and found.client[0] == "fe80::5%ttw0"
        assert found.server is not None and found.server[0] == "fe80::5%ttw0"
    finally:
        release(found)


@pytest.mark.parametrize(
    ("rule", "denied"),
    [("[fe80::5]", True), ("[fe80::]/10", True), ("fe80::5%ttw0", False), ("fe80*", True),
     ("[fe80::6]", False), ("ALL EXCEPT [fe80::5]", False)],
)  # fmt: skip
def test_link_local_clients_match_as_in_tcpd(
    link_local: tuple[socket.socket, socket.socket], rule: str, denied: bool
) -> None:
    # ("fe80::5%ttw0" is cut at its first ":" as any unbracketed IPv6 token: no match)
    accepted, _ = link_local
    found = discover(accepted.fileno())
    try:
        connection = connection_for("sshd", found.client, None, datagram=False, ident=False)
        connection = replace(connection, client=replace(connection.client, resolvable=False))
        policy = compile_policy(TableSource("a", b""), TableSource("d", f"sshd: {rule}\n".encode()))
        decision = evaluate(policy, connection)
        assert (decision.verdict is Verdict.DENY) is denied
        # the same text through hosts_ctl gives the same verdict, as libwrap would
        assert decision.client_addr == "fe80::5%ttw0"
    finally:
        release(found)


def test_hosts_ctl_with_the_wrappers_text(
    link_local: tuple[socket.socket, socket.socket], tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    (tmp_path / "a").write_text("")
    (tmp_path / "d").write_text("sshd: [fe80::5]\n")
    ask = {"allow": str(tmp_path / "a"), "deny": str(tmp_path / "d")}
    assert tcpwrap.hosts_ctl("sshd", "", "fe80::5%ttw0", **ask) is False
    assert tcpwrap.hosts_ctl("sshd", "", "fe80::5%nosuch0", **ask) is True  # not an address


def test_the_library_and_serve_name_link_local_clients_as_the_wrapper_does(
    link_local: tuple[socket.socket, socket.socket],
) -> None:
    # check_socket (library) and `tcpwrap serve` take a socket's addresses through the same
    # function as the wrapper: one text for a link-local peer everywhere (they used to drop
    # the scope, or write its number).
    from tcpwrap.library.sockets import site_of
    from tcpwrap.serve import server

    accepted, _ = link_local
    site = site_of(accepted)
    assert site.client is not None and site.client[0] == "fe80::5%ttw0"
    assert site.server is not None and site.server[0] == "fe80::5%ttw0"
    assert server.printable(accepted.getpeername()) == site.client
