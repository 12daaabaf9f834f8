"""What `tcpwrap serve` counts, and the two ways to read it: Prometheus and `--status`.

What it does: `Stats` holds the counters (accepted, granted, refused by reason, trapped,
banned, limited, spawned, spawn failures, twisted, wrappers' hand-offs answered) and the
decision-latency histogram, as plain numbers the server bumps in its loop.
`start_metrics(stats, host, port)` serves them in the Prometheus exposition format over HTTP
(the `prometheus_client` library renders it; a custom collector reads `Stats`, so there is
one set of numbers). `snapshot()` is the JSON the
control socket gives `tcpwrap serve --status`; `render_status()` prints it for people.

Hazards: the metrics endpoint is meant for loopback (the configuration only takes numeric
addresses); it shows counts, never addresses or names. The HTTP server runs in a thread of
prometheus_client's; the collector only reads numbers.
Errors: `start_metrics` raises ConfigError when the library is missing or the port is taken.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tcpwrap.errors import ConfigError

# decision latency buckets, seconds (a decision with no lookup takes tens of microseconds)
BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    accepted: int = 0
    granted: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> count
    trapped: int = 0
    banned: int = 0  # bans decided
    limited: int = 0  # refusals by a limit (also in refused)
    spawned: int = 0
    spawn_failures: int = 0
    trap_spawns_skipped: int = 0
    twisted: int = 0
    internal: int = 0  # connections served by an internal service
    handoffs: int = 0  # wrappers' connections decided through the hand-off socket
    handoffs_declined: int = 0  # wrappers told to decide themselves (too many at once)
    accept_errors: int = 0
    reloads: int = 0
    reload_failures: int = 0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    latency_sum: float = 0.0
    gauges: dict[str, int] = field(default_factory=dict)  # set by the server when read

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def decided(self, seconds: float) -> None:
        self.latency_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def snapshot(self) -> dict[str, Any]:
        return {
            "uptime": round(time.time() - self.started, 3),
            "accepted": self.accepted,
            "granted": self.granted,
            "refused": dict(sorted(self.refused.items())),
            "trapped": self.trapped,
            "banned": self.banned,
            "limited": self.limited,
            "spawned": self.spawned,
            "spawn_failures": self.spawn_failures,
            "trap_spawns_skipped": self.trap_spawns_skipped,
            "twisted": self.twisted,
            "internal": self.internal,
            "handoffs": self.handoffs,
            "handoffs_declined": self.handoffs_declined,
            "accept_errors": self.accept_errors,
            "reloads": self.reloads,
            "reload_failures": self.reload_failures,
            "decision_seconds": {
                "buckets": dict(
                    zip([str(b) for b in BUCKETS] + ["+Inf"], self._cumulative(), strict=True)
                ),
                "sum": round(self.latency_sum, 6),
                "count": sum(self.latency_counts),
            },
            **self.gauges,
        }

    def _cumulative(self) -> list[int]:
        total, out = 0, []
        for count in self.latency_counts:
            total += count
            out.append(total)
        return out


def render_status(snapshot: dict[str, Any]) -> str:
    lines = []
    for key, value in snapshot.items():
        if key == "decision_seconds":
            count = value["count"]
            mean = value["sum"] / count if count else 0.0
            lines.append(f"{'decisions':<16} {count} (mean {mean * 1e6:.0f} us)")
            buckets = value["buckets"]
            for bound in ("0.001", "0.01", "0.1", "1.0"):
                share = buckets[bound] / count * 100 if count else 0.0
                lines.append(f"  within {bound:>5} s {share:6.2f} %")
        elif isinstance(value, dict):
            detail = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
            lines.append(f"{key:<16} {sum(value.values())} ({detail})")
        else:
            lines.append(f"{key:<16} {value}")
    return "\n".join(lines) + "\n"


class _Collector:
    """prometheus_client custom collector over a Stats (read at scrape time)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        s = self.stats
        simple = {
            "accepted": ("connections accepted on service and trap ports", s.accepted),
            "granted": ("connections granted and served", s.granted),
            "trapped": ("trap port hits", s.trapped),
            "banned": ("bans decided", s.banned),
            "limited": ("connections refused by a limit", s.limited),
            "spawned": ("processes started", s.spawned),
            "spawn_failures": ("processes that could not be started", s.spawn_failures),
            "twisted": ("connections handed to a twist command", s.twisted),
            "handoffs": ("wrappers' connections decided through the hand-off socket", s.handoffs),
            "handoffs_declined": (
                "wrappers told to decide themselves (too many hand-offs at once)",
                s.handoffs_declined,
            ),
        }
        for name, (text, value) in simple.items():
            yield CounterMetricFamily(f"tcpwrap_serve_{name}", text, value=value)
        refused = CounterMetricFamily(
            "tcpwrap_serve_refused", "connections refused, by reason", labels=["reason"]
        )
        for reason, count in sorted(s.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        for name, value in s.gauges.items():
            yield GaugeMetricFamily(f"tcpwrap_serve_{name}", name.replace("_", " "), value=value)
        buckets = list(zip([str(b) for b in BUCKETS] + ["+Inf"], s._cumulative(), strict=True))
        yield HistogramMetricFamily(
            "tcpwrap_serve_decision_seconds",
            "time from accept to a decision",
            buckets=buckets,
            sum_value=s.latency_sum,
        )


def start_metrics(stats: Stats, host: str, port: int) -> object:
    """Serve the counters at http://host:port/metrics (a prometheus_client thread)."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise ConfigError(
            "metrics: the prometheus_client package is not installed "
            "(pip install prometheus-client)"
        ) from None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(stats))
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"metrics: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
