"""Cones, prime cube covers and exact counts, on top of the compiler.

The only analysis module that imports z3. Terms are built once per
(version, predicate) by the shared Compiler; every query goes to a solver
that holds the assumptions once, with cube literals passed as check
assumptions (incremental: no fresh solver per query).

Coordinates are those of `solver.Solver.coords`: a bool or enum atom, or one
element of a set atom. A cube may also use a named derived condition: a
bool `def` of the vocabulary without parameters that reads more than one
atom (`VM_NO_KHUGEPAGED`), so that a row reads like the kernel's test.
Counting is always over atoms, never over derived conditions.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import z3

from .. import model as m
from ..backend.solver import Solver, atoms_of
from ..results import Fixed, Literal, Side
from ..semantics import evaluate as ev

REPLAY_LEAVES = 256
DRAWN = 16
COUNT_CUBES = 4000  # past this many disjoint cubes a count gives up (None)


class AnalysisError(Exception):
    """The solver and the interpreter disagree, or the solver gave up."""


class TooManyRowsError(Exception):
    """A cover needs more rows than the caller allowed: no short table exists."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows")
        self.limit = limit


@dataclass(frozen=True)
class Coordinate:
    name: str
    element: int | None
    derived: bool
    options: tuple[bool | str, ...]

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.name, self.element)


Cube = dict[Coordinate, tuple[bool | str, ...]]


@dataclass
class Space:
    """The inputs an analysis ranges over: the named assumptions in force
    (conjoined), an optional fixed caller, the atoms counted over."""

    assumptions: list[m.Assumption]
    caller: str | None
    atoms: list[str]  # the counting space: cone closed under the assumptions
    care: list[z3.ExprRef]  # assumption terms (all of them) and the caller
    counted: list[z3.ExprRef]  # the assumptions that touch `atoms`
    fixed: list[z3.ExprRef]  # the caller, when given
    counted_reads: list[frozenset[str]] = field(default_factory=list)  # the atoms each of `counted` reads


def release_key(lib: m.Library, name: str) -> tuple[tuple[int, ...], int, int]:
    """Release order; a patch version right after the release it patches."""
    v = lib.versions[name]
    release = v.get("release") or name.lstrip("v")
    head = release.split("+")[0].strip()
    numbers = tuple(int(x) for x in head.split(".") if x.isdigit())
    return (numbers, int(is_patch(lib, name)), list(lib.versions).index(name))


def is_patch(lib: m.Library, name: str) -> bool:
    return "+" in lib.versions[name].get("release")


