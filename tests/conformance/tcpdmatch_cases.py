"""Reading the recorded tcpdmatch cases of recorded/cases (recorded/README.md) as data.

Each case directory holds hosts.allow / hosts.deny (or not), `queries` (one tcpdmatch argument
list per line; `AS nobody: ...` runs as uid 65534), an optional `setup` script and `output.txt`
with, per query, the stdout Debian's tcpdmatch printed, its exit status and the syslog records
it produced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CASES = Path(__file__).resolve().parent / "recorded" / "cases"


@dataclass(frozen=True)
class Query:
    case: str
    args: str  # as written in `queries`
    user: str | None  # run as this user ("nobody") or None
    stdout: tuple[str, ...]
    exit: int
    syslog: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.case}: {self.args}"


def load_case(case_dir: Path) -> list[Query]:
    text = (case_dir / "output.txt").read_bytes().decode("latin-1")
    queries = [
        line
        for line in (case_dir / "queries").read_bytes().decode("latin-1").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sections = re.split(r"\n\$ (?:\[as (\w+)\] )?tcpdmatch ", "\n" + text.split("\n\n", 1)[-1])
    # re.split with one group gives [pre, user, body, user, body, ...]
    out: list[Query] = []
    bodies = [(sections[i], sections[i + 1]) for i in range(1, len(sections), 2)]
    for (user, body), raw in zip(bodies, queries, strict=True):
        args = raw.split(": ", 1)[1] if raw.startswith("AS ") else raw
        lines = body.split("\n")[1:]  # first line: the command itself
        exit_at = next(i for i, ln in enumerate(lines) if re.fullmatch(r"\[exit -?\d+\]", ln))
        stdout = tuple(lines[:exit_at])
        code = int(lines[exit_at][6:-1])
        records = tuple(ln for ln in lines[exit_at + 1 :] if ln.startswith("syslog("))
        out.append(Query(case_dir.name, args, user or None, stdout, code, records))
    return out


def all_queries() -> list[Query]:
    if not CASES.is_dir():  # recorded data in the repository: never a silent empty suite
        raise FileNotFoundError(f"{CASES}: the recorded tcpdmatch cases are missing")
    found: list[Query] = []
    for case_dir in sorted(CASES.iterdir()):
        if (case_dir / "output.txt").exists():
            found.extend(load_case(case_dir))
    return found
