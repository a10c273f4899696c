"""The session with the engines for one library: the Z3 context and its
compiler, the term cache, the decision diagrams, and the confirming solver.

The jobs live in modules of their own, each taking a `Solver`: deciding a
verdict (`verdicts`), counterexamples (`counterexamples`), three-valued
explanation (`explain`), SMT-LIB export (`smtlib`), and the finite
questions of the analyses (`tables`). What stays here is what they share:
compiled terms and guards, coordinates and their literals, the confirming
queries (`unsat`, `entails`, `agree`), inputs drawn by Z3 for the
interpreter, minimal re-checked assumption cores, and `find` (an input
both engines agree exists, replayed by the interpreter). A disagreement
between the engines, or with the interpreter, raises `InternalError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeVar

import z3

from .. import errors
from .. import model as m
from ..results import EvalResult, Fixed, StepKind, TraceStep, Value, Verdict, set_members, to_value
from ..semantics import evaluate as ev
from ..semantics import walk
from . import finite
from .compiler import Compiler
from .diagrams import BDD, Diagrams, TooLargeError

TIMEOUT_MS = 20_000
RLIMIT = 50_000_000
SPOT_CHECKS = 2

T = TypeVar("T")


class InternalError(errors.InternalError):
    """The engines, or an engine and the interpreter, disagree: a bug in thpverify (exit 6)."""


def satisfies(lib: m.Library, inst: m.Instance, assignment: ev.Assignment) -> bool:
    """Whether the interpreter finds every premise and assumption of the instance true."""
    exprs = [*inst.premises, *(a.expr for a in inst.assumptions)]
    return all(ev.value_of(lib, e, assignment) is True for e in exprs)


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


def typed_value(value: ev.Value) -> Value | None:
    """A value as data (a set as its orders); None when not known."""
    if isinstance(value, ev.PSet):
        return set_members(value.bits) if value.known == ev.ALL else None
    return value


def trace_steps(trace: Iterable[ev.Step]) -> tuple[TraceStep, ...]:
    """An interpreter's trace as data (render/ writes it)."""
    return tuple(TraceStep(s.depth, s.rule.function, s.rule.id, s.rule.span, s.rule.cite, s.kind,
                           (s.value if isinstance(s.value, bool) else None) if s.kind is StepKind.TEST else typed_value(s.value))
                 for s in trace)


class Solver:
    """The engines' state for one library, shared by the job modules.

    `check` and `evaluate` hand over to `verdicts.check` and
    `explain.evaluate` (imported when called: those modules import this
    one). Terms are compiled once per library. Each check has a solver of its
    own (a solver shared by many checks slows down as their facts pile up):
    each fact a query of the check needs (a premise, an assumption, the
    claim, a blocking clause) is added once, guarded by a literal of its
    own, and a query assumes the literals it needs. push/pop is not used:
    it puts Z3 in a slower incremental mode.
    """

    def __init__(self, lib: m.Library, timeout_ms: int = TIMEOUT_MS, rlimit: int = RLIMIT, share: Solver | None = None) -> None:
        """`share`: a Solver of the same library whose compiled terms and
        decision diagrams this one reuses (the runner's chunks in one
        worker); its Z3 solvers and its diagrams' size verdict are its own."""
        self.lib = lib
        self.c: Compiler = share.c if share is not None else Compiler(lib)
        self.timeout_ms = timeout_ms
        self.rlimit = rlimit
        self._terms: dict[int, tuple[m.Expr, z3.ExprRef]] = share._terms if share is not None else {}
        self._guards: dict[tuple[int, bool], z3.ExprRef] = {}
        self._fresh = 0
        self._current: z3.Solver | None = None
        self._diagrams: Diagrams | None = share.diagrams() if share is not None else None
        self._too_large = False
        self._well_formed: list[z3.BoolRef] | None = None
        self._confirm: z3.Solver | None = None
        self._switches: dict[tuple[object, ...], tuple[object, z3.ExprRef]] = {}

    def diagrams(self) -> Diagrams:
        """The library's decision diagrams, built on first use."""
        if self._diagrams is None:
            self._diagrams = Diagrams(self.lib)
        return self._diagrams

    def on_diagrams(self, job: Callable[[Diagrams], T]) -> T | None:
        """The job's answer on the decision diagrams; None once they have
        grown past their size budget (then Z3 answers alone, and the
        diagrams are not tried again with this Solver)."""
        if self._too_large:
            return None
        try:
            return job(self.diagrams())
        except TooLargeError:
            self._too_large = True
            return None

    def check(self, inst: m.Instance) -> Verdict:
        """The instance's verdict (`verdicts.check`)."""
        from .verdicts import check

        return check(self, inst)

    def evaluate(self, version: str, name: str, given: Sequence[Fixed]) -> EvalResult:
        """A predicate's three-valued answer on the given values (`explain.evaluate`)."""
        from .explain import evaluate

        return evaluate(self, version, name, given)

    @property
    def too_large(self) -> bool:
        """Whether the diagrams outgrew their budget, so that Z3 alone answered since."""
        return self._too_large

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

    def drawn(self, d: Diagrams, region: BDD, atoms: list[str], limit: int) -> list[dict[str, bool | str | int]]:
        """Up to `limit` inputs of a region, drawn from the diagrams over
        `atoms`, each completed with every other atom's first value."""
        defaults = self.defaults()
        return [{**defaults, **point} for point in finite.assignments(d, region, atoms, limit)]

    def atom_value(self, value: bool | str | int, name: str) -> Value:
        """An atom's value as data (a set as its orders)."""
        return to_value(value, self.lib.atoms[name].type.kind is m.TypeKind.SET)

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

    # ------------------------------------------------------------- queries

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
            values = self.drawn(d, region, atoms, 1)[0]
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

    def draw(self, s: z3.Solver, guards: list[z3.ExprRef], extra: list[z3.ExprRef], atoms: list[str],
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

    def well_formed_copy(self, copy: dict[str, z3.ExprRef]) -> list[z3.ExprRef]:
        """The well-formedness facts of the atoms, over a copy of some of them."""
        pairs = [(self.c.atoms[a], t) for a, t in copy.items()]
        return [z3.substitute(w, *pairs) for w in self.c.well_formed()]


def sort_of(c: Compiler, t: m.Type) -> z3.SortRef:
    if t.kind is m.TypeKind.BOOL:
        return z3.BoolSort(c.ctx)
    if t.kind is m.TypeKind.ENUM:
        return c.sorts[t.name]
    return z3.BitVecSort(c.width(t.name), c.ctx)
