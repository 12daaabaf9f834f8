"""The report as JSON, for other tools.

What it does: `render(stats, findings)` returns exactly this document (one JSON object):
`{"lines": N, "unparsed": N, "hosts": [local host names], "zones": {local host: zone assumed},
"note": why there are almost no records (or null), "findings": [{"kind", "remote" (the address
when one was logged), "names" (the names logged for it), "local_hosts", "services", "first",
"last", "count", "score", "period_s" (retry only), "evidence"}]}`. Times are ISO-8601 with
the offset of the line's own zone.

Hazards: strings are hostile; `json.dumps` escapes them (ensure_ascii, so control and non-ASCII
characters become \\u escapes). No errors raised.
"""

from __future__ import annotations

import json
from typing import Any

from tcpwrap.report.advice import few_records
from tcpwrap.report.model import Finding, Stats
from tcpwrap.report.timefmt import iso


def finding_dict(f: Finding) -> dict[str, Any]:
    d: dict[str, Any] = {
        "kind": f.kind,
        "remote": f.remote,
        "names": f.names,
        "local_hosts": f.local_hosts,
        "services": f.services,
        "first": iso(f.first.ts, f.first.off),
        "last": iso(f.last.ts, f.last.off),
        "count": f.count,
        "score": f.score,
    }
    if f.kind == "retry":
        d["period_s"] = f.period_s
    d["evidence"] = f.evidence
    return d


def document(stats: Stats, findings: list[Finding]) -> dict[str, Any]:
    return {
        "lines": stats.lines,
        "unparsed": stats.unparsed,
        "hosts": sorted(stats.local_hosts),
        "zones": dict(sorted(stats.zones.items())),
        "note": few_records(stats),
        "findings": [finding_dict(f) for f in findings],
    }


def render(stats: Stats, findings: list[Finding]) -> str:
    return json.dumps(document(stats, findings), indent=2, ensure_ascii=True) + "\n"
