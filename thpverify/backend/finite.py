"""Exact answers to the finite questions, on decision diagrams.

Counts, minimum cubes, covers by prime cubes, the atoms an answer depends
on, and inputs drawn in a canonical order. Each function takes BDDs built
by `diagrams.Diagrams` and answers from their structure alone, so the same
question gives the same answer in any process. The callers confirm every
answer with the interpreter and with Z3 before showing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial

from ..errors import InconclusiveError, InternalError
from ..model import TypeKind
from .diagrams import BDD, Coord, Diagrams

Cube = dict[Coord, bool | str]


def count(d: Diagrams, f: BDD, atoms: Sequence[str]) -> int:
    """The number of assignments to `atoms` (enums by value, sets by element) that satisfy f."""
    names = d.variables(atoms)
    extra = set(d.bdd.support(f)) - set(names)
    if extra:
        raise ValueError(f"the formula reads variables outside the counting space: {sorted(extra)}")
    return int(d.bdd.count(f & d.domain(atoms), nvars=len(names))) if names else int(f == d.true)


def cube_bdd(d: Diagrams, cube: Cube) -> BDD:
    return d.bdd_and(d.literal(c, v) for c, v in cube.items())


def cofactors(d: Diagrams, coord: Coord, f: BDD) -> list[tuple[bool | str, BDD]]:
    """f with the coordinate set to each of its values."""
    out = []
    for value in d.options(coord):
        out.append((value, restrict(d, coord, value, f)))
    return out


def restrict(d: Diagrams, coord: Coord, value: bool | str | int, f: BDD) -> BDD:
    name, element = coord
    names = d.vars[coord]
    if element is None and d.lib.atoms[name].type.kind is TypeKind.ENUM:
        index = d.lib.atoms[name].values.index(str(value))
        return d.bdd.let({v: bool(index >> i & 1) for i, v in enumerate(names)}, f)
    return d.bdd.let({names[0]: bool(value)}, f)


def member(d: Diagrams, coords: Sequence[Coord]) -> BDD:
    """Input x lies in the cube described by the meta variables: each
    coordinate's value is one the cube allows."""
    return _piece(d, ("members", *coords), lambda: d.bdd_and(_piece(d, ("member", c), partial(_member, d, c)) for c in coords))


def _member(d: Diagrams, c: Coord) -> BDD:
    allowed = d.meta[c][1]
    return d.bdd_or(d.bdd.var(a) & d.literal(c, v) for a, v in zip(allowed, d.options(c), strict=True))


def shape(d: Diagrams, coords: Sequence[Coord], single: bool) -> BDD:
    """`?in` says whether the cube constrains the coordinate (allows fewer
    than all its values); with `single`, a constrained one allows one value."""
    return _piece(d, ("shapes", single, *coords),
                  lambda: d.bdd_and(_piece(d, ("shape", c, single), partial(_shape, d, c, single)) for c in coords))


def _shape(d: Diagrams, c: Coord, single: bool) -> BDD:
    used, allowed = d.meta[c]
    every = d.bdd_and(d.bdd.var(a) for a in allowed)
    out = d.iff(d.bdd.var(used), ~every)
    if single:
        one = d.bdd_or(d.bdd.var(a) & d.bdd_and(~d.bdd.var(b) for b in allowed if b != a) for a in allowed)
        out &= ~d.bdd.var(used) | one
    return out


def _piece(d: Diagrams, key: tuple[object, ...], build: Callable[[], BDD]) -> BDD:
    """A diagram that depends on coordinates alone, built once per manager."""
    if key not in d.memo:
        d.memo[key] = build()
    return d.memo[key]


def implicants(d: Diagrams, f: BDD, coords: Sequence[Coord]) -> BDD:
    """The cubes over coords (as meta assignments) whose every input is in f; f reads only the coordinates."""
    names = [v for c in coords for v in d.vars[c]]
    return ~d.and_exists(member(d, coords), ~f, names)


