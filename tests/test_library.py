"""The bundled spec library: provenance, citations and the mission's verdicts."""

from __future__ import annotations

from thpverify import model as m
from thpverify.backend.solver import Solver
from thpverify.results import KernelCite


def test_every_version_names_its_source(lib: m.Library) -> None:
    for v in lib.versions.values():
        assert v.get("release"), v.name
        # Read from a tree (repository and full commit), or inferred: then it
        # names no tree and its note says what it was inferred from.
        if v.get("repository"):
            assert len(v.get("commit")) == 40, v.name
        else:
            assert not v.get("commit") and v.get("note").startswith("inferred"), v.name
        assert v.get("summary"), v.name
        assert {"eligible", "thp_eligible"} <= set(v.outputs), v.name


def test_every_predicate_from_the_kernel_cites_its_lines(lib: m.Library) -> None:
    for v in lib.versions.values():
        for f in v.functions.values():
            if f.kind != "predicate" or not f.origin:
                continue
            tests = [r for r in f.rules if not r.id.startswith("L") or r.cite is not None]
            cited = [r for r in tests if r.cite is not None]
            # Every labelled rule of a transcribed predicate cites kernel lines.
            assert len(cited) == len(tests), (v.name, f.name, [r.id for r in tests if r.cite is None])


def test_orders_versions_answer_with_a_set(lib: m.Library) -> None:
    for name in ("v6.8", "v6.11", "v6.12", "v6.17", "v6.18"):
        assert lib.versions[name].functions["allowable"].returns.kind == "set"


def test_mission_verdicts(lib: m.Library) -> None:
    solver = Solver(lib)

    def verdict(prop: str, version: str) -> str:
        inst = next(i for i in lib.properties[prop].instances if i.version == version)
        return solver.check(inst).verdict

    assert verdict("dax_fault_eligible", "v6.1") == "proved"
    assert verdict("khugepaged_never_dax", "v6.7") == "proved"
    assert verdict("huge_fault_stays_fault_eligible", "v6.7") == "proved"
    inst = next(i for i in lib.properties["seed_driver_fault_eligible"].instances if i.version == "v6.1")
    result = solver.check(inst)
    assert result.verdict == "refuted" and result.counterexample is not None
    decision = result.counterexample.decisions[0]
    assert (decision.value, decision.rule) == (False, "VM_NO_KHUGEPAGED")
    assert decision.kernel == KernelCite("6.1.20", "mm/huge_memory.c", 103, 104, "hugepage_vma_check")
    assert str(decision.kernel) == "mm/huge_memory.c:103-104 (6.1.20)"


def test_check_output_does_not_depend_on_the_number_of_workers() -> None:
    """Z3 keeps state across contexts in one process: each property gets a fresh process."""
    from conftest import CORPUS

    from thpverify.infra.runner import check_all
    from thpverify.lang.library import load_library

    paths = [CORPUS / "mini.thp"]
    lib = load_library(paths)
    one = check_all(lib, jobs=1, min_parallel=0)
    two = check_all(lib, jobs=2, min_parallel=0)
    assert one == two
    assert [v.verdict for v in one] == ["proved", "proved", "refuted", "proved", "vacuous", "vacuous"]
