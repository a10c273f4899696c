"""The solver against brute-force enumeration by the interpreter."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tables import build, holds, inputs, tables, versions

from thpverify import model as m
from thpverify.analysis import diff as diffs
from thpverify.backend.compiler import Compiler
from thpverify.backend.solver import Solver, atoms_of
from thpverify.semantics import evaluate as ev

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _lib(text: str) -> m.Library:
    with tempfile.TemporaryDirectory() as tmp:
        return build(Path(tmp), text)


@SETTINGS
@given(tables())
def test_verdicts_cores_and_counterexamples_agree_with_brute_force(text: str) -> None:
    lib = _lib(text)
    inst = lib.properties["p"].instances[0]
    premises = list(inst.premises)
    facts = [a.expr for a in inst.assumptions]
    domain = [x for x in inputs() if holds(lib, premises + facts, x)]
    verdict = Solver(lib).check(inst)
    claim = inst.claim
    if not domain:
        assert verdict.verdict == "vacuous"
        return
    if isinstance(claim, m.Op) and claim.op == "implies" and not any(
        ev.value_of(lib, claim.args[0], x) is True for x in domain
    ):
        assert verdict.verdict == "vacuous"
        return
    failing = [x for x in domain if ev.value_of(lib, claim, x) is False]
    if not failing:
        assert verdict.verdict == "proved"
        # The core alone must still prove the claim (brute force).
        kept = [a.expr for a in inst.assumptions if a.name in verdict.core]
        assert all(ev.value_of(lib, claim, x) is True for x in inputs() if holds(lib, premises + kept, x))
        return
    assert verdict.verdict == "refuted"
    cex = verdict.counterexample
    assert cex is not None
    # Every input that agrees with the partial assignment and satisfies the premises fails.
    agreeing = [x for x in domain if all(_agrees(x, f) for f in cex.partial)]
    assert agreeing and all(ev.value_of(lib, claim, x) is False for x in agreeing)
    # It speaks only of atoms the claim reads.
    read = set(atoms_of(lib, [claim]))
    assert {f.atom for f in cex.partial} <= read
    # When the search says so, no smaller cube over those atoms forces the failure (brute force).
    if "no partial assignment with fewer" in cex.minimal:
        assert not _smaller_cube_exists(lib, domain, claim, len(cex.partial), read)


def _agrees(x: dict[str, bool | str | int], f: object) -> bool:
    atom, element, value = f.atom, f.element, f.value  # type: ignore[attr-defined]
    if element is None:
        return x[atom] == value
    return bool(int(x[atom]) >> element & 1) == value


def _coords(x: dict[str, bool | str | int]) -> dict[tuple[str, int | None], bool | str]:
    out: dict[tuple[str, int | None], bool | str] = {}
    for k, v in x.items():
        if k == "s":
            for e in (1, 2):
                out[(k, e)] = bool(int(v) >> e & 1)
        else:
            out[(k, None)] = v  # type: ignore[assignment]
    return out


def _smaller_cube_exists(lib: m.Library, domain: list[dict[str, bool | str | int]], claim: m.Expr, size: int,
                         read: set[str]) -> bool:
    import itertools

    for x in domain:
        if ev.value_of(lib, claim, x) is not False:
            continue
        coords = {c: v for c, v in _coords(x).items() if c[0] in read}
        for k in range(size):
            for subset in itertools.combinations(sorted(coords, key=str), k):
                cube = {c: coords[c] for c in subset}
                inside = [y for y in domain if all(_coords(y)[c] == v for c, v in cube.items())]
                if all(ev.value_of(lib, claim, y) is False for y in inside):
                    return True
    return False


@SETTINGS
@given(tables())
def test_compiler_and_interpreter_agree_on_every_input(text: str) -> None:
    import z3

    lib = _lib(text)
    c = Compiler(lib)
    value, rule = c.function("t", "eligible")
    for x in inputs():
        out = ev.run(lib, "t", "eligible", x)
        subst = [(c.atoms[a], c.value(lib.atoms[a], v)) for a, v in x.items()]
        z_value = z3.simplify(z3.substitute(value, *subst))
        z_rule = z3.simplify(z3.substitute(rule, *subst))
        assert z3.is_true(z_value) == out.value
        assert c.rules[z_rule.as_long()] is out.rule  # type: ignore[attr-defined]


@SETTINGS
@given(tables())
def test_eval_with_unknowns_agrees_with_brute_force(text: str) -> None:
    from thpverify.results import Fixed

    lib = _lib(text)
    facts = [a.expr for a in lib.versions["t"].assumptions]
    given = [Fixed("a", None, True), Fixed("mode", None, "x")]
    consistent = [x for x in inputs() if x["a"] is True and x["mode"] == "x" and holds(lib, facts, x)]
    result = Solver(lib).evaluate("t", "eligible", given)
    if not consistent:
        assert result.contradicts
        return
    values = {ev.run(lib, "t", "eligible", x).value for x in consistent}
    if len(values) == 1:
        assert result.value is bool(values.pop())
    else:
        assert result.value is None and result.depends_on


@SETTINGS
@given(tables())
def test_find_agrees_with_brute_force(text: str) -> None:
    """Solver.find (what patch coverage asks: is there an input where all of
    these hold?) is None exactly when brute force finds no such input, and
    an input it gives meets them all."""
    lib = _lib(text)
    inst = lib.properties["p"].instances[0]
    span = inst.claim.span
    exprs = [*inst.premises, *(a.expr for a in inst.assumptions), m.Op(m.Operator.NOT, (inst.claim,), m.BOOL, span)]
    found = Solver(lib).find(exprs)
    exists = any(holds(lib, exprs, a) for a in inputs())
    assert (found is not None) == exists
    if found is not None:
        assert holds(lib, exprs, found)


def _in_row(lib: m.Library, row: tuple[object, ...], x: ev.Assignment) -> bool:
    for lit in row:
        assert not lit.derived  # type: ignore[attr-defined]
        value = x[lit.name]  # type: ignore[attr-defined]
        if lit.element is not None:  # type: ignore[attr-defined]
            value = bool(int(value) >> lit.element & 1)  # type: ignore[attr-defined]
        if value not in lit.values:  # type: ignore[attr-defined]
            return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(versions())
def test_diff_rows_hold_exactly_the_disagreeing_inputs(text: str) -> None:
    """Both covers (prime rows, and the irredundant cover a long table
    gets) against brute force: together the rows hold every allowed input
    where a and b disagree and no other; on each, the sides are constant."""
    lib = _lib(text)
    facts = [x.expr for v in ("a", "b") for x in lib.versions[v].assumptions]
    allowed = [x for x in inputs() if holds(lib, facts, x)]
    runs = {i: (ev.run(lib, "a", "eligible", x), ev.run(lib, "b", "eligible", x)) for i, x in enumerate(allowed)}
    disagree = {i for i, (a, b) in runs.items() if a.value != b.value}
    for hopeless in (diffs.HOPELESS, 0):  # 0: the irredundant cover whatever its size
        saved, diffs.HOPELESS = diffs.HOPELESS, hopeless
        try:
            table = diffs.diff(lib, "a", "b", max_rows=None)
        finally:
            diffs.HOPELESS = saved
        covered: set[int] = set()
        for row in table.rows:
            inside = {i for i, x in enumerate(allowed) if _in_row(lib, row.cube, x)}
            assert inside and inside <= disagree
            assert {(runs[i][0].value, runs[i][1].value) for i in inside} == {(row.a.value, row.b.value)}
            covered |= inside
        assert covered == disagree
        assert table.hidden == 0 and (table.disagreeing == 0) == (not disagree)
