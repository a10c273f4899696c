"""How a body of statements runs, written once for every pass.

A body is a list of `if`, `let` and `return` statements; the first return
reached gives the value and the rule that decided it. Every pass that
runs a body does it through this module and supplies only what its values
are (an `Algebra`): concrete three-valued values for the interpreter, Z3
terms for the compiler, decision diagrams for the finite engine, and Z3
reachability conditions for lint. There are two strategies:

- `fork`: a test the pass can decide picks its branch; a test it cannot
  decide splits the run into both continuations (the rest of the body
  runs in each), and the pass joins the two results under the test. The
  interpreter and the Z3 compiler run this way. The walk is iterative, so
  a chain of thousands of guards does not exhaust Python's stack, and a
  pass may memoise runs by (position, locals).
- `merge`: both branches of every `if` run, under the path condition and
  the test or its negation; where they rejoin, each local takes the value
  of the branch that fell through. A return ends its path. The decision
  diagrams and lint run this way.

Expressions are walked once too, for the passes that build a value for
every node (the Z3 compiler and the decision diagrams): `expression`
dispatches on the node, `returned` says what a return gives and which
rule decided it (a return that hands the decision to one predicate
takes that predicate's rule, `delegate`); a pass supplies `Terms`. The
interpreter threads a trace and a call depth through its expressions and
evaluates `&&`, `||` and `?:` lazily, so it dispatches on its own.

`statements` lists every statement of a body, nested ones included, for
passes that only read the tree.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .. import model as m
from ..errors import InternalError

V = TypeVar("V")  # a value of the pass (a local's value)
T = TypeVar("T")  # a test of the pass
D = TypeVar("D")  # what a pass records about the rule that decided a value
D_co = TypeVar("D_co", covariant=True)
R = TypeVar("R")  # the result of a run: what a return gives
P = TypeVar("P")  # a path condition

Frames = tuple[tuple[tuple[m.Stmt, ...], int], ...]  # statement lists being run, and the next index in each
Path = tuple[int, ...]  # indices from the body down to a statement; a branch adds 0 (then) or 1 (else)


class MissingReturnError(InternalError):
    """A body ran off its end: the type checker rejects such specs, so this is a fault of the tool."""


def statements(body: Sequence[m.Stmt]) -> Iterator[m.Stmt]:
    """Every statement of a body, in source order, nested ones included."""
    stack = [iter(body)]
    while stack:
        stmt = next(stack[-1], None)
        if stmt is None:
            stack.pop()
            continue
        yield stmt
        if isinstance(stmt, m.SIf):
            stack.append(iter(stmt.orelse))
            stack.append(iter(stmt.then))


# ----------------------------------------------------------- expressions


class Terms(Protocol[V, D_co]):
    """What a pass that builds a value for every expression supplies."""

    lib: m.Library

    def lit(self, e: m.Lit) -> V: ...

    def atom(self, e: m.AtomRef) -> V: ...

    def function(self, version: str, name: str) -> tuple[V, D_co]:
        """A parameterless function's value and deciding rule(s), built once."""
        ...

    def body(self, fn: m.Function, args: dict[str, V]) -> tuple[V, D_co]:
        """A function with parameters, run on these arguments."""
        ...

    def apply(self, e: m.Op, args: list[V]) -> V:
        """An operator on its operands' values (model.OPERATORS: one implementation per operator)."""
        ...

    def rule(self, stmt: m.SReturn) -> D_co:
        """What records that this return decided the value."""
        ...


def expression(alg: Terms[V, D], e: m.Expr, env: Mapping[str, V]) -> V:
    """The pass's value of an expression under locals `env`."""
    if isinstance(e, m.Lit):
        return alg.lit(e)
    if isinstance(e, m.AtomRef):
        return alg.atom(e)
    if isinstance(e, m.Local):
        return env[e.name]
    if isinstance(e, m.Call):
        return called(alg, e, env)[0]
    return alg.apply(e, [expression(alg, a, env) for a in e.args])


def called(alg: Terms[V, D], call: m.Call, env: Mapping[str, V]) -> tuple[V, D]:
    """A call's value and the rule(s) that decided it."""
    fn = alg.lib.function(call.version, call.name)
    if not fn.params:
        return alg.function(call.version, call.name)
    args = {name: expression(alg, a, env) for (name, _), a in zip(fn.params, call.args, strict=True)}
    return alg.body(fn, args)


def returned(alg: Terms[V, D], stmt: m.SReturn, env: Mapping[str, V]) -> tuple[V, D]:
    """What a return gives, and the rule(s) that decided it: its own, or,
    when it hands the decision to one predicate, that predicate's."""
    e = stmt.value
    call = delegate(alg.lib, e)
    if call is None:
        return expression(alg, e, env), alg.rule(stmt)
    value, decided = called(alg, call, env)
    return (value if call is e else expression(alg, e, env)), decided


def delegate(lib: m.Library, e: m.Expr) -> m.Call | None:
    """The predicate call that decides `return e`, if there is exactly one.

    `return p(...)`, `return !empty(p(...))` and the like hand the decision
    to p: the rule that decides p is reported as the deciding rule.
    """
    found: list[m.Call] = []

    def walk(x: m.Expr) -> bool:
        if isinstance(x, m.Call):
            if lib.function(x.version, x.name).kind is m.FunctionKind.PREDICATE:
                found.append(x)
            return True
        if isinstance(x, m.Op):
            return m.OPERATORS[x.op].strict and all(walk(a) for a in x.args)
        return True

    if walk(e) and len(found) == 1:
        return found[0]
    return None


