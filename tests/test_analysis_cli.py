"""The analysis commands end to end: goldens for the seed thread's story, laws, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import golden, run_cli

STORY = ["--spec", "specs/v5.19.thp", "--spec", "specs/v6.1.thp", "--spec", "specs/v6.7.thp"]
FIXES = ["--spec", "specs/v5.19.thp", "--spec", "specs/v6.0.thp", "--spec", "specs/v6.1.thp", "--spec", "specs/v6.6.thp",
         "--spec", "specs/fix-v1.thp", "--spec", "specs/fix-v2.thp", "--spec", "specs/fix-v3.thp", "--spec", "specs/v6.7.thp"]
SEED = ["--caller", "page_fault", "--set", "VM_HUGEPAGE=1", "--set", "VM_MIXEDMAP=1", "--set", "huge_fault=1",
        "--set", "vma_is_dax=0", "--set", "vm_file=1", "--set", "vm_mm=1", "--set", "VM_NOHUGEPAGE=0",
        "--set", "MMF_DISABLE_THP=0", "--set", "thp_unsupported=0", "--set", "thp_enabled=madvise"]
MINI = ["--spec", "tests/corpus/mini.thp"]
LINT = ["--spec", "tests/corpus/lint.thp"]
CORPUS_LINT = Path(__file__).parent / "corpus" / "lint.thp"


def _fits(text: str) -> None:
    assert all(len(line) <= 72 for line in text.splitlines()), [line for line in text.splitlines() if len(line) > 72]


def test_diff_519_to_61_page_fault() -> None:
    code, out, _ = run_cli("diff", "v5.19", "v6.1", "--caller", "page_fault", *STORY)
    assert code == 10
    _fits(out)
    golden("diff_v5.19_v6.1_page_fault.txt", out)


def test_a_long_table_is_refused_only_when_asked_short() -> None:
    code, out, err = run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", "--max-rows", "3", "--short", *STORY)
    assert (code, out) == (5, "")
    assert "needs more than 3 rows" in err and "--max-rows" in err
    assert "--caller" not in err  # it is given already
    assert run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", "--max-rows", "0", "--short", *STORY)[0] == 10  # no limit


def test_a_long_table_shows_its_first_rows_and_counts_the_rest() -> None:
    code, full, _ = run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", *STORY)
    code3, out, _ = run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", "--max-rows", "3", *STORY)
    assert code == code3 == 10
    assert "8 rows, the first 3 shown" in out
    rows = full.split("\n\n")[1:]
    assert out.split("\n\n")[1:] == [*rows[:2], rows[2] + "\n"] and " 4. " not in out
    doc = json.loads(run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", "--max-rows", "3", "--json", *STORY)[1])
    assert (len(doc["rows"]), doc["hidden"]) == (3, 5)


def test_diff_61_to_67_page_fault_is_the_regression_and_nothing_else() -> None:
    code, out, _ = run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", *STORY)
    assert code == 10
    _fits(out)
    golden("diff_v6.1_v6.7_page_fault.txt", out)
    code, out, _ = run_cli("diff", "v6.1", "v6.7", "--caller", "page_fault", "--json", *STORY)
    doc = json.loads(out)
    assert doc["command"] == "diff" and doc["schema"] == "thpverify/2"
    rules = {(r["a"]["rule"], r["b"]["rule"]) for r in doc["rows"]}
    assert {a for a, _ in rules} == {"VM_NO_KHUGEPAGED", "not_anonymous"}
    assert all(r["a"]["value"] is False and r["b"]["value"] is True for r in doc["rows"])
    golden("diff_v6.1_v6.7_page_fault.json", out)


def test_diff_of_a_version_with_itself_is_empty() -> None:
    code, out, _ = run_cli("diff", "old", "old", *MINI)
    assert code == 0
    assert "no input disagrees" in out


def test_diff_mirrors() -> None:
    _, ab, _ = run_cli("diff", "old", "new", "--json", *MINI)
    _, ba, _ = run_cli("diff", "new", "old", "--json", *MINI)
    a, b = json.loads(ab), json.loads(ba)
    assert [(r["cube"], r["a"], r["b"]) for r in a["rows"]] == [(r["cube"], r["b"], r["a"]) for r in b["rows"]]
    assert (a["disagreeing"], a["total"]) == (b["disagreeing"], b["total"])


def test_timeline_of_the_seed_driver_mapping() -> None:
    code, out, _ = run_cli("timeline", *SEED, *FIXES)
    assert code == 0
    _fits(out)
    golden("timeline_seed_driver.txt", out)
    _, js, _ = run_cli("timeline", *SEED, "--json", *FIXES)
    steps = {s["version"]: s for s in json.loads(js)["steps"]}
    assert steps["v5.19"]["value"] is True and steps["v6.1"]["value"] is False
    assert steps["v6.7"]["rule"] == "huge_fault"


def test_timeline_says_depends_and_on_what() -> None:
    code, out, _ = run_cli("timeline", "--caller", "page_fault", "--set", "special=1", "--set", "disabled=0", *MINI)
    assert code == 0
    assert "depends on hugepage" in out


def test_requires_on_mini() -> None:
    code, out, _ = run_cli("requires", "--version", "new", "--caller", "page_fault", *MINI)
    assert code == 0
    _fits(out)
    golden("requires_mini_new.txt", out)
    code, out, _ = run_cli("requires", "--all-versions", "--json", *MINI)
    doc = json.loads(out)
    assert doc["versions"] == ["old", "new"]
    assert doc["formula"].startswith("!disabled && ")


def test_lint_corpus_findings() -> None:
    code, out, _ = run_cli("lint", *LINT)
    assert code == 10
    _fits(out)
    golden("lint_corpus.txt", out)
    code, out, _ = run_cli("lint", "--json", *LINT)
    kinds = {(f["kind"], f["name"]) for f in json.loads(out)["findings"]}
    assert kinds == {("dead-rule", "eligible.shadowed"),
                     ("always-false", "eligible.never"), ("redundant-rule", "eligible.swap_b"),
                     ("unread-atom", "spare"), ("contradiction", "a_implies_b+a_without_b")}


def test_lint_allow_silences() -> None:
    code, out, _ = run_cli("lint", *LINT, "--allow", "*:l:*", "--allow", "unread-atom:*:spare", "--allow", "contradiction:*")
    assert code == 0
    assert "0 findings (5 allowed)" in out


def test_lint_order_dependent() -> None:
    _, out, _ = run_cli("lint", "--order", "--json", *LINT)
    names = {f["name"] for f in json.loads(out)["findings"] if f["kind"] == "order-dependent"}
    assert "eligible.swap_a" in names


def test_patch_on_mini() -> None:
    code, out, _ = run_cli("patch", "old", "new", *MINI)
    assert code == 0
    assert "newly holding (1):\n  special_fault" in out
    _fits(out)


def test_usage_errors() -> None:
    code, _, err = run_cli("diff", "v9.9", "old", *MINI)
    assert code == 2 and "no version 'v9.9'" in err
    code, _, err = run_cli("diff", "old", "new", "--caller", "nobody", *MINI)
    assert code == 2
    code, _, err = run_cli("requires", *MINI)
    assert code == 2 and "--all-versions" in err
    code, _, err = run_cli("diff", "old", "new", "--output", "nothing", *MINI)
    assert code == 2 and "not an output" in err


def test_lint_reads_the_allow_file_of_a_spec_directory(tmp_path: Path) -> None:
    shutil.copy(CORPUS_LINT, tmp_path / "lint.thp")
    (tmp_path / "lint.allow").write_text("# kept on purpose\n*:l:*  # every finding of version l\nunread-atom:*:spare\n"
                                         "contradiction:*\n", encoding="utf-8")
    code, out, _ = run_cli("lint", "--spec", str(tmp_path / "lint.thp"))
    assert code == 0 and "0 findings (5 allowed)" in out
    code, out, _ = run_cli("lint", "--spec", str(tmp_path / "lint.thp"), "--no-allow-file")
    assert code == 10 and "5 findings" in out


def test_the_bundled_allow_file_names_only_findings_the_library_has() -> None:
    from thpverify.cli.analysis import _allow_files

    keys = _allow_files(None)
    assert keys and all(k.count(":") == 2 for k in keys)
    assert {k.split(":")[0] for k in keys} <= {"redundant-rule", "unread-atom"}
