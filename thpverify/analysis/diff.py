"""Where two versions disagree, as a short decision table.

Semantics (also in the output header):

- inputs: every atom, restricted by the named assumptions of both versions
  (their conjunction) and, with `caller`, by that caller; otherwise the
  caller is an input like any other and rows name it;
- rows: prime cubes over coordinates (an atom, one element of a set atom)
  or named bool conditions of the vocabulary (`VM_NO_KHUGEPAGED`); on each
  row both versions' value and deciding rule are constant, every allowed
  input of the row disagrees, and together the rows hold every
  disagreeing input; each row is replayed through the interpreter;
- count: the exact number of disagreeing inputs out of all allowed ones,
  over the atoms both predicates read, closed under the assumptions that
  touch them (the other atoms cannot change either answer).

Rows are sorted by their literals in atom declaration order.
"""

from __future__ import annotations

import z3

from .. import model as m
from ..results import DiffRow, DiffTable
from .engine import Engine, Space, literals

MAX_ROWS = 64  # past this a decision table is no longer short: narrow the question instead


def diff(lib: m.Library, a: str, b: str, caller: str | None = None, output: str = "eligible",
         engine: Engine | None = None, derived: bool = True, drop: tuple[str, ...] = (),
         max_rows: int | None = MAX_ROWS) -> DiffTable:
    """The inputs where versions `a` and `b` give `output` different values
    (`drop`: named assumptions to leave out, to see what they settle).
    Raises engine.TooManyRowsError when the table needs more than max_rows rows."""
    if b < a:
        # One computation for both orders, so that diff(b, a) mirrors diff(a, b) row for row.
        t = diff(lib, b, a, caller, output, engine, derived, drop, max_rows)
        mirrored = tuple(DiffRow(r.cube, r.b, r.a, r.replay) for r in t.rows)
        return DiffTable(a, b, output, caller, t.assumptions, mirrored, t.disagreeing, t.total, t.space, t.checks, t.core, t.dropped)
    eng = engine or Engine(lib)
    for v in (a, b):
        if v not in lib.versions:
            raise ValueError(f"no version '{v}'")
        if output not in lib.versions[v].outputs:
            raise ValueError(f"'{output}' is not an output of {v}")
    typ = lib.function(a, output).returns
    reads = [eng.call(a, output), eng.call(b, output)]
    space = eng.space([a, b], reads, caller, drop)
    cone = [x for x in space.atoms if x in set(_cone(eng, reads))]
    coords = eng.coordinates(cone, derived)
    va, ra = eng.output(a, output)
    vb, rb = eng.output(b, output)
    region = va != vb
    found = eng.cover(region, space.care, coords, [va, ra, vb, rb], max_rows)
    rows = []
    for cube, values in found:
        side_a = eng.side(a, values[0], values[1], typ)
        side_b = eng.side(b, values[2], values[3], typ)
        replay = eng.replay(cube, space, [(a, output, side_a), (b, output, side_b)], cone)
        rows.append(DiffRow(literals(cube), side_a, side_b, replay))
    rows.sort(key=lambda r: _row_key(eng, r))
    disagreeing = _count_by_class(eng, space, [va, ra, vb, rb], [values for _, values in found])
    total = eng.count(z3.BoolVal(True, eng.c.ctx), space)
    checks = ("every row replayed through the interpreter", "rows are prime and cover the disagreement exactly")
    core = () if rows or total == 0 else _core(eng, space.assumptions, space.fixed, region)
    return DiffTable(a, b, output, caller, tuple(x.name for x in space.assumptions), tuple(rows), disagreeing, total,
                     tuple(space.atoms), checks, core, tuple(sorted(drop)))


def _count_by_class(eng: Engine, space: Space, observed: list[z3.ExprRef], classes: list[list[z3.ExprRef]]) -> int | None:
    """The disagreement is partitioned by (value, rule) of both sides: count
    each class apart (each is one pair of paths, so it takes few cubes)."""
    total = 0
    seen: list[list[z3.ExprRef]] = []
    for values in classes:
        if any(all(a.eq(b) for a, b in zip(values, other, strict=True)) for other in seen):
            continue
        seen.append(values)
        n = eng.count(z3.And(*(t == v for t, v in zip(observed, values, strict=True))), space)
        if n is None:
            return None
        total += n
    return total


def _core(eng: Engine, assumptions: list[m.Assumption], fixed: list[z3.ExprRef], region: z3.ExprRef) -> tuple[str, ...]:
    """A minimal set of named assumptions under which the versions agree (re-checked)."""
    core = eng.solver.assumption_core(assumptions, [*fixed, region])
    return tuple(a.name for a in core) if core is not None else ()


def _cone(eng: Engine, reads: list[m.Call]) -> list[str]:
    from ..backend.solver import atoms_of

    return atoms_of(eng.lib, reads)


def _row_key(eng: Engine, row: DiffRow) -> tuple[object, ...]:
    order = {a: i for i, a in enumerate(eng.lib.atoms)}
    defs = {n: len(order) + i for i, n in enumerate(eng.lib.global_functions)}
    key = []
    for lit in row.cube:
        key.append((defs[lit.name] if lit.derived else order[lit.name], lit.element or 0, tuple(str(v) for v in lit.values)))
    return (tuple(key), row.a.rule or "", row.b.rule or "")