# ------------------------------------------------------------------ fork


class Forking(Protocol[V, T, R]):
    """What a forking pass supplies."""

    def assign(self, stmt: m.SAssign, env: Mapping[str, V]) -> V: ...

    def test(self, stmt: m.SIf, env: Mapping[str, V]) -> tuple[bool | None, T]:
        """The test's value, and whether it is decided (True, False) or not (None)."""
        ...

    def returned(self, stmt: m.SReturn, env: Mapping[str, V]) -> R: ...

    def split(self, stmt: m.SIf) -> None:
        """Called when an undecided test splits the run (a pass may count or refuse)."""
        ...

    def join(self, test: T, then: R, orelse: R) -> R: ...

    def settle(self, then: R) -> R | None:
        """The join's result when the then-branch's result alone fixes it
        (the else-branch is then skipped), or None to run the else-branch."""
        ...

    def key(self, frames: Frames, env: Mapping[str, V]) -> Hashable | None:
        """A memo key for the run from here, or None not to memoise."""
        ...


@dataclass(frozen=True)
class _Join(Generic[T]):
    key: Hashable | None
    test: T


@dataclass(frozen=True)
class _Settle:
    pass


def fork(body: Sequence[m.Stmt], env: Mapping[str, V], alg: Forking[V, T, R], name: str = "") -> R:
    """The result of running `body` with locals `env`, splitting at undecided tests."""
    memo: dict[Hashable, R] = {}
    results: list[R] = []
    runs: list[tuple[Frames, Mapping[str, V]] | _Join[T] | _Settle] = [(((tuple(body), 0),), env)]
    while runs:
        item = runs.pop()
        if isinstance(item, _Join):
            orelse, then = results.pop(), results.pop()
            joined = alg.join(item.test, then, orelse)
            if item.key is not None:
                memo[item.key] = joined
            results.append(joined)
            continue
        if isinstance(item, _Settle):
            settled = alg.settle(results[-1])
            if settled is not None:
                runs.pop()  # the else-branch's run
                join = runs.pop()
                assert isinstance(join, _Join)
                results[-1] = settled
                if join.key is not None:
                    memo[join.key] = settled
            continue
        frames, local = item
        start = alg.key(frames, local)
        if start is not None and start in memo:
            results.append(memo[start])
            continue
        while True:
            if not frames:
                raise MissingReturnError(f"{name or 'a body'} ended without a return")
            stmts, i = frames[-1]
            if i >= len(stmts):
                frames = frames[:-1]
                continue
            stmt = stmts[i]
            frames = frames[:-1] + ((stmts, i + 1),)
            if isinstance(stmt, m.SReturn):
                result = alg.returned(stmt, local)
                if start is not None:
                    memo[start] = result
                results.append(result)
                break
            if isinstance(stmt, m.SAssign):
                local = {**local, stmt.name: alg.assign(stmt, local)}
                continue
            decided, test = alg.test(stmt, local)
            if decided is True:
                frames = frames + ((stmt.then, 0),)
            elif decided is False:
                frames = frames + ((stmt.orelse, 0),)
            else:  # the then-branch runs first, then (unless settled) the else-branch, then the join
                alg.split(stmt)
                runs.append(_Join(start, test))
                runs.append((frames + ((stmt.orelse, 0),), local))
                runs.append(_Settle())
                runs.append((frames + ((stmt.then, 0),), local))
                break
    assert len(results) == 1
    return results[0]


# ----------------------------------------------------------------- merge


class Merging(Protocol[V, P]):
    """What a merging pass supplies."""

    false: P

    def unreachable(self, pc: P) -> bool:
        """True when the pass can tell that no input reaches here (the rest is skipped)."""
        ...

    def assign(self, stmt: m.SAssign, env: Mapping[str, V]) -> V: ...

    def test(self, stmt: m.SIf, path: Path, pc: P, env: Mapping[str, V]) -> tuple[P, P]:
        """The path conditions of the then- and the else-branch."""
        ...

    def returned(self, stmt: m.SReturn, path: Path, pc: P, env: Mapping[str, V]) -> None:
        """A return reached under `pc`; the pass records its value."""
        ...

    def ite(self, pc: P, then: V, orelse: V) -> V:
        """A local after an `if`: `then` where the then-branch fell through, else `orelse`."""
        ...

    def union(self, a: P, b: P) -> P: ...

    def step(self) -> None:
        """Called after every statement (a pass may check a budget)."""
        ...


def merge(body: Sequence[m.Stmt], pc: P, env: Mapping[str, V], alg: Merging[V, P],
          path: Path = ()) -> tuple[P, dict[str, V]]:
    """Run `body` under `pc`: the condition under which it falls through its end, and the locals then."""
    local = dict(env)
    for i, stmt in enumerate(body):
        if alg.unreachable(pc):
            break
        here = path + (i,)
        if isinstance(stmt, m.SReturn):
            alg.returned(stmt, here, pc, local)
            pc = alg.false
        elif isinstance(stmt, m.SAssign):
            local = {**local, stmt.name: alg.assign(stmt, local)}
        else:
            then_pc, else_pc = alg.test(stmt, here, pc, local)
            pc1, env1 = merge(stmt.then, then_pc, local, alg, here + (0,))
            pc2, env2 = merge(stmt.orelse, else_pc, local, alg, here + (1,))
            local = {k: alg.ite(pc1, v, env2[k]) if k in env2 else v for k, v in env1.items()}
            local.update({k: v for k, v in env2.items() if k not in env1})
            pc = alg.union(pc1, pc2)
        alg.step()
    return pc, local
