"""counterexamples, reproduce (plans, C, sh, --run), the geometry sweep, and conform --from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import golden, run_cli

from thpverify import model as m
from thpverify.kernel import reproduce as rp
from thpverify.kernel import sweep
from thpverify.kernel.conform import Case, MappingKind
from thpverify.kernel.settings import Settings
from thpverify.kernel.smaps import pick_version
from thpverify.render import cprogram

HERE = Path(__file__).parent
MINE = ["--spec", "specs", "--spec", "docs/examples/my-mappings.thp"]
SETTINGS = Settings("6.18.2", True, "madvise", "never", {"always": 0, "madvise": 0, "inherit": 1 << 9},
                    {"always": 0, "madvise": 0, "inherit": 0, "within_size": 0}, False, ())
MACHINE = rp.Machine(SETTINGS, True, 1 << 16, 0)


def live(lib: m.Library) -> bool:
    return Path("/sys/kernel/mm/transparent_hugepage").is_dir() and pick_version(lib, os.uname().release) == "v6.18"


# ------------------------------------------------------------------ counterexamples


def test_seed_classes_on_v6_1_golden() -> None:
    code, out, err = run_cli("counterexamples", "seed_driver_fault_eligible", "--version", "v6.1")
    assert code == 10, err
    golden("counterexamples_seed_v6.1.txt", out)


def test_huge_fault_classes_json_are_disjoint_and_add_up() -> None:
    code, out, _ = run_cli("counterexamples", "huge_fault_stays_fault_eligible", "--version", "v6.1", "--json")
    assert code == 10
    r = json.loads(out)["results"][0]
    assert r["classes_are"] == "disjoint" and r["found"] == len(r["classes"]) == 2
    assert sum(k["count"] for k in r["classes"]) == r["failing"] < r["total"]
    assert [k["sides"][0]["rule"] for k in r["classes"]] == ["VM_NO_KHUGEPAGED", "not_anonymous"]
    assert all(k["minimum_proved"] for k in r["classes"])


def test_counterexamples_of_a_proved_instance_and_bad_names() -> None:
    code, out, _ = run_cli("counterexamples", "huge_fault_stays_fault_eligible", "--version", "v6.7")
    assert code == 0 and "no failing input" in out
    assert run_cli("counterexamples", "no_such_property")[0] == 2
    assert run_cli("counterexamples", "seed_driver_fault_eligible", "--version", "v9.9")[0] == 2
    assert run_cli("counterexamples", "seed_driver_fault_eligible", "--limit", "0")[0] == 2


# ------------------------------------------------------------------ plans


def test_a_driver_class_names_what_would_create_it() -> None:
    code, out, _ = run_cli("reproduce", "huge_fault_stays_fault_eligible", "--version", "v6.1", "--class", "2", "--json")
    assert code == 0
    plan = json.loads(out)["plans"][0]
    assert plan["mapping"] is None
    assert any(n["atom"] == "huge_fault=1" and "->huge_fault" in n["what"] for n in plan["needs"])
    code, out, _ = run_cli("reproduce", "huge_fault_stays_fault_eligible", "--version", "v6.1", "--class", "2", "--run")
    assert code == 5 and "run: skipped" in out


def test_reproduce_rejects_what_it_cannot_do() -> None:
    assert run_cli("reproduce", "huge_fault_stays_fault_eligible", "--version", "v6.7")[0] == 2  # proved there
    assert run_cli("reproduce", "huge_fault_stays_fault_eligible", "--version", "v6.1", "--class", "9")[0] == 2
    assert run_cli("reproduce", "seed_driver_fault_eligible", "--version", "v6.1", "--format", "c", "--run")[0] == 2


def _collapse_plan() -> rp.Plan:
    case = Case("anon", MappingKind.ANON, 2 << 20, advice=("hg",))
    obs = (rp.Observation("eligible", "madv_collapse", "collapse", False),)
    return rp.Plan("anon_advised_collapses", "v6.18", 4, (("eligible", False, "no_anon_vma"),), "madv_collapse", (),
                   case, 1 << 40, 1 << 40, "none", (("/sys/kernel/mm/transparent_hugepage/enabled", "madvise", "madvise"),),
                   (), obs, ())


def test_c_program_compiles_with_warnings_as_errors(tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    for plan in (_collapse_plan(), rp.Plan("p", "v6.18", 1, (("eligible", False, None),), None, (), None, 0, 0, "none",
                                           (), (), (), (("huge_fault=1", "a driver"),))):
        src = tmp_path / "r.c"
        src.write_text(cprogram.c_program(plan), encoding="utf-8")
        done = subprocess.run([cc, "-Wall", "-Werror", "-o", str(tmp_path / "r"), str(src)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert "cc -Wall -Werror" in cprogram.sh_recipe(_collapse_plan())


def test_generated_c_program_runs_and_agrees_here(lib: m.Library, tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not live(lib):
        pytest.skip("needs a C compiler and a running 6.18 kernel")
    code, out, _ = run_cli("reproduce", "anon_advised_collapses", "--version", "v6.18", "--class", "4", "--format", "c", *MINE)
    assert code == 0
    (tmp_path / "r.c").write_text(out, encoding="utf-8")
    subprocess.run([cc, "-Wall", "-Werror", "-o", str(tmp_path / "r"), str(tmp_path / "r.c")], check=True)
    done = subprocess.run([str(tmp_path / "r")], capture_output=True, text=True, cwd=tmp_path)
    if done.returncode == 4:
        pytest.skip("this machine's settings differ: " + done.stdout.strip())
    assert done.returncode == 0, done.stdout


def test_run_here_agrees_with_the_kernel(lib: m.Library) -> None:
    if not live(lib):
        pytest.skip("needs a running 6.18 kernel with /sys/kernel/mm/transparent_hugepage")
    code, out, _ = run_cli("reproduce", "anon_advised_collapses", "--version", "v6.18", "--run", "--json", *MINE)
    runs = json.loads(out)["runs"]
    assert {r["status"] for r in runs} <= {"agree", "skipped"} and code in (0, 5)
    assert any(r["status"] == "agree" for r in runs)


def test_judge_reports_a_disagreement(lib: m.Library) -> None:
    plan = _collapse_plan()
    doc = {"before": "10000000000-10000200000 rw-p 00000000 00:00 0\nTHPeligible:    1\nVmFlags: rd wr hg\n",
           "collapse": {"result": 0, "errno": 0}}
    r = rp.judge(lib, plan, MACHINE, doc)  # the kernel collapsed what the model refuses: no anon_vma
    assert r.status == "DISAGREE" and r.in_class and r.seen[0].kernel is True and r.seen[0].model is False
    doc["collapse"] = {"result": -1, "errno": 22}
    assert rp.judge(lib, plan, MACHINE, doc).status == "agree"


def test_run_is_skipped_when_the_kernel_is_another_release(lib: m.Library) -> None:
    other = rp.Machine(Settings("6.1.20", True, "madvise", "never"), True, 1 << 16, 0)
    r = rp.run(lib, _collapse_plan(), other)
    assert r.status == "skipped" and "v6.1" in r.why


# ------------------------------------------------------------------ sweep and conform --from


def test_sweep_covers_the_whole_address_range_on_both_sides_of_each_order() -> None:
    cases = list(sweep.sweep_cases(4096, root=True))
    starts = {start for _, start in cases}
    assert min(starts) == 1 << 16 and max(starts) + max(c.length for c, _ in cases) < 1 << 47
    lengths = {c.length for c, _ in cases}
    assert {(2 << 20) - 4096, 2 << 20, (2 << 20) + 4096} <= lengths and {"anon", "mount_file"} == {c.kind for c, _ in cases}


def test_sweep_outcomes_from_a_recorded_child() -> None:
    case = Case("low", MappingKind.ANON, 4096, advice=("hg",))
    doc = {"entries": {"low": "00100000-00101000 rw-p 00000000 00:00 0\nTHPeligible:    1\n"}, "errors": {}}
    (o,) = sweep.outcomes([(case, 0x100000)], doc, SETTINGS)
    known = dict(o.known)
    assert o.vma is not None and o.vma.thp_eligible == 1 and not o.problems
    assert known["block_fits"] >> 9 & 1  # the wrap: vm_end - 2 MiB underflows and the test passes


def test_conform_from_rejects_other_json(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"command": "check"}', encoding="utf-8")
    code, _, err = run_cli("conform", "--no-sweep", "--from", str(bad))
    assert code == 2 and "counterexamples" in err


# ------------------------------------------------------------------ smaps input errors


def test_smaps_file_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.smaps"
    bad.write_bytes(b"00400000-00500000 r--p 00000000 00:00 0 /x\xff\nTHPeligible:    1\n")
    code, _, err = run_cli("smaps", "--file", str(bad), "--settings", "tests/fixtures/smaps/bash.json")
    assert code == 2 and err.startswith(f"{bad}:1:43: error: not UTF-8")


def test_settings_with_an_unknown_value_exit_2(tmp_path: Path) -> None:
    doc = json.loads(Path("tests/fixtures/smaps/bash.json").read_text(encoding="utf-8"))
    doc["settings"]["thp_enabled"] = "sometimes"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run_cli("smaps", "--file", "tests/fixtures/smaps/bash.smaps", "--settings", str(path))
    assert code == 2 and "thp_enabled is 'sometimes'" in err


def test_prove_all_lists_every_class_as_counterexamples_does() -> None:
    from conftest import run_cli

    a = run_cli("prove", "seed_driver_fault_eligible", "--version", "v6.1", "--all")
    b = run_cli("counterexamples", "seed_driver_fault_eligible", "--version", "v6.1")
    assert a == b and a[0] == 10 and "classes: 1" in " ".join(a[1].split())
