"""The finite questions of the analysis, behind one door.

Decision tables (diff), on-sets (requires) and counts ask for: the inputs
an output maps to each (value, deciding rule), the inputs the named
assumptions allow, exact counts, and covers by prime cubes. Decision
diagrams answer; every row a cover gives is confirmed by Z3 (one query: the
row, the assumptions and the caller entail its class), and the analysis
replays it through the interpreter. Formulas are opaque handles here:
callers combine them only through this class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import model as m
from ..location import NOWHERE
from ..results import Value, to_value
from . import finite
from .diagrams import Coord, Diagrams
from .finite import TooManyRowsError
from .solver import InternalError, Solver

Formula = Any  # an opaque decision diagram
Row = dict[Coord, tuple[bool | str, ...]]

__all__ = ["Formula", "Row", "Tables", "TooManyRowsError", "OutputClass"]


@dataclass(frozen=True)
class OutputClass:
    """The inputs on which an output has one value, decided by one rule."""

    version: str
    output: str
    value: bool | str | int
    typed: Value  # the value as data (a set as its orders)
    rule: m.Rule | None
    where: Formula


class Tables:
    def __init__(self, solver: Solver) -> None:
        self.solver = solver
        self.lib = solver.lib
        self.d: Diagrams = solver.diagrams()
        self._kept: list[m.Expr] = []

    @property
    def true(self) -> Formula:
        return self.d.true

    @property
    def false(self) -> Formula:
        return self.d.false

    def empty(self, f: Formula) -> bool:
        return bool(f == self.d.false)

    def conj(self, items: Iterable[Formula]) -> Formula:
        return self.d.bdd_and(items)

    def disj(self, items: Iterable[Formula]) -> Formula:
        return self.d.bdd_or(items)

    def neg(self, f: Formula) -> Formula:
        return ~f

    def expr(self, e: m.Expr) -> Formula:
        return self.d.term(e)

    def literal(self, coord: Coord, values: Sequence[bool | str | int]) -> Formula:
        return self.d.bdd_or(self.d.literal(coord, v) for v in values)

    def domain(self, atoms: Iterable[str]) -> Formula:
        return self.d.domain(atoms)

    def link(self, names: Iterable[str]) -> Formula:
        return self.d.link(names)

    def classes(self, version: str, output: str, within: Formula | None = None, unless: Sequence[object] = ()) -> list[OutputClass]:
        """Each (value, deciding rule) the output takes where `within` holds
        (everywhere by default), with where it does; values in `unless`
        left out. A set-valued output can take thousands of values: asking
        within another class enumerates only the pairs that meet."""
        value, rules = self.d.function(version, output)
        typ = self.lib.function(version, output).returns
        out = []
        for v, cond in self.d.values(value, typ, within):
            if v in unless:
                continue
            for index, where in sorted(rules.items()):
                both = cond & where
                if both != self.d.false:
                    out.append(OutputClass(version, output, v, to_value(v, typ.kind is m.TypeKind.SET), self.d.rules[index], both))
        return out

    def count(self, f: Formula, atoms: Sequence[str]) -> int:
        return finite.count(self.d, f, atoms)

    def cover(self, region: Formula, care: Formula, coords: Sequence[Coord], max_rows: int | None = None) -> list[Row]:
        return finite.cover(self.d, region, care, coords, max_rows)

    def isop(self, region: Formula, care: Formula, coords: Sequence[Coord]) -> list[Row]:
        """An irredundant cover of region within care (Minato-Morreale, as CUDD's): fast, not necessarily prime."""
        return finite.isop(self.d, region, care, coords)

    def minimum(self, region: Formula, care: Formula, coords: Sequence[Coord]) -> Row | None:
        """A row with the fewest literals whose every input within care is in region (and one is): exact."""
        return finite.fewest_literals(self.d, region, care, coords)

    def row(self, cube: Row) -> Formula:
        return finite.cube_of(self.d, cube)

    def assignments(self, f: Formula, atoms: Sequence[str], limit: int) -> list[dict[str, bool | str | int]]:
        return finite.assignments(self.d, f, atoms, limit)

    def confirm(self, facts: Sequence[m.Expr], cube: Row, classes: Sequence[OutputClass], false: Sequence[m.Expr] = ()) -> None:
        """Z3's word that the facts and the cube entail every class (value and rule) and each of `false` false."""
        answer = self.solver.entails(facts, cube, [(c.version, c.output, c.value, c.rule) for c in classes], false)
        if answer is not True:
            raise InternalError(f"Z3 does not confirm a row the decision diagrams found ({answer})")

    def confirm_all(self, facts: Sequence[m.Expr], cubes: Sequence[Row], classes: Sequence[OutputClass]) -> None:
        """`confirm` of every cube at once: one Z3 query, the facts and the
        disjunction of the cubes (as an expression of the model) entail
        every class."""
        if len(cubes) == 1:
            self.confirm(facts, cubes[0], classes)
        elif cubes:
            either = _balanced(m.Operator.OR, [_balanced(m.Operator.AND, [self._literal(c, v) for c, v in cube.items()]) for cube in cubes])
            self._kept.append(either)  # the engines cache terms by the expression's identity
            self.confirm([*facts, either], {}, classes)

    def _literal(self, coord: Coord, values: Sequence[bool | str | int]) -> m.Expr:
        """coordinate in values, as an expression of the model."""
        name, element = coord
        atom = self.lib.atoms.get(name)
        if atom is None:
            fn = self.lib.global_functions[name]
            test: m.Expr = m.Call("", name, (), m.BOOL, fn.span)
        else:
            ref = m.AtomRef(name, atom.type, atom.span)
            if element is not None:
                test = m.Op(m.Operator.IN, (m.Lit(element, m.Type(m.TypeKind.ELEM, atom.type.name), atom.span), ref), m.BOOL, atom.span)
            elif atom.type.kind is m.TypeKind.ENUM:
                options = [m.Op(m.Operator.EQ, (ref, m.Lit(v, atom.type, atom.span)), m.BOOL, atom.span) for v in values]
                return _balanced(m.Operator.OR, options)
            else:
                test = ref
        return _balanced(m.Operator.OR, [test if v else m.Op(m.Operator.NOT, (test,), m.BOOL, test.span) for v in values])


def _balanced(op: m.Operator, items: Sequence[m.Expr]) -> m.Expr:
    """items joined by a binary `and`/`or`, as a balanced tree (shallow for the compilers' recursion)."""
    if not items:
        return m.Lit(op is m.Operator.AND, m.BOOL, NOWHERE)
    if len(items) == 1:
        return items[0]
    half = len(items) // 2
    left, right = _balanced(op, items[:half]), _balanced(op, items[half:])
    return m.Op(op, (left, right), m.BOOL, left.span)

