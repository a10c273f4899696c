from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import z3
from conftest import CORPUS, golden, run_cli, write_spec

SEED = ["--caller", "page_fault", "--set", "VM_HUGEPAGE=1", "--set", "VM_MIXEDMAP=1", "--set", "huge_fault=1",
        "--set", "vma_is_dax=0", "--set", "vm_file=1", "--set", "vm_mm=1", "--set", "VM_NOHUGEPAGE=0",
        "--set", "MMF_DISABLE_THP=0", "--set", "thp_unsupported=0", "--set", "thp_enabled=madvise"]


def test_check_corpus_text_golden() -> None:
    code, out, err = run_cli("check", "tests/corpus/mini.thp")
    assert code == 0, err
    golden("check_mini.txt", out)


def test_check_corpus_json_golden() -> None:
    code, out, _ = run_cli("check", "--json", "tests/corpus/mini.thp")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "thpverify/2"
    assert {r["verdict"] for r in doc["results"]} == {"proved", "refuted", "vacuous"}
    golden("check_mini.json", out)


def test_check_is_deterministic() -> None:
    first = run_cli("check", "--json", "tests/corpus/mini.thp")
    second = run_cli("check", "--json", "tests/corpus/mini.thp")
    assert first == second


def test_bundled_check_passes() -> None:
    code, out, err = run_cli("check")
    assert code == 0, out + err
    assert "all as expected" in out


def test_seed_vma_on_v61_is_refused_by_vm_no_khugepaged() -> None:
    code, out, _ = run_cli("eval", "--version", "v6.1", *SEED)
    assert code == 0
    assert out.startswith("v6.1 eligible = false\n  decided by VM_NO_KHUGEPAGED")
    golden("eval_seed_v6.1.txt", out)


def test_seed_vma_on_v67_is_eligible_through_huge_fault() -> None:
    code, out, _ = run_cli("eval", "--version", "v6.7", *SEED)
    assert code == 0
    assert out.startswith("v6.7 eligible = true\n  decided by huge_fault")
    golden("eval_seed_v6.7.txt", out)


def test_eval_with_unknown_atoms_says_depends_and_names_them() -> None:
    code, out, _ = run_cli("eval", "--json", "--version", "v6.7", "--caller", "page_fault", "--set", "vm_mm=1",
                           "--set", "vma_is_dax=1", "--set", "VM_NOHUGEPAGE=0")
    doc = json.loads(out)
    assert doc["status"] == "depends"
    # Each occurs in a smallest deciding cube: MMF_DISABLE_THP or
    # thp_unsupported settles false; thp_enabled = always (which rules out
    # thp_unsupported by unsupported_means_never) with !MMF_DISABLE_THP settles true.
    assert set(doc["depends_on"]) == {"MMF_DISABLE_THP", "thp_unsupported", "thp_enabled"}


def test_eval_batch(tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text('{"version": "v6.1", "caller": "khugepaged", "vma_is_dax": true}\n'
                     '{"version": "v6.1", "nonsense": 1}\n', encoding="utf-8")
    code, out, err = run_cli("eval", "--batch", str(batch))
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["value"] is False and lines[0]["command"] == "eval"
    assert lines[1]["line"] == 2 and "unknown atom" in lines[1]["error"]
    assert code == 2 and "in.jsonl:2:1: error" in err


def test_eval_rejects_unknown_atom_with_suggestion() -> None:
    code, _, err = run_cli("eval", "--version", "v6.1", "--set", "VM_HUGEPAG=1")
    assert code == 2
    assert "did you mean 'VM_HUGEPAGE'" in err


def test_broken_spec_gives_located_error_and_exit_2(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "atom a: bool;\nversion \"x\" {\n  predicate eligible() -> bool { return a }\n}\n")
    code, out, err = run_cli("check", str(path))
    assert code == 2
    assert f"{path}:3:43: error: unexpected '}}'; expected ';'" in err
    assert "^" in err and "Traceback" not in err


def test_ill_typed_spec_reports_every_problem(tmp_path: Path) -> None:
    path = write_spec(tmp_path, "atom a: bool;\natom e: enum {x, y};\nversion \"v\" {\n"
                      "  predicate eligible() -> bool { if (a) return e; }\n}\n"
                      "property p { prove eligble; expect holds; }\n")
    code, _, err = run_cli("check", str(path))
    assert code == 2
    assert "returns bool, not enum e" in err
    assert "can reach its end without returning" in err
    assert "did you mean 'eligible'" in err


def test_unexpected_verdict_exits_10(tmp_path: Path) -> None:
    text = (CORPUS / "mini.thp").read_text(encoding="utf-8").replace('expect fails on "old";', 'expect holds on "old";')
    code, out, _ = run_cli("check", str(write_spec(tmp_path, text)))
    assert code == 10
    assert "UNEXPECTED: expected proved" in out


def test_prove_exit_codes() -> None:
    assert run_cli("prove", "huge_fault_stays_fault_eligible", "--version", "v6.7")[0] == 0
    code, out, _ = run_cli("prove", "huge_fault_stays_fault_eligible", "--version", "v6.1")
    assert code == 10 and "one full witness" in out
    assert run_cli("prove", "no_such_property")[0] == 2


def test_export_is_read_back_by_z3_and_matches_the_compiler(lib) -> None:  # type: ignore[no-untyped-def]
    from thpverify.backend.smtlib import ExportCompiler

    code, out, _ = run_cli("export", "--version", "v6.1", "--format", "smt2")
    assert code == 0
    assert "(declare-const atom.caller sort.caller)" in out and "value.caller.page_fault" in out
    assert "(declare-const atom.block_fits (_ BitVec 19))" in out
    assert ":named assume.dax_is_file" in out and "(define-fun pred.eligible () Bool" in out
    # Z3's own SMT-LIB parser reads it, and its eligible is the compiled one.
    s = z3.Solver()
    s.from_string(out)
    assert s.check() == z3.sat
    term = ExportCompiler(lib).function("v6.1", "eligible")[0]
    s = z3.Solver()
    s.from_string(out + f"(assert (not (= pred.eligible {term.sexpr()})))")
    assert s.check() == z3.unsat


def test_help_and_module_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "thpverify", "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "exit codes" in done.stdout


def test_a_missing_dependency_says_how_to_install_not_internal_error(tmp_path: Path) -> None:
    # lark made unimportable, as on a machine where thpverify was copied without its dependencies
    script = "import sys; sys.modules['lark'] = None; from thpverify.cli import main; sys.exit(main(['check']))"
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False,
                       env={**os.environ, "THPVERIFY_CACHE_DIR": "off"})
    assert p.returncode == 2, p.stderr
    assert "not installed: lark" in p.stderr and "pip install ." in p.stderr and "internal" not in p.stderr
