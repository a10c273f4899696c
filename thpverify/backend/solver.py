"""Z3 behind one door: prove / refute / vacuous / unknown, minimal
counterexamples, assumption cores, and three-valued evaluation.

Every answer is looked at twice: counterexamples are replayed through the
concrete interpreter, cores are re-checked, proofs are spot-checked on
inputs the solver draws.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import z3

from .. import model as m
from ..results import Counterexample, Decision, EvalResult, Fixed, Value, Verdict, VerdictKind, set_members, show, to_value
from ..semantics import evaluate as ev
from ..semantics import walk
from . import finite
from .compiler import Compiler
from .diagrams import Diagrams, TooLargeError
from .verdicts import InternalError, decide, from_coords, replay_proof, satisfies

TIMEOUT_MS = 20_000
RLIMIT = 50_000_000
CEGIS_ROUNDS = 16
SPOT_CHECKS = 2
EXHAUSTIVE_LIMIT = 1 << 12


# ------------------------------------------------------------- coordinates

Coord = tuple[str, int | None]  # (atom, element of a set atom or None)


def atoms_of(lib: m.Library, exprs: Iterable[m.Expr]) -> list[str]:
    """Atoms an expression reads, through the predicates it calls; declaration order."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()

    def expr(e: m.Expr) -> None:
        if isinstance(e, m.AtomRef):
            found.add(e.name)
        elif isinstance(e, m.Call):
            for a in e.args:
                expr(a)
            if (e.version, e.name) not in seen:
                seen.add((e.version, e.name))
                stmts(lib.function(e.version, e.name).body)
        elif isinstance(e, m.Op):
            for a in e.args:
                expr(a)

    def stmts(body: Sequence[m.Stmt]) -> None:
        for st in walk.statements(body):
            expr(st.test if isinstance(st, m.SIf) else st.value)

    for e in exprs:
        expr(e)
    return [a for a in lib.atoms if a in found]


def show_value(value: ev.Value) -> str:
    """A value for people: sets in braces, unknown as '?'."""
    typed = typed_value(value)
    return "?" if typed is None else show(typed)


def typed_value(value: ev.Value) -> Value | None:
    """A value as data (a set as its orders); None when not known."""
    if isinstance(value, ev.PSet):
        return set_members(value.bits) if value.known == ev.ALL else None
    return value


