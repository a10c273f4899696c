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

    def classes(self, version: str, output: str, within: Formula | None = None) -> list[OutputClass]:
        """Each (value, deciding rule) the output takes where `within` holds
        (everywhere by default), with where it does. A set-valued output can
        take thousands of values: asking within another class enumerates
        only the pairs that meet."""
        value, rules = self.d.function(version, output)
        typ = self.lib.function(version, output).returns
        out = []
        for v, cond in self.d.values(value, typ, within):
            for index, where in sorted(rules.items()):
                both = cond & where
                if both != self.d.false:
                    out.append(OutputClass(version, output, v, to_value(v, typ.kind is m.TypeKind.SET), self.d.rules[index], both))
        return out

    def count(self, f: Formula, atoms: Sequence[str]) -> int:
        return finite.count(self.d, f, atoms)

    def cover(self, region: Formula, care: Formula, coords: Sequence[Coord], max_rows: int | None = None) -> list[Row]:
        return finite.cover(self.d, region, care, coords, max_rows)

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

