"""Where two versions disagree, as a short decision table.

Semantics (also in the output header):

- inputs: every atom, restricted by the named assumptions of both versions
  (their conjunction) and, with `caller`, by that caller; otherwise the
  caller is an input like any other and rows name it;
- rows: prime cubes over coordinates (an atom, one element of a set atom)
  or named bool conditions of the vocabulary (`VM_NO_KHUGEPAGED`); on each
  row both versions' value and deciding rule are constant, every allowed
  input of the row disagrees, and together the rows hold every
  disagreeing input; each row is confirmed by Z3 and replayed through the
  interpreter. Past MAX_ROWS rows (without a limit that refuses), the
  rows are an irredundant cover rather than prime cubes, and a caller may
  keep only the first rows (the others are counted, not shown);
- count: the exact number of disagreeing inputs out of all allowed ones,
  over the atoms both predicates read, closed under the assumptions that
  touch them (the other atoms cannot change either answer).

Rows are sorted by their literals in atom declaration order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from .. import model as m
from ..backend.solver import atoms_of
from ..backend.tables import Formula, OutputClass
from ..results import DiffRow, DiffTable
from .engine import AnalysisError, Coordinate, Cube, Engine, Space, TooManyRowsError, literals

MAX_ROWS = 64  # past this a decision table is no longer short: narrow the question instead
HOPELESS = 16  # irredundant rows per allowed prime row past which no short prime cover is sought
DRAWN = 1  # inputs the interpreter replays per row of a table past MAX_ROWS (Z3 confirms every input)


def diff(lib: m.Library, a: str, b: str, caller: str | None = None, output: str = "eligible",
         engine: Engine | None = None, derived: bool = True, drop: tuple[str, ...] = (),
         max_rows: int | None = MAX_ROWS, shown: int | None = None) -> DiffTable:
    """The inputs where versions `a` and `b` give `output` different values
    (`drop`: named assumptions to leave out, to see what they settle).

    With `max_rows`, a short table or none: engine.TooManyRowsError when
    the search for prime rows finds more than max_rows. With None, the
    table always completes: when the prime rows would be more than
    MAX_ROWS, the rows are an irredundant cover instead (finite.isop: the
    same for any run, found in time linear in the cover). `shown` keeps the
    first N rows of the table's order (the others are counted in
    `hidden`); the rows kept are the ones confirmed by Z3 and replayed."""
    if b < a:
        # One computation for both orders, so that diff(b, a) mirrors diff(a, b) row for row.
        t = diff(lib, b, a, caller, output, engine, derived, drop, max_rows, shown)
        mirrored = tuple(DiffRow(r.cube, r.b, r.a, r.replay) for r in t.rows)
        return dataclasses.replace(t, a=a, b=b, rows=mirrored)
    eng = engine or Engine(lib)
    for v in (a, b):
        if v not in lib.versions:
            raise ValueError(f"no version '{v}'")
        if output not in lib.versions[v].outputs:
            raise ValueError(f"'{output}' is not an output of {v}")
    tab = eng.tables
    reads = [eng.call(a, output), eng.call(b, output)]
    space = eng.space([a, b], reads, caller, drop)
    read = set(atoms_of(lib, reads))
    cone = [x for x in space.atoms if x in read]
    coords = eng.coordinates(cone, derived)
    # The disagreement is partitioned by (value, rule) of both sides: each
    # class is covered (and counted) apart, so a row's sides are constant.
    regions: list[tuple[OutputClass, OutputClass, Formula]] = []
    disagreeing = 0
    anywhere = tab.false
    for ca in eng.classes(a, output):
        for cb in eng.classes(b, output, within=ca.where, unless=(ca.value,)):  # the classes of b that meet ca and differ
            anywhere |= cb.where
            if not tab.empty(cb.where & space.care):
                disagreeing += eng.count(cb.where, space)
                regions.append((ca, cb, cb.where))
    covers, prime = _covers(eng, regions, space, coords, max_rows)
    found = [(cube, k) for k, cubes in enumerate(covers) for cube in cubes]
    found.sort(key=_sorter(eng, [(eng.side(ca).rule or "", eng.side(cb).rule or "") for ca, cb, _ in regions]))
    kept = found if shown is None else found[:shown]
    for k, (ca, cb, _) in enumerate(regions):
        eng.confirm_all([cube for cube, j in kept if j == k], space, [ca, cb])
    rows = []
    for cube, k in kept:
        side_a, side_b = eng.side(regions[k][0]), eng.side(regions[k][1])
        replay = eng.replay(cube, space, [(a, output, side_a), (b, output, side_b)], cone, None if prime else DRAWN)
        rows.append(DiffRow(literals(cube), side_a, side_b, replay))
    total = eng.count(tab.true, space)
    checks = ("every row replayed through the interpreter",
              "rows are prime and cover the disagreement exactly" if prime else
              "rows are irredundant and cover the disagreement exactly")
    core = () if rows or total == 0 else _core(eng, space, anywhere, a, b, output)
    return DiffTable(a, b, output, caller, tuple(x.name for x in space.assumptions), tuple(rows), disagreeing, total,
                     tuple(space.atoms), checks, core, tuple(sorted(drop)), len(found) - len(rows))


def _covers(eng: Engine, regions: Sequence[tuple[OutputClass, OutputClass, Formula]], space: Space,
            coords: Sequence[Coordinate], max_rows: int | None) -> tuple[list[list[Cube]], bool]:
    """Each region's rows, and whether they are prime: prime rows while
    they number at most max_rows (MAX_ROWS when None), the search's
    greedy choice of the fewest literals; past that, TooManyRowsError
    with max_rows, and irredundant covers without. Without max_rows the
    irredundant covers come first: when they hold more than HOPELESS
    times MAX_ROWS rows, the search for prime rows (which costs as much
    per row as the whole irredundant cover) is not tried."""
    fast: list[list[Cube]] = []
    if max_rows is None:
        fast = [eng.cover(region, space, coords, prime=False) for _, _, region in regions]
        if sum(map(len, fast)) > HOPELESS * MAX_ROWS:
            return fast, False
    budget = MAX_ROWS if max_rows is None else max_rows
    covers: list[list[Cube]] = []
    try:
        for _, _, region in regions:
            covers.append(eng.cover(region, space, coords, budget - sum(map(len, covers))))
        return covers, True
    except TooManyRowsError:
        if max_rows is not None:
            raise TooManyRowsError(max_rows) from None  # the table's limit, not what an earlier class left of it
    return fast, False


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


def _sorter(eng: Engine, rules: Sequence[tuple[str, str]]) -> Callable[[tuple[Cube, int]], tuple[object, ...]]:
    """The rows' order: by their literals (atoms in declaration order, then
    the named conditions; element; values), then the deciding rules."""
    order = {a: i for i, a in enumerate(eng.lib.atoms)}
    defs = {n: len(order) + i for i, n in enumerate(eng.lib.global_functions)}
    keys: dict[tuple[int, tuple[bool | str, ...]], tuple[object, ...]] = {}

    def literal(c: Coordinate, values: tuple[bool | str, ...]) -> tuple[object, ...]:
        found = keys.get((id(c), values))  # the coordinates are the same objects in every row
        if found is None:
            found = keys[(id(c), values)] = (defs[c.name] if c.derived else order[c.name], c.element or 0,
                                              tuple(str(v) for v in values))
        return found

    def key(row: tuple[Cube, int]) -> tuple[object, ...]:
        cube, k = row
        return (tuple(literal(c, v) for c, v in cube.items()), *rules[k])

    return key
