"""Checking every property of a library, on one core or several.

The work is cut into chunks that do not depend on the number of workers:
one chunk per version (and one for the properties that range over several
versions), each with its instances in library order. Results come back in
library order. Checks whose verdicts are known (read from the cache by
their cone, infra.cone) are left out of the chunks, so an edit re-checks
only what reads it.

Each chunk is checked with a Solver of its own (a new Z3 context, a new
CUDD manager with its own node budget), so its verdicts do not depend on
which chunks a worker checked before: the decision diagrams give every
answer shown, and they are canonical; Z3 only confirms them (yes or no).
The workers are forked from a clean server process (multiprocessing's
"forkserver", which has imported thpverify and z3 and nothing else), each
reads the library once and checks several chunks: the output is the same
byte for byte for any number of workers and in every run.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Container, Mapping

from .. import model as m
from ..results import Verdict

_worker: m.Library | None = None

Chunk = tuple[tuple[str, int], ...]  # (property, index of its instance)


def chunks(lib: m.Library, skip: Container[tuple[str, int]] = ()) -> list[Chunk]:
    """The instances (but those in skip) grouped by version, versions in library order."""
    by_version: dict[str, list[tuple[str, int]]] = {}
    for name, prop in lib.properties.items():
        for i, inst in enumerate(prop.instances):
            if (name, i) not in skip:
                by_version.setdefault(inst.version, []).append((name, i))
    return [tuple(items) for items in by_version.values()]


def check_chunk(lib: m.Library, chunk: Chunk) -> list[Verdict]:
    from ..backend.solver import Solver  # here: a run whose verdicts all come from the cache imports no engine

    solver = Solver(lib)
    return [solver.check(lib.properties[name].instances[i]) for name, i in chunk]


def _check_chunk(chunk: Chunk) -> list[Verdict]:
    assert _worker is not None
    return check_chunk(_worker, chunk)


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
        for chunk in work:
            done.update(zip(chunk, check_chunk(lib, chunk), strict=True))
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


def _run(lib: m.Library, work: list[Chunk], jobs: int, tick: Callable[[int], None]) -> list[list[Verdict]]:
    methods = multiprocessing.get_all_start_methods()
    method = "forkserver" if "forkserver" in methods else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["thpverify.backend.solver"])
    library = pickle.dumps(lib, protocol=pickle.HIGHEST_PROTOCOL)
    with context.Pool(processes=jobs, initializer=_start, initargs=(library,)) as pool:
        out = []
        for chunk, verdicts in zip(work, pool.imap(_check_chunk, work, chunksize=1), strict=True):
            out.append(verdicts)
            tick(len(chunk))
        return out