class Solver:
    """Checks and evaluations for one library.

    Terms are compiled once per library. Each check has a solver of its
    own (a solver shared by many checks slows down as their facts pile up):
    each fact a query of the check needs (a premise, an assumption, the
    claim, a blocking clause) is added once, guarded by a literal of its
    own, and a query assumes the literals it needs. push/pop is not used:
    it puts Z3 in a slower incremental mode.
    """

    def __init__(self, lib: m.Library, timeout_ms: int = TIMEOUT_MS, rlimit: int = RLIMIT) -> None:
        self.lib = lib
        self.c = Compiler(lib)
        self.timeout_ms = timeout_ms
        self.rlimit = rlimit
        self._terms: dict[int, tuple[m.Expr, z3.ExprRef]] = {}
        self._guards: dict[tuple[int, bool], z3.ExprRef] = {}
        self._fresh = 0
        self._current: z3.Solver | None = None
        self._order = {name: i for i, name in enumerate(lib.atoms)}
        self._diagrams: Diagrams | None = None
        self._too_large = False
        self._well_formed: list[z3.BoolRef] | None = None
        self._confirm: z3.Solver | None = None
        self._switches: dict[tuple[object, ...], tuple[object, z3.ExprRef]] = {}

    def diagrams(self) -> Diagrams:
        """The library's decision diagrams, built on first use."""
        if self._diagrams is None:
            self._diagrams = Diagrams(self.lib)
        return self._diagrams

    def atoms_of(self, exprs: Iterable[m.Expr]) -> list[str]:
        return atoms_of(self.lib, exprs)

    def unsat(self, exprs: Sequence[m.Expr], fixed: Sequence[Fixed] = (), negated: Sequence[m.Expr] = ()) -> bool | str:
        """Z3's word on whether the expressions, the negations of `negated`
        and the fixed coordinates hold together: True when they cannot,
        False when they can, else the reason it does not know."""
        s = self._confirming()
        switches = [*(self._switch(("term", id(e), False), e, partial(self.term, e)) for e in exprs),
                    *(self._switch(("term", id(e), True), e, partial(self._negation, e)) for e in negated),
                    *(self._switch(("fixed", f.atom, f.element, f.value), None,
                                   partial(self.coord_literal, (f.atom, f.element), f.value)) for f in fixed)]
        r = s.check(*switches)
        if r == z3.unknown:
            return f"unknown ({s.reason_unknown()})"
        return bool(r == z3.unsat)

    def entails(self, facts: Sequence[m.Expr], cube: dict[Coord, tuple[bool | str, ...]],
                sides: Sequence[tuple[str, str, bool | str | int, m.Rule | None]], false: Sequence[m.Expr] = ()) -> bool | str:
        """Z3's word on whether the facts and the cube (a set of values per
        coordinate; a coordinate named after a bool def is that condition)
        force each (version, output) to the value, decided by the rule, and
        each expression of `false` false: True when they do, False when
        not, else why it does not know."""
        lits = []
        for (name, element), values in cube.items():
            if name not in self.lib.atoms:
                term = self.c.function("", name)[0]
                lits.append(z3.Or([term if v else z3.Not(term) for v in values]))
            else:
                lits.append(z3.Or([self.coord_literal((name, element), v) for v in values]))
        want = []
        for version, output, value, rule in sides:
            v, r = self.c.function(version, output)
            typ = self.lib.function(version, output).returns
            if typ.kind is m.TypeKind.BOOL:
                want.append(v == z3.BoolVal(bool(value), self.c.ctx))
            elif typ.kind is m.TypeKind.ENUM:
                want.append(v == self.c.constructors[typ.name][str(value)])
            else:
                want.append(v == z3.BitVecVal(int(value), v.size(), self.c.ctx))  # type: ignore[attr-defined]
            if rule is not None:
                want.append(r == z3.BitVecVal(self.c.rule_index(rule), r.size(), self.c.ctx))  # type: ignore[attr-defined]
        want.extend(z3.Not(self.term(e)) for e in false)
        s = self.new()
        s.add(*(self.term(e) for e in facts), *lits, z3.Not(z3.And(*want)))
        r = s.check()
        if r == z3.unknown:
            return f"unknown ({s.reason_unknown()})"
        return bool(r == z3.unsat)

    def agree(self, facts: Sequence[m.Expr], a: str, b: str, output: str) -> bool | str:
        """Z3's word on whether the facts force versions a and b to give the output the same value."""
        s = self.new()
        s.add(*(self.term(e) for e in facts), self.c.function(a, output)[0] != self.c.function(b, output)[0])
        r = s.check()
        if r == z3.unknown:
            return f"unknown ({s.reason_unknown()})"
        return bool(r == z3.unsat)

    def defaults(self) -> dict[str, bool | str | int]:
        """Each atom's type's first value: false, the first enum value, {}."""
        return {name: 0 if atom.type.kind is m.TypeKind.SET else (atom.values[0] if atom.values else False)
                for name, atom in self.lib.atoms.items()}

    def atom_value(self, value: bool | str | int, name: str) -> Value:
        """An atom's value as data (a set as its orders)."""
        return to_value(value, self.lib.atoms[name].type.kind is m.TypeKind.SET)

    def complete(self, partial: dict[str, bool | str | int | ev.PSet], free: list[Coord],
                 combo: Sequence[bool | str]) -> dict[str, bool | str | int]:
        return self._complete(partial, free, combo)

    def new(self) -> z3.Solver:
        s = z3.Solver(ctx=self.c.ctx)
        s.set("timeout", self.timeout_ms)
        s.set("rlimit", self.rlimit)
        s.set("random_seed", 0)
        if self._well_formed is None:
            self._well_formed = self.c.well_formed()
        s.add(*self._well_formed)
        return s

    def _confirming(self) -> z3.Solver:
        """One solver for the confirmations (`unsat`) of every check made with
        this Solver: each fact is added once, switched on by a literal of its
        own, and a query assumes the switches of its facts. The function
        terms are then taken in by Z3 once, not once per query."""
        if self._confirm is None:
            self._confirm = self.new()
        return self._confirm

    def _switch(self, key: tuple[object, ...], keep: object, fact: Callable[[], z3.ExprRef]) -> z3.ExprRef:
        """The literal that switches a fact on in the confirming solver; `keep`
        is kept alive so that an id in the key is not reused."""
        if key not in self._switches:
            self._switches[key] = (keep, self.guarded(self._confirming(), [fact()], "fact"))
        return self._switches[key][1]

    def _negation(self, e: m.Expr) -> z3.ExprRef:
        return z3.Not(self.term(e))

    def term(self, e: m.Expr) -> z3.ExprRef:
        """A closed expression of the library, compiled once."""
        key = id(e)
        if key not in self._terms:
            self._terms[key] = (e, self.c.expr(e))  # the expression is kept so its id is not reused
        return self._terms[key][1]

    def current(self) -> z3.Solver:
        """The current check's solver."""
        if self._current is None:
            self._current = self.new()
        return self._current

    def fresh(self) -> z3.Solver:
        """Start a new check: a new solver, no guards yet."""
        self._current = None
        self._guards = {}
        return self.current()

    def guard(self, e: m.Expr, name: str, negate: bool = False) -> z3.ExprRef:
        """The literal that switches a closed expression (or its negation) on in the current solver."""
        key = (id(e), negate)
        if key not in self._guards:
            term = self.term(e)
            self._guards[key] = self.guarded(self.current(), [z3.Not(term) if negate else term], name)
        return self._guards[key]

    def guarded(self, s: z3.Solver, facts: Sequence[z3.ExprRef], name: str = "when") -> z3.ExprRef:
        """Add facts to s, switched on only when the returned literal is assumed."""
        self._fresh += 1
        lit = z3.Bool(f"{name}!{self._fresh}", self.c.ctx)
        if facts:
            s.add(z3.Implies(lit, z3.And(*facts)))
        return lit

    # ------------------------------------------------------- coordinates

    def coords(self, atoms: Iterable[str]) -> list[Coord]:
        out: list[Coord] = []
        for name in atoms:
            atom = self.lib.atoms[name]
            if atom.type.kind is m.TypeKind.SET:
                out.extend((name, k) for k in self.lib.universes[atom.type.name].elements)
            else:
                out.append((name, None))
        return out

    def coord_term(self, coord: Coord, subst: dict[str, z3.ExprRef] | None = None) -> z3.ExprRef:
        name, element = coord
        term = (subst or {}).get(name, self.c.atoms[name])
        if element is None:
            return term
        return z3.Extract(element, element, term) == 1

    def coord_value(self, coord: Coord, assignment: dict[str, bool | str | int]) -> bool | str | int:
        name, element = coord
        value = assignment[name]
        if element is None:
            return value
        assert isinstance(value, int)
        return bool(value >> element & 1)

    def coord_literal(self, coord: Coord, value: bool | str | int) -> z3.ExprRef:
        name, element = coord
        if element is None:
            atom = self.lib.atoms[name]
            if atom.type.kind is m.TypeKind.BOOL:
                return self.c.atoms[name] if value else z3.Not(self.c.atoms[name])
            return self.c.atoms[name] == self.c.value(atom, value)
        term = self.coord_term(coord)
        return term if value else z3.Not(term)

    def coord_const(self, coord: Coord, value: bool | str | int) -> z3.ExprRef:
        name, element = coord
        atom = self.lib.atoms[name]
        if element is None and atom.type.kind is m.TypeKind.ENUM:
            return self.c.value(atom, value)
        return z3.BoolVal(bool(value), self.c.ctx)

    def assignment(self, model: z3.ModelRef, atoms: Iterable[str] | None = None) -> dict[str, bool | str | int]:
        """Atoms' values in a model; an atom the model leaves free takes its default."""
        names = list(atoms) if atoms is not None else list(self.lib.atoms)
        return self.c.read_all([self.lib.atoms[a] for a in names], model)

    def partial(self, fixed: Sequence[Fixed]) -> dict[str, bool | str | int | ev.PSet]:
        out: dict[str, bool | str | int | ev.PSet] = {}
        for f in fixed:
            if f.element is None:
                out[f.atom] = f.value
                continue
            old = out.get(f.atom)
            pset = old if isinstance(old, ev.PSet) else ev.unknown_set(self.lib.universes[self.lib.atoms[f.atom].type.name])
            bit = 1 << f.element
            out[f.atom] = ev.PSet(pset.known | bit, (pset.bits & ~bit) | (bit if f.value else 0))
        return out

    # ------------------------------------------------------------ verdicts

    def check(self, inst: m.Instance) -> Verdict:
        """Decision diagrams decide, Z3 and the interpreter confirm
        (verdicts.decide); past the diagrams' size budget, Z3 alone."""
        try:
            if not self._too_large:
                try:
                    return decide(self, self.diagrams(), inst)
                except TooLargeError:
                    self._too_large = True
            verdict = self._check(inst)
            said = f"answered by Z3 alone: the decision diagrams passed their budget of {self.diagrams().node_limit} nodes"
            return dataclasses.replace(verdict, checks=(*verdict.checks, said))
        except InternalError as exc:
            return Verdict(inst.property_name, inst.version, VerdictKind.ERROR, inst.expected, str(exc))

    def _check(self, inst: m.Instance) -> Verdict:
        s = self.fresh()
        premises = [self.guard(p, "premise") for p in inst.premises]
        lits = [self.guard(a.expr, f"assume!{a.name}") for a in inst.assumptions]
        return self._decide(inst, s, premises + lits)

    def _decide(self, inst: m.Instance, s: z3.Solver, guards: list[z3.ExprRef]) -> Verdict:
        """`guards`: the premises' literals, then the assumptions'."""
        premises, lits = guards[:len(inst.premises)], guards[len(inst.premises):]
        names = {lit.get_id(): a.name for lit, a in zip(lits, inst.assumptions, strict=True)}
        base: dict[str, Any] = dict(property_name=inst.property_name, version=inst.version, expected=inst.expected)

        r = s.check(*premises, *lits)
        if r == z3.unknown:
            return Verdict(**base, verdict=VerdictKind.UNKNOWN, reason=f"solver: {s.reason_unknown()}")
        if r == z3.unsat:
            core = self.min_core(s, lits, premises)
            who = ", ".join(names[c.get_id()] for c in core) or "the callers and 'given' clauses"
            return Verdict(**base, verdict=VerdictKind.VACUOUS, reason=f"the premises cannot hold together ({who})",
                           core=tuple(names[c.get_id()] for c in core), checks=("conflict re-checked",))
        if isinstance(inst.claim, m.Op) and inst.claim.op == "implies":
            antecedent = self.guard(inst.claim.args[0], "antecedent")
            r = s.check(*premises, *lits, antecedent)
            if r == z3.unsat:
                core = self.min_core(s, lits, [*premises, antecedent])
                return Verdict(**base, verdict=VerdictKind.VACUOUS,
                               reason="the left side of '->' never holds under the premises",
                               core=tuple(names[c.get_id()] for c in core), checks=("conflict re-checked",))
        negated = self.guard(inst.claim, "refute", negate=True)
        r = s.check(*premises, *lits, negated)
        if r == z3.unknown:
            return Verdict(**base, verdict=VerdictKind.UNKNOWN, reason=f"solver: {s.reason_unknown()}")
        if r == z3.unsat:
            core = self.min_core(s, lits, [*premises, negated])
            checks = ("core re-checked",) + self._spot_check(inst, s, guards)
            return Verdict(**base, verdict=VerdictKind.PROVED, core=tuple(names[c.get_id()] for c in core), checks=checks)
        model = s.model()
        cex = self._counterexample(inst, s, guards, model)
        return Verdict(**base, verdict=VerdictKind.REFUTED, counterexample=cex, checks=(cex.replay,))

    def find(self, exprs: Sequence[m.Expr]) -> dict[str, bool | str | int] | None:
        """An input on which every closed bool expression holds, or None when
        there is none. Both engines decide it and must agree (the decision
        diagrams, when they fit, and Z3); an input found is replayed by the
        interpreter. Raises InternalError on a disagreement or when Z3 gives up."""
        none = self.unsat(exprs)
        if isinstance(none, str):
            raise InternalError(f"solver: {none}")
        atoms = self.atoms_of(exprs)
        try:
            d = self.diagrams()
            region = d.bdd_and([d.domain(atoms), *(d.term(e) for e in exprs)])  # only well-formed enum codes
        except TooLargeError:
            region = None
        if region is not None and (region == d.false) != none:
            raise InternalError("the decision diagrams and Z3 disagree on whether some input meets "
                                + ", ".join(str(e.span) for e in exprs[:3]))
        if none:
            return None
        if region is not None:
            values = {**self.defaults(), **finite.assignments(d, region, atoms, 1)[0]}
        else:
            s = self.new()
            s.add(*(self.term(e) for e in exprs))
            if s.check() != z3.sat:
                raise InternalError("Z3 answers differently when asked twice")
            values = self.assignment(s.model())
        if not all(ev.value_of(self.lib, e, values) is True for e in exprs):
            raise InternalError(f"the input {values} does not replay through the interpreter")
        return values

    def assumption_core(self, assumptions: Sequence[m.Assumption],
                        facts: Sequence[z3.ExprRef] = ()) -> list[m.Assumption] | None:
        """A minimal, re-checked subset of the assumptions that contradicts
        `facts` (or each other); None when all of them hold together with facts."""
        s = self.new()
        s.add(*facts)
        lits = [self.guarded(s, [self.term(a.expr)], f"assume!{a.name}") for a in assumptions]
        if s.check(*lits) != z3.unsat:
            return None
        named = {lit.get_id(): a for lit, a in zip(lits, assumptions, strict=True)}
        return [named[c.get_id()] for c in self.min_core(s, lits, [])]

    def min_core(self, s: z3.Solver, lits: list[z3.ExprRef], extra: list[z3.ExprRef]) -> list[z3.ExprRef]:
        """A minimal subset of assumption literals that keeps the query unsat, re-checked."""
        core_ids = {c.get_id() for c in s.unsat_core()}
        core = [lit for lit in lits if lit.get_id() in core_ids]
        for lit in list(core):
            trial = [c for c in core if c.get_id() != lit.get_id()]
            if s.check(*trial, *extra) == z3.unsat:
                core = trial
        if s.check(*core, *extra) != z3.unsat:
            raise InternalError("an assumption core did not re-check as unsat")
        return core

    def _spot_check(self, inst: m.Instance, s: z3.Solver, lits: list[z3.ExprRef]) -> tuple[str, ...]:
        """Evaluate the claim concretely on inputs that satisfy the premises."""
        atoms = atoms_of(self.lib, [*inst.premises, *(a.expr for a in inst.assumptions), inst.claim])
        coords = self.coords(atoms)
        inputs: list[dict[str, bool | str | int]] = []
        if len(coords) <= 12 and all(self.lib.atoms[a].type.kind is not m.TypeKind.ENUM for a in atoms):
            for bits in itertools.product((False, True), repeat=len(coords)):
                inputs.append(from_coords(coords, bits))
            how = "exhaustively"
        else:
            inputs = self._draw(s, lits, [], atoms, SPOT_CHECKS)
            how = "on solver-drawn inputs"
        return replay_proof(self.lib, inst, inputs, how, "the solver")

    # ------------------------------------------------------ counterexamples

    def _counterexample(self, inst: m.Instance, s: z3.Solver, lits: list[z3.ExprRef], model: z3.ModelRef) -> Counterexample:
        atoms = atoms_of(self.lib, [*inst.premises, *(a.expr for a in inst.assumptions), inst.claim])
        coords = self.coords(atoms)
        # The partial assignment speaks of what the claim reads; the premises
        # and assumptions constrain the rest but are not restated.
        claim_coords = self.coords(atoms_of(self.lib, [inst.claim]))
        hold = [self.term(p) for p in inst.premises] + [self.term(a.expr) for a in inst.assumptions]
        claim = self.term(inst.claim)
        start = self.assignment(model)
        cube = self._irreducible(s, claim_coords, start, [*lits, self.guard(inst.claim, "claim")])
        cube, witness, settled = self._smaller(claim_coords, coords, cube, start, hold, claim, inst)
        fixed = tuple(
            Fixed(name, element, value)
            for (name, element), value in sorted(cube.items(), key=lambda kv: (list(self.lib.atoms).index(kv[0][0]), kv[0][1] or 0))
        )
        full = {**self.assignment(model), **witness}
        if not satisfies(self.lib, inst, full) or ev.value_of(self.lib, inst.claim, full) is not False:
            raise InternalError(f"the counterexample to {inst.property_name} does not replay through the interpreter")
        replay = self._replay_partial(inst, s, lits, fixed, coords)
        decisions = self.decisions(inst.claim, inst.version, full)
        shown = tuple((a, self.atom_value(full[a], a)) for a in atoms)
        size = f"{len(fixed)} fixed"
        minimal = (f"{size}; no partial assignment with fewer forces the failure" if settled else
                   f"{size}; none can be freed, and the search for fewer stopped after {CEGIS_ROUNDS} rounds")
        return Counterexample(fixed, shown, decisions, replay, minimal)

    def _irreducible(self, s: z3.Solver, coords: list[Coord], start: dict[str, bool | str | int],
                     guards: list[z3.ExprRef]) -> dict[Coord, bool | str | int]:
        """Free coordinates one at a time while the rest still force the
        failure (`guards` switch on the premises, assumptions and claim)."""
        lits = {c: self.coord_literal(c, self.coord_value(c, start)) for c in coords}
        if s.check(*guards, *lits.values()) != z3.unsat:
            raise InternalError("a full counterexample did not force the failure")
        core_ids = {x.get_id() for x in s.unsat_core()}
        kept = [c for c in coords if lits[c].get_id() in core_ids]
        for c in list(kept):
            trial = [k for k in kept if k != c]
            if s.check(*guards, *(lits[k] for k in trial)) == z3.unsat:
                kept = trial
        return {c: self.coord_value(c, start) for c in kept}

    def _smaller(self, coords: list[Coord], cone: list[Coord], cube: dict[Coord, bool | str | int], start: dict[str, bool | str | int],
                 hold: list[z3.ExprRef], claim: z3.ExprRef,
                 inst: m.Instance) -> tuple[dict[Coord, bool | str | int], dict[str, bool | str | int], bool]:
        """The smallest cube that forces the failure (CEGIS over cube size).

        A candidate is a cube together with a witness in it that fails the
        claim; the verifier looks for a point in the cube where the claim
        holds. Each such point is generalised by the interpreter (free every
        coordinate whose value the three-valued evaluation does not need)
        and the candidate must disagree with it somewhere.
        """
        ctx = self.c.ctx
        atoms = sorted({a for a, _ in coords}, key=list(self.lib.atoms).index)
        copy = {a: z3.FreshConst(self.c.atoms[a].sort(), prefix=f"w_{a}") for a in atoms}
        pairs = [(self.c.atoms[a], copy[a]) for a in atoms]
        use = [z3.Bool(f"use!{i}", ctx) for i in range(len(coords))]
        val = [z3.FreshConst(self.coord_term(c).sort(), prefix=f"val{i}") for i, c in enumerate(coords)]
        differs: dict[tuple[int, bool | str | int], z3.ExprRef] = {
            (i, value): z3.And(use[i], val[i] != self.coord_const(c, value))
            for i, c in enumerate(coords) for value in self._options(c)
        }
        cand = self.new()
        cand.add(*(z3.substitute(h, *pairs) for h in hold), z3.Not(z3.substitute(claim, *pairs)))
        cand.add(*self._wf_copy(copy))
        for u, v, c in zip(use, val, coords, strict=True):
            cand.add(z3.Implies(u, self.coord_term(c, copy) == v))
        verify = self.new()
        verify.add(*hold, claim)
        # Generalising a point where the premises and the claim hold: the
        # coordinates (of every atom in the cone) that force both, as a
        # minimised unsat core. A cube that does not contradict the claim
        # coordinates among them contains a point that agrees with all of
        # them, where premises and claim hold: it cannot force the failure,
        # so blocking it is sound.
        general = self.new()
        general.add(z3.Not(z3.And(*hold, claim)))
        cone_atoms = sorted({a for a, _ in cone}, key=list(self.lib.atoms).index)
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
                if verify.check(*(self.coord_term(c) == t for c, t in chosen.items())) == z3.unsat:
                    found = chosen
                    best_witness = {a: self.c.read(self.lib.atoms[a], _Renamed(cm, copy)) for a in self.lib.atoms}
                    break
                point = self.assignment(verify.model(), cone_atoms)
                needed = [position[cone[i]] for i in self._generalise(general, cone, point, literal, wanted)
                          if cone[i] in position]
                cand.add(z3.Or([differs[(i, self.coord_value(coords[i], point))] for i in needed]
                               or [z3.BoolVal(False, ctx)]))
            if found is None:
                break
            best = {c: self._py(c, t) for c, t in found.items()}
            settled = len(best) <= 1
        return best, best_witness, settled

    def _generalise(self, general: z3.Solver, coords: list[Coord], point: dict[str, bool | str | int],
                    literal: dict[tuple[int, bool | str | int], z3.ExprRef], wanted: set[int]) -> list[int]:
        """Indices of the coordinates of a point where the premises and the
        claim hold that force them to hold (an unsat core). Only the indices
        in `wanted` end up in a blocking clause, so only those are minimised
        (by deletion); the others stay fixed as background."""
        lits = []
        for i, c in enumerate(coords):
            key = (i, self.coord_value(c, point))
            if key not in literal:
                literal[key] = self.coord_literal(c, key[1])
            lits.append(literal[key])
        if general.check(*lits) != z3.unsat:
            return list(range(len(coords)))
        core = {x.get_id() for x in general.unsat_core()}
        return [i for i, lit in enumerate(lits) if lit.get_id() in core or i not in wanted]

    def _wf_copy(self, copy: dict[str, z3.ExprRef]) -> list[z3.ExprRef]:
        pairs = [(self.c.atoms[a], t) for a, t in copy.items()]
        return [z3.substitute(w, *pairs) for w in self.c.well_formed()]

    def _py(self, coord: Coord, term: z3.ExprRef) -> bool | str | int:
        name, element = coord
        if element is not None or self.lib.atoms[name].type.kind is m.TypeKind.BOOL:
            return bool(z3.is_true(term))
        return str(term)[len(name) + 1:]

    def _replay_partial(self, inst: m.Instance, s: z3.Solver, lits: list[z3.ExprRef], fixed: Sequence[Fixed],
                        coords: list[Coord]) -> str:
        partial = self.partial(fixed)
        if ev.value_of(self.lib, inst.claim, partial) is False:
            return "replayed: the interpreter finds the claim false with every other atom unknown"
        pinned = {(f.atom, f.element) for f in fixed}
        free = [c for c in coords if c not in pinned]
        total = 1
        for c in free:
            total *= len(self._options(c))
        if total <= EXHAUSTIVE_LIMIT:
            inputs = [self._complete(partial, free, combo) for combo in itertools.product(*map(self._options, free))]
            how = f"all {total} completions"
        else:
            atoms = sorted({a for a, _ in coords}, key=self._order.__getitem__)
            inputs = self._draw(s, lits, [self.coord_literal((f.atom, f.element), f.value) for f in fixed], atoms)
            how = f"{len(inputs)} completions drawn by the solver"
        checked = 0
        for assignment in inputs:
            if not satisfies(self.lib, inst, assignment):
                continue
            checked += 1
            if ev.value_of(self.lib, inst.claim, assignment) is not False:
                raise InternalError(f"the partial counterexample to {inst.property_name} does not force the failure")
        if not checked:
            raise InternalError(f"no completion of the counterexample to {inst.property_name} satisfies the premises")
        return f"replayed: the interpreter finds the claim false on {how} ({checked} satisfy the premises)"

    def _draw(self, s: z3.Solver, guards: list[z3.ExprRef], extra: list[z3.ExprRef], atoms: list[str],
              limit: int = SPOT_CHECKS) -> list[dict[str, bool | str | int]]:
        """Distinct inputs (over `atoms`) that satisfy the premises, the
        assumptions and `extra`, proposed by the solver for the interpreter to judge."""
        when = self.guarded(s, extra, "draw")
        out: list[dict[str, bool | str | int]] = []
        while len(out) < limit and s.check(*guards, when) == z3.sat:
            assignment = self.assignment(s.model())
            out.append(assignment)
            s.add(z3.Implies(when, z3.Or([self.c.atoms[a] != self.c.value(self.lib.atoms[a], assignment[a]) for a in atoms]
                                         or [z3.BoolVal(False, self.c.ctx)])))
        return out

    def _options(self, coord: Coord) -> tuple[bool | str, ...]:
        name, element = coord
        atom = self.lib.atoms[name]
        if element is None and atom.type.kind is m.TypeKind.ENUM:
            return atom.values
        return (False, True)

    def _complete(self, partial: dict[str, bool | str | int | ev.PSet], free: list[Coord],
                  combo: Sequence[bool | str]) -> dict[str, bool | str | int]:
        out: dict[str, bool | str | int] = {}
        for name, value in partial.items():
            out[name] = value.bits if isinstance(value, ev.PSet) else value
        for (name, element), value in zip(free, combo, strict=True):
            if element is None:
                out[name] = value
            else:
                out[name] = int(out.get(name, 0)) | (int(bool(value)) << element)
        for name, atom in self.lib.atoms.items():
            out.setdefault(name, 0 if atom.type.kind is m.TypeKind.SET else (atom.values[0] if atom.values else False))
        return out

    # ------------------------------------------------------------ decisions

    def decisions(self, claim: m.Expr, version: str, assignment: ev.Assignment) -> tuple[Decision, ...]:
        """Each parameterless predicate the claim reads, run on the input with its trace."""
        calls = m.predicate_calls(self.lib, claim)
        return tuple(self.decision(v, name, assignment) for v, name in calls)

    def decision(self, version: str, name: str, assignment: ev.Assignment) -> Decision:
        out = ev.run(self.lib, version, name, assignment)
        rule = out.rule
        return Decision(
            version, name, typed_value(out.value),  # type: ignore[arg-type]  # a full input: the value is known
            rule.id if rule else None, rule.span if rule else None, rule.cite if rule else None,
            tuple(format_step(s) for s in out.trace),
        )

    # ------------------------------------------------------ three-valued eval

    def evaluate(self, version: str, name: str, given: Sequence[Fixed]) -> EvalResult:
        fn = self.lib.function(version, name)
        partial = self.partial(given)
        assumptions = self.lib.versions[version].assumptions
        value, rule = self.c.function(version, name)
        s = self.new()
        lits = []
        for a in assumptions:
            lit = z3.Bool(f"assume!{a.name}", self.c.ctx)
            s.add(z3.Implies(lit, self.term(a.expr)))
            lits.append(lit)
        fixes = [self.coord_literal((f.atom, f.element), f.value) for f in given]
        s.add(*fixes)
        trace = tuple(format_step(st) for st in ev.run(self.lib, version, name, partial).trace)
        common: dict[str, Any] = dict(version=version, predicate=name, given=tuple(given))
        r = s.check(*lits)
        if r == z3.unsat:
            names = {lit.get_id(): a.name for lit, a in zip(lits, assumptions, strict=True)}
            core = self.min_core(s, lits, [])
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
            shown = self.term_value(fn.returns, v0)
            kleene = ev.run(self.lib, version, name, partial)
            if not kleene.known:
                full = {**self.assignment(model), **partial}
                completed = tuple(format_step(st) for st in ev.run(self.lib, version, name, full).trace)
                trace = ("(on one completion of the atoms not given)",) + completed
            decided = s.check(rule != r0) == z3.unsat
            the_rule = self.c.rules[r0.as_long()] if decided else None  # type: ignore[attr-defined]
            return EvalResult(**common, value=shown, depends_on=(), rule=the_rule.id if the_rule else None,
                              rule_at=the_rule.span if the_rule else None,
                              kernel=the_rule.cite if the_rule else None, trace=trace,
                              note="" if the_rule else "the value is fixed but the deciding rule depends on unknown atoms")
        depends = self._depends(version, name, given, assumptions)
        return EvalResult(**common, value=None, depends_on=tuple(depends), rule=None, rule_at=None, kernel=None, trace=trace)

    def term_value(self, typ: m.Type, term: z3.ExprRef) -> Value:
        if typ.kind is m.TypeKind.BOOL:
            return bool(z3.is_true(term))
        if typ.kind is m.TypeKind.ENUM:
            return str(term)[len(typ.name) + 1:]
        if typ.kind is m.TypeKind.SET:
            return set_members(term.as_long())  # type: ignore[attr-defined]
        return int(term.as_long())  # type: ignore[attr-defined, no-any-return]

    def _depends(self, version: str, name: str, given: Sequence[Fixed], assumptions: Sequence[m.Assumption]) -> list[str]:
        """The atoms not given that occur in some prime implicant of some
        value of the output, relative to the given values and the
        assumptions (finite.depends): each can, with others, settle the
        answer. Exact, on decision diagrams; past their budget, the atoms
        whose single flip (the rest fixed) changes the answer, by Z3."""
        if not self._too_large:
            try:
                return self._depends_exact(version, name, given, assumptions)
            except TooLargeError:
                self._too_large = True
        return self._depends_flip(version, name, given, assumptions)

    def _depends_exact(self, version: str, name: str, given: Sequence[Fixed], assumptions: Sequence[m.Assumption]) -> list[str]:
        d = self.diagrams()
        value, _ = d.function(version, name)
        care = d.bdd_and(d.term(a.expr) for a in assumptions) & d.bdd_and(d.literal((f.atom, f.element), f.value) for f in given)
        classes = [cond for _, cond in d.values(value, self.lib.function(version, name).returns)]
        atoms = finite.atoms_read(d, care, *classes)
        care &= d.domain(atoms)
        coords = d.coords(atoms)
        pinned = {(f.atom, f.element) for f in given} | {(f.atom, c[1]) for f in given if f.element is None for c in coords
                                                         if c[0] == f.atom}
        found = finite.depends(d, [care & c for c in classes], care, coords, [c for c in coords if c not in pinned])
        return [a for a in atoms if any(c[0] == a for c in found)]

    def _depends_flip(self, version: str, name: str, given: Sequence[Fixed], assumptions: Sequence[m.Assumption]) -> list[str]:
        """Free atoms whose value alone can change the answer (one flip, the rest fixed)."""
        value, _ = self.c.function(version, name)
        pinned = {f.atom for f in given if f.element is None}
        cone = [a for a in atoms_of(self.lib, [m.Call(version, name, (), m.BOOL, self.lib.versions[version].span)])
                if a not in pinned]
        out = []
        for atom in cone:
            other = z3.FreshConst(self.c.atoms[atom].sort(), prefix=f"flip_{atom}")
            pair = (self.c.atoms[atom], other)
            s = self.new()
            s.add(*self._wf_copy({atom: other}))
            for a in assumptions:
                t = self.term(a.expr)
                s.add(t, z3.substitute(t, pair))
            for f in given:
                lit = self.coord_literal((f.atom, f.element), f.value)
                s.add(lit, z3.substitute(lit, pair))
            s.add(value != z3.substitute(value, pair))
            if s.check() == z3.sat:
                out.append(atom)
        return out or cone


