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
        from thpverify.analysis.diff import MAX_ROWS, diff
    except ImportError:
        return {"skipped": "thpverify.analysis.diff is not there yet"}
    sys.setrecursionlimit(200_000)
    lib = typecheck(load([path]))
    # As `thpverify diff` does by default: the whole table, its first rows
    # confirmed by Z3, replayed and kept; then once with every row confirmed.
    table, st = timed(lambda: diff(lib, "a", "b", max_rows=None, shown=MAX_ROWS), reps, budget)
    whole, st_all = timed(lambda: diff(lib, "a", "b", max_rows=None), 1, budget)
    rows = whole.rows
    if len(rows) != len(table.rows) + table.hidden or rows[:len(table.rows)] != table.rows:
        raise SystemExit("the first rows of the table differ from those of the whole table")
    return {"time": st, "time_every_row_confirmed": st_all, "cubes": len(rows), "literals": sum(len(r.cube) for r in rows),
            "prime": "rows are prime and cover the disagreement exactly" in whole.checks,
            "disagreeing": whole.disagreeing, "total": whole.total, "space": len(whole.space) or None}


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
