"""Lints of ordered guard chains.

Each predicate is executed symbolically on its own (`backend.chains`),
its parameters free (so a finding holds whatever the callers pass), under
the named assumptions of its version. Kinds:

- dead-rule: the rule's test is satisfiable, but never true where the rule
  is reached: the union of the earlier rules (and the assumptions) shadows
  it; unreachable rules (after an earlier rule that always returns) too;
- always-false / always-true: the test is false under the assumptions
  alone / true wherever the rule is reached;
- redundant-rule: removing the rule changes no value of the predicate;
- order-dependent (only with `order=True`): swapping the rule with the
  next one changes a value;
- unread-atom: no predicate of any version of the library reads the atom;
- unused-assumption (only with `proofs=True`): no proof of a property on
  the versions linted uses the assumption;
- contradiction: a version's assumptions, or those of two versions
  together (what `diff` ranges over), cannot hold at once.

Every finding about a rule has a witness input, replayed through the
interpreter (which runs the predicate, and the predicate without the rule
or with the rules swapped). A finding inherited unchanged by later
versions is reported once, naming them. `allow` silences findings by key
(`KIND:VERSION:NAME`, shell wildcards allowed), e.g.
`redundant-rule:v6.1:hugepage_vma_check.no_mm`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import replace

from .. import model as m
from ..backend.chains import Chain, Point, chain
from ..backend.solver import Solver, atoms_of, typed_value
from ..errors import InternalError
from ..results import Fixed, LintFinding, LintKind, LintReport, StepKind, show
from ..semantics import evaluate as ev
from ..semantics import walk
from .engine import Engine, release_key


class _Linter:
    def __init__(self, lib: m.Library, engine: Engine, order: bool) -> None:
        self.lib = lib
        self.eng = engine
        self.order = order
        self.findings: dict[tuple[str, str], LintFinding] = {}
        self.done: set[tuple[int, tuple[str, ...]]] = set()

    # ------------------------------------------------------------ one function

    def function(self, version: str, fn: m.Function, also: list[str]) -> None:
        assumptions = self.lib.versions[version].assumptions
        key = (id(fn), tuple(a.name for a in assumptions))
        if key in self.done:
            return
        self.done.add(key)
        run = chain(self.eng.solver, fn, assumptions)
        if run is None:
            return  # reported as a contradiction; every rule would look dead
        dead: set[tuple[int, ...]] = set()
        for p in run.points:  # read through `run`, not bound here: Z3's witnesses depend on lifetimes (backend/chains)
            rule = p.stmt.rule
            name = f"{fn.name}.{rule.id}"
            if p.path[:-1] + (-1,) in dead or any(p.path[:k] in dead for k in range(1, len(p.path))):
                continue
            if run.never(p.reach):
                dead.add(p.path[:-1] + (-1,))
                self.add(LintFinding(LintKind.DEAD_RULE, version, name, rule.span,
                                     "never reached: earlier rules always return before it" + _also(also)), rule)
                continue
            if p.test is None:
                continue
            if run.never(p.test):
                self.add(self.always_false(version, fn, p, name, also, run), rule)
                dead.add(p.path)
                continue
            if run.never(p.reach, p.test):
                self.add(self.shadowed(version, fn, p, name, also, run), rule)
                dead.add(p.path)
                continue
            if run.never(p.reach, run.negate(p.test)):
                self.add(self.always_true(version, fn, p, name, also, run), rule)
                continue
            finding = self.redundant(version, fn, p, name, also, run)
            if finding is not None:
                self.add(finding, rule)
        if self.order:
            at = {p.path: p for p in run.points}
            for a in run.points:
                b = at.get(a.path[:-1] + (a.path[-1] + 1,))
                if b is not None and isinstance(a.stmt, m.SIf) and isinstance(b.stmt, m.SIf):
                    finding = self.swapped(version, fn, a, b, also, run)
                    if finding is not None:
                        self.add(finding, a.stmt.rule)

    def add(self, finding: LintFinding, rule: m.Rule | None) -> None:
        where = str(rule.span) if rule is not None else finding.name
        self.findings.setdefault((finding.kind, where), finding)

    # ------------------------------------------------------------ witnesses

    def _fixed(self, stmt: m.SIf | m.SReturn, full: dict[str, bool | str | int]) -> tuple[Fixed, ...]:
        """The witness as shown: the atoms the rule itself reads (the replay used the full input)."""
        return tuple(Fixed(a, None, full[a]) for a in atoms_of(self.lib, _exprs(stmt)))

    def _run(self, fn: m.Function, full: dict[str, bool | str | int],
             args: tuple[ev.Value, ...]) -> tuple[ev.Value, m.Rule | None, list[ev.Step]]:
        trace: list[ev.Step] = []
        value, rule = ev.Interpreter(self.lib, full).call(fn, args, trace, 0)
        return value, rule, trace

    def _args_text(self, fn: m.Function, args: tuple[ev.Value, ...]) -> str:
        if not fn.params:
            return ""
        shown = ", ".join(f"{n}={_show(v)}" for (n, _), v in zip(fn.params, args, strict=True))
        return f" with {shown}"

    def shadowed(self, version: str, fn: m.Function, p: Point, name: str, also: list[str], run: Chain) -> LintFinding:
        assert p.test is not None
        full, args = run.witness(p.test)
        value, rule, trace = self._run(fn, full, args)
        taken = [st for st in trace if st.rule is p.stmt.rule and st.kind is StepKind.TEST]
        if rule is p.stmt.rule or any(st.value is True for st in taken):
            raise InternalError(f"lint: {name} fires on its witness")
        decided = rule.id if rule else "?"
        return LintFinding(LintKind.DEAD_RULE, version, name, p.stmt.rule.span,
                           "never fires: its test can hold, but only where earlier rules have already decided" + _also(also),
                           self._fixed(p.stmt, full),
                           f"replayed: the test holds on the witness{self._args_text(fn, args)}, "
                           f"and {decided} decides first ({_show(value)})")

    def always_false(self, version: str, fn: m.Function, p: Point, name: str, also: list[str], run: Chain) -> LintFinding:
        full, args = run.witness(p.reach)
        value, rule, trace = self._run(fn, full, args)
        tested = [st for st in trace if st.rule is p.stmt.rule and st.kind is StepKind.TEST]
        if any(st.value is True for st in tested):
            raise InternalError(f"lint: {name} is true on its witness")
        return LintFinding(LintKind.ALWAYS_FALSE, version, name, p.stmt.rule.span,
                           "the test is false on every input the assumptions allow" + _also(also),
                           self._fixed(p.stmt, full), "replayed: the interpreter reaches the rule on the witness"
                           f"{self._args_text(fn, args)} and finds the test false")

    def always_true(self, version: str, fn: m.Function, p: Point, name: str, also: list[str], run: Chain) -> LintFinding:
        full, args = run.witness(p.reach)
        value, rule, trace = self._run(fn, full, args)
        tested = [st for st in trace if st.rule is p.stmt.rule and st.kind is StepKind.TEST]
        if not tested or tested[0].value is not True:
            raise InternalError(f"lint: {name} is not true on its witness")
        return LintFinding(LintKind.ALWAYS_TRUE, version, name, p.stmt.rule.span,
                           "the test is true wherever the rule is reached: the rules after it in its block never run"
                           + _also(also), self._fixed(p.stmt, full),
                           f"replayed: the interpreter reaches the rule on the witness{self._args_text(fn, args)} and takes it")

    def redundant(self, version: str, fn: m.Function, p: Point, name: str, also: list[str], run: Chain) -> LintFinding | None:
        without = replace(fn, body=_remove(fn.body, p.path))
        other = run.value_of(without)
        if not run.never(run.differs(other)):
            return None
        assert p.test is not None
        full, args = run.witness(p.reach, p.test)
        v1, _, trace = self._run(fn, full, args)
        v2, _, _ = self._run(without, full, args)
        taken = any(st.rule is p.stmt.rule and st.kind is StepKind.TEST and st.value is True for st in trace)
        if v1 != v2 or not taken:
            raise InternalError(f"lint: removing {name} does not replay")
        return LintFinding(LintKind.REDUNDANT_RULE, version, name, p.stmt.rule.span,
                           "removing the rule changes no value: the rules after it decide the same" + _also(also),
                           self._fixed(p.stmt, full),
                           f"replayed: on the witness{self._args_text(fn, args)} the rule is taken and the "
                           f"predicate says {_show(v1)}; without the rule it still says {_show(v2)}")

    def swapped(self, version: str, fn: m.Function, a: Point, b: Point, also: list[str], run: Chain) -> LintFinding | None:
        body = _swap(fn.body, a.path)
        changed = replace(fn, body=body)
        other = run.value_of(changed)
        if not run.possible(run.differs(other)):
            return None
        full, args = run.witness(run.differs(other))
        v1, r1, _ = self._run(fn, full, args)
        v2, r2, _ = self._run(changed, full, args)
        if v1 == v2:
            raise InternalError("lint: a swap does not replay")
        name = f"{fn.name}.{a.stmt.rule.id}"
        return LintFinding(LintKind.ORDER_DEPENDENT, version, name, a.stmt.rule.span,
                           f"swapping it with {b.stmt.rule.id} changes the outcome" + _also(also),
                           self._fixed(a.stmt, full),
                           f"replayed: on the witness{self._args_text(fn, args)} the chain says {_show(v1)} "
                           f"({r1.id if r1 else '?'}), swapped {_show(v2)} ({r2.id if r2 else '?'})")


def _show(v: ev.Value) -> str:
    return show(typed_value(v))


def _also(also: list[str]) -> str:
    return f" (also in {', '.join(also)})" if also else ""


def _inside(rule: m.Rule | None, stmt: m.SIf | m.SReturn) -> bool:
    """The rule belongs to a statement nested in stmt (a return inside the guard)."""
    if rule is None or not isinstance(stmt, m.SIf):
        return False
    return any(getattr(st, "rule", None) is rule for st in walk.statements(stmt.then + stmt.orelse))


def _exprs(st: m.Stmt) -> list[m.Expr]:
    if isinstance(st, m.SIf):
        return [st.test]
    return [st.value]


def _edit(body: tuple[m.Stmt, ...], path: tuple[int, ...], fn: object) -> tuple[m.Stmt, ...]:
    i = path[0]
    if len(path) == 1:
        return fn(body, i)  # type: ignore[no-any-return, operator]
    st = body[i]
    assert isinstance(st, m.SIf)
    if path[1] == 0:
        st = replace(st, then=_edit(st.then, path[2:], fn))
    else:
        st = replace(st, orelse=_edit(st.orelse, path[2:], fn))
    return body[:i] + (st,) + body[i + 1:]


def _remove(body: tuple[m.Stmt, ...], path: tuple[int, ...]) -> tuple[m.Stmt, ...]:
    return _edit(body, path, lambda b, i: b[:i] + b[i + 1:])


def _swap(body: tuple[m.Stmt, ...], path: tuple[int, ...]) -> tuple[m.Stmt, ...]:
    return _edit(body, path, lambda b, i: b[:i] + (b[i + 1], b[i]) + b[i + 2:])


# ---------------------------------------------------------------- library-wide


def _unread(lib: m.Library, versions: Sequence[str]) -> list[LintFinding]:
    read: set[str] = set()
    for v in versions:
        for fn in lib.versions[v].functions.values():
            read |= set(atoms_of(lib, [e for st in walk.statements(fn.body) for e in _exprs(st)]))
    return [LintFinding(LintKind.UNREAD_ATOM, "", name, atom.span, "no predicate of any version reads this atom")
            for name, atom in lib.atoms.items() if name not in read]


def _uncited(lib: m.Library, versions: Sequence[str]) -> list[LintFinding]:
    """Rules of kernel predicates with neither a label nor a kernel line
    (the W001 warning of the type checker), once each, under the first
    version that has them."""
    out: dict[str, LintFinding] = {}
    for v in versions:
        for fn in lib.versions[v].functions.values():
            if fn.kind is not m.FunctionKind.PREDICATE or not fn.origin:
                continue
            for rule in fn.rules:
                if rule.cite is None and rule.id == f"L{rule.span.line}" and str(rule.span) not in out:
                    out[str(rule.span)] = LintFinding(LintKind.UNCITED_RULE, v, f"{fn.name}.{rule.id}", rule.span,
                                                      f"this rule of '{fn.name}' has neither a label nor a kernel line")
    return list(out.values())


def _contradictions(lib: m.Library, engine: Engine, versions: Sequence[str]) -> list[LintFinding]:
    out = []
    ok = []
    for v in versions:
        assumptions = lib.versions[v].assumptions
        core = engine.solver.assumption_core(assumptions)
        if core is None:
            ok.append(v)
            continue
        out.append(LintFinding(LintKind.CONTRADICTION, v, "+".join(a.name for a in core), core[0].span,
                               f"the assumptions of {v} cannot hold together: {', '.join(a.name for a in core)}",
                               replay="core re-checked by the solver"))
    for i, a in enumerate(ok):
        for b in ok[i + 1:]:
            merged = {x.name: x for x in lib.versions[a].assumptions + lib.versions[b].assumptions}
            core = engine.solver.assumption_core(tuple(merged.values()))
            if core is not None:
                out.append(LintFinding(LintKind.CONTRADICTION, f"{a}+{b}", "+".join(x.name for x in core), core[0].span,
                                       f"the assumptions of {a} and {b} together cannot hold: "
                                       f"{', '.join(x.name for x in core)}; a diff of the two ranges over no input",
                                       replay="core re-checked by the solver"))
    return out


def _unused(lib: m.Library, solver: Solver, versions: Sequence[str]) -> list[LintFinding]:
    used: set[str] = set()
    named: dict[str, m.Assumption] = {}
    every = set(versions) == set(lib.versions)
    for v in versions:
        for a in lib.versions[v].assumptions:
            named.setdefault(a.name, a)
    for prop in lib.properties.values():
        for inst in prop.instances:
            if inst.version in versions or (every and not inst.version):
                used |= set(solver.check(inst).core)
    return [LintFinding(LintKind.UNUSED_ASSUMPTION, "", name, a.span,
                        "no proof of a property on the versions linted uses this assumption")
            for name, a in named.items() if name not in used]


def lint(lib: m.Library, versions: Sequence[str] | None = None, allow: Sequence[str] = (), order: bool = False,
         proofs: bool = False) -> LintReport:
    """Findings over the versions named (default: all), minus those `allow` matches."""
    names = sorted(versions or lib.versions, key=lambda v: release_key(lib, v))
    engine = Engine(lib)
    linter = _Linter(lib, engine, order)
    owners: dict[int, list[str]] = {}
    for v in names:
        for fn in lib.versions[v].functions.values():
            if fn.kind is m.FunctionKind.PREDICATE:
                owners.setdefault(id(fn), []).append(v)
    for v in names:
        for fn in lib.versions[v].functions.values():
            if fn.kind is m.FunctionKind.PREDICATE:
                linter.function(v, fn, [x for x in owners[id(fn)] if x != v])
    found = list(linter.findings.values())
    found += _unread(lib, list(lib.versions))
    found += _uncited(lib, names)
    found += _contradictions(lib, engine, names)
    if proofs:
        found += _unused(lib, engine.solver, names)
    kept = [f for f in found if not any(fnmatch.fnmatchcase(f.key, pattern) for pattern in allow)]
    allowed = tuple(sorted({f.key for f in found} - {f.key for f in kept}))
    return LintReport(tuple(names), tuple(kept), allowed)
