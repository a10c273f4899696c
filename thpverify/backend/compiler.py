"""The typed model -> Z3 terms.

Atoms become constants named exactly as the atom: Bool; an enum atom a
datatype `<atom>_t` with constructors `<atom>_<value>`; a set over a universe
a bit-vector with bit k set when k is in the set. Each predicate compiles to
its value and to the index of the rule that decided it. Terms are built once
per (version, predicate) and reused.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping

import z3

from .. import model as m
from ..semantics import walk

RULE_BITS = 16

_Term = tuple[z3.ExprRef, z3.ExprRef]  # (value, rule index)


class _Run:
    """The compiler's values for `walk.fork`: Z3 terms."""

    def __init__(self, c: Compiler) -> None:
        self.c = c
        # The memo keys hold Z3 term ids; Z3 reuses the id of a term that has
        # been freed, so every term a key names is kept alive for the walk.
        self.alive: list[z3.ExprRef] = []

    def assign(self, stmt: m.SAssign, env: Mapping[str, z3.ExprRef]) -> z3.ExprRef:
        return self.c.expr(stmt.value, env)

    def test(self, stmt: m.SIf, env: Mapping[str, z3.ExprRef]) -> tuple[bool | None, z3.ExprRef]:
        test = z3.simplify(self.c.expr(stmt.test, env))
        return (True if z3.is_true(test) else False if z3.is_false(test) else None), test

    def returned(self, stmt: m.SReturn, env: Mapping[str, z3.ExprRef]) -> _Term:
        return self.c.returned(stmt, env)

    def split(self, stmt: m.SIf) -> None:
        pass

    def join(self, test: z3.ExprRef, then: _Term, orelse: _Term) -> _Term:
        return z3.If(test, then[0], orelse[0]), z3.If(test, then[1], orelse[1])

    def settle(self, then: _Term) -> None:
        return None

    def key(self, frames: walk.Frames, env: Mapping[str, z3.ExprRef]) -> Hashable:
        self.alive.extend(env.values())
        return (tuple((id(s), i) for s, i in frames), tuple((k, v.get_id()) for k, v in sorted(env.items())))


class Compiler:
    def __init__(self, lib: m.Library, ctx: z3.Context | None = None) -> None:
        self.lib = lib
        self.ctx = ctx or z3.Context()
        self.sorts: dict[str, z3.DatatypeSortRef] = {}
        self.constructors: dict[str, dict[str, z3.ExprRef]] = {}
        self.atoms: dict[str, z3.ExprRef] = {}
        self.cache: dict[tuple[str, str], tuple[z3.ExprRef, z3.ExprRef]] = {}
        self.rules: list[m.Rule] = []
        self.rule_ids: dict[int, int] = {}
        for atom in lib.atoms.values():
            self.atoms[atom.name] = self._declare(atom)

    # ---------------------------------------------------------------- atoms

    def _declare(self, atom: m.Atom) -> z3.ExprRef:
        if atom.type.kind is m.TypeKind.BOOL:
            return z3.Bool(atom.name, self.ctx)
        if atom.type.kind is m.TypeKind.ENUM:
            sort, values = z3.EnumSort(f"{atom.name}_t", [f"{atom.name}_{v}" for v in atom.values], ctx=self.ctx)
            self.sorts[atom.name] = sort
            self.constructors[atom.name] = dict(zip(atom.values, values, strict=True))
            return z3.Const(atom.name, sort)
        return z3.BitVec(atom.name, self.width(atom.type.name), self.ctx)

    def width(self, universe: str) -> int:
        return self.lib.universes[universe].width

    def well_formed(self) -> list[z3.BoolRef]:
        """Sets hold only elements of their universe."""
        out = []
        for atom in self.lib.atoms.values():
            if atom.type.kind is m.TypeKind.SET:
                u = self.lib.universes[atom.type.name]
                outside = ~u.mask & ((1 << u.width) - 1)
                if outside:
                    out.append(self.atoms[atom.name] & z3.BitVecVal(outside, u.width, self.ctx) == 0)
        return out

    def value(self, atom: m.Atom, value: bool | str | int) -> z3.ExprRef:
        """The Z3 literal for a concrete value of an atom."""
        if atom.type.kind is m.TypeKind.BOOL:
            return z3.BoolVal(bool(value), self.ctx)
        if atom.type.kind is m.TypeKind.ENUM:
            return self.constructors[atom.name][str(value)]
        return z3.BitVecVal(int(value), self.width(atom.type.name), self.ctx)

    def read(self, atom: m.Atom, model: z3.ModelRef) -> bool | str | int:
        """An atom's value in a model, completed where the model leaves it free."""
        term = model.eval(self.atoms[atom.name], model_completion=True)
        if atom.type.kind is m.TypeKind.BOOL:
            return bool(z3.is_true(term))
        if atom.type.kind is m.TypeKind.ENUM:
            text = str(term)
            return text[len(atom.name) + 1:]
        return int(term.as_long())  # type: ignore[attr-defined]

    def read_all(self, atoms: list[m.Atom], model: z3.ModelRef) -> dict[str, bool | str | int]:
        """Many atoms' values in one pass over the model; an atom the model
        leaves free takes its type's default (false, the first value, {})."""
        found = {d.name(): model[d] for d in model.decls() if d.arity() == 0}
        out: dict[str, bool | str | int] = {}
        for atom in atoms:
            term = found.get(atom.name)
            if atom.type.kind is m.TypeKind.BOOL:
                out[atom.name] = term is not None and z3.is_true(term)
            elif atom.type.kind is m.TypeKind.ENUM:
                out[atom.name] = str(term)[len(atom.name) + 1:] if term is not None else atom.values[0]
            else:
                out[atom.name] = term.as_long() if term is not None else 0  # type: ignore[attr-defined]
        return out

    # ------------------------------------------------------------ functions

    def function(self, version: str, name: str) -> tuple[z3.ExprRef, z3.ExprRef]:
        """(value, rule index) of a parameterless predicate; built once."""
        key = (version, name)
        if key not in self.cache:
            fn = self.lib.function(version, name)
            self.cache[key] = self.body(fn, {})
        return self.cache[key]

    def body(self, fn: m.Function, env: dict[str, z3.ExprRef]) -> _Term:
        """(value, rule) of a body, run by `walk.fork`: a test that simplifies
        to a constant picks its branch, any other splits the run and the two
        results are joined by If terms; runs are memoised by (position, locals)."""
        return walk.fork(fn.body, env, _Run(self), fn.name)

    def rule_index(self, rule: m.Rule) -> int:
        """Rules are numbered library-wide, so a rule term can name any predicate's rule."""
        key = id(rule)
        if key not in self.rule_ids:
            self.rule_ids[key] = len(self.rules)
            self.rules.append(rule)
        return self.rule_ids[key]

    def returned(self, stmt: m.SReturn, env: Mapping[str, z3.ExprRef]) -> _Term:
        return walk.returned(self, stmt, env)

    # ----------------------------------------------------------- expressions
    # (walk.expression dispatches on the node; these are the compiler's cases)

    def expr(self, e: m.Expr, env: Mapping[str, z3.ExprRef] | None = None) -> z3.ExprRef:
        return walk.expression(self, e, env or {})

    def atom(self, e: m.AtomRef) -> z3.ExprRef:
        return self.atoms[e.name]

    def apply(self, e: m.Op, args: list[z3.ExprRef]) -> z3.ExprRef:
        return _OPS[e.op](self, e, args)

    def rule(self, stmt: m.SReturn) -> z3.ExprRef:
        return z3.BitVecVal(self.rule_index(stmt.rule), RULE_BITS, self.ctx)

    def lit(self, e: m.Lit) -> z3.ExprRef:
        if e.type.kind is m.TypeKind.BOOL:
            return z3.BoolVal(bool(e.value), self.ctx)
        if e.type.kind is m.TypeKind.ENUM:
            return self.constructors[e.type.name][str(e.value)]
        return z3.BitVecVal(int(e.value), self.width(e.type.name), self.ctx)


