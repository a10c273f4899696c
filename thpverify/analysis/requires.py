"""The condition under which an output is true, as a short formula.

Over inputs allowed by the assumptions of every version named (their
conjunction), with the caller fixed when given: a cover of "the output is
true in every version named" by prime cubes (greedy, then irredundant),
with the literals all cubes share factored out. Every cube is replayed
through the interpreter; the count is exact, over the atoms the outputs and
their assumptions read.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import model as m
from ..backend.solver import atoms_of
from ..backend.tables import OutputClass
from ..results import Literal, Requirement, Side
from .engine import Engine, literals


def requires(lib: m.Library, versions: Sequence[str], caller: str | None = None, output: str = "eligible",
             engine: Engine | None = None, derived: bool = True) -> Requirement:
    eng = engine or Engine(lib)
    t = eng.tables
    reads = [eng.call(v, output) for v in versions]
    space = eng.space(versions, reads, caller)
    cone_set = set(atoms_of(lib, reads))
    cone = [a for a in space.atoms if a in cone_set]
    coords = eng.coordinates(cone, derived)
    region = t.conj(t.expr(r) for r in reads)
    found = eng.cover(region, space, coords)
    true = [Side(v, True, None, None, None) for v in versions]
    eng.confirm_all(found, space, [OutputClass(v, output, True, True, None, region) for v in versions])
    replays = []
    for cube in found:
        replays.append(eng.replay(cube, space, [(v, output, s) for v, s in zip(versions, true, strict=True)], cone))
    count = eng.count(region, space)
    total = eng.count(t.true, space)
    cubes = sorted((literals(c) for c in found), key=lambda x: [str(y) for y in x])
    common: tuple[Literal, ...] = ()
    if len(cubes) > 1:
        shared = set(cubes[0]).intersection(*cubes[1:])
        common = tuple(x for x in cubes[0] if x in shared)
        cubes = [tuple(x for x in c if x not in shared) for c in cubes]
    elif cubes:
        common, cubes = cubes[0], []
    replay = _summary(replays)
    always = bool(found) and t.empty(space.care & t.neg(region))
    never = not found
    return Requirement(tuple(versions), output, caller, tuple(a.name for a in space.assumptions), common,
                       tuple(cubes), always=always, never=never, count=count, total=total,
                       space=tuple(space.atoms), replay=replay)


def _summary(replays: list[str]) -> str:
    if not replays:
        return ""
    drawn = [r for r in replays if "drawn" in r]
    if not drawn:
        return "every term replayed through the interpreter on every input"
    return f"every term replayed through the interpreter ({len(drawn)} of {len(replays)} on inputs drawn from the decision diagrams)"
