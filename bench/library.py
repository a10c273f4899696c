"""The bundled library in one fresh interpreter: load time, Solver.check per
property x version for a deterministic sample of properties, and a cProfile
of part of that sample. Prints one JSON document.

    python -m bench.library [--sample K] [--profile K]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import sys
import time
from typing import Any


def sample_names(names: list[str], k: int) -> list[str]:
    """k properties spread evenly over the library's order."""
    if k >= len(names):
        return names
    step = len(names) / k
    return [names[int(i * step)] for i in range(k)]


def measure(sample: int, profile: int) -> dict[str, Any]:
    start = time.perf_counter()
    import thpverify.backend.solver  # noqa: F401  (z3 is imported here)
    import thpverify.lang.parser  # noqa: F401  (lark is imported here)

    out: dict[str, Any] = {"import_parser_solver": time.perf_counter() - start}
    from thpverify.backend.solver import Solver
    from thpverify.lang.library import load_library

    start = time.perf_counter()
    lib = load_library()
    out["load_library"] = time.perf_counter() - start
    start = time.perf_counter()
    lib2 = load_library()
    out["load_library_again"] = time.perf_counter() - start
    del lib2
    names = list(lib.properties)
    out["properties"] = len(names)
    out["instances"] = sum(len(p.instances) for p in lib.properties.values())
    out["versions"] = len(lib.versions)
    chosen = sample_names(names, sample)
    rows = []
    for name in chosen:
        solver = Solver(lib)  # as runner.check_property does: one solver per property
        for inst in lib.properties[name].instances:
            start = time.perf_counter()
            v = solver.check(inst)
            rows.append({"property": name, "version": inst.version or "(across)", "verdict": v.verdict,
                         "as_expected": v.as_expected, "time": time.perf_counter() - start})
    out["sample"] = rows
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        for name in sample_names(names, profile):
            solver = Solver(lib)
            for inst in lib.properties[name].instances:
                solver.check(inst)
        prof.disable()
        out["profile"] = hotspots(prof)
    return out


def hotspots(prof: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    stats = pstats.Stats(prof, stream=io.StringIO())
    entries = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = getattr(stats, "total_tt", 0.0)
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        where = file.replace("\\", "/")
        for marker in ("/thpverify/", "/site-packages/"):
            if marker in where:
                where = where.split(marker, 1)[1]
                where = ("thpverify/" if marker == "/thpverify/" else "") + where
                break
        entries.append({"function": f"{where}:{line}({func})", "calls": ncalls, "tottime": tottime, "cumtime": cumtime})
    by_self = sorted(entries, key=lambda e: -e["tottime"])[:top]
    by_cum = sorted((e for e in entries if "thpverify/" in e["function"]), key=lambda e: -e["cumtime"])[:top]
    return {"total": total, "by_self_time": by_self, "by_cumulative_thpverify": by_cum}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.library")
    p.add_argument("--sample", type=int, default=6, help="properties to time (all their versions)")
    p.add_argument("--profile", type=int, default=2, help="properties to profile (0: none)")
    args = p.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.sample, args.profile), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
