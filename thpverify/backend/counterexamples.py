"""Counterexamples: the smallest partial assignment that forces a
property's failure, found, minimised and replayed.

A counterexample fixes the fewest coordinates the claim reads: the premises
and assumptions constrain the rest but are not restated. Where the decision
diagrams decided the verdict, the cube is exact (`finite.minimum_cube`) and
confirmed by one Z3 query; where Z3 alone answered, a model is shrunk to an
irreducible cube and then searched for a smaller one (CEGIS over the cube's
size). Either way the interpreter replays the partial assignment (on every
completion, or on completions drawn from the engine), and runs the
predicates the claim reads on one full witness (its decisions and traces).
`counterexample` is the entry; what the failure was found on (`OnDiagrams`,
`OnModel`) says which path runs.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import z3

from .. import model as m
from ..results import Counterexample, Decision, Fixed
from ..semantics import evaluate as ev
from . import finite
from .diagrams import BDD, Coord, Diagrams
from .solver import InternalError, Solver, atoms_of, satisfies, trace_steps, typed_value

CEGIS_ROUNDS = 16
EXHAUSTIVE_LIMIT = 1 << 12
DRAWN = 16  # completions drawn from the decision diagram for the replay

Assignment = dict[str, bool | str | int]


@dataclass(frozen=True)
class OnDiagrams:
    """A failure the decision diagrams found: where the premises and
    assumptions hold (`held`), the claim, and the atoms they read."""

    d: Diagrams
    held: BDD
    claim: BDD
    atoms: list[str]


@dataclass(frozen=True)
class OnModel:
    """A failure Z3 found: its solver, the literals that switch on the
    premises and assumptions, and the failing model."""

    s: z3.Solver
    lits: list[z3.ExprRef]
    model: z3.ModelRef


def counterexample(solver: Solver, inst: m.Instance, found: OnDiagrams | OnModel) -> Counterexample:
    """The instance's smallest counterexample, confirmed and replayed."""
    if isinstance(found, OnDiagrams):
        return _from_diagrams(solver, found.d, inst, found.held, found.claim, found.atoms)
    return _from_model(solver, inst, found.s, found.lits, found.model)


# ------------------------------------------------------- decision diagrams

def _from_diagrams(solver: Solver, d: Diagrams, inst: m.Instance, held: BDD, claim: BDD, atoms: list[str]) -> Counterexample:
    """The smallest cube over the coordinates the claim reads that forces
    the failure wherever the premises hold, and meets them."""
    lib = solver.lib
    claim_atoms = solver.atoms_of([inst.claim])
    claim_coords = d.coords(claim_atoms)
    mine = set(d.variables(claim_atoms))
    others = [v for v in d.order if v not in mine]
    forced = d.bdd.forall(others, ~held | ~claim)
    meets = d.bdd.exist(others, held)
    cube = finite.minimum_cube(d, forced, meets, claim_coords)
    if cube is None:
        raise InternalError(f"no cube forces the failure of {inst.property_name}, yet it fails")
    fixed = tuple(Fixed(name, element, value) for (name, element), value in cube.items())
    answer = solver.unsat([*inst.premises, *(a.expr for a in inst.assumptions), inst.claim], fixed)
    if answer is not True:
        raise InternalError(f"{inst.property_name}: the decision diagrams find a counterexample cube that Z3 does not confirm ({answer})")
    inside = held & ~claim & finite.cube_bdd(d, cube)
    witness = finite.first(d, inside, list(lib.atoms))
    if witness is None:
        raise InternalError(f"the counterexample cube to {inst.property_name} holds no failing input")
    if not satisfies(lib, inst, witness) or ev.value_of(lib, inst.claim, witness) is not False:
        raise InternalError(f"the counterexample to {inst.property_name} does not replay through the interpreter")
    region = held & finite.cube_bdd(d, cube)
    replay = _replay(solver, inst, fixed, d.coords(atoms), functools.partial(_drawn_from_diagram, solver, d, region))
    decisions = _decisions(solver, inst.claim, inst.version, witness)
    shown = tuple((a, solver.atom_value(witness[a], a)) for a in atoms)
    size = f"{len(fixed)} fixed"
    return Counterexample(fixed, shown, decisions, replay, f"{size}; no partial assignment with fewer forces the failure")


