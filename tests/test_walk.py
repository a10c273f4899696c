"""The one statement walker (semantics/walk.py): every pass that runs a body
(the interpreter and the Z3 compiler by forking, the decision diagrams by
merging) gives the same value and deciding rule on every input of random
bodies with locals, assignments in branches and `else`; the interpreter's
three-valued answers are sound; a body that falls off its end is an
internal error in both strategies."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tables import HEADER, build, conditions, inputs

from thpverify import model as m
from thpverify.backend import compiler, diagrams
from thpverify.semantics import evaluate, walk

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value() -> st.SearchStrategy[str]:
    return st.sampled_from(["true", "false", "t", "!t"]) | conditions()


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """A predicate with a bool local `t`, set at the top and reassigned in branches."""
    lines = [f"    let t = {draw(conditions())};"]
    for i in range(draw(st.integers(1, 4))):
        cond = draw(conditions())
        shape = draw(st.sampled_from(["return", "assign-else", "assign", "nested"]))
        if shape == "return":
            lines.append(f"    r{i}: if ({cond}) return {draw(_value())};")
        elif shape == "assign-else":
            inner = f"r{i}e: if ({draw(conditions())}) return {draw(_value())};"
            lines.append(f"    r{i}: if ({cond}) {{ t = {draw(_value())}; }} else {{ {inner} }}")
        elif shape == "assign":
            lines.append(f"    t = t && {cond};")
        else:
            lines.append(f"    r{i}: if ({cond}) {{ t = !t; r{i}n: if (t) return {draw(_value())}; }} else {{ t = {draw(_value())}; }}")
    lines.append(f"    last: return {draw(_value())};")
    return HEADER + 'version "t" {\n  predicate eligible() -> bool {\n' + "\n".join(lines) + "\n  }\n}\n"


def _library(text: str) -> m.Library:
    with tempfile.TemporaryDirectory() as tmp:
        return build(Path(tmp), text)


def _z3_point(c: compiler.Compiler, lib: m.Library, x: dict[str, bool | str | int]) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
    return [(c.atoms[name], c.value(lib.atoms[name], v)) for name, v in x.items()]


# Found by this test: the Z3 compiler memoised runs by the ids of their
# locals' terms, and Z3 reuses a freed term's id, so a later run with a
# different local took an earlier run's result (it compiled this body to
# true where a is true; the interpreter says false, by `last`).
_REUSED_ID = HEADER + """version "t" {
  predicate eligible() -> bool {
    let t = (a);
    t = t && (a);
    r1: if ((!a)) { t = !t; r1n: if (t) return t; } else { t = true; }
    t = t && (a);
    r3: if ((a)) { t = !t; r3n: if (t) return true; } else { t = t; }
    last: return false;
  }
}
"""


@SETTINGS
@given(bodies())
@example(_REUSED_ID)
def test_every_pass_runs_a_body_the_same_way(text: str) -> None:
    lib = _library(text)
    d = diagrams.Diagrams(lib)
    d_value, d_rules = d.function("t", "eligible")
    c = compiler.Compiler(lib)
    c_value, c_rule = c.function("t", "eligible")
    for x in inputs():
        out = evaluate.run(lib, "t", "eligible", x)
        assert isinstance(out.value, bool) and out.rule is not None
        point = d.true
        for name, v in x.items():
            point &= d.literal((name, None), v)
        assert (d_value & point != d.false) == out.value
        assert [d.rules[i] for i, cond in d_rules.items() if cond & point != d.false] == [out.rule]
        subst = _z3_point(c, lib, x)
        assert z3.is_true(z3.simplify(z3.substitute(c_value, *subst))) == out.value
        rule = z3.simplify(z3.substitute(c_rule, *subst))
        assert c.rules[rule.as_long()] == out.rule  # type: ignore[attr-defined]


@SETTINGS
@given(bodies(), st.sets(st.sampled_from(["a", "b", "c", "d", "mode", "s"]), min_size=1))
def test_unknown_atoms_fork_and_the_join_is_sound(text: str, unknown: set[str]) -> None:
    lib = _library(text)
    for x in list(inputs())[::11]:
        partial = {k: v for k, v in x.items() if k not in unknown}
        out = evaluate.run(lib, "t", "eligible", partial)
        completions = [evaluate.run(lib, "t", "eligible", {**y, **partial})
                       for y in inputs() if all(y[k] == v for k, v in partial.items())]
        if out.value is not None:
            assert {o.value for o in completions} == {out.value}
        if out.rule is not None:
            assert {o.rule for o in completions} == {out.rule}


def test_statements_lists_nested_statements_in_source_order() -> None:
    lib = _library(HEADER + 'version "t" {\n  predicate eligible() -> bool {\n    let t = a;\n'
                   "    r0: if (b) { t = c; r1: if (t) return true; } else { r2: if (d) return false; }\n"
                   "    r3: if (a) return t;\n    last: return false;\n  }\n}\n")
    body = lib.function("t", "eligible").body
    kinds = [(type(s).__name__, getattr(s, "rule", None) and s.rule.id) for s in walk.statements(body)]  # type: ignore[union-attr]
    assert kinds == [("SAssign", None), ("SIf", "r0"), ("SAssign", None), ("SIf", "r1"), ("SReturn", "r1"),
                     ("SIf", "r2"), ("SReturn", "r2"), ("SIf", "r3"), ("SReturn", "r3"), ("SReturn", "last")]


def test_a_body_that_falls_off_its_end_is_an_internal_error() -> None:
    lib = _library(HEADER + 'version "t" {\n  predicate eligible() -> bool {\n    r0: if (a) return true;\n'
                   "    last: return false;\n  }\n}\n")
    fn = lib.function("t", "eligible")
    open_end = dataclasses.replace(fn, body=fn.body[:1])  # `last` removed: no return when !a
    with pytest.raises(walk.MissingReturnError) as raised:
        evaluate.Interpreter(lib, {"a": False}).call(open_end, (), None, 0)
    assert raised.value.exit_code == 6
    with pytest.raises(walk.MissingReturnError):
        compiler.Compiler(lib).body(open_end, {})
    with pytest.raises(walk.MissingReturnError):
        diagrams.Diagrams(lib).body(open_end, {})
    assert evaluate.Interpreter(lib, {"a": True}).call(open_end, (), None, 0)[0] is True
