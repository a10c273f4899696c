"""diff, requires and lint against brute-force enumeration on random tables."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tables import HEADER, _wrap, build, conditions, holds, inputs

from thpverify import model as m
from thpverify.analysis.diff import diff
from thpverify.analysis.engine import Engine
from thpverify.analysis.requires import requires
from thpverify.results import DiffTable, Literal
from thpverify.semantics import evaluate as ev

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Point = dict[str, bool | str | int]


@st.composite
def chains(draw: st.DrawFn, name: str) -> str:
    lines = []
    for i in range(draw(st.integers(1, 4))):
        cond = draw(conditions())
        value = draw(st.sampled_from(["true", "false"]) | conditions())
        if draw(st.booleans()):
            lines.append(f"    r{i}: if ({cond}) {{ if ({draw(conditions())}) return {value}; }}")
        else:
            lines.append(f"    r{i}: if ({cond}) return {value};")
    lines.append(f"    last: return {draw(st.sampled_from(['true', 'false']) | conditions())};")
    wrapper = draw(st.sampled_from(["", "inner()", "!inner()"]))
    return f'version "{name}" {{\n' + _wrap(wrapper, "\n".join(lines)) + "}\n"


@st.composite
def pairs(draw: st.DrawFn) -> str:
    """Two versions t and u over the tables' atoms, one shared assumption, maybe one of u's own."""
    text = HEADER + f"assume fact: {draw(conditions())};\n" + draw(chains("t"))
    u = draw(chains("u"))
    if draw(st.booleans()):
        u = u.replace("{\n", "{\n  assume own: " + draw(conditions()) + ";\n", 1)
    return text + u


def _lib(text: str) -> m.Library:
    with tempfile.TemporaryDirectory() as tmp:
        return build(Path(tmp), text)


def _matches(x: Point, lit: Literal, lib: m.Library) -> bool:
    if lit.derived:
        return ev.value_of(lib, m.Call("", lit.name, (), m.BOOL, lib.global_functions[lit.name].span), x) in lit.values
    value = x[lit.name]
    if lit.element is not None:
        return bool(int(value) >> lit.element & 1) in lit.values
    return value in lit.values


def _inside(x: Point, cube: tuple[Literal, ...], lib: m.Library) -> bool:
    return all(_matches(x, lit, lib) for lit in cube)


def _domain(lib: m.Library, versions: list[str]) -> list[Point]:
    facts = [a.expr for v in versions for a in lib.versions[v].assumptions]
    return [x for x in inputs() if holds(lib, facts, x)]


def _project(x: Point, atoms: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(x[a] for a in atoms)


def _answer(lib: m.Library, version: str, x: Point) -> tuple[bool, str | None]:
    out = ev.run(lib, version, "eligible", x)
    assert out.rule is not None
    return bool(out.value), out.rule.id


def check_table(lib: m.Library, t: DiffTable) -> None:
    domain = _domain(lib, [t.a, t.b])
    answers = {id(x): (_answer(lib, t.a, x), _answer(lib, t.b, x)) for x in domain}
    disagree = [x for x in domain if answers[id(x)][0][0] != answers[id(x)][1][0]]
    for row in t.rows:
        inside = [x for x in domain if _inside(x, row.cube, lib)]
        assert inside, "a row holds no allowed input"
        for x in inside:
            (va, ra), (vb, rb) = answers[id(x)]
            assert (va, ra, vb, rb) == (row.a.value, row.a.rule, row.b.value, row.b.rule)
        # Prime: dropping any literal lets in an input of another class or an agreeing one.
        for lit in row.cube:
            smaller = tuple(x for x in row.cube if x is not lit)
            wider = [x for x in domain if _inside(x, smaller, lib)]
            assert any(answers[id(x)] != ((row.a.value, row.a.rule), (row.b.value, row.b.rule)) for x in wider)
    for x in disagree:
        assert any(_inside(x, row.cube, lib) for row in t.rows), f"{x} disagrees but no row holds it"
    assert t.disagreeing == len({_project(x, t.space) for x in disagree})
    assert t.total == len({_project(x, t.space) for x in domain})


@SETTINGS
@given(pairs())
def test_diff_rows_cover_the_disagreement_exactly(text: str) -> None:
    lib = _lib(text)
    engine = Engine(lib)
    t = diff(lib, "t", "u", engine=engine)
    check_table(lib, t)
    back = diff(lib, "u", "t", engine=engine)
    assert [(r.cube, r.a, r.b) for r in back.rows] == [(r.cube, r.b, r.a) for r in t.rows]
    assert (back.disagreeing, back.total) == (t.disagreeing, t.total)
    same = diff(lib, "t", "t", engine=engine)
    assert not same.rows and same.disagreeing == 0


@SETTINGS
@given(pairs())
def test_requires_is_the_on_set(text: str) -> None:
    lib = _lib(text)
    for versions in (["t"], ["t", "u"]):
        r = requires(lib, versions)
        domain = _domain(lib, versions)
        on = [x for x in domain if all(ev.run(lib, v, "eligible", x).value is True for v in versions)]
        terms = [r.common + t for t in r.terms] or [r.common]
        if r.never:
            assert not on
            continue
        for x in domain:
            assert (x in on) == any(_inside(x, t, lib) for t in terms)
        assert r.count == len({_project(x, r.space) for x in on})
        assert r.total == len({_project(x, r.space) for x in domain})


@SETTINGS
@given(pairs())
def test_lint_findings_hold_by_brute_force(text: str) -> None:
    from dataclasses import replace

    from thpverify.analysis.lint import _remove, lint

    lib = _lib(text)
    report = lint(lib, ["t", "u"], order=True)
    for f in report.findings:
        if f.kind in ("unread-atom", "contradiction"):
            continue
        version = f.version
        fn_name, rule_id = f.name.split(".", 1)
        fn = lib.versions[version].functions[fn_name]
        domain = _domain(lib, [version])
        traces = [ev.run(lib, version, fn_name, x) if not fn.params else None for x in domain]
        steps = [[s for s in t.trace if s.rule.id == rule_id and s.kind == "test"] for t in traces if t is not None]
        if f.kind in ("dead-rule", "always-false"):
            assert all(s.value is not True for ss in steps for s in ss), f
        elif f.kind == "always-true":
            assert all(s.value is True for ss in steps for s in ss), f
        elif f.kind == "redundant-rule":
            path = _path_of(fn.body, rule_id)
            without = replace(fn, body=_remove(fn.body, path))
            for x in domain:
                a = ev.Interpreter(lib, x).call(fn, (), None, 0)[0]
                b = ev.Interpreter(lib, x).call(without, (), None, 0)[0]
                assert a == b, f


def _path_of(body: tuple[m.Stmt, ...], rule_id: str) -> tuple[int, ...]:
    for i, stmt in enumerate(body):
        if isinstance(stmt, m.SIf):
            if stmt.rule.id == rule_id:
                return (i,)
            for branch, inner in ((0, stmt.then), (1, stmt.orelse)):
                try:
                    return (i, branch) + _path_of(inner, rule_id)
                except LookupError:
                    pass
    raise LookupError(rule_id)