def _drawn_from_diagram(solver: Solver, d: Diagrams, region: BDD, atoms: list[str]) -> tuple[list[Assignment], str]:
    inputs: list[Assignment] = list(solver.drawn(d, region, atoms, DRAWN))
    return inputs, f"{len(inputs)} completions drawn from the decision diagram"


# ------------------------------------------------------------------- Z3

def _from_model(solver: Solver, inst: m.Instance, s: z3.Solver, lits: list[z3.ExprRef], model: z3.ModelRef) -> Counterexample:
    atoms = atoms_of(solver.lib, [*inst.premises, *(a.expr for a in inst.assumptions), inst.claim])
    coords = solver.coords(atoms)
    # The partial assignment speaks of what the claim reads; the premises
    # and assumptions constrain the rest but are not restated.
    claim_coords = solver.coords(atoms_of(solver.lib, [inst.claim]))
    hold = [solver.term(p) for p in inst.premises] + [solver.term(a.expr) for a in inst.assumptions]
    claim = solver.term(inst.claim)
    start = solver.assignment(model)
    cube = _irreducible(solver, s, claim_coords, start, [*lits, solver.guard(inst.claim, "claim")])
    cube, witness, settled = _smaller(solver, claim_coords, coords, cube, start, hold, claim, inst)
    fixed = tuple(
        Fixed(name, element, value)
        for (name, element), value in sorted(cube.items(), key=lambda kv: (list(solver.lib.atoms).index(kv[0][0]), kv[0][1] or 0))
    )
    full = {**solver.assignment(model), **witness}
    if not satisfies(solver.lib, inst, full) or ev.value_of(solver.lib, inst.claim, full) is not False:
        raise InternalError(f"the counterexample to {inst.property_name} does not replay through the interpreter")
    replay = _replay(solver, inst, fixed, coords, functools.partial(_drawn_by_solver, solver, s, lits, fixed))
    decisions = _decisions(solver, inst.claim, inst.version, full)
    shown = tuple((a, solver.atom_value(full[a], a)) for a in atoms)
    size = f"{len(fixed)} fixed"
    minimal = (f"{size}; no partial assignment with fewer forces the failure" if settled else
               f"{size}; none can be freed, and the search for fewer stopped after {CEGIS_ROUNDS} rounds")
    return Counterexample(fixed, shown, decisions, replay, minimal)


def _drawn_by_solver(solver: Solver, s: z3.Solver, lits: list[z3.ExprRef], fixed: Sequence[Fixed],
                     atoms: list[str]) -> tuple[list[Assignment], str]:
    inputs = solver.draw(s, lits, [solver.coord_literal((f.atom, f.element), f.value) for f in fixed], atoms)
    return inputs, f"{len(inputs)} completions drawn by the solver"


def _irreducible(solver: Solver, s: z3.Solver, coords: list[Coord], start: dict[str, bool | str | int],
                guards: list[z3.ExprRef]) -> dict[Coord, bool | str | int]:
    """Free coordinates one at a time while the rest still force the
    failure (`guards` switch on the premises, assumptions and claim)."""
    lits = {c: solver.coord_literal(c, solver.coord_value(c, start)) for c in coords}
    if s.check(*guards, *lits.values()) != z3.unsat:
        raise InternalError("a full counterexample did not force the failure")
    core_ids = {x.get_id() for x in s.unsat_core()}
    kept = [c for c in coords if lits[c].get_id() in core_ids]
    for c in list(kept):
        trial = [k for k in kept if k != c]
        if s.check(*guards, *(lits[k] for k in trial)) == z3.unsat:
            kept = trial
    return {c: solver.coord_value(c, start) for c in kept}


