"""Every operator of the model is implemented by every engine, and the
decision diagrams agree with the interpreter on every input."""

from __future__ import annotations

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
