"""Every class of a property's failing inputs, counted, each with a minimum cube.

Inputs: every atom, restricted by the instance's premises (callers and
`given`) and named assumptions. Failing: the claim is false.

- A class is the set of failing inputs on which every predicate the claim
  reads gives the same value by the same deciding rule. Classes are
  therefore disjoint, and together they hold every failing input.
- Each class is written as prime cubes (the engine's cover, on decision
  diagrams): literals over atom coordinates or named conditions
  (`VM_NO_KHUGEPAGED`); their union is the class. Z3 confirms every cube
  (one query: the cube, the premises and the assumptions entail the class
  and the claim's failure), and the interpreter replays it.
- Counts are exact, over the atoms the claim and premises read, closed
  under the assumptions that touch them; the classes' counts sum to the
  failing count (checked).
- The minimum cube of a class is a cube with the fewest literals (a literal
  fixes one coordinate, an atom or one element of a set atom, to one value,
  or an enum atom to a set of values) whose allowed inputs all lie in the
  class. The decision diagrams give it exactly, so it is proved minimum;
  Z3 confirms it and the interpreter replays it like every cube.

Order: classes by the spec position of their deciding rules, then by their
first cube; terms by their literals.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from .. import model as m
from ..backend.solver import atoms_of
from ..backend.tables import Formula, OutputClass
from ..location import Span
from ..results import CexClass, CexClasses, Literal, Side, VerdictKind
from ..semantics import evaluate as ev
from .engine import Coordinate, Cube, Engine, Space, TooManyRowsError, literals

MAX_TERMS = 256
REPLAY_TERMS = 8
DRAWN = 8


class ClassesError(Exception):
    """The question cannot be answered as asked, or the engines and the interpreter disagree on it."""


def _text(lib: m.Library, e: m.Expr | m.Assumption) -> str:
    span = e.span
    lines = lib.sources.get(span.file, "").splitlines()
    if not lines or span.line < 1 or span.end_line > len(lines):
        return ""
    if span.line == span.end_line:
        return lines[span.line - 1][span.col - 1:span.end_col - 1].strip()
    part = [lines[span.line - 1][span.col - 1:]] + lines[span.line:span.end_line - 1] + [lines[span.end_line - 1][:span.end_col - 1]]
    return " ".join(x.strip() for x in part)


def _premises(lib: m.Library, inst: m.Instance) -> tuple[str, ...]:
    out = []
    for p in inst.premises:
        text = _text(lib, p)
        if text.startswith("property "):  # the callers clause carries the property's span
            callers = lib.properties[inst.property_name].callers or ()
            text = "callers " + ", ".join(callers)
        out.append(text)
    return tuple(out)




def instance_space(eng: Engine, inst: m.Instance) -> tuple[Space, list[str]]:
    """The counting space of an instance: its premises (as unnamed
    assumptions) and named assumptions; the atoms the claim and premises
    read, closed under the assumptions. Returns the space and the cone."""
    lib = eng.lib
    t = eng.tables
    premises = [m.Assumption(f"premise {i + 1}", "", p, p.span, "property") for i, p in enumerate(inst.premises)]
    assumptions = premises + list(inst.assumptions)
    cone = set(atoms_of(lib, [inst.claim, *inst.premises]))
    reads_of = {a.name: set(atoms_of(lib, [a.expr])) for a in assumptions}
    atoms = set(cone)
    grew = True
    while grew:
        grew = False
        for a in assumptions:
            if reads_of[a.name] & atoms and not reads_of[a.name] <= atoms:
                atoms |= reads_of[a.name]
                grew = True
    everything = atoms.union(*reads_of.values())
    care = t.conj([t.expr(a.expr) for a in assumptions]) & t.domain(everything)
    touching = [a for a in assumptions if reads_of[a.name] & atoms]
    counted = t.conj([t.expr(a.expr) for a in touching]) & t.domain(atoms)
    ordered = [a for a in lib.atoms if a in atoms]
    space = Space(assumptions, None, ordered, care, counted, [a.expr for a in assumptions])
    return space, [a for a in ordered if a in cone]


def counterexample_classes(lib: m.Library, inst: m.Instance, verdict: VerdictKind, engine: Engine | None = None,
                           limit: int | None = None, only: int | None = None,
                           count: bool = True, minimum: bool = True) -> CexClasses:
    """The classes (see the module's doc); `limit`: only the first N get
    counts, minimum cubes and replays; `only`: only class K; `count`: False
    leaves the counts out (None) and `minimum` False the minimum cubes
    (each class's smallest prime cube stands in, not proved), for callers
    that need the cubes only."""
    eng = engine or Engine(lib)
    t = eng.tables
    space, cone = instance_space(eng, inst)
    calls = m.predicate_calls(lib, inst.claim)
    region = t.neg(t.expr(inst.claim))
    coords = eng.coordinates(cone)
    # The failure is partitioned by (value, rule) of every predicate the
    # claim reads: each class is covered apart, so its sides are constant.
    found: list[tuple[tuple[Side, ...], tuple[OutputClass, ...], Formula, list[Cube]]] = []
    rows = 0
    combos = itertools.product(*(eng.classes(v, name) for v, name in calls)) if verdict is VerdictKind.REFUTED else iter(())
    for combo in combos:
        klass = t.conj([region, *(c.where for c in combo)])
        if t.empty(klass & space.care):
            continue
        try:
            cubes = eng.cover(klass, space, coords, MAX_TERMS - rows)
        except TooManyRowsError:
            raise TooManyRowsError(MAX_TERMS) from None
        rows += len(cubes)
        for cube in cubes:
            eng.confirm(cube, space, combo, [inst.claim])
        found.append((tuple(eng.side(c) for c in combo), combo, klass, cubes))
    total = eng.count(t.true, space)
    read = set(atoms_of(lib, [inst.claim, *(a.expr for a in space.assumptions)]))
    atom_coords = eng.coordinates([a for a in lib.atoms if a in read], derived=False)
    found.sort(key=lambda f: (tuple(_at_key(s.rule_at) for s in f[0]),
                              min(_lits_key(eng, literals(c)) for c in f[3])))
    made = []
    for index, (sides, combo, klass, cubes) in enumerate(found[:limit] if limit is not None else found, 1):
        if only is not None and index != only:
            continue
        number = eng.count(klass, space) if count else None
        if minimum:
            smallest, proved, note = minimum_cube(eng, space, klass, atom_coords)
            eng.confirm(smallest, space, combo, [inst.claim])
        else:
            smallest, proved, note = min(cubes, key=len), False, "not searched"
        expected = [(v, name, side) for (v, name), side in zip(calls, sides, strict=True)]
        ordered = sorted(cubes, key=lambda c: _lits_key(eng, literals(c)))
        replays = [eng.replay(c, space, expected, cone) for c in [smallest, *ordered[:REPLAY_TERMS]]]
        replays.append(_replay_claim(eng, inst, space, klass))
        replay = _summary(replays)
        if len(ordered) > REPLAY_TERMS:
            replay += f"; {REPLAY_TERMS} of {len(ordered)} cubes and the minimum replayed"
        made.append(CexClass(index, sides, number, tuple(literals(c) for c in ordered), literals(smallest), proved, note,
                             replay))
    counts = [k.count for k in made]
    failing: int | None = 0
    if verdict is VerdictKind.REFUTED:
        if not count:
            failing = None
        elif len(made) < len(found):
            failing = eng.count(region, space)  # --limit or --class: the classes shown do not add up to it
        else:
            failing = None if None in counts else sum(c for c in counts if c is not None)
    checks: list[str] = []
    if failing is not None and failing and len(made) == len(found) <= 4:
        whole = eng.count(region, space)  # a second count of the union, when cheap
        if whole != failing:
            raise ClassesError(f"the classes hold {failing} inputs, the failure {whole}")
        checks.append("the classes' counts sum to the failing count, counted again as a whole")
    if made:
        checks.append("every cube replayed through the interpreter; the claim re-evaluated on inputs of every class")
    shown = made
    return CexClasses(inst.property_name, lib.properties[inst.property_name].doc, inst.version, verdict,
                      tuple(a.name for a in inst.assumptions), _premises(lib, inst),
                      _text(lib, inst.claim), failing, total, tuple(space.atoms), tuple(shown), len(shown), len(found),
                      tuple(checks), tuple(name for _, name in calls))


def _at_key(at: Span | None) -> tuple[str, int, int]:
    return (at.file, at.line, at.col) if at is not None else ("", 0, 0)


def _lits_key(eng: Engine, lits: Sequence[Literal]) -> tuple[object, ...]:
    order = {a: i for i, a in enumerate(eng.lib.atoms)}
    defs = {n: len(order) + i for i, n in enumerate(eng.lib.global_functions)}
    return tuple((defs[x.name] if x.derived else order[x.name], x.element or 0, tuple(str(v) for v in x.values)) for x in lits)


def _summary(replays: Sequence[str]) -> str:
    drawn = [r for r in replays if "drawn" in r]
    if not drawn:
        return "replayed: the interpreter agrees on every input of every cube"
    return f"replayed: the interpreter agrees ({len(drawn)} of {len(replays)} checks on inputs drawn from the decision diagrams)"


def _replay_claim(eng: Engine, inst: m.Instance, space: Space, klass: Formula) -> str:
    """The claim, the premises and the assumptions, evaluated by the
    interpreter on inputs of the class drawn from the decision diagrams."""
    drawn = eng.tables.assignments(space.care & klass, list(eng.lib.atoms), DRAWN)
    exprs = [a.expr for a in space.assumptions]
    for full in drawn:
        if not all(ev.value_of(eng.lib, e, full) is True for e in exprs):
            raise ClassesError(f"an input of a class of {inst.property_name} breaks its premises: {full}")
        if ev.value_of(eng.lib, inst.claim, full) is not False:
            raise ClassesError(f"the interpreter finds the claim of {inst.property_name} true on an input of a class: {full}")
    return f"replayed: the claim is false on {len(drawn)} inputs drawn from the decision diagrams"


# ------------------------------------------------------------------ minimum


def minimum_cube(eng: Engine, space: Space, klass: Formula, coords: Sequence[Coordinate]) -> tuple[Cube, bool, str]:
    """A cube with the fewest literals over `coords` inside the class (see
    the module's doc), whether that is proved, and how: exact on the
    decision diagrams, so always proved."""
    by_key = {c.key: c for c in coords}
    row = eng.tables.minimum(klass, space.care, list(by_key))
    if row is None:
        raise ClassesError("no cube over atoms lies inside a class")
    cube: Cube = {by_key[k]: v for k, v in row.items()}
    if not cube:
        return cube, True, "0 literals; proved minimum"
    return cube, True, f"{len(cube)} literals; proved minimum: exact on the decision diagrams, no cube with fewer lies inside the class"


# ------------------------------------------------------------------ searching a class


Value = bool | str | int


class ClassQuery:
    """Inputs of one class under extra conditions, for the reproducers: the
    class (its prime cubes under the premises and assumptions) plus
    `realizable` conditions, asked with atoms fixed to values. Answered on
    the decision diagrams: an input is the first in their canonical order."""

    def __init__(self, eng: Engine, inst: m.Instance, klass: CexClass, at_most_one: Sequence[Sequence[str]] = (),
                 never: Sequence[tuple[str, int]] = ()) -> None:
        self.eng = eng
        self.lib = eng.lib
        self.t = t = eng.tables
        space, _ = instance_space(eng, inst)
        terms = [eng.cube_formula({Coordinate(x.name, x.element, x.derived, x.options): x.values for x in term})
                 for term in klass.terms]
        facts = [space.care, t.disj(terms), t.domain(self.lib.atoms)]
        for group in at_most_one:  # set atoms: each element in at most one of them
            names = [a for a in group if a in self.lib.atoms]
            if names:
                for e in self.lib.universes[self.lib.atoms[names[0]].type.name].elements:
                    on = [t.literal((a, e), (True,)) for a in names]
                    facts.append(t.neg(t.disj(x & y for x, y in itertools.combinations(on, 2))))
        for atom, element in never:
            if atom in self.lib.atoms and element in self.lib.universes[self.lib.atoms[atom].type.name].elements:
                facts.append(t.literal((atom, element), (False,)))
        self.facts = t.conj(facts)

    def literal(self, atom: str, value: Value) -> Formula:
        """atom == value (a set atom's value as a bit mask)."""
        return self.t.literal((atom, None), (value,))

    def follows(self, atom: str, leader: str, values: Sequence[str], free_when: Sequence[str]) -> Formula | None:
        """`atom` equals `leader` when the leader's value is in `values`; any value when it is in `free_when`."""
        if atom not in self.lib.atoms or leader not in self.lib.atoms:
            return None
        ways = [self.literal(leader, v) & self.literal(atom, v) for v in values]
        ways += [self.literal(leader, v) for v in free_when]
        return self.t.disj(ways)

    def _first(self, f: Formula) -> dict[str, Value] | None:
        found = self.t.assignments(f, list(self.lib.atoms), 1)
        return found[0] if found else None

    def _base(self, fixed: dict[str, Value], extra: Sequence[Formula | None]) -> Formula:
        lits = [self.literal(a, v) for a, v in fixed.items() if a in self.lib.atoms]
        return self.t.conj([self.facts, *lits, *(x for x in extra if x is not None)])

    def ask(self, fixed: dict[str, Value], extra: Sequence[Formula | None] = ()) -> dict[str, Value] | None:
        """A full input of the class with the atoms of `fixed` (those the library has) at their values, or None."""
        return self._first(self._base(fixed, extra))

    def needed(self, prefs: Sequence[tuple[str, int | None, Value]], fixed: dict[str, Value] | None = None,
               extra: Sequence[Formula | None] = ()) -> tuple[list[tuple[str, int | None, Value]], dict[str, Value]]:
        """A minimal set of preferred coordinate values the class cannot
        have together with `fixed` (giving any one back leaves no input),
        and an input with the rest. Earlier preferences are kept first."""
        t = self.t
        prefs = [p for p in prefs if p[0] in self.lib.atoms]
        kept = self._base(fixed or {}, extra)
        if t.empty(kept):
            raise ClassesError("the class has no input with these fixed values")
        dropped: list[tuple[str, int | None, Value]] = []
        for p in prefs:
            trial = kept & t.literal((p[0], p[1]), (p[2],))
            if t.empty(trial):
                dropped.append(p)
            else:
                kept = trial
        point = self._first(kept)
        if point is None:
            raise ClassesError("a minimal set of changes did not re-check")
        return dropped, point
