"""Counting what a replay found, and showing it: text for people, JSON for machines.

What it does: `Tally.add(logged, replayed)` sorts each record into unchanged, to_denied (the
real server would no longer run: denied or twisted now, something else before), to_granted or
undecidable (with the reason counted); the four add up to `records`. Flips are kept per
distinct (daemon, client address, client name, user, old, new, deciding rule) with a count, the
first and last time seen and a few example lines; `text()` groups them by the new deciding rule
(file:line) and by client, `json_text()` gives the `summary` object and the `flips` list.

Hazards: every string shown comes from a log: text output goes through the report's `clean`
(control characters replaced, length capped); JSON escapes by construction. Memory is bounded:
at most `MAX_FLIPS` distinct flips and `MAX_EXAMPLES` example lines each are kept; the counts
stay exact beyond that.
Errors: none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quoted  # what json.dumps uses (C)
from typing import Any

from tcpwrap._record import field, record
from tcpwrap.errors import Origin
from tcpwrap.report.model import Event
from tcpwrap.report.render_text import clean
from tcpwrap.report.timefmt import iso
from tcpwrap.tools.replay_logs import Fields
from tcpwrap.tools.replaying import Missing, Outcome, Replayed

MAX_FLIPS = 50_000
MAX_EXAMPLES = 3
MAX_REASON_EXAMPLES = 2
SHOWN_GROUPS = 50  # groups printed per section of the text output

FlipKey = tuple[str, str | None, str | None, str | None, Outcome, Outcome, Origin | None]


@record(slots=True)
class Flip:
    """One distinct flip and the records that showed it."""

    key: FlipKey
    count: int
    first: Event
    last: Event
    examples: list[str] = field(default_factory=list)

    @property
    def daemon(self) -> str:
        return self.key[0]

    @property
    def client(self) -> str:
        _, addr, name, user, *_ = self.key
        who = name or addr or "unknown"
        if name and addr:
            who += f" ({addr})"
        return f"{user}@{who}" if user else who


def rule_text(origin: Origin | None) -> str:
    return "(no rule matched)" if origin is None else f"{origin.file}:{origin.line}"


@record(slots=True)
class Tally:
    sources: list[str] = field(default_factory=list)  # log names, by Event.src
    records: int = 0
    unchanged: int = 0
    to_denied: int = 0
    to_granted: int = 0
    undecidable: int = 0
    reasons: Counter[Missing] = field(default_factory=Counter)
    reason_examples: dict[Missing, list[str]] = field(default_factory=dict)
    flips: dict[FlipKey, Flip] = field(default_factory=dict)
    flips_dropped: int = 0  # records of distinct flips beyond MAX_FLIPS (counted above)

    def add(self, fields: Fields, old: Outcome, replayed: Replayed, event: Event) -> None:
        self.records += 1
        new = replayed.outcome
        if new is None:
            self.undecidable += 1
            reason = replayed.missing
            assert reason is not None  # a Replayed without an outcome says what was missing
            self.reasons[reason] += 1
            shown = self.reason_examples.setdefault(reason, [])
            if len(shown) < MAX_REASON_EXAMPLES:
                shown.append(self.where(event))
            return
        if new is old:
            self.unchanged += 1
            return
        if new is Outcome.GRANTED:
            self.to_granted += 1
        else:
            self.to_denied += 1
        key = (*fields, old, new, replayed.origin)
        flip = self.flips.get(key)
        if flip is None:
            if len(self.flips) >= MAX_FLIPS:
                self.flips_dropped += 1
                return
            flip = self.flips[key] = Flip(key, 0, event, event)
        flip.count += 1
        flip.last = event
        if len(flip.examples) < MAX_EXAMPLES:
            flip.examples.append(self.where(event))

    def where(self, event: Event) -> str:
        source = self.sources[event.src] if event.src < len(self.sources) else "?"
        return f"{source}:{event.lineno}: {event.text[:300]}"

    @property
    def flipped(self) -> int:
        return self.to_denied + self.to_granted

    def summary(self) -> dict[str, int]:
        return {
            "records": self.records,
            "unchanged": self.unchanged,
            "to_denied": self.to_denied,
            "to_granted": self.to_granted,
            "undecidable": self.undecidable,
        }




def _when(event: Event) -> str:
    return iso(event.ts, event.off)


def flip_json(flip: Flip) -> dict[str, Any]:
    daemon, addr, name, user, old, new, origin = flip.key
    return {
        "daemon": daemon,
        "client_addr": addr,
        "client_name": name,
        "user": user,
        "old": old.value,
        "new": new.value,
        "rule": None if origin is None else f"{origin.file}:{origin.line}",
        "count": flip.count,
        "first": _when(flip.first),
        "last": _when(flip.last),
        "examples": flip.examples,
    }


def json_document(tally: Tally) -> dict[str, Any]:
    flips = sorted(tally.flips.values(), key=lambda f: (-f.count, f.first.ts))
    return {
        "summary": tally.summary(),
        "undecidable_reasons": {m.value: n for m, n in tally.reasons.most_common()},
        "flips": [flip_json(f) for f in flips],
        "flips_not_listed": tally.flips_dropped,
        "sources": tally.sources,
    }


# One flip as json.dumps(..., indent=2) writes it inside the document's "flips" list.
_FLIP = (
    '    {{\n      "daemon": {},\n      "client_addr": {},\n      "client_name": {},\n'
    '      "user": {},\n      "old": {},\n      "new": {},\n      "rule": {},\n'
    '      "count": {},\n      "first": {},\n      "last": {},\n      "examples": {}\n    }}'
)
_FLIPS_KEY = '\n  "flips": []'


def _json_value(value: str | int | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quoted(value)
    return int.__repr__(value)  # (as json.dumps writes an int)


def _flip_text(flip: dict[str, Any]) -> str:
    examples = flip["examples"]
    listed = (
        "[\n        " + ",\n        ".join(map(_quoted, examples)) + "\n      ]"
        if examples else "[]"
    )  # fmt: skip
    return _FLIP.format(*map(_json_value, list(flip.values())[:-1]), listed)


def json_text(tally: Tally) -> str:
    """json.dumps(json_document(tally), indent=2) + newline, byte for byte (the test says so),
    with the flips (up to MAX_FLIPS) written by `_flip_text`: the json module's indenting
    encoder is pure Python and took a fifth of a replay's time on logs of distinct clients."""
    document = json_document(tally)
    flips = document["flips"]
    document["flips"] = []
    text = json.dumps(document, indent=2) + "\n"
    if flips:
        listed = ",\n".join(map(_flip_text, flips))
        text = text.replace(_FLIPS_KEY, f'{_FLIPS_KEY[:-1]}\n{listed}\n  ]', 1)
    return text


