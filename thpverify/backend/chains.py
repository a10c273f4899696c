"""One guard chain run symbolically: what lint asks of the engine.

A predicate runs on its own, its parameters free (so an answer holds
whatever the callers pass), under the named assumptions of its version.
`walk.merge` runs both branches of every `if` and records each test and
return with the condition that reaches it (a `Point`). The questions are
Z3 queries on one solver that holds the assumptions, asked in the order
lint asks them: whether some conditions can hold together (`never`,
`possible`), whether removing or swapping rules changes the predicate's
value (`differs`), and an input with arguments where they hold
(`witness`), which lint replays through the interpreter. Conditions are
opaque handles: callers combine them only through `Chain`. `chain` is the
entry.

Z3's models (lint's witnesses) depend on the terms alive when it is asked
and on the order they are freed in, not only on the query: keep a chain's
state in the `Chain` (params, the walk, its points, the solver, the value,
freed in that order) and the variant values `value_of` gives alive while
their questions are asked, or the witnesses lint prints change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from .. import model as m
from ..semantics import evaluate as ev
from ..semantics import walk
from .compiler import Compiler
from .solver import InternalError, Solver, sort_of

Condition = Any  # an opaque Z3 condition

__all__ = ["Chain", "Condition", "Point", "chain"]


@dataclass
class Point:
    """A statement with the condition under which execution reaches it (and its test, for an `if`)."""

    stmt: m.SIf | m.SReturn
    path: tuple[int, ...]  # indices from the function body down to the statement
    reach: Condition
    test: Condition | None


class _Walk:
    """The values of `walk.merge` here: Z3 reachability conditions; every
    test and return is recorded with the condition that reaches it."""

    def __init__(self, c: Compiler) -> None:
        self.c = c
        self.false = z3.BoolVal(False, c.ctx)
        self.points: list[Point] = []

    def unreachable(self, pc: z3.ExprRef) -> bool:
        return False  # decided by the solver, point by point

    def assign(self, stmt: m.SAssign, env: Mapping[str, z3.ExprRef]) -> z3.ExprRef:
        return self.c.expr(stmt.value, env)

    def test(self, stmt: m.SIf, path: walk.Path, pc: z3.ExprRef, env: Mapping[str, z3.ExprRef]) -> tuple[z3.ExprRef, z3.ExprRef]:
        test = self.c.expr(stmt.test, env)
        self.points.append(Point(stmt, path, pc, test))
        return z3.And(pc, test), z3.And(pc, z3.Not(test))

    def returned(self, stmt: m.SReturn, path: walk.Path, pc: z3.ExprRef, env: Mapping[str, z3.ExprRef]) -> None:
        self.points.append(Point(stmt, path, pc, None))

    def ite(self, pc: z3.ExprRef, then: z3.ExprRef, orelse: z3.ExprRef) -> z3.ExprRef:
        return then if then.eq(orelse) else z3.If(pc, then, orelse)

    def union(self, a: z3.ExprRef, b: z3.ExprRef) -> z3.ExprRef:
        return z3.Or(a, b)

    def step(self) -> None:
        pass


class Chain:
    """A predicate's points, and questions about them under the assumptions."""

    def __init__(self, solver: Solver, fn: m.Function, params: dict[str, z3.ExprRef], run: _Walk,
                 s: z3.Solver, value: z3.ExprRef) -> None:
        self.solver = solver
        self.fn = fn
        self.params = params
        self._run = run
        self.points = run.points
        self._s = s
        self._value = value

    def never(self, *conds: Condition) -> bool:
        """Z3 finds no input (and no arguments) where the conditions hold together."""
        return bool(self._s.check(*conds) == z3.unsat)

    def possible(self, *conds: Condition) -> bool:
        """Z3 finds an input where the conditions hold together."""
        return bool(self._s.check(*conds) == z3.sat)

    def negate(self, cond: Condition) -> Condition:
        return z3.Not(cond)

    def value_of(self, other: m.Function) -> Condition:
        """The value of `other` (the predicate with a rule removed or moved) on the same arguments."""
        return self.solver.c.body(other, dict(self.params))[0]

    def differs(self, other: Condition) -> Condition:
        """The condition that the predicate and the `value_of` another give different values."""
        return self._value != other

    def witness(self, *conds: Condition) -> tuple[dict[str, bool | str | int], tuple[ev.Value, ...]]:
        """An input and arguments where the conditions hold, for the interpreter to replay."""
        s = self._s
        if s.check(*conds) != z3.sat:
            raise InternalError("a witness query was not satisfiable")
        model = s.model()
        full = self.solver.assignment(model)
        types = dict(self.fn.params)
        args: list[ev.Value] = []
        for name, term in self.params.items():
            v = model.eval(term, model_completion=True)
            t = types[name]
            if t.kind is m.TypeKind.BOOL:
                args.append(bool(z3.is_true(v)))
            elif t.kind is m.TypeKind.ENUM:
                args.append(str(v)[len(t.name) + 1:])
            elif t.kind is m.TypeKind.SET:
                args.append(ev.set_value(v.as_long() & self.solver.lib.universes[t.name].mask))  # type: ignore[attr-defined]
            else:
                args.append(v.as_long())  # type: ignore[attr-defined]
        return full, tuple(args)


def chain(solver: Solver, fn: m.Function, assumptions: Sequence[m.Assumption]) -> Chain | None:
    """The predicate run symbolically under the assumptions; None when they
    cannot hold together (then every rule would look dead)."""
    c = solver.c
    params = {name: z3.FreshConst(sort_of(c, t), prefix=name) for name, t in fn.params}
    run = _Walk(c)
    walk.merge(fn.body, z3.BoolVal(True, c.ctx), params, run)
    terms = [solver.term(a.expr) for a in assumptions]
    s = solver.new()
    s.add(*terms)
    if s.check() == z3.unsat:
        return None
    value = c.body(fn, dict(params))[0]
    return Chain(solver, fn, params, run, s, value)