def _smaller(solver: Solver, coords: list[Coord], cone: list[Coord], cube: dict[Coord, bool | str | int], start: Assignment,
             hold: list[z3.ExprRef], claim: z3.ExprRef, inst: m.Instance) -> tuple[dict[Coord, bool | str | int], Assignment, bool]:
    """The smallest cube that forces the failure (CEGIS over cube size).

    A candidate is a cube together with a witness in it that fails the
    claim; the verifier looks for a point in the cube where the claim
    holds. Each such point is generalised by the interpreter (free every
    coordinate whose value the three-valued evaluation does not need)
    and the candidate must disagree with it somewhere.
    """
    ctx = solver.c.ctx
    atoms = sorted({a for a, _ in coords}, key=list(solver.lib.atoms).index)
    copy = {a: z3.FreshConst(solver.c.atoms[a].sort(), prefix=f"w_{a}") for a in atoms}
    pairs = [(solver.c.atoms[a], copy[a]) for a in atoms]
    use = [z3.Bool(f"use!{i}", ctx) for i in range(len(coords))]
    val = [z3.FreshConst(solver.coord_term(c).sort(), prefix=f"val{i}") for i, c in enumerate(coords)]
    differs: dict[tuple[int, bool | str | int], z3.ExprRef] = {
        (i, value): z3.And(use[i], val[i] != solver.coord_const(c, value))
        for i, c in enumerate(coords) for value in _options(solver.lib, c)
    }
    cand = solver.new()
    cand.add(*(z3.substitute(h, *pairs) for h in hold), z3.Not(z3.substitute(claim, *pairs)))
    cand.add(*solver.well_formed_copy(copy))
    for u, v, c in zip(use, val, coords, strict=True):
        cand.add(z3.Implies(u, solver.coord_term(c, copy) == v))
    verify = solver.new()
    verify.add(*hold, claim)
    # Generalising a point where the premises and the claim hold: the
    # coordinates (of every atom in the cone) that force both, as a
    # minimised unsat core. A cube that does not contradict the claim
    # coordinates among them contains a point that agrees with all of
    # them, where premises and claim hold: it cannot force the failure,
    # so blocking it is sound.
    general = solver.new()
    general.add(z3.Not(z3.And(*hold, claim)))
    cone_atoms = sorted({a for a, _ in cone}, key=list(solver.lib.atoms).index)
    position = {c: i for i, c in enumerate(coords)}
    wanted = {i for i, c in enumerate(cone) if c in position}
    literal: dict[tuple[int, bool | str | int], z3.ExprRef] = {}
    best, best_witness = cube, start
    rounds, settled = 0, len(best) <= 1
    while not settled and rounds < CEGIS_ROUNDS:
        bound = z3.Bool(f"at_most!{len(best) - 1}", ctx)
        cand.add(z3.Implies(bound, z3.AtMost(*use, len(best) - 1)))
        found = None
        while rounds < CEGIS_ROUNDS:
            rounds += 1
            answer = cand.check(bound)
            if answer != z3.sat:
                settled = answer == z3.unsat
                break
            cm = cand.model()
            chosen = {c: cm.eval(v, model_completion=True) for u, v, c in zip(use, val, coords, strict=True)
                      if z3.is_true(cm.eval(u))}
            if verify.check(*(solver.coord_term(c) == t for c, t in chosen.items())) == z3.unsat:
                found = chosen
                best_witness = {a: solver.c.read(solver.lib.atoms[a], _Renamed(cm, copy)) for a in solver.lib.atoms}
                break
            point = solver.assignment(verify.model(), cone_atoms)
            needed = [position[cone[i]] for i in _generalise(solver, general, cone, point, literal, wanted)
                      if cone[i] in position]
            cand.add(z3.Or([differs[(i, solver.coord_value(coords[i], point))] for i in needed]
                           or [z3.BoolVal(False, ctx)]))
        if found is None:
            break
        best = {c: _py(solver, c, t) for c, t in found.items()}
        settled = len(best) <= 1
    return best, best_witness, settled


def _generalise(solver: Solver, general: z3.Solver, coords: list[Coord], point: dict[str, bool | str | int],
               literal: dict[tuple[int, bool | str | int], z3.ExprRef], wanted: set[int]) -> list[int]:
    """Indices of the coordinates of a point where the premises and the
    claim hold that force them to hold (an unsat core). Only the indices
    in `wanted` end up in a blocking clause, so only those are minimised
    (by deletion); the others stay fixed as background."""
    lits = []
    for i, c in enumerate(coords):
        key = (i, solver.coord_value(c, point))
        if key not in literal:
            literal[key] = solver.coord_literal(c, key[1])
        lits.append(literal[key])
    if general.check(*lits) != z3.unsat:
        return list(range(len(coords)))
    core = {x.get_id() for x in general.unsat_core()}
    return [i for i, lit in enumerate(lits) if lit.get_id() in core or i not in wanted]

