"""Counterexample classes against brute-force enumeration on random tables, and on the bundled seed property."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tables import BOOLS, MODES, ORDERS, build, holds, inputs, tables

from thpverify import model as m
from thpverify.analysis.classes import ClassQuery, counterexample_classes
from thpverify.analysis.engine import Engine
from thpverify.backend.solver import Solver
from thpverify.results import Literal, VerdictKind
from thpverify.semantics import evaluate as ev

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _lib(text: str) -> m.Library:
    with tempfile.TemporaryDirectory() as tmp:
        return build(Path(tmp), text)


def _agrees(x: dict[str, bool | str | int], lit: Literal, lib: m.Library) -> bool:
    if lit.derived:
        return ev.value_of(lib, m.Call("", lit.name, (), m.BOOL, lib.global_functions[lit.name].span), x) == lit.values[0]
    value = x[lit.name]
    if lit.element is not None:
        assert isinstance(value, int)
        return bool(value >> lit.element & 1) == lit.values[0]
    return value in lit.values


def _in(x: dict[str, bool | str | int], cube: tuple[Literal, ...], lib: m.Library) -> bool:
    return all(_agrees(x, lit, lib) for lit in cube)


def _all_cubes(size: int) -> list[tuple[Literal, ...]]:
    """Every cube of `size` literals over the tables' coordinates."""
    coords: list[list[Literal]] = [[Literal(b, None, (v,)) for v in (False, True)] for b in BOOLS]
    subsets = [s for n in range(1, len(MODES)) for s in itertools.combinations(MODES, n)]
    coords.append([Literal("mode", None, s, False, tuple(MODES)) for s in subsets])
    coords += [[Literal("s", k, (v,)) for v in (False, True)] for k in ORDERS]
    out = []
    for chosen in itertools.combinations(coords, size):
        out.extend(itertools.product(*chosen))
    return out


@SETTINGS
@given(tables())
def test_classes_partition_the_failing_inputs_with_exact_counts_and_minimum_cubes(text: str) -> None:
    lib = _lib(text)
    inst = lib.properties["p"].instances[0]
    verdict = Solver(lib).check(inst).verdict
    r = counterexample_classes(lib, inst, verdict)
    facts = list(inst.premises) + [a.expr for a in inst.assumptions]
    domain = [x for x in inputs() if holds(lib, facts, x)]
    failing = [x for x in domain if ev.value_of(lib, inst.claim, x) is False]
    if verdict != "refuted":
        assert not r.classes and not failing or verdict == "vacuous"
        return
    # Counts are over the space's atoms (the others cannot change the answer): count projections.
    def projected(xs: list[dict[str, bool | str | int]]) -> int:
        return len({tuple(x[a] for a in r.space) for x in xs})

    assert r.failing is not None and r.failing == projected(failing)
    assert sum(k.count or 0 for k in r.classes) == r.failing
    by_rule: dict[tuple[str, str | None], list[dict[str, bool | str | int]]] = {}
    for x in failing:
        out = ev.run(lib, "t", "eligible", x)
        by_rule.setdefault((str(out.value).lower(), out.rule.id if out.rule else None), []).append(x)
    assert sorted(k.count or 0 for k in r.classes) == sorted(projected(xs) for xs in by_rule.values())
    for k in r.classes:
        side = k.sides[0]
        members = [x for x in failing if (lambda o: (o.value, o.rule.id if o.rule else None))(
            ev.run(lib, "t", "eligible", x)) == (side.value, side.rule)]
        # The prime cubes cover the class and hold nothing else.
        assert all(any(_in(x, t, lib) for t in k.terms) for x in members)
        assert all(x in members for x in domain if any(_in(x, t, lib) for t in k.terms))
        # The minimum cube lies inside the class; when proved, no smaller cube does.
        inside = [x for x in domain if _in(x, k.minimum, lib)]
        assert inside and all(x in members for x in inside)
        if k.minimum_proved and len(k.minimum) <= 4:
            for size in range(len(k.minimum)):
                for cube in _all_cubes(size):
                    held = [x for x in domain if _in(x, cube, lib)]
                    assert not held or not all(x in members for x in held)


def test_seed_property_on_v6_1_is_one_class_decided_by_vm_no_khugepaged(lib: m.Library) -> None:
    inst = next(i for i in lib.properties["seed_driver_fault_eligible"].instances if i.version == "v6.1")
    r = counterexample_classes(lib, inst, VerdictKind.REFUTED)
    assert [k.sides[0].rule for k in r.classes] == ["VM_NO_KHUGEPAGED"]
    assert r.failing == r.total == r.classes[0].count  # every input the premises allow fails
    assert r.classes[0].minimum == () and r.classes[0].minimum_proved


def test_class_query_gives_back_every_preference_the_class_allows(lib: m.Library) -> None:
    inst = next(i for i in lib.properties["huge_fault_stays_fault_eligible"].instances if i.version == "v6.1")
    eng = Engine(lib)
    r = counterexample_classes(lib, inst, VerdictKind.REFUTED, eng, count=False, minimum=False)
    prefs = [("huge_fault", None, False), ("VM_IO", None, True), ("vm_file", None, True), ("VM_HUGEPAGE", None, False),
             ("VM_MIXEDMAP", None, False)]
    for k in r.classes:
        q = ClassQuery(eng, inst, k)
        dropped, point = q.needed(prefs)
        kept = [p for p in prefs if p not in dropped]
        assert "huge_fault" in {a for a, _, _ in dropped}  # every failing input has ->huge_fault
        # The input is in the class (the interpreter says so) and has every kept preference ...
        assert ev.value_of(lib, inst.claim, point) is False and all(point[a] == v for a, _, v in kept)
        out = ev.run(lib, "v6.1", "eligible", point)
        assert out.rule is not None and out.rule.id == k.sides[0].rule
        # ... and giving back any dropped one leaves the class no input.
        for p in dropped:
            assert q.ask({a: v for a, _, v in [*kept, p]}) is None
