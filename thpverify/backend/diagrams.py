"""The typed model -> binary decision diagrams (CUDD through `dd`).

The finite questions (is a formula ever true, how many inputs satisfy it,
the smallest partial assignment that forces it, the atoms an answer can
turn on) are exact and canonical on a BDD: the same formula gives the same
diagram whatever was computed before, so the answers do not depend on the
state of the process.

Encoding: a bool atom is one variable; an enum atom with n values is
ceil(log2 n) variables `<atom>#i` holding the value's index (codes >= n are
ruled out by `domain`); a set atom is one variable `<atom>@k` per element k
of its universe. Variables follow the atoms' declaration order.

Values: a bool is a BDD; an enum value or an element is a `Choice` (each
possible value with the condition under which it is taken, disjoint and
covering); a set is a `Bits` (one condition per bit, bit k set when k is in
the set). Each predicate compiles to its value and, per rule, the condition
under which that rule decides it.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import model as m
from ..errors import InconclusiveError
from ..semantics import walk

try:  # CUDD when the wheel has it; the pure-Python implementation otherwise
    from dd import cudd as _bdd_impl
except ImportError:  # pragma: no cover - depends on the platform's wheel
    from dd import autoref as _bdd_impl

BDD = Any  # a node of the manager (dd.cudd.Function)
Coord = tuple[str, int | None]  # (atom, element of a set atom or None)


class TooLargeError(InconclusiveError):
    """The diagrams grew past the node budget: for a verdict the SAT path
    answers instead; an analysis that has no SAT path stops with exit 5."""


@dataclass(frozen=True)
class Choice:
    """A value among finitely many: value -> the condition it is taken under."""

    options: tuple[tuple[bool | str | int, BDD], ...]


@dataclass(frozen=True)
class Bits:
    """A set as one condition per bit index (0 .. width-1)."""

    bits: tuple[BDD, ...]


Sym = Any  # BDD | Choice | Bits
_KEEP: list[Any] = []


def _silence_shutdown() -> None:
    """dd 0.6.0 asserts, when a CUDD manager is freed, that none of its nodes
    is still referenced; some dd call leaks a few references, so it prints
    an ignored AssertionError. The last managers are kept (_KEEP) until the
    process ends; by the time this runs (atexit, after every output is written and
    flushed) only that message can follow, so stderr is closed for it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    except (OSError, ValueError):
        pass
Rules = dict[int, BDD]  # rule index -> the condition under which it decides

# Past this many nodes in a manager the diagrams give up (TooLargeError): a
# verdict is then answered by Z3 alone, and says so in its checks. Measured
# with `python -m bench.budget 100 100` (2 cores, shared): on that generated
# table Z3 gives all four verdicts in 0.28 s, while version a's diagram
# reaches 173k nodes in 0.1 s, 707k in 1.0 s, 1.0M in 2.1 s and 4.2M in
# 10.6 s, and never finishes (the diagrams of these tables grow
# exponentially past n = 50; 50 x 100 builds in 0.2 s with 133k nodes).
# Z3 is the cheaper past about 200k nodes, but the bundled library, checked
# whole in one process, reaches 333k nodes (dead nodes are never collected,
# see `__init__`; `requires --all-versions` 21k): the budget keeps a
# threefold margin over the library, at a cost of about 2 s on a table
# whose diagrams blow up.
NODE_BUDGET = 1_000_000


