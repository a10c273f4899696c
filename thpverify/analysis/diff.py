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

from .. import model as m
from ..backend.solver import atoms_of
from ..results import DiffRow, DiffTable
from .engine import AnalysisError, Engine, Space, literals

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
    tab = eng.tables
    reads = [eng.call(a, output), eng.call(b, output)]
    space = eng.space([a, b], reads, caller, drop)
    cone = [x for x in space.atoms if x in set(atoms_of(lib, reads))]
    coords = eng.coordinates(cone, derived)
    rows: list[DiffRow] = []
    disagreeing = 0
    anywhere = tab.false
    # The disagreement is partitioned by (value, rule) of both sides: each
    # class is covered (and counted) apart, so a row's sides are constant.
    for ca in eng.classes(a, output):
        for cb in eng.classes(b, output, within=ca.where):  # only the classes of b that meet ca
            if ca.value == cb.value:
                continue
            region = cb.where
            anywhere |= region
            if tab.empty(region & space.care):
                continue
            disagreeing += eng.count(region, space)
            left = None if max_rows is None else max_rows - len(rows)
            for cube in eng.cover(region, space, coords, left):
                eng.confirm(cube, space, [ca, cb])
                side_a, side_b = eng.side(ca), eng.side(cb)
                replay = eng.replay(cube, space, [(a, output, side_a), (b, output, side_b)], cone)
                rows.append(DiffRow(literals(cube), side_a, side_b, replay))
    rows.sort(key=lambda r: _row_key(eng, r))
    total = eng.count(tab.true, space)
    checks = ("every row replayed through the interpreter", "rows are prime and cover the disagreement exactly")
    core = () if rows or total == 0 else _core(eng, space, anywhere, a, b, output)
    return DiffTable(a, b, output, caller, tuple(x.name for x in space.assumptions), tuple(rows), disagreeing, total,
                     tuple(space.atoms), checks, core, tuple(sorted(drop)))


def _core(eng: Engine, space: Space, region: object, a: str, b: str, output: str) -> tuple[str, ...]:
    """A minimal set of named assumptions under which the versions agree,
    found on the diagrams (drop each while the rest still agree) and
    confirmed by Z3."""
    t = eng.tables
    fixed = t.expr(eng.caller_is(space.caller)) if space.caller is not None else t.true
    terms = [t.expr(x.expr) for x in space.assumptions]
    kept = list(range(len(terms)))
    for i in list(kept):
        trial = [k for k in kept if k != i]
        if t.empty(region & fixed & t.conj(terms[k] for k in trial)):
            kept = trial
    core = [space.assumptions[k] for k in kept]
    facts = [x.expr for x in core] + ([eng.caller_is(space.caller)] if space.caller is not None else [])
    if eng.solver.agree(facts, a, b, output) is not True:
        raise AnalysisError("Z3 does not confirm the assumptions under which the versions agree")
    return tuple(x.name for x in core)


def _row_key(eng: Engine, row: DiffRow) -> tuple[object, ...]:
    order = {a: i for i, a in enumerate(eng.lib.atoms)}
    defs = {n: len(order) + i for i, n in enumerate(eng.lib.global_functions)}
    key = []
    for lit in row.cube:
        key.append((defs[lit.name] if lit.derived else order[lit.name], lit.element or 0, tuple(str(v) for v in lit.values)))
    return (tuple(key), row.a.rule or "", row.b.rule or "")
