"""Where the decision diagrams stop paying: on one generated table, how
fast version a's diagram grows (nodes and seconds, every few steps of its
build) against Z3 giving the table's four verdicts alone. It sets
diagrams.NODE_BUDGET (its comment gives the figures).

    python -m bench.budget N M [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .gen import QUERIES, generate, thp_text


def measure(n: int, m: int, seconds: float) -> dict[str, Any]:
    from thpverify.backend import diagrams
    from thpverify.backend.solver import Solver
    from thpverify.lang.resolve import load
    from thpverify.lang.typecheck import typecheck

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"table_{n}x{m}.thp"
        path.write_text(thp_text(generate(n, m)), encoding="utf-8")
        lib = typecheck(load([path]))
    sat = Solver(lib)
    sat._diagrams = diagrams.Diagrams(lib, node_limit=0)  # over budget at once: Z3 alone
    start = time.perf_counter()
    verdicts = {q: sat.check(next(i for i in lib.properties[p].instances if i.version == v)).verdict
                for q, (p, v) in QUERIES.items()}
    z3_seconds = time.perf_counter() - start

    growth: list[tuple[int, int, float]] = []

    class Watched(diagrams.Diagrams):
        def budget(self) -> None:
            self._built += 1
            growth.append((self._built, len(self.bdd), time.perf_counter() - start))
            if growth[-1][2] > seconds:
                raise diagrams.TooLargeError(f"stopped after {seconds} s")

    d = Watched(lib, node_limit=0)
    start = time.perf_counter()
    try:
        d.function("a", "eligible")
        finished = True
    except diagrams.TooLargeError:
        finished = False
    shown = growth[:: max(1, len(growth) // 16)] + growth[-1:]
    return {"n": n, "m": m, "z3_four_verdicts_s": round(z3_seconds, 3), "verdicts": verdicts,
            "diagram_finished": finished, "diagram_s": round(time.perf_counter() - start, 3),
            "diagram_nodes": growth[-1][1] if growth else 0,
            "growth (step, nodes, s)": [(s, k, round(t, 3)) for s, k, t in shown]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.budget")
    p.add_argument("n", type=int)
    p.add_argument("m", type=int)
    p.add_argument("--seconds", type=float, default=30.0, help="stop the diagram's build after this long")
    args = p.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.n, args.m, args.seconds), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
