"""Three-valued explanation: what a predicate says on a partly described
input, and why.

`evaluate` answers for the inputs that agree with the given values and
meet the version's named assumptions: the value when every such input
gives the same (with the deciding rule when that is the same too), "no
such input" with a minimal core of the assumptions the given values
contradict, or "depends" with the exact set of atoms it depends on (the
atoms of some prime implicant of some value, on the decision diagrams;
past their budget, the atoms whose single flip changes the answer, by Z3).
The trace is the interpreter's, on the given values (or, when those leave
it undecided but the value is fixed, on one completion). `eval`,
`timeline`, `smaps` and `reproduce` ask this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import z3

from .. import model as m
from ..results import EvalResult, Fixed, Value, set_members
from ..semantics import evaluate as ev
from . import finite
from .solver import InternalError, Solver, atoms_of, trace_steps


def evaluate(solver: Solver, version: str, name: str, given: Sequence[Fixed]) -> EvalResult:
    """The predicate's value on every input that agrees with `given` and
    meets the version's assumptions: known (with the deciding rule when
    that is fixed too), no such input (the assumptions it contradicts), or
    depends (on which atoms)."""
    fn = solver.lib.function(version, name)
    partial = solver.partial(given)
    assumptions = solver.lib.versions[version].assumptions
    value, rule = solver.c.function(version, name)
    s = solver.new()
    lits = []
    for a in assumptions:
        lit = z3.Bool(f"assume!{a.name}", solver.c.ctx)
        s.add(z3.Implies(lit, solver.term(a.expr)))
        lits.append(lit)
    fixes = [solver.coord_literal((f.atom, f.element), f.value) for f in given]
    s.add(*fixes)
    trace = trace_steps(ev.run(solver.lib, version, name, partial).trace)
    common: dict[str, Any] = dict(version=version, predicate=name, given=tuple(given))
    r = s.check(*lits)
    if r == z3.unsat:
        names = {lit.get_id(): a.name for lit, a in zip(lits, assumptions, strict=True)}
        core = solver.min_core(s, lits, [])
        who = tuple(names[c.get_id()] for c in core)
        return EvalResult(**common, value=None, depends_on=(), rule=None, rule_at=None, kernel=None, trace=trace,
                          note="this input contradicts the assumptions " + ", ".join(who), contradicts=who)
    if r == z3.unknown:
        raise InternalError(f"solver: {s.reason_unknown()}")
    s.add(*lits)
    s.check()
    model = s.model()
    v0 = model.eval(value, model_completion=True)
    r0 = model.eval(rule, model_completion=True)
    if s.check(value != v0) == z3.unsat:
        shown = _term_value(fn.returns, v0)
        kleene = ev.run(solver.lib, version, name, partial)
        completed = not kleene.known
        if completed:
            full = {**solver.assignment(model), **partial}
            trace = trace_steps(ev.run(solver.lib, version, name, full).trace)
        decided = s.check(rule != r0) == z3.unsat
        the_rule = solver.c.rules[r0.as_long()] if decided else None  # type: ignore[attr-defined]
        return EvalResult(**common, value=shown, depends_on=(), rule=the_rule.id if the_rule else None,
                          rule_at=the_rule.span if the_rule else None,
                          kernel=the_rule.cite if the_rule else None, trace=trace,
                          note="" if the_rule else "the value is fixed but the deciding rule depends on unknown atoms",
                          completed=completed)
    depends = _depends(solver, version, name, given, assumptions)
    return EvalResult(**common, value=None, depends_on=tuple(depends), rule=None, rule_at=None, kernel=None, trace=trace)


def _term_value(typ: m.Type, term: z3.ExprRef) -> Value:
    if typ.kind is m.TypeKind.BOOL:
        return bool(z3.is_true(term))
    if typ.kind is m.TypeKind.ENUM:
        return str(term)[len(typ.name) + 1:]
    if typ.kind is m.TypeKind.SET:
        return set_members(term.as_long())  # type: ignore[attr-defined]
    return int(term.as_long())  # type: ignore[attr-defined, no-any-return]


def _depends(solver: Solver, version: str, name: str, given: Sequence[Fixed],
             assumptions: Sequence[m.Assumption]) -> list[str]:
    """The atoms not given that occur in some prime implicant of some
    value of the output, relative to the given values and the
    assumptions (finite.depends): each can, with others, settle the
    answer. Exact, on decision diagrams; past their budget, the atoms
    whose single flip (the rest fixed) changes the answer, by Z3."""
    exact = solver.on_diagrams(lambda d: _depends_exact(solver, version, name, given, assumptions))
    return exact if exact is not None else _depends_flip(solver, version, name, given, assumptions)


def _depends_exact(solver: Solver, version: str, name: str, given: Sequence[Fixed],
                   assumptions: Sequence[m.Assumption]) -> list[str]:
    d = solver.diagrams()
    value, _ = d.function(version, name)
    care = d.bdd_and(d.term(a.expr) for a in assumptions) & d.bdd_and(d.literal((f.atom, f.element), f.value) for f in given)
    classes = [cond for _, cond in d.values(value, solver.lib.function(version, name).returns)]
    atoms = finite.atoms_read(d, care, *classes)
    care &= d.domain(atoms)
    coords = d.coords(atoms)
    pinned = {(f.atom, f.element) for f in given} | {(f.atom, c[1]) for f in given if f.element is None for c in coords
                                                     if c[0] == f.atom}
    found = finite.depends(d, [care & c for c in classes], care, coords, [c for c in coords if c not in pinned])
    return [a for a in atoms if any(c[0] == a for c in found)]


def _depends_flip(solver: Solver, version: str, name: str, given: Sequence[Fixed],
                  assumptions: Sequence[m.Assumption]) -> list[str]:
    """Free atoms whose value alone can change the answer (one flip, the rest fixed)."""
    value, _ = solver.c.function(version, name)
    pinned = {f.atom for f in given if f.element is None}
    cone = [a for a in atoms_of(solver.lib, [m.Call(version, name, (), m.BOOL, solver.lib.versions[version].span)])
            if a not in pinned]
    out = []
    for atom in cone:
        other = z3.FreshConst(solver.c.atoms[atom].sort(), prefix=f"flip_{atom}")
        pair = (solver.c.atoms[atom], other)
        s = solver.new()
        s.add(*solver.well_formed_copy({atom: other}))
        for a in assumptions:
            t = solver.term(a.expr)
            s.add(t, z3.substitute(t, pair))
        for f in given:
            lit = solver.coord_literal((f.atom, f.element), f.value)
            s.add(lit, z3.substitute(lit, pair))
        s.add(value != z3.substitute(value, pair))
        if s.check() == z3.sat:
            out.append(atom)
    return out or cone
