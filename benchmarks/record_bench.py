"""Benchmark: tcpwrap._record against dataclasses, on what the wrapper's start-up pays.

Measures, each in fresh interpreters (`-I`, bytecode compiled first): importing the module
(`import dataclasses` vs `import tcpwrap._record`), and building the 66 record classes the
wrapper's path creates (a class of 5 fields, frozen, one default, one factory, made N times in
one process), plus creating one instance. Prints means in microseconds and the ratio.

Run: .venv/bin/python benchmarks/record_bench.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
BUILD = """
import time
{setup}
def make():
    @deco(frozen=True)
    class Rec:
        a: int
        b: str
        c: tuple = ()
        d: object = None
        e: list = fld(default_factory=list)
    return Rec
t = time.perf_counter()
for _ in range(66):
    Rec = make()
build = time.perf_counter() - t
t = time.perf_counter()
for _ in range(10000):
    Rec(1, "x")
print(build, (time.perf_counter() - t) / 10000)
"""
SETUPS = {
    "dataclasses": "from dataclasses import dataclass as deco, field as fld",
    "_record": "from tcpwrap._record import record as deco, field as fld",
}


def fresh(code: str) -> list[float]:
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [float(x) for x in out.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    subprocess.run([sys.executable, "-m", "compileall", "-q", "src"], check=False)
    print(f"interpreter {sys.executable} ({sys.version.split()[0]}), {runs} fresh runs each")
    rows = {}
    for name, module in (("dataclasses", "dataclasses"), ("_record", "tcpwrap._record")):
        imports = [fresh(IMPORT.format(module=module))[0] for _ in range(runs)]
        builds = [fresh(BUILD.format(setup=SETUPS[name])) for _ in range(runs)]
        rows[name] = (
            statistics.median(imports) * 1e6,
            statistics.median(b[0] for b in builds) * 1e6,
            statistics.median(b[1] for b in builds) * 1e6,
        )
    print(f"{'':12} {'import us':>10} {'66 classes us':>14} {'instance us':>12} {'total us':>9}")
    for name, (imp, build, inst) in rows.items():
        print(f"{name:12} {imp:10.0f} {build:14.0f} {inst:12.2f} {imp + build:9.0f}")
    dc, rc = rows["dataclasses"], rows["_record"]
    print(f"start-up saved per wrapper run: {dc[0] + dc[1] - rc[0] - rc[1]:.0f} us "
          f"({(dc[0] + dc[1]) / (rc[0] + rc[1]):.1f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
