"""Every operator of the model is implemented by every engine, and the
decision diagrams agree with the interpreter on every input."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from tables import HEADER, build, inputs, tables

from thpverify import model as m
from thpverify.backend import compiler, diagrams, finite
from thpverify.errors import InternalError
from thpverify.lang.library import load_library
from thpverify.semantics import evaluate, walk

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _operands(lib: m.Library, kind: m.TypeKind) -> list[m.Expr]:
    """Expressions of one kind of type over the tables' atoms, varying with the input."""
    span = lib.atoms["a"].span
    order = m.Type(m.TypeKind.SET, "order")
    elem = m.Type(m.TypeKind.ELEM, "order")
    s = m.AtomRef("s", order, span)
    return {
        m.TypeKind.BOOL: [m.AtomRef("a", m.BOOL, span), m.AtomRef("b", m.BOOL, span)],
        m.TypeKind.ENUM: [m.AtomRef("mode", lib.atoms["mode"].type, span), m.Lit("y", lib.atoms["mode"].type, span)],
        m.TypeKind.ELEM: [m.Op(m.Operator.HIGHEST, (s,), elem, span), m.Lit(1, elem, span)],
        m.TypeKind.SET: [s, m.Lit(0b100, order, span)],
    }[kind]


def _applications(lib: m.Library, op: m.Operator) -> list[m.Op]:
    """The operator applied to every combination of operands its signature
    allows (operands marked None: each kind of type in turn)."""
    sig = m.OPERATORS[op]
    out = []
    for same in ([m.TypeKind.BOOL, m.TypeKind.ENUM, m.TypeKind.ELEM, m.TypeKind.SET] if None in sig.operands else [None]):
        choices = [_operands(lib, kind or same) for kind in sig.operands]  # type: ignore[arg-type]
        for args in itertools.product(*choices):
            typ = m.BOOL if sig.result is m.TypeKind.BOOL else args[-1].type if sig.result is None else \
                m.Type(sig.result, "order")
            e = m.Op(op, tuple(args), typ, args[0].span)
            assert m.well_typed(e)
            out.append(e)
    return out


def _z3_value(c: compiler.Compiler, lib: m.Library, e: m.Expr, x: dict[str, bool | str | int]) -> object:
    term = z3.simplify(z3.substitute(c.expr(e), *[(c.atoms[k], c.value(lib.atoms[k], v)) for k, v in x.items()]))
    if e.type.kind is m.TypeKind.BOOL:
        assert z3.is_true(term) or z3.is_false(term)
        return z3.is_true(term)
    if e.type.kind is m.TypeKind.ENUM:
        return str(term)[len(e.type.name) + 1:]
    return term.as_long()  # type: ignore[attr-defined]


def _concrete(v: evaluate.Value) -> object:
    if isinstance(v, evaluate.PSet):
        assert v.known & 0b110 == 0b110
        return v.ones
    return v


def test_every_operator_of_the_table_runs_alike_in_every_engine() -> None:
    """Read from the one operator table (model.OPERATORS): each operator,
    on every combination of operand types its signature allows, gives the
    same value in the interpreter, the Z3 compiler and the decision
    diagrams, on every input of the tables' vocabulary."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(Path(tmp), HEADER + 'version "t" { predicate eligible() -> bool { return a; } }\n')
    c = compiler.Compiler(lib)
    d = diagrams.Diagrams(lib)
    points = [x for x in inputs() if not x["c"] and not x["d"]]  # the operands read a, b, mode and s
    tried = 0
    for op in m.Operator:
        for e in _applications(lib, op):
            sym = d.expr(e, {})
            for x in points:
                point = d.true
                for name, v in x.items():
                    point &= d.literal((name, None), v)
                (shown, _), = d.values(sym, e.type, point)
                want = _concrete(evaluate.value_of(lib, e, x))
                assert want == shown == _z3_value(c, lib, e, x), (op, e, x)
                tried += 1
    assert tried >= len(m.Operator) * len(points)


def test_an_engine_missing_an_operator_is_refused() -> None:
    with pytest.raises(InternalError, match="missing \\['cond'\\]"):
        m.implemented([op for op in m.Operator if op is not m.Operator.COND], "a partial engine")
    with pytest.raises(InternalError, match="unknown \\['xor'\\]"):
        m.implemented([*m.Operator, "xor"], "an engine with extras")
    with pytest.raises(InternalError, match="takes 2 operand"):
        m.Op(m.Operator.AND, (), m.BOOL, None)  # type: ignore[arg-type]


def test_every_operator_node_of_the_library_fits_its_signature() -> None:
    lib = load_library()
    found: set[m.Operator] = set()

    def visit(e: m.Expr) -> None:
        if isinstance(e, m.Op):
            assert m.well_typed(e), e
            found.add(e.op)
        for a in getattr(e, "args", ()):
            visit(a)

    functions = [*lib.global_functions.values(), *(f for v in lib.versions.values() for f in v.functions.values())]
    for fn in functions:
        for stmt in walk.statements(fn.body):
            visit(stmt.test if isinstance(stmt, m.SIf) else stmt.value)
    for prop in lib.properties.values():
        for inst in prop.instances:
            for e in (*inst.premises, inst.claim, *(a.expr for a in inst.assumptions)):
                visit(e)
    assert found >= {m.Operator.AND, m.Operator.IN, m.Operator.UNION, m.Operator.EMPTY, m.Operator.COND}


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
