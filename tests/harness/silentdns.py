"""A DNS server that does not answer (until told to): for resolver-timeout tests.

What it does: `SilentDNS()` binds UDP 127.0.0.53:5353, where the namespace's dnsmasq forwards
the PTR query of 127.0.0.64 and every name under slow.e2e.test (tests/harness/README.md). It
holds each query it receives; `release()` answers the held ones, and every later one at once,
with SERVFAIL (which dnsmasq does not cache), so resolver threads abandoned by a timeout finish
promptly. `.queries` counts what arrived (proof the lookup really went there). Always
`close()` it (the fixture in tests/e2e/test_lookup_dns.py does).

Hazards: only one can run at a time (fixed port); namespace only (it relies on dnsmasq's
forwarding). Note that socket.getnameinfo() holds the GIL in CPython 3.11: a test that calls it
for 127.0.0.64 freezes every thread, this server's included, until glibc gives up (~10 s).

Errors: bind errors propagate to the test.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class SilentDNS:
    """UDP 127.0.0.53:5353 (dnsmasq forwards 127.0.0.64 and *.slow.e2e.test here).

    Holds every query until `release()`; from then on answers each, held or new, SERVFAIL
    (never cached), so abandoned resolver threads finish promptly.
    """

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.53", 5353))
        self.sock.settimeout(0.05)
        self.held: list[tuple[bytes, tuple[str, int]]] = []
        self.queries = 0
        self.released = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _servfail(query: bytes) -> bytes:
        qid, flags = struct.unpack("!HH", query[:4])
        end = 12
        while query[end]:
            end += 1 + query[end]
        question = query[12 : end + 5]
        return struct.pack("!HHHHHH", qid, 0x8082 | (flags & 0x0100), 1, 0, 0, 0) + question

    def _run(self) -> None:
        while not self.stopped.is_set():
            if self.released.is_set():
                while self.held:
                    data, peer = self.held.pop()
                    self.sock.sendto(self._servfail(data), peer)
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.queries += 1
            self.held.append((data, peer))

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        time.sleep(0.2)
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()