def touching(d: Diagrams, f: BDD, coords: Sequence[Coord]) -> BDD:
    """The cubes over coords that hold an input of f."""
    names = [v for c in coords for v in d.vars[c]]
    return d.and_exists(member(d, coords), f, names)


def _lightest(d: Diagrams, f: BDD, weighted: set[str]) -> dict[str, bool] | None:
    """An assignment of f that sets the fewest `weighted` variables true;
    ties go to true, in variable order: among cubes with the fewest
    literals, the one that constrains the earlier-declared coordinate (the
    canonical one of two equal atoms: VM_HUGEPAGE, not vma_VM_HUGEPAGE)
    and allows as many values as it can.

    That is the greatest assignment (true before false, in level order)
    among those of least weight, found with CUDD's operations and one walk
    down the diagram: the least weight k is the first for which f meets
    "at most k weighted variables true"; in what is left (f's assignments
    of weight k) each node on the walk takes its true branch when that
    branch has an assignment. A variable the walk skips can take either
    value: it is left out (true for a value allowed; never a weighted one,
    which would add to a least weight)."""
    if f == d.false:
        return None
    heavy = sorted(weighted, key=d.bdd.level_of_var)
    k = 0
    while (h := f & _at_most(d, heavy, k)) == d.false:
        k += 1
    out: dict[str, bool] = {}
    while h != d.true:
        lo, hi = (~h.low, ~h.high) if h.negated else (h.low, h.high)  # children of the regular node
        out[h.var] = hi != d.false
        h = hi if out[h.var] else lo
    return out


def _at_most(d: Diagrams, names: Sequence[str], k: int) -> BDD:
    """At most k of the variables (given in level order) are true. Built a
    column at a time and kept (a cover asks for the same variables once
    per row, with a growing k): column c holds, for each j, "at most c of
    names[j:] are true"."""
    columns = d.counting.setdefault(tuple(names), [])
    while len(columns) <= k:
        c = len(columns)
        column = [d.true]
        for j in reversed(range(len(names))):
            node = d.bdd.var(names[j])
            below = columns[c - 1][len(names) - j - 1] if c else d.false
            column.append(d.bdd.ite(node, below, column[-1]))
        columns.append(column)  # column[i]: at most c of the last i names
    return columns[k][len(names)]


def minimum_cube(d: Diagrams, inside: BDD, touch: BDD, coords: Sequence[Coord]) -> Cube | None:
    """A cube over `coords` with the fewest literals, each fixing one value,
    that implies `inside` and meets `touch`; None when there is none. Both
    may read only the coordinates' variables. Ties go to fixing the
    earlier coordinate (in variable order)."""
    found = widest_cube(d, inside, touch, coords, single=True)
    return None if found is None else {c: values[0] for c, values in found.items()}


def widest_cube(d: Diagrams, inside: BDD, touch: BDD, coords: Sequence[Coord],
                single: bool = False) -> dict[Coord, tuple[bool | str, ...]] | None:
    """A cube over `coords` that constrains the fewest coordinates (each to
    a set of values), implies `inside` and meets `touch`: a prime implicant
    of `inside` among those meeting `touch`."""
    coords = relevant(d, coords, inside, touch)
    # The two small diagrams first: their conjunction trims the large one's.
    cubes = (shape(d, coords, single) & touching(d, touch, coords)) & implicants(d, inside, coords)
    path = _lightest(d, cubes, {d.meta[c][0] for c in coords})
    if path is None:
        return None
    out: dict[Coord, tuple[bool | str, ...]] = {}
    for c in coords:
        used, allowed = d.meta[c]
        if not path.get(used, False):
            continue
        # An allowed-variable off the path can take either value: allow it.
        out[c] = tuple(v for a, v in zip(allowed, d.options(c), strict=True) if path.get(a, True))
    return out


