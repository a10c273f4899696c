"""Every operator of the model is implemented by every engine, and the
decision diagrams agree with the interpreter on every input."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tables import build, inputs, tables

from thpverify import model as m
from thpverify.backend import compiler, diagrams, finite
from thpverify.semantics import evaluate

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_operator_is_in_every_engine() -> None:
    documented = set((m.Op.__doc__ or "").split(":", 1)[1].split())
    assert documented
    assert set(evaluate._OPS) == documented
    assert set(compiler._OPS) == documented
    assert set(diagrams.OPS) == documented


@SETTINGS
@given(tables())
def test_diagrams_and_interpreter_agree_on_every_input(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(Path(tmp), text)
    d = diagrams.Diagrams(lib)
    value, rules = d.function("t", "eligible")
    seen = 0
    for x in inputs():
        out = evaluate.run(lib, "t", "eligible", x)
        point = d.true
        for name, v in x.items():
            point &= d.literal((name, None), v)
        assert (value & point != d.false) == out.value
        decided = [d.rules[i] for i, cond in rules.items() if cond & point != d.false]
        assert decided == [out.rule]
        seen += 1
    assert finite.count(d, d.true, list(lib.atoms)) == seen


@SETTINGS
@given(tables())
def test_minimum_cube_is_minimum(text: str) -> None:
    """The cube the counterexamples use fixes the fewest coordinates among
    all cubes that force the output true and hold an input: brute force."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(Path(tmp), text)
    d = diagrams.Diagrams(lib)
    value, _ = d.function("t", "eligible")
    coords = d.coords(lib.atoms)
    inside = value | ~d.domain(lib.atoms)
    cube = finite.minimum_cube(d, inside, value & d.domain(lib.atoms), coords)
    points = [(x, evaluate.run(lib, "t", "eligible", x).value) for x in inputs()]

    def value_of(x: dict[str, bool | str | int], c: diagrams.Coord) -> object:
        name, element = c
        return x[name] if element is None else bool(int(x[name]) >> element & 1)

    def forces(fixed: dict[diagrams.Coord, object]) -> bool:
        hits = [v for x, v in points if all(value_of(x, c) == w for c, w in fixed.items())]
        return bool(hits) and all(hits)

    least = next((k for k in range(len(coords) + 1) for chosen in itertools.combinations(coords, k)
                  for combo in itertools.product(*map(d.options, chosen)) if forces(dict(zip(chosen, combo, strict=True)))), None)
    if least is None:
        assert cube is None
        return
    assert cube is not None and forces(dict(cube)) and len(cube) == least
    again = diagrams.Diagrams(lib)
    assert finite.minimum_cube(again, again.function("t", "eligible")[0] | ~again.domain(lib.atoms),
                               again.function("t", "eligible")[0] & again.domain(lib.atoms), coords) == cube
