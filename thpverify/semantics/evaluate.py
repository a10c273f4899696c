"""The concrete interpreter: the reference semantics, with a decision trace.

Atoms missing from an assignment are unknown. Values are three-valued
(Kleene): an unknown condition forks both branches and the result is known
only when both agree. With every atom given, this is plain evaluation.

Values: bool | None; enum value str | None; element int | None; sets are
PSet (which bits are known, and their values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import model as m
from ..results import StepKind
from . import walk

ALL = (1 << 63) - 1
FORK_BUDGET = 4096


@dataclass(frozen=True)
class PSet:
    known: int
    bits: int  # only meaningful where known

    @property
    def ones(self) -> int:
        return self.bits & self.known

    @property
    def zeros(self) -> int:
        return ~self.bits & self.known & ALL


Value = bool | str | int | PSet | None
Assignment = Mapping[str, bool | str | int | PSet]


@dataclass(frozen=True)
class Step:
    depth: int
    function: str
    rule: m.Rule
    kind: StepKind
    value: Value


@dataclass(frozen=True)
class Outcome:
    value: Value
    rule: m.Rule | None  # the rule that decided it; None when that depends on unknown atoms
    trace: tuple[Step, ...]

    @property
    def known(self) -> bool:
        return is_known(self.value)


def is_known(value: Value) -> bool:
    if isinstance(value, PSet):
        return value.known == ALL
    return value is not None


def set_value(mask: int) -> PSet:
    return PSet(ALL, mask)


def unknown_set(universe: m.Universe) -> PSet:
    return PSet(~universe.mask & ALL, 0)


class _BudgetError(Exception):
    pass


class Interpreter:
    def __init__(self, lib: m.Library, assignment: Assignment) -> None:
        self.lib = lib
        self.assignment = assignment
        self.forks = 0

    # ----------------------------------------------------------------- atoms

    def atom(self, ref: m.AtomRef) -> Value:
        raw = self.assignment.get(ref.name)
        if ref.type.kind is m.TypeKind.SET:
            if raw is None:
                return unknown_set(self.lib.universes[ref.type.name])
            if isinstance(raw, PSet):
                return raw
            assert isinstance(raw, int)
            return set_value(raw)
        return raw  # type: ignore[return-value]

    # ------------------------------------------------------------ functions

    def call(self, fn: m.Function, args: tuple[Value, ...], trace: list[Step] | None, depth: int) -> tuple[Value, m.Rule | None]:
        env = {name: value for (name, _), value in zip(fn.params, args, strict=True)}
        try:
            return walk.fork(fn.body, env, _Run(self, fn, trace, depth), fn.name)
        except _BudgetError:
            if depth:
                raise
            if fn.returns.kind is m.TypeKind.SET:
                return unknown_set(self.lib.universes[fn.returns.name]), None
            return None, None

    def returned(self, stmt: m.SReturn, env: Mapping[str, Value], trace: list[Step] | None,
                  depth: int) -> tuple[Value, m.Rule | None]:
        """A return that hands the decision to another predicate takes that predicate's rule."""
        e = stmt.value
        call = walk.delegate(self.lib, e)
        if call is None:
            return self.expr(e, env, trace, depth), stmt.rule
        fn = self.lib.function(call.version, call.name)
        args = tuple(self.expr(a, env, trace, depth) for a in call.args)
        value, rule = self.call(fn, args, trace, depth + 1)
        if call is e:
            return value, rule
        return self.expr(e, env, None, depth), rule

    # ---------------------------------------------------------- expressions

    def expr(self, e: m.Expr, env: Mapping[str, Value], trace: list[Step] | None = None, depth: int = 0) -> Value:
        if isinstance(e, m.Lit):
            return set_value(e.value) if e.type.kind is m.TypeKind.SET else e.value  # type: ignore[arg-type]
        if isinstance(e, m.AtomRef):
            return self.atom(e)
        if isinstance(e, m.Local):
            return env[e.name]
        if isinstance(e, m.Call):
            fn = self.lib.function(e.version, e.name)
            args = tuple(self.expr(a, env, trace, depth) for a in e.args)
            value, _ = self.call(fn, args, trace if fn.kind is m.FunctionKind.PREDICATE else None, depth + 1)
            return value
        return _OPS[e.op](self, e, env, trace, depth)


