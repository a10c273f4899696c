"""Every class of a property's failing inputs, counted, each with a minimum cube.

Inputs: every atom, restricted by the instance's premises (callers and
`given`) and named assumptions. Failing: the claim is false.

- A class is the set of failing inputs on which every predicate the claim
  reads gives the same value by the same deciding rule. Classes are
  therefore disjoint, and together they hold every failing input.
- Each class is written as prime cubes (from the engine's cover): literals
  over atom coordinates or named conditions (`VM_NO_KHUGEPAGED`); their
  union is the class. Every cube is replayed through the interpreter.
- Counts are exact, over the atoms the claim and premises read, closed
  under the assumptions that touch them; the classes' counts sum to the
  failing count (checked).
- The minimum cube of a class is a cube with the fewest literals (a literal
  fixes one coordinate, an atom or one element of a set atom, to one value,
  or an enum atom to a set of values) whose allowed inputs all lie in the
  class. It is proved minimum when the search for a smaller one (CEGIS:
  candidate cubes against inputs outside the class, generalised by unsat
  cores) runs out of candidates within MIN_ROUNDS rounds; otherwise it is
  the smallest found, and said so.

Order: classes by the spec position of their deciding rules, then by their
first cube; terms by their literals.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from .. import model as m
from ..backend.solver import atoms_of
from ..results import CexClass, CexClasses, Literal, Side
from ..semantics import evaluate as ev
from .engine import Coordinate, Cube, Engine, Space, literals

MIN_ROUNDS = 200
MAX_TERMS = 256
REPLAY_TERMS = 8
DRAWN = 8


class ClassesError(Exception):
    """The question cannot be answered as asked (too many cubes)."""


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
            callers = lib.properties[inst.property].callers or ()
            text = "callers " + ", ".join(callers)
        out.append(text)
    return tuple(out)


def predicate_calls(lib: m.Library, claim: m.Expr) -> list[tuple[str, str]]:
    """(version, name) of each parameterless predicate the claim reads, in order."""
    calls: list[tuple[str, str]] = []

    def walk(e: m.Expr) -> None:
        if isinstance(e, m.Call):
            fn = lib.function(e.version, e.name)
            if fn.kind == "predicate" and not fn.params and (e.version, e.name) not in calls:
                calls.append((e.version, e.name))
            for a in e.args:
                walk(a)
        elif isinstance(e, m.Op):
            for a in e.args:
                walk(a)

    walk(claim)
    return calls


def instance_space(eng: Engine, inst: m.Instance) -> tuple[Space, list[str]]:
    """The counting space of an instance: its premises (as unnamed
    assumptions) and named assumptions; the atoms the claim and premises
    read, closed under the assumptions. Returns the space and the cone."""
    lib = eng.lib
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
    care = [eng.solver.term(a.expr) for a in assumptions]
    touching = [a for a in assumptions if reads_of[a.name] & atoms]
    ordered = [a for a in lib.atoms if a in atoms]
    space = Space(assumptions, None, ordered, care, [eng.solver.term(a.expr) for a in touching], [],
                  [frozenset(reads_of[a.name]) for a in touching])
    return space, [a for a in ordered if a in cone]


def counterexample_classes(lib: m.Library, inst: m.Instance, verdict: str, engine: Engine | None = None,
                           limit: int | None = None, min_rounds: int = MIN_ROUNDS, only: int | None = None,
                           count: bool = True, minimum: bool = True) -> CexClasses:
    """The classes (see the module's doc); `limit`: only the first N get
    counts, minimum cubes and replays; `only`: only class K; `count`: False
    leaves the counts out (None) and `minimum` False the minimum cubes
    (each class's smallest prime cube stands in, not proved), for callers
    that need the cubes only."""
    eng = engine or Engine(lib)
    space, cone = instance_space(eng, inst)
    calls = predicate_calls(lib, inst.claim)
    observed: list[z3.ExprRef] = []
    for version, name in calls:
        observed.extend(eng.output(version, name))
    region = z3.Not(eng.solver.term(inst.claim))
    coords = eng.coordinates(cone)
    rows = eng.cover(region, space.care, coords, observed, MAX_TERMS) if verdict == "refuted" else []
    groups: list[tuple[list[z3.ExprRef], list[Cube]]] = []
    for cube, values in rows:
        for seen, cubes in groups:
            if all(a.eq(b) for a, b in zip(values, seen, strict=True)):
                cubes.append(cube)
                break
        else:
            groups.append((values, [cube]))
    total = eng.count(z3.BoolVal(True, eng.c.ctx), space)
    read = set(atoms_of(lib, [inst.claim, *(a.expr for a in space.assumptions)]))
    atom_coords = eng.coordinates([a for a in lib.atoms if a in read], derived=False)
    found: list[tuple[tuple[Side, ...], list[z3.ExprRef], list[Cube]]] = []
    for values, cubes in groups:
        found.append((tuple(_side(eng, lib, calls, values, i) for i in range(len(calls))), values, cubes))
    found.sort(key=lambda f: (tuple(_at_key(s.rule_at) for s in f[0]),
                              min(_lits_key(eng, literals(c)) for c in f[2])))
    made = []
    for index, (sides, values, cubes) in enumerate(found[:limit] if limit is not None else found, 1):
        if only is not None and index != only:
            continue
        klass = z3.And(region, *(t == v for t, v in zip(observed, values, strict=True)))
        number = eng.count(klass, space) if count else None
        if minimum:
            smallest, proved, note = minimum_cube(eng, space, klass, atom_coords, cubes, min_rounds)
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
    if verdict == "refuted":
        if not count:
            failing = None
        elif len(made) < len(found):
            failing = eng.count(region, space)  # --limit or --class: the classes shown do not add up to it
        else:
            failing = None if None in counts else sum(c for c in counts if c is not None)
    checks: list[str] = []
    if failing is not None and failing and len(made) == len(found) <= 4:
        whole = eng.count(region, space)  # a second count of the union, when cheap
        if whole is not None and whole != failing:
            raise ClassesError(f"the classes hold {failing} inputs, the failure {whole}")
        checks.append("the classes' counts sum to the failing count, counted again as a whole")
    if made:
        checks.append("every cube replayed through the interpreter; the claim re-evaluated on inputs of every class")
    shown = made
    return CexClasses(inst.property, lib.properties[inst.property].doc, inst.version, verdict,
                      tuple(a.name for a in inst.assumptions), _premises(lib, inst),
                      _text(lib, inst.claim), failing, total, tuple(space.atoms), tuple(shown), len(shown), len(found),
                      tuple(checks), tuple(name for _, name in calls))


def _side(eng: Engine, lib: m.Library, calls: Sequence[tuple[str, str]], values: Sequence[z3.ExprRef], i: int) -> Side:
    version, name = calls[i]
    return eng.side(version, values[2 * i], values[2 * i + 1], lib.function(version, name).returns)


def _at_key(at: str) -> tuple[str, int, int]:
    parts = at.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (parts[0], int(parts[1]), int(parts[2]))
    return (at, 0, 0)


def _lits_key(eng: Engine, lits: Sequence[Literal]) -> tuple[object, ...]:
    order = {a: i for i, a in enumerate(eng.lib.atoms)}
    defs = {n: len(order) + i for i, n in enumerate(eng.lib.global_functions)}
    return tuple((defs[x.name] if x.derived else order[x.name], x.element or 0, tuple(str(v) for v in x.values)) for x in lits)


def _summary(replays: Sequence[str]) -> str:
    drawn = [r for r in replays if "drawn" in r]
    if not drawn:
        return "replayed: the interpreter agrees on every input of every cube"
    return f"replayed: the interpreter agrees ({len(drawn)} of {len(replays)} checks on inputs drawn by the solver)"


def _replay_claim(eng: Engine, inst: m.Instance, space: Space, klass: z3.ExprRef) -> str:
    """The claim, the premises and the assumptions, evaluated by the
    interpreter on inputs of the class drawn by the solver."""
    s = eng.new(*space.care, klass)
    exprs = [a.expr for a in space.assumptions]
    n = 0
    while n < DRAWN and s.check() == z3.sat:
        full = eng.solver.assignment(s.model())
        if not all(ev.value_of(eng.lib, e, full) is True for e in exprs):
            raise ClassesError(f"an input of a class of {inst.property} breaks its premises: {full}")
        if ev.value_of(eng.lib, inst.claim, full) is not False:
            raise ClassesError(f"the interpreter finds the claim of {inst.property} true on an input of a class: {full}")
        n += 1
        s.add(z3.Or([eng.c.atoms[a] != eng.c.value(eng.lib.atoms[a], full[a]) for a in space.atoms]
                    or [z3.BoolVal(False, eng.c.ctx)]))
    return f"replayed: the claim is false on {n} inputs drawn by the solver"


# ------------------------------------------------------------------ minimum


def minimum_cube(eng: Engine, space: Space, klass: z3.ExprRef, coords: Sequence[Coordinate], start: Sequence[Cube],
                 rounds: int = MIN_ROUNDS) -> tuple[Cube, bool, str]:
    """A cube with the fewest literals over `coords` inside the class (see
    the module's doc), whether that is proved, and how."""
    ctx = eng.c.ctx
    inside = eng.new(*space.care, z3.Not(klass))  # a cube forces the class: unsat with it
    nonempty = eng.new(*space.care)
    # A point outside the class, cut down to literals that force it out of
    # the class whatever the other atoms are (assumptions included): any
    # cube that agrees with them holds an allowed input outside the class.
    general = eng.new(z3.Not(z3.And(*space.care, z3.Not(klass))))
    allow = {(c, o): z3.Bool(f"allow!{i}!{j}", ctx) for i, c in enumerate(coords) for j, o in enumerate(c.options)}
    used = [z3.Not(z3.And([allow[(c, o)] for o in c.options])) for c in coords]
    cand = z3.Solver(ctx=ctx)
    cand.set("random_seed", 0)
    for c in coords:
        cand.add(z3.Or([allow[(c, o)] for o in c.options]))

    def cube_of(model: z3.ModelRef) -> Cube:
        out: Cube = {}
        for c in coords:
            vals = tuple(o for o in c.options if z3.is_true(model.eval(allow[(c, o)], model_completion=True)))
            if len(vals) < len(c.options):
                out[c] = vals
        return out

    plain = [cube for cube in start if all(not c.derived for c in cube)]
    best: Cube | None = min(plain, key=len) if plain else _irreducible(eng, space, klass, coords, inside)
    bound = len(best) if best is not None else len(coords) + 1
    n = 0
    while n < rounds:
        if bound == 0:
            break
        n += 1
        if cand.check(z3.AtMost(*used, bound - 1)) == z3.unsat:
            assert best is not None
            return best, True, f"{len(best)} literals; proved minimum: no cube with fewer lies inside the class ({n} rounds)"
        cube = cube_of(cand.model())
        terms = {c: eng.literal_term(c, v) for c, v in cube.items()}
        if inside.check(*terms.values()) == z3.sat:
            point = eng.point(inside.model(), coords)
            lits = {c: eng.literal_term(c, (point[c],)) for c in coords}
            need = _core(general, lits)
            cand.add(z3.Or([z3.Not(allow[(c, point[c])]) for c in need] or [z3.BoolVal(False, ctx)]))
            continue
        if nonempty.check(*terms.values()) == z3.unsat:
            core = {t.get_id() for t in nonempty.unsat_core()}
            empty = [c for c in cube if terms[c].get_id() in core]
            cand.add(z3.Or([allow[(c, o)] for c in empty for o in c.options if o not in cube[c]] or [z3.BoolVal(False, ctx)]))
            continue
        best, bound = cube, len(cube)
    if best is None:
        raise ClassesError("no cube over atoms found inside a class")
    return best, bound == 0, (f"{len(best)} literals; the smallest found: the search for fewer stopped after {n} rounds"
                              if bound else f"{len(best)} literals; proved minimum")


def _irreducible(eng: Engine, space: Space, klass: z3.ExprRef, coords: Sequence[Coordinate], inside: z3.Solver) -> Cube:
    """A point of the class, its literals dropped one at a time while the rest force the class."""
    s = eng.new(*space.care, klass)
    if s.check() != z3.sat:
        raise ClassesError("an empty class")
    point = eng.point(s.model(), coords)
    kept: Cube = {c: (point[c],) for c in coords}
    if inside.check(*(eng.literal_term(c, v) for c, v in kept.items())) != z3.unsat:
        raise ClassesError("a point of a class is not decided by its coordinates")
    core = {t.get_id() for t in inside.unsat_core()}
    kept = {c: v for c, v in kept.items() if eng.literal_term(c, v).get_id() in core}
    for c in list(kept):
        trial = {k: v for k, v in kept.items() if k != c}
        if inside.check(*(eng.literal_term(k, v) for k, v in trial.items())) == z3.unsat:
            kept = trial
    return kept


def _core(s: z3.Solver, lits: dict[Coordinate, z3.ExprRef]) -> list[Coordinate]:
    """A minimal set of the literals that keeps s unsat (all of them if s is sat with them)."""
    if s.check(*lits.values()) != z3.unsat:
        return list(lits)
    core = {t.get_id() for t in s.unsat_core()}
    need = [c for c in lits if lits[c].get_id() in core]
    for c in list(need):
        trial = [k for k in need if k != c]
        if s.check(*(lits[k] for k in trial)) == z3.unsat:
            need = trial
    return need


# ------------------------------------------------------------------ searching a class


Value = bool | str | int


class ClassQuery:
    """Inputs of one class under extra conditions, for the reproducers: the
    class (its prime cubes under the premises and assumptions) plus
    `realizable` conditions, asked with atoms fixed to values."""

    def __init__(self, eng: Engine, inst: m.Instance, klass: CexClass, at_most_one: Sequence[Sequence[str]] = (),
                 never: Sequence[tuple[str, int]] = ()) -> None:
        self.eng = eng
        self.lib = eng.lib
        space, _ = instance_space(eng, inst)
        terms = [eng.cube_term({Coordinate(x.name, x.element, x.derived, x.options): x.values for x in t})
                 for t in klass.terms]
        facts = [*space.care, z3.Or(terms)]
        for group in at_most_one:  # set atoms: each element in at most one of them
            names = [a for a in group if a in self.lib.atoms]
            if names:
                for e in self.lib.universes[self.lib.atoms[names[0]].type.name].elements:
                    facts.append(z3.AtMost(*(eng.solver.coord_literal((a, e), True) for a in names), 1))
        for atom, element in never:
            if atom in self.lib.atoms:
                facts.append(eng.solver.coord_literal((atom, element), False))
        self.s = eng.new(*facts)
        self._lits: dict[tuple[str, Value], z3.ExprRef] = {}

    def literal(self, atom: str, value: Value) -> z3.ExprRef:
        key = (atom, value)
        if key not in self._lits:
            typ = self.lib.atoms[atom].type
            if typ.kind == "set":
                assert isinstance(value, int)
                term = z3.And([self.eng.solver.coord_literal((atom, e), bool(value >> e & 1))
                               for e in self.lib.universes[typ.name].elements])
            else:
                term = self.eng.solver.coord_literal((atom, None), value)
            self._lits[key] = term
        return self._lits[key]

    def follows(self, atom: str, leader: str, values: Sequence[str], free_when: Sequence[str]) -> z3.ExprRef | None:
        """`atom` equals `leader` when the leader's value is in `values`; any value when it is in `free_when`."""
        if atom not in self.lib.atoms or leader not in self.lib.atoms:
            return None
        ways = [z3.And(self.literal(leader, v), self.literal(atom, v)) for v in values]
        ways += [self.literal(leader, v) for v in free_when]
        return z3.Or(ways)

    def ask(self, fixed: dict[str, Value], extra: Sequence[z3.ExprRef | None] = ()) -> dict[str, Value] | None:
        """A full input of the class with the atoms of `fixed` (those the library has) at their values, or None."""
        lits = [self.literal(a, v) for a, v in fixed.items() if a in self.lib.atoms]
        lits += [x for x in extra if x is not None]
        if self.s.check(*lits) != z3.sat:
            return None
        return self.eng.solver.assignment(self.s.model())

    def needed(self, prefs: Sequence[tuple[str, int | None, Value]], fixed: dict[str, Value] | None = None,
               extra: Sequence[z3.ExprRef | None] = ()) -> tuple[list[tuple[str, int | None, Value]], dict[str, Value]]:
        """A minimal set (by deletion) of preferred coordinate values the
        class cannot have together with `fixed`, and an input with the rest."""
        prefs = [p for p in prefs if p[0] in self.lib.atoms]
        base = [self.literal(a, v) for a, v in (fixed or {}).items() if a in self.lib.atoms] + [x for x in extra if x is not None]
        lits = {p: self.eng.solver.coord_literal((p[0], p[1]), p[2]) for p in prefs}
        if self.s.check(*base, *lits.values()) == z3.sat:
            return [], self.eng.solver.assignment(self.s.model())
        if self.s.check(*base) != z3.sat:
            raise ClassesError("the class has no input with these fixed values")
        dropped: list[tuple[str, int | None, Value]] = []
        while self.s.check(*base, *(lits[q] for q in prefs if q not in dropped)) == z3.unsat:
            core_ids = {c.get_id() for c in self.s.unsat_core()}
            more = [q for q in prefs if q not in dropped and lits[q].get_id() in core_ids]
            if not more:
                raise ClassesError("the class has no input with these fixed values")
            dropped += more
        for p in list(dropped):  # give back what the class allows
            trial = [lits[q] for q in prefs if q not in dropped or q == p]
            if self.s.check(*base, *trial) == z3.sat:
                dropped.remove(p)
        keep = [lits[q] for q in prefs if q not in dropped]
        answer = self.s.check(*base, *keep)
        if answer != z3.sat:
            raise ClassesError("the solver gave up" if answer == z3.unknown else "a minimal set of changes did not re-check")
        return dropped, self.eng.solver.assignment(self.s.model())