def _member(c: Compiler, e: m.Op, a: list[z3.ExprRef]) -> z3.ExprRef:
    x, s = a
    width = c.width(e.args[1].type.name)
    return z3.Extract(0, 0, z3.LShR(s, x)) == z3.BitVecVal(1, 1, c.ctx) if width else z3.BoolVal(False, c.ctx)


def _highest(c: Compiler, e: m.Op, a: list[z3.ExprRef]) -> z3.ExprRef:
    u = c.lib.universes[e.args[0].type.name]
    out: z3.ExprRef = z3.BitVecVal(0, u.width, c.ctx)
    for element in u.elements:
        out = z3.If(z3.Extract(element, element, a[0]) == 1, z3.BitVecVal(element, u.width, c.ctx), out)
    return out


def _empty(c: Compiler, e: m.Op, a: list[z3.ExprRef]) -> z3.ExprRef:
    return a[0] == z3.BitVecVal(0, c.width(e.args[0].type.name), c.ctx)


def _singleton(c: Compiler, e: m.Op, a: list[z3.ExprRef]) -> z3.ExprRef:
    return z3.BitVecVal(1, c.width(e.type.name), c.ctx) << a[0]


_OPS: dict[m.Operator, Callable[[Compiler, m.Op, list[z3.ExprRef]], z3.ExprRef]] = {
    m.Operator.NOT: lambda c, e, a: z3.Not(a[0]),
    m.Operator.AND: lambda c, e, a: z3.And(a[0], a[1]),
    m.Operator.OR: lambda c, e, a: z3.Or(a[0], a[1]),
    m.Operator.IMPLIES: lambda c, e, a: z3.Implies(a[0], a[1]),
    m.Operator.IFF: lambda c, e, a: a[0] == a[1],
    m.Operator.EQ: lambda c, e, a: a[0] == a[1],
    m.Operator.NE: lambda c, e, a: a[0] != a[1],
    m.Operator.LT: lambda c, e, a: z3.ULT(a[0], a[1]),
    m.Operator.LE: lambda c, e, a: z3.ULE(a[0], a[1]),
    m.Operator.GT: lambda c, e, a: z3.UGT(a[0], a[1]),
    m.Operator.GE: lambda c, e, a: z3.UGE(a[0], a[1]),
    m.Operator.IN: _member,
    m.Operator.UNION: lambda c, e, a: a[0] | a[1],
    m.Operator.INTER: lambda c, e, a: a[0] & a[1],
    m.Operator.DIFF: lambda c, e, a: a[0] & ~a[1],
    m.Operator.EMPTY: _empty,
    m.Operator.HIGHEST: _highest,
    m.Operator.SINGLETON: _singleton,
    m.Operator.COND: lambda c, e, a: z3.If(a[0], a[1], a[2]),
}
m.implemented(_OPS, "the Z3 compiler")
