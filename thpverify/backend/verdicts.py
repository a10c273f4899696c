"""Deciding a verdict: decision diagrams answer, Z3 and the interpreter confirm.

For one property instance, with H the premises and the named assumptions:
H empty is vacuous; `p -> q` with H & p empty is vacuous; H & !claim empty
is proved; otherwise refuted, with a counterexample that fixes the fewest
coordinates the claim reads (exact: the smallest cube over those
coordinates that forces the failure under H and meets H).

Every answer is confirmed before it is returned:
- a vacuity or a proof by one Z3 query (its core of named assumptions,
  with the premises, must be unsat), so both engines agree on it, and the
  proof is also spot-checked by the interpreter on inputs drawn from H;
- a counterexample cube by one Z3 query (the cube, the premises and the
  assumptions entail the failure), and the interpreter replays it.
A disagreement raises InternalError (exit 6, never a verdict). Where the
diagrams grow too large, the Z3 path of `solver.Solver` answers alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import errors
from .. import model as m
from ..results import Counterexample, Fixed, Verdict, VerdictKind
from ..semantics import evaluate as ev
from . import finite
from .diagrams import BDD, Coord, Diagrams

if TYPE_CHECKING:
    from .solver import Solver

SPOT_CHECKS = 2
EXHAUSTIVE_LIMIT = 1 << 12
DRAWN = 16


class InternalError(errors.InternalError):
    """The engines, or an engine and the interpreter, disagree: a bug in thpverify (exit 6)."""


def decide(solver: Solver, d: Diagrams, inst: m.Instance) -> Verdict:
    base: dict[str, Any] = dict(property_name=inst.property_name, version=inst.version, expected=inst.expected)
    atoms = solver.atoms_of([*inst.premises, *(a.expr for a in inst.assumptions), inst.claim])
    premises = d.domain(atoms) & d.bdd_and(d.term(p) for p in inst.premises)
    lits = [d.term(a.expr) for a in inst.assumptions]
    held = premises & d.bdd_and(lits)
    if held == d.false:
        core = _core(d, premises, lits, inst)
        _confirm_unsat(solver, inst, core, [], "the premises conflict")
        who = ", ".join(core) or "the callers and 'given' clauses"
        return Verdict(**base, verdict=VerdictKind.VACUOUS, reason=f"the premises cannot hold together ({who})",
                       core=tuple(core), checks=("conflict re-checked",))
    if isinstance(inst.claim, m.Op) and inst.claim.op == "implies":
        antecedent = d.term(inst.claim.args[0])
        if held & antecedent == d.false:
            core = _core(d, premises & antecedent, lits, inst)
            _confirm_unsat(solver, inst, core, [inst.claim.args[0]], "the antecedent never holds")
            return Verdict(**base, verdict=VerdictKind.VACUOUS, reason="the left side of '->' never holds under the premises",
                           core=tuple(core), checks=("conflict re-checked",))
    claim = d.term(inst.claim)
    failing = held & ~claim
    if failing == d.false:
        core = _core(d, premises & ~claim, lits, inst)
        _confirm_unsat(solver, inst, core, [], "the proof", negated=[inst.claim])
        checks = ("core re-checked", "proved by both engines") + _spot_check(solver, d, inst, held, atoms)
        return Verdict(**base, verdict=VerdictKind.PROVED, core=tuple(core), checks=checks)
    cex = _counterexample(solver, d, inst, held, claim, atoms)
    return Verdict(**base, verdict=VerdictKind.REFUTED, counterexample=cex, checks=(cex.replay,))


def _core(d: Diagrams, rest: BDD, lits: Sequence[BDD], inst: m.Instance) -> list[str]:
    """A minimal set of named assumptions that, with `rest`, has no input:
    drop each in turn while the others still conflict. The trial without
    the i-th is `rest`, the ones kept before it and all after it: the
    conjunctions of the latter are built once, from the end."""
    after = [d.true]
    for lit in reversed(lits):
        after.append(after[-1] & lit)
    after.reverse()  # after[i]: every literal from i on
    before = rest  # rest and the literals kept so far
    kept = []
    for i, lit in enumerate(lits):
        if before & after[i + 1] != d.false:
            kept.append(i)
            before &= lit
    return [inst.assumptions[k].name for k in kept]


def _confirm_unsat(solver: Solver, inst: m.Instance, core: Sequence[str], extra: Sequence[m.Expr], what: str,
                   negated: Sequence[m.Expr] = ()) -> None:
    facts = [*inst.premises, *(a.expr for a in inst.assumptions if a.name in core), *extra]
    answer = solver.unsat(facts, negated=negated)
    if answer is not True:
        raise InternalError(f"{inst.property_name} on {inst.version or 'its versions'}: the decision diagrams find {what} "
                            f"under {', '.join(core) or 'the premises alone'}, Z3 answers {answer}")


def _spot_check(solver: Solver, d: Diagrams, inst: m.Instance, held: BDD, atoms: list[str]) -> tuple[str, ...]:
    """Evaluate the claim with the interpreter on inputs where the premises hold."""
    coords = d.coords(atoms)
    if len(coords) <= 12 and all(solver.lib.atoms[a].type.kind is not m.TypeKind.ENUM for a in atoms):
        inputs: list[dict[str, bool | str | int]] = []
        for bits in itertools.product((False, True), repeat=len(coords)):
            inputs.append(from_coords(coords, bits))
        how = "exhaustively"
    else:
        inputs = _complete(solver, finite.assignments(d, held, atoms, SPOT_CHECKS))
        how = "on inputs drawn from the decision diagram"
    return replay_proof(solver.lib, inst, inputs, how, "the engines")


def _complete(solver: Solver, points: list[dict[str, bool | str | int]]) -> list[dict[str, bool | str | int]]:
    defaults = solver.defaults()
    return [{**defaults, **point} for point in points]


def from_coords(coords: list[Coord], bits: Sequence[bool]) -> dict[str, bool | str | int]:
    """An assignment of atoms from the bits of coordinates (a set atom's elements or'ed together)."""
    out: dict[str, bool | str | int] = {}
    for (name, element), bit in zip(coords, bits, strict=True):
        if element is None:
            out[name] = bit
        else:
            out[name] = int(out.get(name, 0)) | (int(bit) << element)
    return out


def replay_proof(lib: m.Library, inst: m.Instance, inputs: Sequence[ev.Assignment], how: str, who: str) -> tuple[str, ...]:
    """The interpreter's look at a proof: the claim is true on every input
    that meets the premises and assumptions; otherwise `who` proved a falsehood."""
    checked = 0
    for assignment in inputs:
        if not satisfies(lib, inst, assignment):
            continue
        checked += 1
        if ev.value_of(lib, inst.claim, assignment) is not True:
            raise InternalError(f"{who} proved {inst.property_name} but the interpreter finds it false on {dict(assignment)}")
    return (f"interpreter agrees {how} ({checked} inputs)",)


def satisfies(lib: m.Library, inst: m.Instance, assignment: ev.Assignment) -> bool:
    """Whether the interpreter finds every premise and assumption of the instance true."""
    exprs = [*inst.premises, *(a.expr for a in inst.assumptions)]
    return all(ev.value_of(lib, e, assignment) is True for e in exprs)


def _counterexample(solver: Solver, d: Diagrams, inst: m.Instance, held: BDD, claim: BDD, atoms: list[str]) -> Counterexample:
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
    replay = _replay_partial(solver, d, inst, held & finite.cube_bdd(d, cube), fixed, d.coords(atoms))
    decisions = solver.decisions(inst.claim, inst.version, witness)
    shown = tuple((a, solver.atom_value(witness[a], a)) for a in atoms)
    size = f"{len(fixed)} fixed"
    return Counterexample(fixed, shown, decisions, replay, f"{size}; no partial assignment with fewer forces the failure")


def _replay_partial(solver: Solver, d: Diagrams, inst: m.Instance, region: BDD, fixed: Sequence[Fixed], coords: list[Coord]) -> str:
    lib = solver.lib
    partial = solver.partial(fixed)
    if ev.value_of(lib, inst.claim, partial) is False:
        return "replayed: the interpreter finds the claim false with every other atom unknown"
    pinned = {(f.atom, f.element) for f in fixed}
    free = [c for c in coords if c not in pinned]
    total = 1
    for c in free:
        total *= len(d.options(c))
    if total <= EXHAUSTIVE_LIMIT:
        inputs: list[dict[str, bool | str | int]] = [solver.complete(partial, free, combo)
                                                     for combo in itertools.product(*map(d.options, free))]
        how = f"all {total} completions"
    else:
        atoms = sorted({a for a, _ in coords}, key=list(lib.atoms).index)
        inputs = _complete(solver, finite.assignments(d, region, atoms, DRAWN))
        how = f"{len(inputs)} completions drawn from the decision diagram"
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