class Engine:
    def __init__(self, lib: m.Library, solver: Solver | None = None) -> None:
        self.lib = lib
        self.solver = solver or Solver(lib)
        self.c = self.solver.c
        self._order = {a: i for i, a in enumerate(lib.atoms)}
        self._rule_exprs: dict[int, list[m.Expr]] | None = None
        self._terms: dict[tuple[Coordinate, tuple[bool | str, ...]], z3.ExprRef] = {}
        self._fixed_terms: dict[tuple[str, int | None, bool | str | int], z3.ExprRef] = {}
        self._counts: dict[tuple[object, ...], tuple[z3.ExprRef, int | None]] = {}

    # ------------------------------------------------------------ terms

    def output(self, version: str, name: str) -> tuple[z3.ExprRef, z3.ExprRef]:
        return self.c.function(version, name)

    def call(self, version: str, name: str) -> m.Call:
        fn = self.lib.function(version, name)
        return m.Call(version, name, (), fn.returns, fn.span)

    def rule(self, index: int) -> m.Rule:
        return self.c.rules[index]

    def side(self, version: str, value: z3.ExprRef, rule: z3.ExprRef, typ: m.Type) -> Side:
        shown = self.solver.show_term(typ, value)
        r = self.rule(rule.as_long())  # type: ignore[attr-defined]
        return Side(version, shown, r.id, str(r.span), str(r.cite) if r.cite else "")

    # ------------------------------------------------------------ space

    def space(self, versions: Sequence[str], reads: Iterable[m.Expr], caller: str | None,
              drop: Sequence[str] = ()) -> Space:
        """Assumptions of every version named (less those in `drop`), the
        caller, and the counting space: atoms `reads` reads, closed under
        sharing an assumption."""
        seen: dict[str, m.Assumption] = {}
        for v in versions:
            for a in self.lib.versions[v].assumptions:
                if a.name not in drop:
                    seen.setdefault(a.name, a)
        assumptions = list(seen.values())
        atoms = set(atoms_of(self.lib, reads)) | {"caller"} & set(self.lib.atoms)
        reads_of = {a.name: set(atoms_of(self.lib, [a.expr])) for a in assumptions}
        grew = True
        while grew:
            grew = False
            for a in assumptions:
                if reads_of[a.name] & atoms and not reads_of[a.name] <= atoms:
                    atoms |= reads_of[a.name]
                    grew = True
        fixed: list[z3.ExprRef] = []
        if caller is not None:
            fixed.append(self.c.atoms["caller"] == self.c.value(self.lib.atoms["caller"], caller))
        care = [self.solver.term(a.expr) for a in assumptions] + fixed
        touching = [a for a in assumptions if reads_of[a.name] & atoms]
        counted = [self.solver.term(a.expr) for a in touching]
        ordered = [a for a in self.lib.atoms if a in atoms and not (caller is not None and a == "caller")]
        return Space(assumptions, caller, ordered, care, counted, fixed, [frozenset(reads_of[a.name]) for a in touching])

    def coordinates(self, atoms: Iterable[str], derived: bool = True) -> list[Coordinate]:
        """Atom coordinates in declaration order, then the named conditions over them."""
        names = list(atoms)
        out = []
        for name, element in self.solver.coords(names):
            atom = self.lib.atoms[name]
            options = atom.values if element is None and atom.type.kind == "enum" else (False, True)
            out.append(Coordinate(name, element, False, options))
        if derived:
            for fn in self.lib.global_functions.values():
                if fn.kind != "def" or fn.params or fn.returns.kind != "bool":
                    continue
                reads = atoms_of(self.lib, [m.Call("", fn.name, (), m.BOOL, fn.span)])
                if len(reads) > 1 and set(reads) <= set(names):
                    out.append(Coordinate(fn.name, None, True, (False, True)))
        return out

    def literal_term(self, coord: Coordinate, values: Sequence[bool | str]) -> z3.ExprRef:
        key = (coord, tuple(values))
        term = self._terms.get(key)
        if term is None:
            term = self._terms[key] = self._literal_term(coord, values)
        return term

    def _literal_term(self, coord: Coordinate, values: Sequence[bool | str]) -> z3.ExprRef:
        if coord.derived:
            term = self.c.function("", coord.name)[0]
            return term if values[0] else z3.Not(term)
        if len(values) == 1:
            return self.solver.coord_literal(coord.key, values[0])
        return z3.Or([self.solver.coord_literal(coord.key, v) for v in values])

    def cube_term(self, cube: Cube) -> z3.ExprRef:
        return z3.And([self.literal_term(c, v) for c, v in cube.items()] or [z3.BoolVal(True, self.c.ctx)])

    def point(self, model: z3.ModelRef, coords: Sequence[Coordinate]) -> dict[Coordinate, bool | str]:
        full = self.solver.assignment(model, sorted({c.name for c in coords if not c.derived}, key=self._order.__getitem__))
        out: dict[Coordinate, bool | str] = {}
        for c in coords:
            if c.derived:
                out[c] = bool(z3.is_true(model.eval(self.c.function("", c.name)[0], model_completion=True)))
            else:
                value = self.solver.coord_value(c.key, full)
                out[c] = value if isinstance(value, str) else bool(value)
        return out

    def new(self, *terms: z3.ExprRef) -> z3.Solver:
        s = self.solver.new()
        s.add(*terms)
        return s

    # ------------------------------------------------------------ covers

    def cover(self, region: z3.ExprRef, care: Sequence[z3.ExprRef], coords: Sequence[Coordinate],
              observed: Sequence[z3.ExprRef] = (), max_rows: int | None = None) -> list[tuple[Cube, list[z3.ExprRef]]]:
        """Prime cubes covering exactly `region` under `care`, each with the
        observed terms constant on it (returned with their values). Raises
        TooManyRowsError when the search finds more than max_rows cubes
        (counted before redundant ones are dropped).

        Greedy: take an uncovered point, expand it to a prime implicant of
        "region and the point's observed values" (drop whole literals, then
        widen enum literals), block it, repeat; then drop every row the
        others cover. Literals over atoms are dropped before named
        conditions, so a row says VM_NO_KHUGEPAGED rather than VM_IO.
        """
        find = self.new(*care, region)
        rows: list[tuple[Cube, list[z3.ExprRef]]] = []
        while True:
            r = find.check()
            if r == z3.unknown:
                raise AnalysisError(f"solver: {find.reason_unknown()}")
            if r == z3.unsat:
                break
            model = find.model()
            values = [model.eval(t, model_completion=True) for t in observed]
            klass = z3.And(region, *(t == v for t, v in zip(observed, values, strict=True)))
            point = self.point(model, coords)
            # A solver of its own per row: push/pop would put Z3 in its
            # slower incremental mode.
            cube = self._expand(self.new(*care, z3.Not(klass)), {c: (point[c],) for c in coords})
            rows.append((cube, values))
            if max_rows is not None and len(rows) > max_rows:
                raise TooManyRowsError(max_rows)
            find.add(z3.Not(self.cube_term(cube)))
        return self._irredundant(rows, care, region)

    def _expand(self, s: z3.Solver, cube: Cube) -> Cube:
        needed: set[Coordinate] = set(cube)  # the literals of the last unsat core

        def forces(trial: Cube) -> bool:
            """Whether the trial cube still forces the class. A trial that
            keeps every literal of the last unsat core does, without asking
            the solver: the same answers as asking, fewer queries."""
            nonlocal needed
            if needed <= trial.keys():
                return True
            terms = {k: self.literal_term(k, v) for k, v in trial.items()}
            if s.check(*terms.values()) != z3.unsat:
                return False
            core = {t.get_id() for t in s.unsat_core()}
            needed = {k for k, t in terms.items() if t.get_id() in core}
            return True

        if not forces(cube):
            raise AnalysisError("a point did not force its own class")
        kept = dict(cube)
        # Later-declared atoms go first, so the canonical one of two equal
        # atoms stays (VM_HUGEPAGE, not vma_VM_HUGEPAGE); named conditions
        # last. A set atom's elements are first tried all at once.
        groups: dict[str, list[Coordinate]] = {}
        for c in cube:
            if not c.derived:
                groups.setdefault(c.name, []).append(c)
        for name in reversed(list(groups)):
            members = groups[name]
            trial = {k: v for k, v in kept.items() if k not in members}
            if forces(trial):
                kept = trial
            elif len(members) > 1:
                for c in reversed(members):
                    trial = {k: v for k, v in kept.items() if k != c}
                    if forces(trial):
                        kept = trial
        for c in [k for k in cube if k.derived]:
            trial = {k: v for k, v in kept.items() if k != c}
            if forces(trial):
                kept = trial
        for c in [k for k in kept if len(k.options) > 2]:
            for option in c.options:
                if option in kept[c]:
                    continue
                wider = {**kept, c: tuple(o for o in c.options if o in kept[c] or o == option)}
                if s.check(*(self.literal_term(k, v) for k, v in wider.items())) == z3.unsat:
                    kept = wider
            if len(kept[c]) == len(c.options):
                del kept[c]
        return {c: kept[c] for c in cube if c in kept}

    def _irredundant(self, rows: list[tuple[Cube, list[z3.ExprRef]]], care: Sequence[z3.ExprRef],
                     region: z3.ExprRef) -> list[tuple[Cube, list[z3.ExprRef]]]:
        s = self.new(*care, region)
        kept = list(rows)
        for row in sorted(rows, key=lambda r: -len(r[0])):
            others = [self.cube_term(c) for c, _ in kept if c is not row[0]]
            s.push()
            s.add(*(z3.Not(o) for o in others))
            if s.check(self.cube_term(row[0])) == z3.unsat:
                kept = [r for r in kept if r[0] is not row[0]]
            s.pop()
        return kept

    # ------------------------------------------------------------ counts

    def count(self, formula: z3.ExprRef, space: Space) -> int | None:
        """The exact number of assignments to the space's atoms (as
        coordinates) that satisfy its assumptions and `formula`, the caller
        fixed: a disjoint sum of implicant cubes. None when that takes more
        than COUNT_CUBES cubes."""
        key = (formula.get_id() if not z3.is_true(formula) else -1, tuple(a.name for a in space.assumptions),
               space.caller, tuple(space.atoms))
        if key not in self._counts:  # the cached term is kept alive, so its id is not reused
            whole = z3.is_true(formula) and space.counted_reads
            self._counts[key] = (formula, self._count_all(space) if whole else self._count(formula, space))
        return self._counts[key][1]

    def _count_all(self, space: Space) -> int | None:
        """The number of inputs the assumptions allow, as a product over
        groups of atoms that no assumption links: each group is counted on
        its own, and an atom no assumption reads counts all its values."""
        if self.new(*space.care).check() == z3.unsat:
            return 0
        group = {a: a for a in space.atoms}

        def find(a: str) -> str:
            while group[a] != a:
                group[a] = group[group[a]]
                a = group[a]
            return a

        for reads in space.counted_reads:
            linked = [a for a in space.atoms if a in reads]
            for a in linked[1:]:
                group[find(a)] = find(linked[0])
        total = 1
        for root in dict.fromkeys(find(a) for a in space.atoms):
            atoms = [a for a in space.atoms if find(a) == root]
            terms = [t for t, reads in zip(space.counted, space.counted_reads, strict=True) if reads & set(atoms)]
            if not terms:
                for c in self.coordinates(atoms, derived=False):
                    total *= len(c.options)
                continue
            part = self._count(z3.BoolVal(True, self.c.ctx), dataclasses.replace(space, atoms=atoms, counted=terms))
            if part is None:
                return None
            total *= part
        return total

    def _count(self, formula: z3.ExprRef, space: Space) -> int | None:
        if self.new(*space.care).check() == z3.unsat:
            return 0  # the assumptions contradict each other: no input at all
        coords = self.coordinates(space.atoms, derived=False)
        yes = self.new(*space.fixed, *space.counted, formula)
        no = self.new(*space.fixed, z3.Not(z3.And(*space.counted, formula)))
        sizes = {c: len(c.options) for c in coords}

        def size(cube: Cube) -> int:
            total = 1
            for c in coords:
                total *= len(cube[c]) if c in cube else sizes[c]
            return total

        def lits(cube: Cube) -> list[z3.ExprRef]:
            return [self.literal_term(c, v) for c, v in cube.items()]

        total = 0
        stack: list[Cube] = [{}]
        cubes = 0
        while stack:
            cubes += 1
            if cubes > COUNT_CUBES:
                return None
            cube = stack.pop()
            r = yes.check(*lits(cube))
            if r == z3.unknown:
                raise AnalysisError(f"solver: {yes.reason_unknown()}")
            if r == z3.unsat:
                continue
            point = self.point(yes.model(), coords)
            free = [c for c in coords if len(cube.get(c, c.options)) > 1]
            fixed: Cube = {c: v for c, v in cube.items() if len(v) == 1}
            terms = {c: self.literal_term(c, (point[c],)) for c in free}
            if no.check(*lits(fixed), *terms.values()) != z3.unsat:
                raise AnalysisError("a complete point is not decided by its coordinates")
            core = {t.get_id() for t in no.unsat_core()}
            # Any implicant keeps the sum exact; a minimal one keeps the cubes few.
            need = [c for c in free if terms[c].get_id() in core]
            total += size({**cube, **{c: (point[c],) for c in need}})
            prefix: Cube = dict(cube)
            for c in need:
                others = tuple(o for o in cube.get(c, c.options) if o != point[c])
                stack.append({**prefix, c: others})
                prefix[c] = (point[c],)
        return total

    # ------------------------------------------------------------ replay

    def replay(self, cube: Cube, space: Space, expected: Sequence[tuple[str, str, Side]], cone: Sequence[str]) -> str:
        """Confirm with the interpreter that every input of the cube allowed
        by the assumptions gives each (version, predicate) the expected
        value and rule. Three-valued evaluation, splitting on coordinates
        where it cannot decide (pruned by the assumptions and the cube's
        named conditions); past a budget, completions drawn by the solver."""
        coords = self.coordinates(cone, derived=False)
        coords.sort(key=lambda c: (c.element is not None, -(c.element or 0), self._order[c.name]))
        base: list[Fixed] = []
        alternatives: list[list[Fixed]] = []
        derived = []
        for c, values in cube.items():
            if c.derived:
                derived.append((self.call("", c.name), values[0]))
            elif len(values) == 1:
                base.append(Fixed(c.name, c.element, values[0]))
            else:
                alternatives.append([Fixed(c.name, c.element, v) for v in values])
        leaves = 0
        care: z3.Solver | None = None
        pending: list[list[Fixed]] = [base + list(combo) for combo in itertools.product(*alternatives)]
        checks = [a.expr for a in space.assumptions]
        while pending:
            fixed = pending.pop()
            leaves += 1
            if leaves > REPLAY_LEAVES:
                return self._replay_drawn(cube, space, expected)
            partial = self.solver.partial(fixed)
            if space.caller is not None:
                partial["caller"] = space.caller
            facts = [ev.value_of(self.lib, e, partial) for e in checks]
            conds = [ev.value_of(self.lib, call, partial) for call, _ in derived]
            if any(f is False for f in facts) or any(v is not None and v != want for v, (_, want) in zip(conds, derived, strict=True)):
                continue
            outcomes = [ev.run(self.lib, v, p, partial) for v, p, _ in expected]
            sides = [side for _, _, side in expected]
            settled = all(o.known and (o.rule is not None or side.rule is None) for o, side in zip(outcomes, sides, strict=True)) \
                and all(v is not None for v in conds)
            if settled:
                if all(self._matches(o, side) for o, (_, _, side) in zip(outcomes, expected, strict=True)):
                    continue
                if all(f is True for f in facts):
                    raise AnalysisError(f"the interpreter disagrees with a row on {fixed}")
            pinned = {(f.atom, f.element) for f in fixed} | ({("caller", None)} if space.caller else set())
            free = [c for c in coords if c.key not in pinned and not (c.element is not None and (c.name, None) in pinned)]
            if not free:
                # Every cone coordinate is fixed, yet an assumption over atoms outside it is undecided.
                if care is None:
                    care = self.new(*space.care)
                if care.check(*(self._fixed_literal(f) for f in fixed)) == z3.sat:
                    raise AnalysisError(f"the interpreter disagrees with a row on {fixed}")
                continue
            hinted = set(self._hint(outcomes, derived, conds))
            c = next((k for k in free if k.name in hinted), free[0])
            pending.extend(fixed + [Fixed(c.name, c.element, o)] for o in c.options)
        return f"replayed: the interpreter agrees on every input ({leaves} partial evaluations)"

    def _fixed_literal(self, f: Fixed) -> z3.ExprRef:
        key = (f.atom, f.element, f.value)
        if key not in self._fixed_terms:
            self._fixed_terms[key] = self.solver.coord_literal((f.atom, f.element), f.value)
        return self._fixed_terms[key]

    def _hint(self, outcomes: Sequence[ev.Outcome], derived: Sequence[tuple[m.Call, bool | str]],
              conds: Sequence[ev.Value]) -> list[str]:
        """Atoms read where the three-valued evaluation could not decide."""
        for (call, _), v in zip(derived, conds, strict=True):
            if v is None:
                return atoms_of(self.lib, [call])
        for o in outcomes:
            if o.known and o.rule is not None:
                continue
            if o.known and not any(not ev.is_known(st.value) for st in o.trace):
                continue
            for step in o.trace:
                if not ev.is_known(step.value):
                    return atoms_of(self.lib, self._exprs().get(id(step.rule), []))
        return []

    def _exprs(self) -> dict[int, list[m.Expr]]:
        """Each rule's test (for an if) or value (for a return), by rule identity."""
        if self._rule_exprs is None:
            out: dict[int, list[m.Expr]] = {}

            def walk(body: Sequence[m.Stmt]) -> None:
                for st in body:
                    if isinstance(st, m.SIf):
                        out.setdefault(id(st.rule), []).append(st.test)
                        walk(st.then)
                        walk(st.orelse)
                    elif isinstance(st, m.SReturn):
                        out.setdefault(id(st.rule), []).append(st.value)

            for v in self.lib.versions.values():
                for fn in v.functions.values():
                    walk(fn.body)
            self._rule_exprs = out
        return self._rule_exprs

    def replay_values(self, cube: Cube, space: Space, expected: Sequence[tuple[str, str, Side]], cone: Sequence[str]) -> str:
        """As replay, for sides that name a value but no rule."""
        return self.replay(cube, space, expected, cone)

    def _matches(self, o: ev.Outcome, side: Side) -> bool:
        from ..backend.solver import show_value

        if side.rule is None:
            return show_value(o.value) == side.value
        return o.rule is not None and show_value(o.value) == side.value and o.rule.id == side.rule and str(o.rule.span) == side.rule_at

    def _replay_drawn(self, cube: Cube, space: Space, expected: Sequence[tuple[str, str, Side]]) -> str:
        s = self.new(*space.care, self.cube_term(cube))
        n = 0
        while n < DRAWN and s.check() == z3.sat:
            model = s.model()
            full = self.solver.assignment(model)
            for version, pred, side in expected:
                if not self._matches(ev.run(self.lib, version, pred, full), side):
                    raise AnalysisError(f"the interpreter disagrees with a row on {full}")
            n += 1
            s.add(z3.Or([self.c.atoms[a] != self.c.value(self.lib.atoms[a], full[a]) for a in space.atoms]
                        or [z3.BoolVal(False, self.c.ctx)]))
        return f"replayed: the interpreter agrees on {n} inputs drawn by the solver"


def literals(cube: Cube) -> tuple[Literal, ...]:
    return tuple(Literal(c.name, c.element, tuple(v), c.derived, c.options) for c, v in cube.items())