@record(slots=True)
class _Group:
    count: int = 0
    first: Event | None = None
    last: Event | None = None
    members: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, flip: Flip, member: str) -> None:
        self.count += flip.count
        if self.first is None or flip.first.ts < self.first.ts:
            self.first = flip.first
        if self.last is None or flip.last.ts > self.last.ts:
            self.last = flip.last
        self.members[member] += flip.count
        self.changes[f"{flip.key[4].value} -> {flip.key[5].value}"] += flip.count
        for example in flip.examples:
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(example)


def _grouped(flips: Iterable[Flip], by_rule: bool) -> list[tuple[str, _Group]]:
    groups: dict[str, _Group] = {}
    for flip in flips:
        rule = rule_text(flip.key[6])
        name, member = (rule, f"{flip.daemon} from {flip.client}") if by_rule else (
            flip.client, f"{flip.daemon} by {rule}")
        groups.setdefault(name, _Group()).add(flip, member)
    return sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[0]))


def _section(title: str, groups: list[tuple[str, _Group]], member_word: str) -> list[str]:
    out = ["", title]
    for name, group in groups[:SHOWN_GROUPS]:
        assert group.first is not None and group.last is not None
        changes = ", ".join(f"{c} {n}" for c, n in group.changes.most_common())
        out.append(
            f"  {clean(name)}: {group.count} record{'s' if group.count != 1 else ''} "
            f"({changes}), {len(group.members)} {member_word}, "
            f"first {_when(group.first)}, last {_when(group.last)}"
        )
        for member, n in group.members.most_common(5):
            out.append(f"    {n:>6}  {clean(member)}")
        if len(group.members) > 5:
            out.append(f"            ... and {len(group.members) - 5} more")
        for example in group.examples:
            out.append(f"      e.g. {clean(example, 200)}")
    if len(groups) > SHOWN_GROUPS:
        out.append(f"  ... and {len(groups) - SHOWN_GROUPS} more (see --json)")
    return out


def text(tally: Tally, tables: str) -> str:
    sources = tally.sources
    out = [
        f"replayed {tally.records} connection record{'s' if tally.records != 1 else ''} "
        f"from {len(sources)} log{'s' if len(sources) != 1 else ''} under {tables}",
        f"  unchanged     {tally.unchanged:>8}",
        f"  to denied     {tally.to_denied:>8}   (the real server would no longer run)",
        f"  to granted    {tally.to_granted:>8}   (the real server would now run)",
        f"  undecidable   {tally.undecidable:>8}   (a rule needs what the log lacks)",
    ]
    for reason, n in tally.reasons.most_common():
        out.append(f"    {n:>8}  {reason.value}")
        for example in tally.reason_examples.get(reason, []):
            out.append(f"                e.g. {clean(example, 200)}")
    if tally.flips:
        flips = tally.flips.values()
        out += _section("Flips by new deciding rule:", _grouped(flips, True), "daemon/client pairs")
        out += _section("Flips by client:", _grouped(flips, False), "daemon/rule pairs")
    if tally.flips_dropped:
        out.append(f"  ({tally.flips_dropped} flipped records of further distinct clients are "
                   "counted above, not listed)")
    return "\n".join(out) + "\n"
