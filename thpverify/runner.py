"""Checking every property of a library, on one core or several.

Z3 keeps state across contexts inside one process, so a property's
counterexample could depend on what that process checked before it. For a
library of any size each property is therefore checked in a process of its
own, a fresh interpreter that loads the library itself: the output is the same byte for byte
whatever the number of workers and however the properties are shared out.
Results come back in library order.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from . import model as m
from .library import load_library
from .results import Verdict
from .solver import Solver

_worker: m.Library | None = None


def check_property(lib: m.Library, name: str) -> list[Verdict]:
    solver = Solver(lib)
    return [solver.check(inst) for inst in lib.properties[name].instances]


def _check_property(name: str) -> list[Verdict]:
    assert _worker is not None
    return check_property(_worker, name)


def _start(paths: list[Path] | None) -> None:
    global _worker
    _worker = load_library(paths)


def check_all(lib: m.Library, paths: list[Path] | None = None, jobs: int | None = None,
              min_parallel: int = 40) -> tuple[Verdict, ...]:
    """Every property on every version, in library order. Small libraries
    (fewer than min_parallel checks) are checked in this process."""
    names = list(lib.properties)
    count = sum(len(p.instances) for p in lib.properties.values())
    jobs = max(1, jobs if jobs is not None else min(os.cpu_count() or 1, 4))
    if len(names) <= 1 or count < min_parallel:
        return tuple(v for name in names for v in check_property(lib, name))
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes=jobs, maxtasksperchild=1, initializer=_start, initargs=(paths,)) as pool:
        chunks = pool.map(_check_property, names, chunksize=1)
    return tuple(v for chunk in chunks for v in chunk)