def fewest_literals(d: Diagrams, region: BDD, care: BDD, coords: Sequence[Coord]) -> dict[Coord, tuple[bool | str, ...]] | None:
    """A cube over `coords` that constrains the fewest coordinates (each to
    a set of values), whose every input within `care` is in `region`, and
    that holds an input of `region` within care: exact (widest_cube), so
    no cube with fewer literals does. None when no such cube exists."""
    mine = {v for c in coords for v in d.vars[c]}
    others = sorted((set(d.bdd.support(care)) | set(d.bdd.support(region))) - mine)
    inside = d.bdd.forall(others, ~care | region)
    meets = d.bdd.exist(others, care & region)
    return widest_cube(d, inside, meets, coords)


def cover(d: Diagrams, region: BDD, care: BDD, coords: Sequence[Coord],
          max_rows: int | None = None) -> list[dict[Coord, tuple[bool | str, ...]]]:
    """Prime cubes that together hold every input of `region` within `care`
    and, within care, nothing else. Greedy: the prime with the fewest
    literals that meets what is left uncovered, until nothing is; then
    every row the others cover is dropped. TooManyRows past max_rows."""
    # A row speaks of the coordinates only: it must force the region for
    # every value of the variables care and region read besides them.
    mine = {v for c in coords for v in d.vars[c]}
    others = sorted((set(d.bdd.support(care)) | set(d.bdd.support(region))) - mine)
    inside = d.bdd.forall(others, ~care | region)
    left = care & region
    coords = relevant(d, coords, inside, left)
    rows: list[dict[Coord, tuple[bool | str, ...]]] = []
    imp = shape(d, coords, False) & implicants(d, inside, coords)
    weighted = {d.meta[c][0] for c in coords}
    while left != d.false:
        path = _lightest(d, imp & touching(d, d.bdd.exist(others, left), coords), weighted)
        if path is None:
            raise InternalError("an uncovered input of the region has no implicant")
        row = {}
        for c in coords:
            used, allowed = d.meta[c]
            if path.get(used, False):
                row[c] = tuple(v for a, v in zip(allowed, d.options(c), strict=True) if path.get(a, True))
        rows.append(row)
        if max_rows is not None and len(rows) > max_rows:
            raise TooManyRowsError(max_rows)
        left &= ~cube_of(d, row)
    return irredundant(d, care & region, rows)


def isop(d: Diagrams, region: BDD, care: BDD, coords: Sequence[Coord]) -> list[dict[Coord, tuple[bool | str, ...]]]:
    """Cubes that together hold every input of `region` within `care` and,
    within care, nothing else: the irredundant sum of products of
    Minato and Morreale (the cover CUDD's Cudd_zddIsop gives), computed
    on the diagrams' variables, each cube then read as a literal per
    coordinate (an enum's code bits as the set of values they allow).
    Irredundant: no cube can be left out; not necessarily prime. Linear
    in the diagram and the cover, where `cover` searches every cube."""
    mine = {v for c in coords for v in d.vars[c]}
    others = sorted((set(d.bdd.support(care)) | set(d.bdd.support(region))) - mine)
    upper = d.bdd.forall(others, ~care | region)
    lower = d.bdd.exist(others, care & region)
    if lower & ~upper != d.false:
        raise InternalError("an input of the region has no cube over the coordinates inside it")
    cubes, union = _isop(d, lower, upper, {})
    if lower & ~union != d.false or union & ~upper != d.false:
        raise InternalError("the irredundant cover does not cover the region exactly")
    # Each variable's coordinate (by position); a one-variable bool coordinate's literal is read off directly.
    owner = {v: (i, c) for i, c in enumerate(coords) for v in d.vars[c]}
    single: dict[str, dict[bool, tuple[int, Coord, tuple[bool | str, ...]]]]
    single = {v: {False: (i, c, (False,)), True: (i, c, (True,))} for v, (i, c) in owner.items()
              if len(d.vars[c]) == 1 and d.options(c) == (False, True)}
    allowed: dict[tuple[Coord, frozenset[tuple[str, bool]]], tuple[bool | str, ...]] = {}
    rows = []
    for cube in cubes:
        lits: list[tuple[int, Coord, tuple[bool | str, ...]]] = []
        codes: dict[tuple[int, Coord], list[tuple[str, bool]]] = {}
        while cube is not None:
            var, value, cube = cube
            one = single.get(var)
            if one is not None:
                lits.append(one[value])
            else:
                codes.setdefault(owner[var], []).append((var, value))
        for (i, c), fixed in codes.items():
            key = (c, frozenset(fixed))
            if key not in allowed:
                allowed[key] = _allowed(d, c, dict(fixed))
            if len(allowed[key]) < len(d.options(c)):
                lits.append((i, c, allowed[key]))
        lits.sort()  # by position: no two literals share one
        rows.append({c: values for _, c, values in lits})
    return rows