class _Run:
    """One body run by the interpreter: its values for `walk.fork`. The
    trace records tests and returns until the first undecided test; the
    branches after it run untraced, and their results are joined."""

    def __init__(self, it: Interpreter, fn: m.Function, trace: list[Step] | None, depth: int) -> None:
        self.it = it
        self.fn = fn
        self.trace = trace
        self.depth = depth

    def assign(self, stmt: m.SAssign, env: Mapping[str, Value]) -> Value:
        return self.it.expr(stmt.value, env, self.trace, self.depth)

    def test(self, stmt: m.SIf, env: Mapping[str, Value]) -> tuple[bool | None, Value]:
        value = self.it.expr(stmt.test, env, self.trace, self.depth)
        if self.trace is not None:
            self.trace.append(Step(self.depth, self.fn.name, stmt.rule, StepKind.TEST, value))
        return (value if isinstance(value, bool) else None), value

    def returned(self, stmt: m.SReturn, env: Mapping[str, Value]) -> tuple[Value, m.Rule | None]:
        value, rule = self.it.returned(stmt, env, self.trace, self.depth)
        if self.trace is not None:
            self.trace.append(Step(self.depth, self.fn.name, stmt.rule, StepKind.RETURN, value))
        return value, rule

    def split(self, stmt: m.SIf) -> None:
        self.trace = None
        self.it.forks += 1
        if self.it.forks > FORK_BUDGET:
            raise _BudgetError

    def join(self, test: Value, then: tuple[Value, m.Rule | None], orelse: tuple[Value, m.Rule | None]) -> tuple[Value, m.Rule | None]:
        return join(then[0], orelse[0]), then[1] if then[1] == orelse[1] else None

    def settle(self, then: tuple[Value, m.Rule | None]) -> tuple[Value, m.Rule | None] | None:
        return (None, None) if then[0] is None else None  # unknown joined with anything is unknown

    def key(self, frames: walk.Frames, env: Mapping[str, Value]) -> None:
        return None


def join(a: Value, b: Value) -> Value:
    if isinstance(a, PSet) and isinstance(b, PSet):
        known = a.known & b.known & ~(a.bits ^ b.bits)
        return PSet(known, a.bits & known)
    return a if a == b and a is not None else None


# ------------------------------------------------------------- operators

_Eval = Callable[[Interpreter, m.Op, Mapping[str, Value], "list[Step] | None", int], Value]


