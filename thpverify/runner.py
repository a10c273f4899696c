"""Checking every property of a library, on one core or several.

Each worker process loads the library itself and checks whole properties,
so the terms of a version are compiled once per worker; results come back
in the library's order, so the output does not depend on the split.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import model as m
from .library import load_library
from .results import Verdict
from .solver import Solver

_worker: tuple[m.Library, Solver] | None = None


def _start(paths: list[Path] | None) -> None:
    global _worker
    lib = load_library(paths)
    _worker = (lib, Solver(lib))


def _check_property(name: str) -> list[Verdict]:
    assert _worker is not None
    lib, solver = _worker
    return [solver.check(inst) for inst in lib.properties[name].instances]


def check_all(lib: m.Library, paths: list[Path] | None, jobs: int | None = None) -> tuple[Verdict, ...]:
    """Every property on every version, in library order."""
    names = list(lib.properties)
    count = sum(len(p.instances) for p in lib.properties.values())
    jobs = jobs if jobs is not None else min(os.cpu_count() or 1, 4)
    if jobs <= 1 or count < 40:
        solver = Solver(lib)
        return tuple(solver.check(inst) for p in lib.properties.values() for inst in p.instances)
    with ProcessPoolExecutor(max_workers=jobs, initializer=_start, initargs=(paths,)) as pool:
        chunks = list(pool.map(_check_property, names))
    return tuple(v for chunk in chunks for v in chunk)
