"""A minimal DNS client for the harness tests: ask 127.0.0.1:53 directly, bypassing glibc.

What it does: `query(name, rtype)` sends one UDP question and returns the rcode and the answer
records as (type, text) pairs, where PTR/CNAME targets are decoded label by label with every
byte kept (so we can see what dnsmasq really serves, even names glibc would refuse).

Hazards: test-only; talks to loopback only; trusts the reply's framing (it is our own server).

Errors: socket timeouts propagate (TimeoutError); a malformed reply raises ValueError.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
from typing import NamedTuple

TYPES = {"A": 1, "CNAME": 5, "PTR": 12, "AAAA": 28}
_NAMES = {v: k for k, v in TYPES.items()}


class Answer(NamedTuple):
    rcode: int  # 0 NOERROR, 3 NXDOMAIN, 5 REFUSED, ...
    records: list[tuple[str, str]]  # (type, value)


def _encode(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("latin-1")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _decode(msg: bytes, off: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    for _ in range(128):
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 == 0xC0:
            if end < 0:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        labels.append(msg[off + 1 : off + 1 + n].decode("latin-1"))
        off += 1 + n
    else:
        raise ValueError("name too long or looping")
    return ".".join(labels), (end if end >= 0 else off)


def query(name: str, rtype: str, server: str = "127.0.0.1", timeout: float = 2.0) -> Answer:
    qid = secrets.randbits(16)
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode(name)
    packet += struct.pack("!HH", TYPES[rtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (server, 53))
        msg = s.recv(65535)
    rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid:
        raise ValueError("reply id mismatch")
    off = 12
    for _ in range(qd):
        _, off = _decode(msg, off)
        off += 4
    records: list[tuple[str, str]] = []
    for _ in range(an):
        _, off = _decode(msg, off)
        t, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[off : off + 10])
        off += 10
        rdata = msg[off : off + rdlen]
        if t in (5, 12):
            value, _ = _decode(msg, off)
        elif t in (1, 28):
            value = str(ipaddress.ip_address(rdata))
        else:
            value = rdata.hex()
        records.append((_NAMES.get(t, str(t)), value))
        off += rdlen
    return Answer(flags & 0xF, records)
