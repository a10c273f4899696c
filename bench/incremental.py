"""`thpverify check` after editing one version's file (issue 13's bar: at
most 0.5 s plus that version's share of a cold check).

The bundled library is copied to a temporary directory and checked there
with a cache of its own: once cold, then warm (nothing changed: replayed
without parsing), then after two edits of one version's file: a comment
appended after its last rule (every check's cone is unchanged: all
verdicts come from the cache, the specs are parsed again), and a comment
line above its rules (every rule of that version moves, so each of its
checks is made again). The share is that version's checks over all checks,
times the cold wall time.

    python -m bench.incremental [--version v6.17] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BAR = 0.5  # seconds, plus the edited version's share


def _check(specs: Path, env: dict[str, str], *extra: str) -> tuple[float, str, int]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "thpverify", "check", "--json", "-q", *extra, str(specs)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    return time.perf_counter() - start, done.stdout, done.returncode


def measure(version: str = "v6.17", reps: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="thpverify-bench-edit-") as tmp:
        specs = Path(tmp) / "specs"
        shutil.copytree(ROOT / "specs", specs)
        env = dict(os.environ, THPVERIFY_CACHE_DIR=str(Path(tmp) / "cache"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        cold, reference, code = _check(specs, env)
        verdicts = json.loads(reference).get("results", []) if reference.startswith("{") else []
        mine = sum(1 for v in verdicts if v.get("version") == version)
        warm = [_check(specs, env) for _ in range(reps)]
        path = specs / f"{version}.thp"
        text = path.read_text(encoding="utf-8")
        path.write_text(text + "// an edit after the last rule\n", encoding="utf-8")
        appended = _check(specs, env)
        path.write_text("// an edit above every rule\n" + text, encoding="utf-8")
        moved = _check(specs, env)
        share = cold * mine / max(1, len(verdicts))
        return {
            "version": version, "checks": len(verdicts), "checks_of_version": mine, "exit": code,
            "cold": cold, "warm_median": statistics.median(w[0] for w in warm),
            "warm_same_output": all(w[1] == reference for w in warm),
            "comment_appended": appended[0], "comment_appended_same_output": appended[1] == reference,
            "rules_moved": moved[0], "rules_moved_exit": moved[2],
            "bar": BAR + share, "share": share,
            "meets_bar": moved[0] <= BAR + share,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.incremental", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", default="v6.17", help="the version whose file is edited (default: v6.17)")
    p.add_argument("--reps", type=int, default=3, help="warm runs (the median is reported)")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.version, args.reps), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