def _py(solver: Solver, coord: Coord, term: z3.ExprRef) -> bool | str | int:
    name, element = coord
    if element is not None or solver.lib.atoms[name].type.kind is m.TypeKind.BOOL:
        return bool(z3.is_true(term))
    return str(term)[len(name) + 1:]


# ---------------------------------------------------------------- replay

def _replay(solver: Solver, inst: m.Instance, fixed: Sequence[Fixed], coords: list[Coord],
            draw: Callable[[list[str]], tuple[list[Assignment], str]]) -> str:
    """The interpreter's look at a partial counterexample: the claim is
    false with every other atom unknown, or on every completion that meets
    the premises (all of them when few, else those `draw` gives)."""
    lib = solver.lib
    partial = solver.partial(fixed)
    if ev.value_of(lib, inst.claim, partial) is False:
        return "replayed: the interpreter finds the claim false with every other atom unknown"
    pinned = {(f.atom, f.element) for f in fixed}
    free = [c for c in coords if c not in pinned]
    total = 1
    for c in free:
        total *= len(_options(lib, c))
    if total <= EXHAUSTIVE_LIMIT:
        inputs = [_complete(solver, partial, free, combo) for combo in itertools.product(*(_options(lib, c) for c in free))]
        how = f"all {total} completions"
    else:
        inputs, how = draw(sorted({a for a, _ in coords}, key=list(lib.atoms).index))
    checked = 0
    for assignment in inputs:
        if not satisfies(lib, inst, assignment):
            continue
        checked += 1
        if ev.value_of(lib, inst.claim, assignment) is not False:
            raise InternalError(f"the partial counterexample to {inst.property_name} does not force the failure")
    if not checked:
        raise InternalError(f"no completion of the counterexample to {inst.property_name} satisfies the premises")
    return f"replayed: the interpreter finds the claim false on {how} ({checked} satisfy the premises)"


def _options(lib: m.Library, coord: Coord) -> tuple[bool | str, ...]:
    name, element = coord
    atom = lib.atoms[name]
    if element is None and atom.type.kind is m.TypeKind.ENUM:
        return atom.values
    return (False, True)


def _complete(solver: Solver, partial: dict[str, bool | str | int | ev.PSet], free: list[Coord],
              combo: Sequence[bool | str]) -> dict[str, bool | str | int]:
    out: dict[str, bool | str | int] = {}
    for name, value in partial.items():
        out[name] = value.bits if isinstance(value, ev.PSet) else value
    for (name, element), value in zip(free, combo, strict=True):
        if element is None:
            out[name] = value
        else:
            out[name] = int(out.get(name, 0)) | (int(bool(value)) << element)
    for name, value in solver.defaults().items():
        out.setdefault(name, value)
    return out


# -------------------------------------------------------------- decisions

def _decisions(solver: Solver, claim: m.Expr, version: str, assignment: ev.Assignment) -> tuple[Decision, ...]:
    """Each parameterless predicate the claim reads, run on the input with its trace."""
    calls = m.predicate_calls(solver.lib, claim)
    return tuple(_decision(solver, v, name, assignment) for v, name in calls)

def _decision(solver: Solver, version: str, name: str, assignment: ev.Assignment) -> Decision:
    out = ev.run(solver.lib, version, name, assignment)
    rule = out.rule
    return Decision(
        version, name, typed_value(out.value),  # type: ignore[arg-type]  # a full input: the value is known
        rule.id if rule else None, rule.span if rule else None, rule.cite if rule else None,
        trace_steps(out.trace),
    )


class _Renamed:
    """Read a model of the witness copy as if it were a model of the atoms."""

    def __init__(self, model: z3.ModelRef, copy: dict[str, z3.ExprRef]) -> None:
        self.model = model
        self.copy = copy

    def eval(self, term: z3.ExprRef, model_completion: bool = False) -> z3.ExprRef:
        name = str(term)
        return self.model.eval(self.copy.get(name, term), model_completion=model_completion)