class Diagrams:
    """BDDs for one library: atoms, expressions and predicates, built once."""

    def __init__(self, lib: m.Library, node_limit: int = NODE_BUDGET) -> None:
        self.lib = lib
        self.node_limit = node_limit
        self.bdd = _bdd_impl.BDD()
        self.true = self.bdd.true
        self.false = self.bdd.false
        self.vars: dict[Coord, list[str]] = {}  # coordinate -> its variables
        self.elements: dict[str, list[tuple[int, str]]] = {}  # set atom -> (element, its variable)
        self.rules: list[m.Rule] = []
        self._rule_ids: dict[int, int] = {}
        self._functions: dict[tuple[str, str], tuple[Sym, Rules]] = {}
        self._exprs: dict[int, Sym] = {}
        sets: list[tuple[int, int, Coord]] = []
        for position, atom in enumerate(lib.atoms.values()):
            if atom.type.kind is m.TypeKind.BOOL:
                self.vars[(atom.name, None)] = [atom.name]
            elif atom.type.kind is m.TypeKind.ENUM:
                width = max(1, (len(atom.values) - 1).bit_length())
                self.vars[(atom.name, None)] = [f"{atom.name}#{i}" for i in range(width)]
            else:
                for k in lib.universes[atom.type.name].elements:
                    self.vars[(atom.name, k)] = [f"{atom.name}@{k}"]
                    self.elements.setdefault(atom.name, []).append((k, f"{atom.name}@{k}"))
                    sets.append((k, position, (atom.name, k)))
        # Each coordinate has meta variables that describe a cube literal
        # over it: `?in` (the cube constrains it) and one `?<i>` per option
        # (the cube allows its i-th value). Sets of cubes are BDDs over these
        # (finite.minimum_cube, finite.depends, finite.cover).
        self.meta: dict[Coord, tuple[str, list[str]]] = {}
        for c in self.vars:
            stem = c[0] if c[1] is None else f"{c[0]}@{c[1]}"
            self.meta[c] = (f"{stem}?in", [f"{stem}?{i}" for i in range(len(self.options(c)))])
        # Set elements are interleaved (every set's element 1, then every
        # set's element 2, ...): operations on sets work element-wise, and
        # this keeps their diagrams linear. Each coordinate's meta variables
        # follow its own. The order is fixed: no dynamic reordering, so that
        # diagrams (and the answers read from them) do not depend on what
        # was built before.
        # Named conditions (bool defs of the vocabulary without parameters)
        # may be cube coordinates too, so that a row can say VM_NO_KHUGEPAGED;
        # `link` ties each to its definition. Their variables come first, so
        # that of two cubes with as few literals the one that names the
        # condition wins (finite._lightest prefers earlier variables); the
        # later-declared condition first (VM_NO_KHUGEPAGED over VM_SPECIAL).
        self.derived = [f.name for f in lib.global_functions.values()
                        if f.kind == "def" and not f.params and f.returns.kind is m.TypeKind.BOOL and f.name not in lib.atoms]
        for name in self.derived:
            self.vars[(name, None)] = [f"def:{name}"]
            self.meta[(name, None)] = (f"def:{name}?in", [f"def:{name}?0", f"def:{name}?1"])
        atoms_first = [c for c in self.vars if c[1] is None and c[0] in lib.atoms]
        ordered = [(name, None) for name in reversed(self.derived)] + atoms_first + [c for _, _, c in sorted(sets)]
        names = [v for c in ordered if c[0] in lib.atoms for v in self.vars[c]]
        self.bdd.configure(reordering=False)
        if _bdd_impl.__name__ == "dd.cudd":
            # CUDD's garbage collector aborts the process ("dead count !=
            # deleted") on `requires --all-versions` with dd 0.6.0: a
            # reference count goes wrong somewhere between dd and CUDD. A
            # process here lives for one command, so dead nodes are kept.
            self.bdd.configure(garbage_collection=False)
            if not _KEEP:
                atexit.register(_silence_shutdown)
            # The last few managers are kept until the process ends (a
            # command builds one or two; a long test session frees the rest).
            _KEEP.append(self.bdd)
            del _KEEP[:-4]
        self.bdd.declare(*(v for c in ordered for v in (*self.vars[c], self.meta[c][0], *self.meta[c][1])))
        self.order = names
        self._built = 0  # statements built (budget)
        self._interval = 1
        self._next_check = 1
        self._domain: dict[str, BDD] = {}
        self.memo: dict[tuple[object, ...], BDD] = {}  # diagrams of coordinates alone (finite.member, finite.shape)
        self.counting: dict[tuple[str, ...], list[list[BDD]]] = {}  # "at most c of these are true" (finite._at_most)

    # --------------------------------------------------------------- atoms

    def coords(self, atoms: Iterable[str]) -> list[Coord]:
        wanted = set(atoms)
        return [c for c in self.vars if c[0] in wanted and c[0] in self.lib.atoms]

    def link(self, names: Iterable[str]) -> BDD:
        """Each named condition's variable equals its definition."""
        return self.bdd_and(self.iff(self.bdd.var(f"def:{n}"), self.function("", n)[0]) for n in names)

    def options(self, coord: Coord) -> tuple[bool | str, ...]:
        atom = self.lib.atoms.get(coord[0])
        if atom is None:
            return (False, True)
        return atom.values if coord[1] is None and atom.type.kind is m.TypeKind.ENUM else (False, True)

    def literal(self, coord: Coord, value: bool | str | int) -> BDD:
        """The condition coordinate == value."""
        name, element = coord
        atom = self.lib.atoms.get(name)
        if atom is not None and element is None and atom.type.kind is m.TypeKind.ENUM:
            return self._code(name, atom.values.index(str(value)))
        if atom is not None and element is None and atom.type.kind is m.TypeKind.SET:  # a whole set, as a bit mask
            return self.bdd_and(self.literal((name, k), bool(int(value) >> k & 1))
                                for k in self.lib.universes[atom.type.name].elements)
        v = self.bdd.var(self.vars[coord][0])
        return v if value else ~v

    def _code(self, name: str, index: int) -> BDD:
        out = self.true
        for i, var in enumerate(self.vars[(name, None)]):
            v = self.bdd.var(var)
            out &= v if index >> i & 1 else ~v
        return out

    def domain(self, atoms: Iterable[str]) -> BDD:
        """Enum codes past the last value are not inputs."""
        out = self.true
        for name in atoms:
            atom = self.lib.atoms[name]
            if atom.type.kind is not m.TypeKind.ENUM:
                continue
            if name not in self._domain:
                self._domain[name] = self.bdd_or(self._code(name, i) for i in range(len(atom.values)))
            out &= self._domain[name]
        return out

    def variables(self, atoms: Iterable[str]) -> list[str]:
        return [v for c in self.coords(atoms) for v in self.vars[c]]

    def atom(self, ref: m.AtomRef) -> Sym:
        atom = self.lib.atoms[ref.name]
        if atom.type.kind is m.TypeKind.BOOL:
            return self.bdd.var(ref.name)
        if atom.type.kind is m.TypeKind.ENUM:
            return Choice(tuple((v, self._code(ref.name, i)) for i, v in enumerate(atom.values)))
        u = self.lib.universes[atom.type.name]
        return Bits(tuple(self.bdd.var(self.vars[(ref.name, k)][0]) if k in u.elements else self.false
                          for k in range(u.width)))

    def and_exists(self, u: BDD, v: BDD, names: Iterable[str]) -> BDD:
        """Some value of the named variables makes u and v hold: one CUDD pass."""
        if _bdd_impl.__name__ == "dd.cudd":
            return _bdd_impl.and_exists(u, v, names)
        return self.bdd.exist(list(names), u & v)

    def bdd_or(self, items: Iterable[BDD]) -> BDD:
        out = self.false
        for x in items:
            out |= x
        return out

    def bdd_and(self, items: Iterable[BDD]) -> BDD:
        out = self.true
        for x in items:
            out &= x
        return out

    # ------------------------------------------------------------ functions

    def function(self, version: str, name: str) -> tuple[Sym, Rules]:
        """(value, rule conditions) of a parameterless predicate or def; built once."""
        key = (version, name)
        if key not in self._functions:
            self._functions[key] = self.body(self.lib.function(version, name), {})
        return self._functions[key]

    def rule_index(self, rule: m.Rule) -> int:
        key = id(rule)
        if key not in self._rule_ids:
            self._rule_ids[key] = len(self.rules)
            self.rules.append(rule)
        return self._rule_ids[key]

    def body(self, fn: m.Function, env: dict[str, Sym]) -> tuple[Sym, Rules]:
        """(value, rule conditions) of a body, run by `walk.merge`: the
        branches of an `if` run under the test and its negation and their
        locals merge; a return adds its value under the path condition."""
        run = _Run(self)
        rest, _ = walk.merge(fn.body, self.true, env, run)
        if run.value is None or rest != self.false:
            raise walk.MissingReturnError(f"{fn.name} ends without a return on some input")
        return run.value, run.rules

    def budget(self) -> None:
        """Called after each statement built: past the node budget, give up.
        Counting the nodes (dd's len: CUDD checks every node's references)
        costs from 0.2 ms on a small manager to 30 ms on a shared one of a
        few 100k nodes; counted at every step, it took 215 of the 234 s of
        a whole-library check. So it is counted on a schedule that depends
        only on the steps and the counts: at every step at first, twice as
        far apart each time the count is under half the budget (up to 4096
        steps apart), and every 16 steps once it is past that."""
        self._built += 1
        if self._built < self._next_check:
            return
        nodes = len(self.bdd)
        if nodes > self.node_limit:
            raise TooLargeError(f"more than {self.node_limit} diagram nodes")
        self._interval = min(4096, self._interval * 2) if nodes < self.node_limit // 2 else 16
        self._next_check = self._built + self._interval

    def returned(self, stmt: m.SReturn, env: Mapping[str, Sym]) -> tuple[Sym, Rules]:
        return walk.returned(self, stmt, env)

    # ----------------------------------------------------------- expressions

    def term(self, e: m.Expr) -> Sym:
        """A closed expression of the library, built once."""
        key = id(e)
        if key not in self._exprs:
            self._exprs[key] = (e, self.expr(e, {}))  # the expression is kept so its id is not reused
        return self._exprs[key][1]

    def expr(self, e: m.Expr, env: Mapping[str, Sym]) -> Sym:
        return walk.expression(self, e, env)

    # walk.expression dispatches on the node; these are the diagrams' cases

    def lit(self, e: m.Lit) -> Sym:
        return self.constant(e.type, e.value)

    def apply(self, e: m.Op, args: list[Sym]) -> Sym:
        return OPS[e.op](self, e, args)

    def rule(self, stmt: m.SReturn) -> Rules:
        return {self.rule_index(stmt.rule): self.true}

    def constant(self, typ: m.Type, value: bool | int | str) -> Sym:
        if typ.kind is m.TypeKind.BOOL:
            return self.true if value else self.false
        if typ.kind is m.TypeKind.SET:
            u = self.lib.universes[typ.name]
            return Bits(tuple(self.true if int(value) >> k & 1 else self.false for k in range(u.width)))
        return Choice(((value, self.true),))

    def ite(self, test: BDD, a: Sym, b: Sym) -> Sym:
        if test == self.true:
            return a
        if test == self.false:
            return b
        if isinstance(a, Bits):
            return Bits(tuple(self.bdd.ite(test, x, y) for x, y in zip(a.bits, b.bits, strict=True)))
        if isinstance(a, Choice):
            return _merge(test, a, b)
        return self.bdd.ite(test, a, b)

    def equal(self, a: Sym, b: Sym) -> BDD:
        if isinstance(a, Bits):
            return self.bdd_and(self.iff(x, y) for x, y in zip(a.bits, b.bits, strict=True))
        if isinstance(a, Choice):
            other = dict(b.options)
            return self.bdd_or(c & other[v] for v, c in a.options if v in other)
        return self.iff(a, b)

    def iff(self, a: BDD, b: BDD) -> BDD:
        return self.bdd.apply("<=>", a, b)

    def values(self, value: Sym, typ: m.Type, within: BDD | None = None) -> list[tuple[bool | str | int, BDD]]:
        """Each value a term can take (sets as bit masks) where `within`
        holds (everywhere by default), with its condition; values that
        cannot occur there left out."""
        where = self.true if within is None else within
        if isinstance(value, Choice):
            return [(v, c) for v, c in ((v, c & where) for v, c in value.options) if c != self.false]
        if isinstance(value, Bits):
            masks: list[tuple[int, BDD]] = [(0, where)]
            for k, bit in enumerate(value.bits):
                nxt = []
                for mask, cond in masks:
                    for on, c in ((False, cond & ~bit), (True, cond & bit)):
                        if c != self.false:
                            nxt.append((mask | (1 << k) if on else mask, c))
                masks = nxt
            return list(masks)
        return [(v, c) for v, c in ((False, ~value & where), (True, value & where)) if c != self.false]