class _Renamed:
    """Read a model of the witness copy as if it were a model of the atoms."""

    def __init__(self, model: z3.ModelRef, copy: dict[str, z3.ExprRef]) -> None:
        self.model = model
        self.copy = copy

    def eval(self, term: z3.ExprRef, model_completion: bool = False) -> z3.ExprRef:
        name = str(term)
        return self.model.eval(self.copy.get(name, term), model_completion=model_completion)


def format_step(step: ev.Step) -> str:
    """One trace line: predicate, rule, outcome, spec line, kernel lines."""
    rule = step.rule
    where = f"{rule.span.file.rsplit('/', 1)[-1]}:{rule.span.line}"
    if rule.cite:
        lines = f"{rule.cite.first}" if rule.cite.first == rule.cite.last else f"{rule.cite.first}-{rule.cite.last}"
        where += f"  {rule.cite.file}:{lines}"
    if step.kind == "test":
        outcome = {True: "taken", False: "not taken"}.get(step.value, "depends")  # type: ignore[arg-type]
    else:
        outcome = f"returns {show_value(step.value)}"
    return f"{'  ' * step.depth}{rule.function} {rule.id}: {outcome}  {where}"


def sort_of(c: Compiler, t: m.Type) -> z3.SortRef:
    if t.kind is m.TypeKind.BOOL:
        return z3.BoolSort(c.ctx)
    if t.kind is m.TypeKind.ENUM:
        return c.sorts[t.name]
    return z3.BitVecSort(c.width(t.name), c.ctx)
