"""Spaces, coordinates, covers, counts and replays for the analyses.

No engine is imported here: the finite questions go through the backend's
door (`backend.tables.Tables`: decision diagrams, every row confirmed by
Z3), and every answer is replayed through the interpreter.

Coordinates: a bool or enum atom, or one element of a set atom. A cube may
also use a named derived condition: a bool `def` of the vocabulary without
parameters that reads more than one atom (`VM_NO_KHUGEPAGED`), so that a
row reads like the kernel's test. Counting is always over atoms, never
over derived conditions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .. import model as m
from ..backend.solver import Solver, atoms_of
from ..backend.tables import Formula, OutputClass, Row, Tables, TooManyRowsError
from ..errors import InternalError
from ..results import Fixed, Literal, Side
from ..semantics import evaluate as ev
from ..semantics import walk

# The replay's budget: partial evaluations before it falls back to inputs
# drawn from the diagrams, and how many it draws. A row of a diff has two
# predicates to run; a requirement over every release has twenty, and the
# interpreter takes milliseconds per run, so it replays those on fewer.
REPLAY_LEAVES = {True: 256, False: 2}  # keyed by "at most two predicates"
DRAWN = {True: 16, False: 2}

__all__ = ["AnalysisError", "Coordinate", "Cube", "Engine", "Space", "TooManyRowsError", "is_patch", "literals", "release_key"]


class AnalysisError(InternalError):
    """The engines and the interpreter disagree (exit 6)."""


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
    care: Formula  # every assumption, the caller, the enum domain
    counted: Formula  # the assumptions that touch `atoms`, the caller, the domain of `atoms`
    facts: list[m.Expr]  # the assumptions and the caller, as expressions (for Z3's confirmations)


def release_key(lib: m.Library, name: str) -> int:
    """The one release order (model.release_order, which the loader keeps
    `lib.versions` in): a patch right after the release it patches."""
    return list(lib.versions).index(name)


def is_patch(lib: m.Library, name: str) -> bool:
    return lib.is_patch(name)


class Engine:
    def __init__(self, lib: m.Library, solver: Solver | None = None) -> None:
        self.lib = lib
        self.solver = solver or Solver(lib)
        self.tables = Tables(self.solver)
        self._order = {a: i for i, a in enumerate(lib.atoms)}
        self._rule_exprs: dict[int, list[m.Expr]] | None = None
        self._callers: dict[str, m.Expr] = {}

    def call(self, version: str, name: str) -> m.Call:
        fn = self.lib.function(version, name)
        return m.Call(version, name, (), fn.returns, fn.span)

    def classes(self, version: str, output: str, within: Formula | None = None, unless: Sequence[object] = ()) -> list[OutputClass]:
        return self.tables.classes(version, output, within, unless)

    def side(self, c: OutputClass) -> Side:
        r = c.rule
        return Side(c.version, c.typed, r.id if r else None, r.span if r else None, r.cite if r else None)

    # ------------------------------------------------------------ space

    def caller_is(self, caller: str) -> m.Expr:
        """The expression caller == <value>, built once per value (kept alive: engines cache terms by identity)."""
        if caller not in self._callers:
            atom = self.lib.atoms["caller"]
            ref = m.AtomRef("caller", atom.type, atom.span)
            self._callers[caller] = m.Op(m.Operator.EQ, (ref, m.Lit(caller, atom.type, atom.span)), m.BOOL, atom.span)
        return self._callers[caller]

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
        t = self.tables
        facts: list[m.Expr] = [a.expr for a in assumptions]
        fixed = t.true
        if caller is not None:
            facts.append(self.caller_is(caller))
            fixed = t.expr(self.caller_is(caller))
        everything = set(atoms).union(*reads_of.values()) if reads_of else set(atoms)
        care = t.conj([t.expr(a.expr) for a in assumptions]) & fixed & t.domain(everything)
        touching = [a for a in assumptions if reads_of[a.name] & atoms]
        counted = t.conj([t.expr(a.expr) for a in touching]) & fixed & t.domain(atoms)
        ordered = [a for a in self.lib.atoms if a in atoms and not (caller is not None and a == "caller")]
        return Space(assumptions, caller, ordered, care, counted, facts)

    def coordinates(self, atoms: Iterable[str], derived: bool = True) -> list[Coordinate]:
        """Atom coordinates in declaration order, then the named conditions over them."""
        names = list(atoms)
        out = []
        for name, element in self.solver.coords(names):
            atom = self.lib.atoms[name]
            options = atom.values if element is None and atom.type.kind is m.TypeKind.ENUM else (False, True)
            out.append(Coordinate(name, element, False, options))
        if derived:
            for fn in self.lib.global_functions.values():
                if fn.kind != "def" or fn.params or fn.returns.kind is not m.TypeKind.BOOL:
                    continue
                reads = atoms_of(self.lib, [m.Call("", fn.name, (), m.BOOL, fn.span)])
                if len(reads) > 1 and set(reads) <= set(names):
                    out.append(Coordinate(fn.name, None, True, (False, True)))
        return out

    # ------------------------------------------------------------ covers

    def cover(self, region: Formula, space: Space, coords: Sequence[Coordinate], max_rows: int | None = None,
              prime: bool = True) -> list[Cube]:
        """Prime cubes covering exactly `region` within the space's care
        set (decision diagrams; see finite.cover). Raises TooManyRowsError
        past max_rows. With `prime` False: an irredundant cover, found in
        time linear in the diagram and the cover (finite.isop)."""
        t = self.tables
        by_key = {c.key: c for c in coords}
        derived = [c.name for c in coords if c.derived]
        care = space.care & t.link(derived) if derived else space.care
        rows = t.cover(region, care, list(by_key), max_rows) if prime else t.isop(region, care, list(by_key))
        return [{by_key[k]: v for k, v in row.items()} for row in rows]

    def cube_formula(self, cube: Cube) -> Formula:
        t = self.tables
        atoms: Row = {c.key: v for c, v in cube.items() if not c.derived}
        out = t.row(atoms)
        for c, v in cube.items():
            if c.derived:
                value = t.expr(self.call("", c.name))
                out &= value if v[0] else t.neg(value)
        return out

    def confirm(self, cube: Cube, space: Space, classes: Sequence[OutputClass], false: Sequence[m.Expr] = ()) -> None:
        """Z3's word that the cube, the assumptions and the caller entail each class (and each of `false` false)."""
        self.tables.confirm(space.facts, {c.key: v for c, v in cube.items()}, classes, false)

    def confirm_all(self, cubes: Sequence[Cube], space: Space, classes: Sequence[OutputClass]) -> None:
        """`confirm` of every cube, in one Z3 query."""
        self.tables.confirm_all(space.facts, [{c.key: v for c, v in cube.items()} for cube in cubes], classes)

    # ------------------------------------------------------------ counts

    def count(self, formula: Formula, space: Space) -> int:
        """The exact number of assignments to the space's atoms (as
        coordinates) that satisfy its assumptions and `formula`, the caller
        fixed."""
        t = self.tables
        if t.empty(space.care):
            return 0  # the assumptions contradict each other: no input at all
        atoms = space.atoms + (["caller"] if space.caller is not None else [])
        return t.count(space.counted & formula, atoms)

    # ------------------------------------------------------------ replay

    def replay(self, cube: Cube, space: Space, expected: Sequence[tuple[str, str, Side]], cone: Sequence[str],
               drawn: int | None = None) -> str:
        """Confirm with the interpreter that every input of the cube allowed
        by the assumptions gives each (version, predicate) the expected
        value and rule. Three-valued evaluation, splitting on coordinates
        where it cannot decide (pruned by the assumptions and the cube's
        named conditions); past a budget, inputs drawn from the diagrams.
        With `drawn`, only that many inputs drawn (for long tables)."""
        if drawn is not None:
            return self._replay_drawn(cube, space, expected, drawn)
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
        pending: list[list[Fixed]] = [base + list(combo) for combo in itertools.product(*alternatives)]
        checks = [a.expr for a in space.assumptions]
        t = self.tables
        while pending:
            fixed = pending.pop()
            leaves += 1
            # Each input still pending takes a partial evaluation at least:
            # past the budget already, the inputs are drawn now.
            if leaves + len(pending) > REPLAY_LEAVES[len(expected) <= 2]:
                return self._replay_drawn(cube, space, expected, DRAWN[len(expected) <= 2])
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
                point = t.row({(f.atom, f.element): (f.value,) for f in fixed if not isinstance(f.value, int) or isinstance(f.value, bool)})
                if not t.empty(space.care & point):
                    raise AnalysisError(f"the interpreter disagrees with a row on {fixed}")
                continue
            hinted = set(self._hint(outcomes, derived, conds))
            c = next((k for k in free if k.name in hinted), free[0])
            pending.extend(fixed + [Fixed(c.name, c.element, o)] for o in c.options)
        return f"replayed: the interpreter agrees on every input ({leaves} partial evaluations)"

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

            for v in self.lib.versions.values():
                for fn in v.functions.values():
                    for st in walk.statements(fn.body):
                        if isinstance(st, m.SIf):
                            out.setdefault(id(st.rule), []).append(st.test)
                        elif isinstance(st, m.SReturn):
                            out.setdefault(id(st.rule), []).append(st.value)
            self._rule_exprs = out
        return self._rule_exprs

    def _matches(self, o: ev.Outcome, side: Side) -> bool:
        from ..backend.solver import typed_value

        if side.rule is None:
            return typed_value(o.value) == side.value
        return o.rule is not None and typed_value(o.value) == side.value and o.rule.id == side.rule and o.rule.span == side.rule_at

    def _replay_drawn(self, cube: Cube, space: Space, expected: Sequence[tuple[str, str, Side]], drawn: int) -> str:
        inputs = self.tables.assignments(space.care & self.cube_formula(cube), list(self.lib.atoms), drawn)
        for full in inputs:
            for version, pred, side in expected:
                if not self._matches(ev.run(self.lib, version, pred, full), side):
                    raise AnalysisError(f"the interpreter disagrees with a row on {full}")
        return f"replayed: the interpreter agrees on {len(inputs)} inputs drawn from the decision diagrams"


def literals(cube: Cube) -> tuple[Literal, ...]:
    return tuple(Literal(c.name, c.element, tuple(v), c.derived, c.options) for c, v in cube.items())