class _Run:
    """The diagrams' values for `walk.merge`: path conditions are BDDs; the
    value is built as an if-then-else over the disjoint return paths, and
    each rule's condition is the union of the paths its returns end."""

    def __init__(self, d: Diagrams) -> None:
        self.d = d
        self.false = d.false
        self.value: Sym | None = None
        self.rules: Rules = {}

    def unreachable(self, pc: BDD) -> bool:
        return bool(pc == self.false)

    def assign(self, stmt: m.SAssign, env: Mapping[str, Sym]) -> Sym:
        return self.d.expr(stmt.value, env)

    def test(self, stmt: m.SIf, path: walk.Path, pc: BDD, env: Mapping[str, Sym]) -> tuple[BDD, BDD]:
        test = self.d.expr(stmt.test, env)
        return pc & test, pc & ~test

    def returned(self, stmt: m.SReturn, path: walk.Path, pc: BDD, env: Mapping[str, Sym]) -> None:
        value, rules = self.d.returned(stmt, env)
        self.value = value if self.value is None else self.d.ite(pc, value, self.value)
        for r, cond in rules.items():
            self.rules[r] = self.rules.get(r, self.false) | (pc & cond)

    def ite(self, pc: BDD, then: Sym, orelse: Sym) -> Sym:
        return self.d.ite(pc, then, orelse)

    def union(self, a: BDD, b: BDD) -> BDD:
        return a | b

    def step(self) -> None:
        self.d.budget()