def _allowed(d: Diagrams, c: Coord, bits: dict[str, bool]) -> tuple[bool | str, ...]:
    """The values of coordinate c whose code agrees with the bits."""
    names = d.vars[c]
    return tuple(v for i, v in enumerate(d.options(c)) if all(bool(i >> k & 1) == bits.get(n, bool(i >> k & 1))
                                                            for k, n in enumerate(names)))


# A cube as the diagrams' literals, linked: (variable, value, the rest) or None.
Linked = tuple[str, bool, "Linked"] | None


def _isop(d: Diagrams, lower: BDD, upper: BDD, memo: dict[tuple[BDD, BDD], tuple[list[Linked], BDD]]) -> tuple[list[Linked], BDD]:
    """(cubes, their union) of an irredundant sum of products of some
    function between lower and upper (lower implies upper), splitting on
    the top variable: the cubes that need it false, those that need it
    true, and those of what is left over both cofactors."""
    if lower == d.false:
        return [], d.false
    if upper == d.true:
        return [None], d.true
    key = (lower, upper)
    if key not in memo:
        x = d.bdd.var_at_level(min(lower.level, upper.level))
        l0, l1 = d.bdd.let({x: False}, lower), d.bdd.let({x: True}, lower)
        u0, u1 = d.bdd.let({x: False}, upper), d.bdd.let({x: True}, upper)
        c0, f0 = _isop(d, l0 & ~u1, u0, memo)
        c1, f1 = _isop(d, l1 & ~u0, u1, memo)
        rest, f2 = _isop(d, (l0 & ~f0) | (l1 & ~f1), u0 & u1, memo)
        var = d.bdd.var(x)
        cubes: list[Linked] = [(x, False, c) for c in c0]
        cubes += [(x, True, c) for c in c1]
        memo[key] = (cubes + rest, (~var & f0) | (var & f1) | f2)
    return memo[key]


def irredundant(d: Diagrams, within: BDD, rows: list[dict[Coord, tuple[bool | str, ...]]]) -> list[dict[Coord, tuple[bool | str, ...]]]:
    """The rows less each one the others cover within `within`: tried
    from the most literals down, each against the rows kept so far and
    the rows not yet tried (their unions kept as prefixes and suffixes,
    so that this is linear in the rows, not quadratic)."""
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    cubes = [cube_of(d, rows[i]) for i in order]
    after = [d.false] * (len(cubes) + 1)  # after[k]: the union of cubes[k:]
    for k in reversed(range(len(cubes))):
        after[k] = after[k + 1] | cubes[k]
    dropped: set[int] = set()
    before = d.false  # the union of the cubes tried and kept
    for k, i in enumerate(order):
        if within & cubes[k] & ~(before | after[k + 1]) == d.false:
            dropped.add(i)
        else:
            before |= cubes[k]
    return [r for i, r in enumerate(rows) if i not in dropped]


def relevant(d: Diagrams, coords: Sequence[Coord], *fs: BDD) -> list[Coord]:
    """The coordinates some f reads. A cube with a literal on any other
    keeps what is asked of it (it implies f, or meets f) without that
    literal, so a cube with the fewest literals never fixes one: the search
    over these alone finds the same cube, at a fraction of the cost."""
    read: set[str] = set()
    for f in fs:
        read |= d.bdd.support(f)
    return [c for c in coords if any(v in read for v in d.vars[c])]


