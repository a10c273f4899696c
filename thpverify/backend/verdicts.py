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
diagrams grow too large, Z3 answers alone (`_by_z3`): the same questions
as guarded queries of one solver, cores re-checked, proofs spot-checked by
the interpreter on inputs Z3 draws. `check` is the entry; counterexamples
are found, minimised and replayed by `counterexamples`.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

import z3

from .. import model as m
from ..results import Verdict, VerdictKind
from ..semantics import evaluate as ev
from .counterexamples import OnDiagrams, OnModel, counterexample
from .diagrams import BDD, Coord, Diagrams
from .solver import SPOT_CHECKS, InternalError, Solver, atoms_of, satisfies

__all__ = ["InternalError", "check", "decide", "from_coords", "replay_proof"]


def check(solver: Solver, inst: m.Instance) -> Verdict:
    """The instance's verdict: the decision diagrams decide, Z3 and the
    interpreter confirm (`decide`); past the diagrams' size budget, Z3
    alone. A disagreement is an `error` verdict."""
    try:
        verdict = solver.on_diagrams(lambda d: decide(solver, d, inst))
        if verdict is not None:
            return verdict
        verdict = _by_z3(solver, inst)
        said = f"answered by Z3 alone: the decision diagrams passed their budget of {solver.diagrams().node_limit} nodes"
        return dataclasses.replace(verdict, checks=(*verdict.checks, said))
    except InternalError as exc:
        return Verdict(inst.property_name, inst.version, VerdictKind.ERROR, inst.expected, str(exc))


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
    if isinstance(inst.claim, m.Op) and inst.claim.op is m.Operator.IMPLIES:
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
    cex = counterexample(solver, inst, OnDiagrams(d, held, claim, atoms))
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
        inputs = solver.drawn(d, held, atoms, SPOT_CHECKS)
        how = "on inputs drawn from the decision diagram"
    return replay_proof(solver.lib, inst, inputs, how, "the engines")




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


# ------------------------------------------------------------------- Z3

def _by_z3(solver: Solver, inst: m.Instance) -> Verdict:
    """The verdict by Z3 alone: guarded queries of one fresh solver."""
    s = solver.fresh()
    premises = [solver.guard(p, "premise") for p in inst.premises]
    lits = [solver.guard(a.expr, f"assume!{a.name}") for a in inst.assumptions]
    return _decide_z3(solver, inst, s, premises + lits)


def _decide_z3(solver: Solver, inst: m.Instance, s: z3.Solver, guards: list[z3.ExprRef]) -> Verdict:
    """`guards`: the premises' literals, then the assumptions'."""
    premises, lits = guards[:len(inst.premises)], guards[len(inst.premises):]
    names = {lit.get_id(): a.name for lit, a in zip(lits, inst.assumptions, strict=True)}
    base: dict[str, Any] = dict(property_name=inst.property_name, version=inst.version, expected=inst.expected)

    r = s.check(*premises, *lits)
    if r == z3.unknown:
        return Verdict(**base, verdict=VerdictKind.UNKNOWN, reason=f"solver: {s.reason_unknown()}")
    if r == z3.unsat:
        core = solver.min_core(s, lits, premises)
        who = ", ".join(names[c.get_id()] for c in core) or "the callers and 'given' clauses"
        return Verdict(**base, verdict=VerdictKind.VACUOUS, reason=f"the premises cannot hold together ({who})",
                       core=tuple(names[c.get_id()] for c in core), checks=("conflict re-checked",))
    if isinstance(inst.claim, m.Op) and inst.claim.op is m.Operator.IMPLIES:
        antecedent = solver.guard(inst.claim.args[0], "antecedent")
        r = s.check(*premises, *lits, antecedent)
        if r == z3.unsat:
            core = solver.min_core(s, lits, [*premises, antecedent])
            return Verdict(**base, verdict=VerdictKind.VACUOUS,
                           reason="the left side of '->' never holds under the premises",
                           core=tuple(names[c.get_id()] for c in core), checks=("conflict re-checked",))
    negated = solver.guard(inst.claim, "refute", negate=True)
    r = s.check(*premises, *lits, negated)
    if r == z3.unknown:
        return Verdict(**base, verdict=VerdictKind.UNKNOWN, reason=f"solver: {s.reason_unknown()}")
    if r == z3.unsat:
        core = solver.min_core(s, lits, [*premises, negated])
        checks = ("core re-checked",) + _spot_check_z3(solver, inst, s, guards)
        return Verdict(**base, verdict=VerdictKind.PROVED, core=tuple(names[c.get_id()] for c in core), checks=checks)
    model = s.model()
    cex = counterexample(solver, inst, OnModel(s, guards, model))
    return Verdict(**base, verdict=VerdictKind.REFUTED, counterexample=cex, checks=(cex.replay,))


def _spot_check_z3(solver: Solver, inst: m.Instance, s: z3.Solver, lits: list[z3.ExprRef]) -> tuple[str, ...]:
    """Evaluate the claim concretely on inputs that satisfy the premises."""
    atoms = atoms_of(solver.lib, [*inst.premises, *(a.expr for a in inst.assumptions), inst.claim])
    coords = solver.coords(atoms)
    inputs: list[dict[str, bool | str | int]] = []
    if len(coords) <= 12 and all(solver.lib.atoms[a].type.kind is not m.TypeKind.ENUM for a in atoms):
        for bits in itertools.product((False, True), repeat=len(coords)):
            inputs.append(from_coords(coords, bits))
        how = "exhaustively"
    else:
        inputs = solver.draw(s, lits, [], atoms, SPOT_CHECKS)
        how = "on solver-drawn inputs"
    return replay_proof(solver.lib, inst, inputs, how, "the solver")