def choice(pairs: Iterable[tuple[bool | str | int, BDD]]) -> Choice:
    merged: dict[bool | str | int, BDD] = {}
    for v, c in pairs:
        merged[v] = merged[v] | c if v in merged else c
    return Choice(tuple(merged.items()))


def _merge(test: BDD, a: Choice, b: Choice) -> Choice:
    return choice([*((v, test & c) for v, c in a.options), *((v, ~test & c) for v, c in b.options)])


# ------------------------------------------------------------- operators

_Op = Callable[[Diagrams, m.Op, list[Sym]], Sym]


def _compare(test: Callable[[int, int], bool]) -> _Op:
    def run(d: Diagrams, e: m.Op, a: list[Sym]) -> Sym:
        x, y = a
        return d.bdd_or(cx & cy for vx, cx in x.options for vy, cy in y.options if test(int(vx), int(vy)))

    return run


def _in(d: Diagrams, e: m.Op, a: list[Sym]) -> Sym:
    x, s = a
    return d.bdd_or(c & s.bits[int(v)] for v, c in x.options if 0 <= int(v) < len(s.bits))


def _highest(d: Diagrams, e: m.Op, a: list[Sym]) -> Sym:
    (s,) = a
    u = d.lib.universes[e.args[0].type.name]
    pairs: list[tuple[bool | str | int, BDD]] = []
    higher = d.false
    for element in reversed(u.elements):
        pairs.append((element, s.bits[element] & ~higher))
        higher |= s.bits[element]
    pairs.append((0, ~higher))
    return choice(pairs)