def _args(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> list[Value]:
    return [it.expr(a, env, trace, depth) for a in e.args]


def _not(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    (a,) = _args(it, e, env, trace, depth)
    return None if a is None else not a


def _and(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a = it.expr(e.args[0], env, trace, depth)
    if a is False:
        return False
    b = it.expr(e.args[1], env, trace, depth)
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def _or(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a = it.expr(e.args[0], env, trace, depth)
    if a is True:
        return True
    b = it.expr(e.args[1], env, trace, depth)
    if a is True or b is True:
        return True
    return False if a is False and b is False else None


def _implies(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    if a is False or b is True:
        return True
    return False if a is True and b is False else None


def _iff(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    return None if a is None or b is None else a == b


def _eq(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    if isinstance(a, PSet) and isinstance(b, PSet):
        universe = it.lib.universes[e.args[0].type.name].mask
        both = a.known & b.known
        if (a.bits ^ b.bits) & both:
            return False
        return True if both & universe == universe else None
    return None if a is None or b is None else a == b


def _ne(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    same = _eq(it, e, env, trace, depth)
    return None if same is None else not same


def _compare(test: Callable[[int, int], bool]) -> _Eval:
    def run(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
        a, b = _args(it, e, env, trace, depth)
        if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
            return None
        return test(a, b)

    return run


def _in(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    x, s = _args(it, e, env, trace, depth)
    assert isinstance(s, PSet)
    if x is None:
        universe = it.lib.universes[e.args[1].type.name].mask
        return False if s.zeros & universe == universe else None
    assert isinstance(x, int)
    bit = 1 << x
    if not s.known & bit:
        return None
    return bool(s.bits & bit)


def _union(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    assert isinstance(a, PSet) and isinstance(b, PSet)
    ones, zeros = a.ones | b.ones, a.zeros & b.zeros
    return PSet(ones | zeros, ones)


def _inter(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    assert isinstance(a, PSet) and isinstance(b, PSet)
    ones, zeros = a.ones & b.ones, a.zeros | b.zeros
    return PSet(ones | zeros, ones)


def _diff(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    a, b = _args(it, e, env, trace, depth)
    assert isinstance(a, PSet) and isinstance(b, PSet)
    ones, zeros = a.ones & b.zeros, a.zeros | b.ones
    return PSet(ones | zeros, ones)


def _empty(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    (s,) = _args(it, e, env, trace, depth)
    assert isinstance(s, PSet)
    universe = it.lib.universes[e.args[0].type.name].mask
    if s.ones & universe:
        return False
    return True if s.zeros & universe == universe else None


def _highest(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    (s,) = _args(it, e, env, trace, depth)
    assert isinstance(s, PSet)
    for element in reversed(it.lib.universes[e.args[0].type.name].elements):
        bit = 1 << element
        if not s.known & bit:
            return None
        if s.bits & bit:
            return element
    return 0


def _singleton(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    (x,) = _args(it, e, env, trace, depth)
    if x is None:
        return unknown_set(it.lib.universes[e.type.name])
    assert isinstance(x, int)
    return set_value(1 << x)


def _cond(it: Interpreter, e: m.Op, env: Mapping[str, Value], trace: list[Step] | None, depth: int) -> Value:
    test = it.expr(e.args[0], env, trace, depth)
    if test is True:
        return it.expr(e.args[1], env, trace, depth)
    if test is False:
        return it.expr(e.args[2], env, trace, depth)
    return join(it.expr(e.args[1], env, trace, depth), it.expr(e.args[2], env, trace, depth))


_OPS: dict[m.Operator, _Eval] = {
    m.Operator.NOT: _not, m.Operator.AND: _and, m.Operator.OR: _or, m.Operator.IMPLIES: _implies, m.Operator.IFF: _iff,
    m.Operator.EQ: _eq, m.Operator.NE: _ne,
    m.Operator.LT: _compare(lambda a, b: a < b), m.Operator.LE: _compare(lambda a, b: a <= b),
    m.Operator.GT: _compare(lambda a, b: a > b), m.Operator.GE: _compare(lambda a, b: a >= b),
    m.Operator.IN: _in, m.Operator.UNION: _union, m.Operator.INTER: _inter, m.Operator.DIFF: _diff,
    m.Operator.EMPTY: _empty, m.Operator.HIGHEST: _highest, m.Operator.SINGLETON: _singleton, m.Operator.COND: _cond,
}
m.implemented(_OPS, "the interpreter")


# ------------------------------------------------------------ entry points


def run(lib: m.Library, version: str, name: str, assignment: Assignment) -> Outcome:
    """Evaluate one predicate of one version, with its trace."""
    fn = lib.function(version, name)
    it = Interpreter(lib, assignment)
    trace: list[Step] = []
    value, rule = it.call(fn, (), trace, 0)
    return Outcome(value, rule, tuple(trace))


def value_of(lib: m.Library, expr: m.Expr, assignment: Assignment) -> Value:
    """Evaluate a closed expression (a claim, a premise, an assumption)."""
    return Interpreter(lib, assignment).expr(expr, {})
