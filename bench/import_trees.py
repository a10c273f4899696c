"""Import every kernel tree of a directory and compare each with the bundled
hand spec of its release: `python -m bench.import_trees [DIR] [--output FILE]`
(DIR defaults to $THPVERIFY_KERNEL_TREES; each subdirectory is one tree, e.g.
/tmp/kernel-trees/6.6.9, holding at least the files the importer reads).

Writes a Markdown table: release, functions read, equivalent to the hand
spec (or the outputs and callers that differ, or the importer's located
error), and the import time (best of 3, without the comparison). Kernel
trees are read where they lie; nothing of them is copied.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from thpverify import model as m
from thpverify.importer import import_tree
from thpverify.importer.compare import compare, load_with
from thpverify.lang.diagnostics import SpecError
from thpverify.lang.library import load_library


@dataclass(frozen=True)
class Row:
    tree: str
    release: str
    functions: tuple[str, ...]
    hand: str | None
    result: str  # "equivalent", "differs: ...", "error: ..."
    seconds: float

    @property
    def equivalent(self) -> bool:
        return self.result == "equivalent"


def release_key(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", release)[:3])


def hand_version(lib: m.Library, release: str) -> str | None:
    """The hand spec of the same major.minor, else the nearest release below."""
    releases = {name: v.get("release") for name, v in lib.versions.items()
                if re.fullmatch(r"v\d+\.\d+", name) and v.get("release")}
    want = release_key(release)
    same = [n for n, r in releases.items() if release_key(r)[:2] == want[:2]]
    if same:
        return same[0]
    below = sorted((release_key(r), n) for n, r in releases.items() if release_key(r) <= want)
    return below[-1][1] if below else None


def import_one(tree: Path, lib: m.Library, repeat: int = 3) -> Row:
    try:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            imported = import_tree(tree, name=f"import-{tree.name}")
            best = min(best, time.perf_counter() - start)
    except SpecError as exc:
        d = exc.diagnostics[0]
        where = f"{Path(d.span.file).relative_to(tree) if d.span.file.startswith(str(tree)) else d.span.file}:{d.span.line}:{d.span.col}"
        return Row(tree.name, tree.name, (), None, f"error: {where}: {d.message}", 0.0)
    hand = hand_version(lib, imported.release)
    if hand is None:
        return Row(tree.name, imported.release, imported.functions, None, "no hand spec", best)
    both = load_with({"imported.thp": imported.text})
    differ = [f"{c.output}" + (f"/{c.caller}" if c.caller else "") + f" ({len(c.table.rows)} rows)"
              for c in compare(both, hand, imported.name) if not c.equivalent]
    return Row(tree.name, imported.release, imported.functions, hand,
               "equivalent" if not differ else "differs: " + ", ".join(differ), best)


def run(trees: Path) -> list[Row]:
    lib = load_library()
    dirs = sorted((d for d in trees.iterdir() if (d / "Makefile").is_file()), key=lambda d: release_key(d.name))
    return [import_one(d, lib) for d in dirs]


def table(rows: list[Row]) -> str:
    out = ["| release | functions read | against the hand spec | import time |", "|---|---|---|---|"]
    for r in rows:
        fns = ", ".join(f.split(":", 1)[1] for f in r.functions) or "-"
        against = f"{r.result} ({r.hand})" if r.hand else r.result
        seconds = f"{r.seconds * 1000:.0f} ms" if r.seconds else "-"
        out.append(f"| {r.release} | {fns} | {against} | {seconds} |")
    return "\n".join(out) + "\n"


HEADER = ("# Kernel trees imported and compared with the hand specs\n\n"
          "Written by `python -m bench.import_trees DIR --output FILE` (trees per ../shared/KERNEL_SOURCES.md, outside the\n"
          "repository); import time is the best of 3, without the comparison.\n\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.import_trees", description=__doc__.split("\n\n")[0])
    p.add_argument("trees", nargs="?", type=Path, default=os.environ.get("THPVERIFY_KERNEL_TREES"))
    p.add_argument("--output", type=Path)
    args = p.parse_args(argv)
    if args.trees is None:
        p.error("give DIR or set THPVERIFY_KERNEL_TREES")
    text = table(run(Path(args.trees)))
    if args.output:
        args.output.write_text(HEADER + text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