def _singleton(d: Diagrams, e: m.Op, a: list[Sym]) -> Sym:
    (x,) = a
    width = d.lib.universes[e.type.name].width
    cond = dict(choice(x.options).options)
    return Bits(tuple(cond.get(k, d.false) for k in range(width)))


def _bitwise(f: Callable[[BDD, BDD], BDD]) -> _Op:
    def run(d: Diagrams, e: m.Op, a: list[Sym]) -> Sym:
        return Bits(tuple(f(x, y) for x, y in zip(a[0].bits, a[1].bits, strict=True)))

    return run


OPS: dict[m.Operator, _Op] = {
    m.Operator.NOT: lambda d, e, a: ~a[0],
    m.Operator.AND: lambda d, e, a: a[0] & a[1],
    m.Operator.OR: lambda d, e, a: a[0] | a[1],
    m.Operator.IMPLIES: lambda d, e, a: ~a[0] | a[1],
    m.Operator.IFF: lambda d, e, a: d.iff(a[0], a[1]),
    m.Operator.EQ: lambda d, e, a: d.equal(a[0], a[1]),
    m.Operator.NE: lambda d, e, a: ~d.equal(a[0], a[1]),
    m.Operator.LT: _compare(lambda x, y: x < y),
    m.Operator.LE: _compare(lambda x, y: x <= y),
    m.Operator.GT: _compare(lambda x, y: x > y),
    m.Operator.GE: _compare(lambda x, y: x >= y),
    m.Operator.IN: _in,
    m.Operator.UNION: _bitwise(lambda x, y: x | y),
    m.Operator.INTER: _bitwise(lambda x, y: x & y),
    m.Operator.DIFF: _bitwise(lambda x, y: x & ~y),
    m.Operator.EMPTY: lambda d, e, a: d.bdd_and(~x for x in a[0].bits),
    m.Operator.HIGHEST: _highest,
    m.Operator.SINGLETON: _singleton,
    m.Operator.COND: lambda d, e, a: d.ite(a[0], a[1], a[2]),
}
m.implemented(OPS, "the decision diagrams")
