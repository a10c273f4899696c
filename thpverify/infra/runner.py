"""Checking every property of a library, on one core or several.

The work is cut into chunks that do not depend on the number of workers:
one chunk per version (and one for the properties that range over several
versions), each with its instances in library order. Results come back in
library order. Checks whose verdicts are known (read from the cache by
their cone, infra.cone) are left out of the chunks, so an edit re-checks
only what reads it.

Each chunk is checked with a Solver of its own (its own Z3 solvers, its
own verdict on the diagrams' node budget), so its verdicts do not depend on
which chunks a worker checked before: the decision diagrams give every
answer shown, and they are canonical; Z3 only confirms them (yes or no).
The chunks a worker checks share one Z3 context with its compiled terms and
one CUDD manager with its diagrams and memo tables (what the versions have
in common is built once per worker): sharing changes no answer, only what
is built again. The one answer that could depend on what was built before
is the budget, so a chunk whose diagrams outgrow it in the shared manager
is checked again alone, as if it were the worker's first, and a manager
past a quarter of its budget is not shared further.
The workers are forked from this process when it has one thread (they
inherit the library), else from a clean server process (multiprocessing's
"forkserver", which has imported thpverify and z3 and nothing else) that
sends each the library once; each checks several chunks: the output is the
same byte for byte for any number of workers and in every run.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Container, Mapping
from typing import TYPE_CHECKING, Any

from .. import model as m
from ..results import Verdict

if TYPE_CHECKING:  # the engine is imported only when a check is left to make
    from ..backend.solver import Solver

_worker: m.Library | None = None
_engines: Solver | None = None  # the worker's shared terms and diagrams

Chunk = tuple[tuple[str, int], ...]  # (property, index of its instance)


def chunks(lib: m.Library, skip: Container[tuple[str, int]] = ()) -> list[Chunk]:
    """The instances (but those in skip) grouped by version, versions in library order."""
    by_version: dict[str, list[tuple[str, int]]] = {}
    for name, prop in lib.properties.items():
        for i, inst in enumerate(prop.instances):
            if (name, i) not in skip:
                by_version.setdefault(inst.version, []).append((name, i))
    return [tuple(items) for items in by_version.values()]


def check_chunk(lib: m.Library, chunk: Chunk, share: Solver | None = None) -> list[Verdict]:
    """The chunk's verdicts, with a Solver of its own; with `share`, one that
    reuses the shared Solver's terms and diagrams, unless the diagrams
    outgrow their budget there (then the chunk is checked again alone)."""
    from ..backend.solver import Solver

    if share is not None:
        solver = Solver(lib, share=share)
        verdicts = [solver.check(lib.properties[name].instances[i]) for name, i in chunk]
        if not solver.too_large:
            return verdicts
    solver = Solver(lib)
    return [solver.check(lib.properties[name].instances[i]) for name, i in chunk]


def _solver(lib: m.Library) -> Solver:
    """A new engine session; the engines are imported only here, so a run
    whose verdicts all come from the cache imports none."""
    from ..backend.solver import Solver

    return Solver(lib)


def roomy(share: Solver) -> bool:
    """Whether the shared diagrams are well within their node budget (a quarter of it)."""
    d = share.diagrams()
    return len(d.bdd) <= d.node_limit // 4


def _check_chunk(chunk: Chunk) -> list[Verdict]:
    global _engines
    assert _worker is not None
    if _engines is None or not roomy(_engines):
        _engines = _solver(_worker)
    return check_chunk(_worker, chunk, _engines)


def _start(library: bytes) -> None:
    global _worker
    _worker = pickle.loads(library)


def check_all(lib: m.Library, jobs: int | None = None, min_parallel: int = 40,
              progress: Callable[[int], None] | None = None,
              known: Mapping[tuple[str, int], Verdict] | None = None) -> tuple[Verdict, ...]:
    """Every property on every version, in library order. Only the checks
    not in `known` (verdicts read from the cache) are made; few checks
    (fewer than min_parallel) are made in this process. `progress(n)` is
    told each time n more checks are done."""
    known = known or {}
    work = chunks(lib, known)
    count = sum(len(c) for c in work)
    jobs = max(1, jobs if jobs is not None else min(os.cpu_count() or 1, 4))
    tick = progress or (lambda n: None)
    if len(work) <= 1 or count < min_parallel:
        done: dict[tuple[str, int], Verdict] = dict(known)
        share = None
        for chunk in work:
            if share is None or not roomy(share):
                share = _solver(lib)
            done.update(zip(chunk, check_chunk(lib, chunk, share), strict=True))
            tick(len(chunk))
    else:
        # Longest chunks first, so that two workers finish together.
        order = sorted(range(len(work)), key=lambda k: (-_weight(lib, work[k]), k))
        results = _run(lib, [work[k] for k in order], jobs, tick)
        done = {**known, **{item: v for k, verdicts in zip(order, results, strict=True)
                            for item, v in zip(work[k], verdicts, strict=True)}}
    return tuple(done[(name, i)] for name, prop in lib.properties.items() for i in range(len(prop.instances)))


def _weight(lib: m.Library, chunk: Chunk) -> int:
    """A rough cost: claims that read set atoms are the slow ones."""
    from ..backend.solver import atoms_of

    total = 0
    for name, i in chunk:
        read = atoms_of(lib, [lib.properties[name].instances[i].claim])
        total += 1 + 4 * sum(1 for a in read if lib.atoms[a].type.kind is m.TypeKind.SET)
    return total


def start_method() -> str:
    """How workers start: forked from this process where it has one thread
    (they inherit the library as it is: nothing to pickle, no interpreter to
    start), else from a clean server process, else spawned."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def _run(lib: m.Library, work: list[Chunk], jobs: int, tick: Callable[[int], None]) -> list[list[Verdict]]:
    global _worker
    method = start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["thpverify.backend.solver"])
    setup: dict[str, Any] = {"initializer": _start, "initargs": (pickle.dumps(lib, protocol=pickle.HIGHEST_PROTOCOL),)}
    if method == "fork":
        _worker, setup = lib, {}
    try:
        with context.Pool(processes=jobs, **setup) as pool:
            out = []
            for chunk, verdicts in zip(work, pool.imap(_check_chunk, work, chunksize=1), strict=True):
                out.append(verdicts)
                tick(len(chunk))
            return out
    finally:
        _worker = None