def cube_of(d: Diagrams, cube: dict[Coord, tuple[bool | str, ...]]) -> BDD:
    return d.bdd_and(_piece(d, ("literal", c, values), partial(_literal, d, c, values)) for c, values in cube.items())


def _literal(d: Diagrams, c: Coord, values: tuple[bool | str, ...]) -> BDD:
    return d.bdd_or(d.literal(c, v) for v in values)


class TooManyRowsError(InconclusiveError):
    """A cover needs more rows than the caller allowed: no short table exists (exit 5)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows")
        self.limit = limit


def depends(d: Diagrams, classes: Sequence[BDD], care: BDD, coords: Sequence[Coord], candidates: Iterable[Coord]) -> list[Coord]:
    """The candidate coordinates that occur in some prime implicant of some
    class (the inputs on which an output takes one of its values), relative
    to `care`: a prime is a cube (each literal fixing one value) that meets care, whose every input in care
    is in the class, and that loses this if any literal is dropped. These
    are exactly the coordinates whose value, with others, settles the answer.

    A coordinate occurs in such a prime if and only if some cube that
    fixes it meets care, lies in the class within care, and stops lying
    there when it is freed (a prime found by dropping literals from that
    cube keeps it). `classes`, `care` may read only the coordinates.
    """
    # Literals fix one value each: with sets of values, an atom that only
    # rules a value out through an assumption would count as well.
    touch = shape(d, coords, True) & touching(d, care, coords)
    found: set[Coord] = set()
    todo = list(candidates)
    for cls in classes:
        inside = implicants(d, ~care | cls, coords)
        both = inside & touch
        if both == d.false:
            continue
        for x in todo:
            if x in found:
                continue
            used, allowed = d.meta[x]
            freed = d.bdd.let({used: False, **{a: True for a in allowed}}, inside)
            if both & d.bdd.var(used) & ~freed != d.false:
                found.add(x)
    return [x for x in todo if x in found]


def assignments(d: Diagrams, f: BDD, atoms: Sequence[str], limit: int) -> list[dict[str, bool | str | int]]:
    """Up to `limit` assignments to `atoms` that satisfy f (with the enum
    domain), in the diagram's canonical order. f may read only their variables."""
    names = d.variables(atoms)
    points = d.bdd.pick_iter(f & d.domain(atoms), care_vars=names)
    out = []
    try:
        for point in points:
            out.append(decode(d, point, atoms))
            if len(out) >= limit:
                break
    finally:
        points.close()  # a pending iterator holds nodes of the manager
    return out


def decode(d: Diagrams, point: dict[str, bool], atoms: Iterable[str]) -> dict[str, bool | str | int]:
    out: dict[str, bool | str | int] = {}
    for name in atoms:
        atom = d.lib.atoms[name]
        if atom.type.kind is TypeKind.BOOL:
            out[name] = bool(point.get(name, False))
        elif atom.type.kind is TypeKind.ENUM:
            index = sum(1 << i for i, v in enumerate(d.vars[(name, None)]) if point.get(v, False))
            out[name] = atom.values[index]
        else:
            out[name] = sum(1 << k for k, v in d.elements.get(name, ()) if point.get(v, False))
    return out


def first(d: Diagrams, f: BDD, atoms: Sequence[str]) -> dict[str, bool | str | int] | None:
    found = assignments(d, f, atoms, 1)
    return found[0] if found else None


def atoms_read(d: Diagrams, *fs: BDD) -> list[str]:
    """The atoms whose variables some f reads, in declaration order."""
    names: set[str] = set()
    for f in fs:
        names |= set(d.bdd.support(f))
    return [a for a in d.lib.atoms if any(v in names for v in d.variables([a]))]
