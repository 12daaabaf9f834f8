"""serve.limits: per-source token buckets and concurrency caps that never close a service."""

from __future__ import annotations

from tcpwrap.proto.prefix import source_key
from tcpwrap.serve.config import LimitConfig
from tcpwrap.serve.limits import Limits, Refusal


def test_source_keys() -> None:
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7", v4=24) == "192.0.2.0/24"
    assert source_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert source_key("2001:db8:1:2:3:4:5:6", v6=48) == "2001:db8:1::/48"
    assert source_key("fe80::1%eth0") == "fe80::/64"
    assert source_key("unknown") == "unknown"


def test_bucket_burst_then_rate_and_other_sources_unaffected() -> None:
    limits = Limits(LimitConfig(rate=2.0, burst=3, per_source=100))
    now = 1000.0
    got = [limits.admit("a", now, service="s") for _ in range(5)]
    assert got == [None, None, None, Refusal.RATE, Refusal.RATE]
    assert limits.admit("b", now, service="s") is None  # another source: its own bucket
    assert limits.admit("a", now + 0.5, service="s") is None  # 0.5 s * 2/s = one token
    assert limits.admit("a", now + 0.5, service="s") is Refusal.RATE


def test_concurrency_caps_release_and_children() -> None:
    limits = Limits(LimitConfig(rate=1000, burst=1000, per_source=2, per_service=3, children=4))
    now = 5.0
    assert limits.admit("a", now, service="s") is None
    assert limits.admit("a", now, service="s") is None
    assert limits.admit("a", now, service="s") is Refusal.PER_SOURCE
    limits.release("a")
    assert limits.admit("a", now, service="s") is None
    for _ in range(3):
        limits.child_started("s")
    assert limits.admit("b", now, service="s") is Refusal.PER_SERVICE
    assert limits.admit("b", now, service="t") is None
    limits.child_started("t")
    assert limits.admit("c", now, service="u") is Refusal.CHILDREN
    assert limits.admit("c", now, service=None) is None  # internal services: no child
    limits.child_ended("s")
    limits.child_ended("t")
    assert limits.admit("c", now, service="u") is None


def test_sources_are_bounded_busy_ones_kept() -> None:
    limits = Limits(LimitConfig(rate=1, burst=1, per_source=5, sources=100))
    assert limits.admit("busy", 0.0, service=None) is None  # active: never forgotten
    for n in range(500):
        limits.admit(f"s{n}", 0.0, service=None)
        limits.release(f"s{n}")
    assert limits.tracked() <= 101
    assert limits.admit("busy", 0.0, service=None) is Refusal.RATE  # its bucket survived
