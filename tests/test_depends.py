"""Eval's depends-on against brute force: the atoms that occur in a prime
implicant of some value of the output, relative to the given values and
the assumptions."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tables import BOOLS, MODES, ORDERS, build, holds, inputs, tables

from thpverify import model as m
from thpverify.backend.solver import Solver
from thpverify.results import Fixed
from thpverify.semantics import evaluate as ev

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COORDS: list[tuple[str, tuple[object, ...]]] = (
    [(b, (False, True)) for b in BOOLS] + [("mode", tuple(MODES))] + [(f"s@{k}", (False, True)) for k in ORDERS])


def _lib(text: str) -> m.Library:
    with tempfile.TemporaryDirectory() as tmp:
        return build(Path(tmp), text)


def _coord(x: dict[str, bool | str | int], name: str) -> object:
    if name.startswith("s@"):
        return bool(int(x["s"]) >> int(name[2:]) & 1)
    return x[name]


def _primes_atoms(points: list[tuple[tuple[object, ...], object]]) -> set[str]:
    """Atoms of the coordinates in some prime implicant (relative to the points) of some value."""
    found: set[str] = set()

    def inside(cube: tuple[object, ...], value: object) -> bool:
        hits = [v for p, v in points if all(c is None or c == q for c, q in zip(cube, p, strict=True))]
        return bool(hits) and all(v == value for v in hits)

    for value in {v for _, v in points}:
        for cube in itertools.product(*[(None, *options) for _, options in COORDS]):
            if not inside(cube, value):
                continue
            fixed = [i for i, c in enumerate(cube) if c is not None]
            if all(not inside(tuple(None if j == i else c for j, c in enumerate(cube)), value) for i in fixed):
                found |= {COORDS[i][0].split("@")[0] for i in fixed}
    return found


@SETTINGS
@given(tables())
def test_depends_on_is_exact(text: str) -> None:
    lib = _lib(text)
    facts = [a.expr for a in lib.versions["t"].assumptions]
    fixed = [Fixed("a", None, True), Fixed("s", 1, False)]
    consistent = [x for x in inputs() if x["a"] is True and not int(x["s"]) >> 1 & 1 and holds(lib, facts, x)]
    result = Solver(lib).evaluate("t", "eligible", fixed)
    values = {ev.run(lib, "t", "eligible", x).value for x in consistent}
    if len(values) != 2:
        assert result.depends_on == ()
        return
    points = [(tuple(_coord(x, name) for name, _ in COORDS), ev.run(lib, "t", "eligible", x).value) for x in consistent]
    expected = _primes_atoms(points) - {"a"}
    assert set(result.depends_on) == expected
    assert list(result.depends_on) == [a for a in lib.atoms if a in expected]
