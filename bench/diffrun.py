"""thpverify's diff of versions a and b of a generated table, in its own
process so that the sweep can give up on it after a time limit.

    python -m bench.diffrun FILE.thp [--reps R] [--budget S]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .timing import timed


def measure(path: Path, reps: int, budget: float) -> dict[str, Any]:
    from thpverify.lang.resolve import load
    from thpverify.lang.typecheck import typecheck

    try:
        from thpverify.analysis.diff import diff
    except ImportError:
        return {"skipped": "thpverify.analysis.diff is not there yet"}
    sys.setrecursionlimit(200_000)
    lib = typecheck(load([path]))
    table, st = timed(lambda: diff(lib, "a", "b", max_rows=None), reps, budget)
    rows = getattr(table, "rows", ())
    return {"time": st, "cubes": len(rows), "literals": sum(len(getattr(r, "cube", ())) for r in rows),
            "disagreeing": getattr(table, "disagreeing", None), "total": getattr(table, "total", None),
            "space": len(getattr(table, "space", ())) or None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.diffrun")
    p.add_argument("path", type=Path)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=2.0)
    args = p.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.path, args.reps, args.budget), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
