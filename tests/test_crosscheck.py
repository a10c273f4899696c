"""check --cross-check cvc5: Z3's proofs re-proved by cvc5 from the SMT-LIB export."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import CORPUS, run_cli

from thpverify.backend import cvc5 as crosscheck
from thpverify.backend.smtlib import smt2_instance
from thpverify.backend.solver import Solver
from thpverify.infra import runner
from thpverify.lang.library import load_library
from thpverify.results import VerdictKind

pytest.importorskip("cvc5")

MINI = "tests/corpus/mini.thp"


@pytest.fixture(scope="module")
def mini() -> object:
    return load_library([CORPUS / "mini.thp"])


def test_cvc5_agrees_on_the_corpus() -> None:
    code, out, err = run_cli("check", MINI, "--cross-check", "cvc5")
    assert code == 0, err
    tail = out.split("all as expected\n", 1)[1]
    assert all(len(line) <= 72 for line in tail.splitlines())
    assert " ".join(tail.split()) == (
        f"cross-check with cvc5 {crosscheck.cvc5_version()}: 3 proofs re-checked from the SMT-LIB export, "
        "6 queries (with all assumptions, and with the core alone); cvc5 agrees: every query unsat")


def test_cvc5_answers_every_instance_as_z3_does(mini: object) -> None:
    """The exported script is unsat exactly when Z3 did not refute the claim."""
    solver = Solver(mini)  # type: ignore[arg-type]
    for prop in mini.properties.values():  # type: ignore[attr-defined]
        for inst in prop.instances:
            verdict = solver.check(inst).verdict
            answer = crosscheck.run_cvc5(smt2_instance(mini, inst))  # type: ignore[arg-type]
            assert answer == ("sat" if verdict == "refuted" else "unsat"), (inst.property_name, inst.version)


def test_core_alone_is_checked_and_can_fail(mini: object) -> None:
    inst = next(i for i in mini.properties["special_fault"].instances if i.version == "new")  # type: ignore[attr-defined]
    assert crosscheck.run_cvc5(smt2_instance(mini, inst, only=["special_not_anonymous"])) == "unsat"  # type: ignore[arg-type]
    # Without the assumption the claim does not follow: an empty core would be wrong.
    assert crosscheck.run_cvc5(smt2_instance(mini, inst, only=[])) == "sat"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no assumption named nosuch"):
        smt2_instance(mini, inst, only=["nosuch"])  # type: ignore[arg-type]


def test_a_disagreement_is_loud_with_exit_6(monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner.check_all

    def lying(lib: object, jobs: object = None, **options: object) -> tuple[object, ...]:
        """Z3 'proves' the refuted special_fault on old: cvc5 must object."""
        out = []
        for v in real(lib, jobs, **options):  # type: ignore[arg-type]
            if (v.property_name, v.version) == ("special_fault", "old"):
                v = dataclasses.replace(v, verdict=VerdictKind.PROVED, counterexample=None, core=())
            out.append(v)
        return tuple(out)

    monkeypatch.setattr(runner, "check_all", lying)
    code, out, _ = run_cli("check", MINI, "--no-cache", "--cross-check", "cvc5")
    assert code == 6
    said = " ".join(out.split())
    assert "2 DISAGREE" in said
    assert "CROSS-CHECK DISAGREEMENT: z3 proved special_fault on old, but cvc5 says sat with all assumptions" in said
    assert "CROSS-CHECK DISAGREEMENT: z3 proved special_fault on old, but cvc5 says sat with core (none)" in said


def test_unparsable_script_is_an_error_not_an_agreement() -> None:
    assert crosscheck.run_cvc5("(set-logic ALL)\n(assert (and p))\n(check-sat)\n").startswith("error:")
    assert crosscheck.run_cvc5("(set-logic ALL)\n").startswith("error:")


def test_missing_cvc5_is_a_usage_error_before_any_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise crosscheck.MissingSolverError("cvc5 is not installed; pip install 'thpverify[cvc5]' (PyPI package cvc5)")

    monkeypatch.setattr(crosscheck, "cvc5_version", missing)
    monkeypatch.setattr(runner, "check_all", lambda *a: pytest.fail("proved before looking for cvc5"))
    code, _, err = run_cli("check", MINI, "--no-cache", "--cross-check", "cvc5")
    assert code == 2 and "pip install 'thpverify[cvc5]'" in err


def test_crosscheck_module_does_not_import_z3() -> None:
    source = Path(crosscheck.__file__).read_text(encoding="utf-8")
    assert "import z3" not in source
