"""A candidate patch verified the way its author works: a spec of their own,
in a directory outside the checkout, run through the installed command.

Each test runs thpverify's commands in a fresh temporary directory, in a
process started outside the checkout (one for the module, and `python -m
thpverify` for two commands side by side), so the package is imported as
installed and nothing of the checkout is on the search path except the
bundled library the package ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from thpverify import model as m
from thpverify.lang.library import bundled_path, load_library

FIX_V1 = """\
import "v6.6.thp";

// The seed thread's fix v1, written by a reviewer as a patch of their own.
version "my-fix-v1" extends "v6.6" {
  release "6.6.9 + my v1";
  patch hugepage_vma_check {
    replace VM_NO_KHUGEPAGED {
      VM_NO_KHUGEPAGED @103..104: if (!in_pf && !smaps && VM_NO_KHUGEPAGED) return false;
    }
  }
}
"""

NO_FORCED = """\
import "vocab.thp";
import "v6.18.thp";

// PR_THP_DISABLE_EXCEPT_ADVISED also blocks MADV_COLLAPSE.
version "no-forced" extends "v6.18" {
  release "6.18.2 + no-forced";
%s  patch vma_thp_disabled {
    delete forced;
  }
}
"""

CLEANUP = """\
import "v6.6.thp";

version "v6.6-cleanup" extends "v6.6" {
  release "6.6.9 + cleanup";
  patch hugepage_vma_check {
    replace dax {
      dax @95..96: if (vma_is_dax) return in_pf && true;
    }
  }
}
"""


# One process outside the checkout runs the commands of this module one
# after another, as `python -m thpverify` would (main(argv) with the
# command's own working directory and environment): the package is imported
# once, as installed. run_many starts `python -m thpverify` itself.
_DRIVER = """\
import io, json, os, sys
from thpverify.cli import main
for line in sys.stdin:
    ask = json.loads(line)
    os.chdir(ask["cwd"])
    for k, v in ask["env"].items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    out, err = io.StringIO(), io.StringIO()
    code = main(ask["argv"], out, err)
    print(json.dumps([code, out.getvalue(), err.getvalue()]), flush=True)
"""
_SHARED: list[subprocess.Popen[str]] = []


def _outside_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("THPVERIFY_PATH", "PYTHONPATH")}


@pytest.fixture(autouse=True, scope="module")
def _shared_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    where = tmp_path_factory.mktemp("driver")
    _SHARED.append(subprocess.Popen([sys.executable, "-c", _DRIVER], cwd=where, env=_outside_env(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True))
    yield
    proc = _SHARED.pop()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=60)
    proc.stdout.close()


def run(cwd: Path, *argv: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """A command in the shared process, in cwd, with THPVERIFY_PATH as env says (unset by default)."""
    proc = _SHARED[-1]
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps({"cwd": str(cwd), "env": {"THPVERIFY_PATH": None, **(env or {})}, "argv": list(argv)}) + "\n")
    proc.stdin.flush()
    code, out, err = json.loads(proc.stdout.readline())
    return code, out, err


def run_many(cwd: Path, argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    env = _outside_env()
    procs = [subprocess.Popen([sys.executable, "-m", "thpverify", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for argv in argvs]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        out.append((proc.returncode, stdout, stderr))
    return out


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of the user's own, outside the checkout."""
    where = tmp_path_factory.mktemp("user")
    assert bundled_path().parent not in where.parents
    return where


def test_a_spec_anywhere_imports_the_library_and_checking_nothing_is_an_error(home: Path) -> None:
    (home / "mine.thp").write_text(FIX_V1, encoding="utf-8")
    code, out, err = run(home, "check", "mine.thp")
    assert code == 2, err
    assert "cannot" not in err
    assert "nothing to check" in err and 'import "properties.thp"' in err and "thpverify patch" in err
    assert out == ""


def test_an_import_that_is_nowhere_says_where_it_looked(home: Path) -> None:
    (home / "mine.thp").write_text('import "v9.9.thp";\n', encoding="utf-8")
    code, _, err = run(home, "check", "mine.thp")
    assert code == 2
    assert err.startswith("mine.thp:1:1: error: cannot import 'v9.9.thp': no such spec in .")
    # The bundled library is last: the installed package's, which is not
    # always the checkout the tests import.
    looked = err.splitlines()[0].split("no such spec in ", 1)[1].split(", ")
    assert looked[0] == "." and looked[-1].endswith("specs") and "-I DIR" in err


def test_the_search_path_order_is_own_directory_then_include_then_env_then_bundled(home: Path, tmp_path: Path) -> None:
    (home / "mine.thp").write_text('import "shared.thp";\nversion "v" { }\nproperty p { prove tag; expect holds; }\n',
                                    encoding="utf-8")
    for d, value in (("inc", "tag"), ("env", "!tag")):
        (tmp_path / d).mkdir()
        (tmp_path / d / "shared.thp").write_text(f"atom tag: bool;\nassume fixed: {value};\n", encoding="utf-8")
    def check(*extra: str) -> int:
        return run(home, "check", "--no-cache", "mine.thp", *extra, env={"THPVERIFY_PATH": str(tmp_path / "env")})[0]

    assert check("-I", str(tmp_path / "inc")) == 0  # -I before $THPVERIFY_PATH
    assert check() == 10  # $THPVERIFY_PATH
    (home / "shared.thp").write_text("atom tag: bool;\nassume fixed: !tag;\n", encoding="utf-8")
    assert check("-I", str(tmp_path / "inc")) == 10  # the importing file's own directory first


def test_patch_takes_a_file_and_names_the_properties_it_breaks(home: Path) -> None:
    (home / "mine.thp").write_text(FIX_V1, encoding="utf-8")
    code, out, err = run(home, "patch", "v6.6", "mine.thp")
    assert code == 10, err
    assert out.startswith("patch v6.6 -> my-fix-v1\n\nnewly failing (3):\n  fault_rejects_special\n")
    assert "  smaps_rejects_special\n" in out
    # A property across versions that names v6.6 is checked with the candidate in its place.
    assert "  v66_is_v63\n    v6.6: proved, my-fix-v1: refuted  (with my-fix-v1 in v6.6's place)\n" in out
    assert "verdict: FAIL: 3 properties newly fail" in out
    assert all(len(line) <= 72 for line in out.splitlines())


def test_a_patch_that_changes_madv_collapse_is_caught_and_an_intended_one_passes(home: Path) -> None:
    (home / "mine.thp").write_text(NO_FORCED % "", encoding="utf-8")
    declared = "  intends caller madv_collapse;\n  intends property except_advised_yields_to_advice, v6_19_is_v6_18_outside_shmem;\n"
    (home / "declared.thp").write_text((NO_FORCED % declared).replace('"no-forced"', '"no-forced-declared"'), encoding="utf-8")
    # The two runs are independent: run them side by side.
    (code, out, err), (code2, out2, err2) = run_many(home, [["patch", "v6.18", str(home / "mine.thp"), "--json"],
                                                             ["patch", "v6.18", "declared.thp"]])
    assert code == 10, err
    doc = json.loads(out)
    failing = [c["property"] for c in doc["properties"] if c["change"] == "newly failing"]
    # v6.19 decides as 6.18 outside shmem; with the candidate in 6.18's place it no longer does.
    assert failing == ["except_advised_yields_to_advice", "v6_19_is_v6_18_outside_shmem"]
    rows = {t["caller"]: len(t["rows"]) for t in doc["diffs"]}
    assert rows == {"page_fault": 0, "smaps": 0, "khugepaged": 0, "madv_collapse": 7}
    assert all("except_advised_yields_to_advice" in c["covered_by"] for c in doc["coverage"])
    assert doc["exit_code"] == 10

    assert code2 == 0, err2
    assert "except_advised_yields_to_advice  (intended)" in out2
    assert "intends: caller madv_collapse, property except_advised_yields_to_advice, property" in " ".join(out2.split())


def test_a_behaviour_preserving_patch_passes_and_strict_still_passes(home: Path) -> None:
    (home / "mine.thp").write_text(CLEANUP, encoding="utf-8")
    code, out, err = run(home, "patch", "v6.6", "mine.thp", "--strict")
    assert code == 0, err
    assert "newly failing (0)" in out and "newly holding (0)" in out
    assert "no input changes its answer (exit 0)" in " ".join(out.split())


def test_a_candidate_file_without_a_version_or_with_a_bad_label_is_exit_2(home: Path) -> None:
    (home / "empty.thp").write_text('import "v6.6.thp";\n', encoding="utf-8")
    code, _, err = run(home, "patch", "v6.6", "empty.thp")
    assert code == 2 and "declares no version" in err
    (home / "bad.thp").write_text(FIX_V1.replace("replace VM_NO_KHUGEPAGED", "replace VM_NO_KHUGEPAGE"), encoding="utf-8")
    code, _, err = run(home, "patch", "v6.6", "bad.thp")
    assert code == 2
    assert "no rule labelled 'VM_NO_KHUGEPAGE' in hugepage_vma_check" in err
    assert "did you mean 'VM_NO_KHUGEPAGED'?" in err and "labels in hugepage_vma_check: " in err and "dax" in err


def test_a_patch_inherits_its_base_expectations_unless_it_states_its_own(tmp_path: Path) -> None:
    mine = tmp_path / "mine.thp"
    mine.write_text(FIX_V1, encoding="utf-8")
    lib = load_library(extra=[mine])
    for prop in lib.properties.values():
        by_version = {i.version: i.expected for i in prop.instances}
        if "v6.6" in by_version:
            assert by_version["my-fix-v1"] == by_version["v6.6"], prop.name
    # fix-v2 extends v6.6 and states its own expectation where it differs.
    expected = {i.version: i.expected for i in lib.properties["seed_driver_fault_eligible"].instances}
    assert (expected["v6.6"], expected["fix-v2"], expected["fix-v2-2"]) == ("fails", "holds", "holds")


def test_a_rule_without_label_or_line_is_a_warning_and_a_lint_finding(tmp_path: Path) -> None:
    from thpverify.analysis.lint import lint

    spec = tmp_path / "s.thp"
    spec.write_text('atom a: bool;\nversion "v" {\n  predicate eligible() -> bool from f in "mm/x.c" {\n'
                    '    if (a) return false;\n    last @9: return true;\n  }\n}\n', encoding="utf-8")
    lib = load_library([spec])
    assert [(w.code, w.span.line, w.severity) for w in lib.warnings] == [("W001", 4, "warning")]
    assert [(f.kind, f.name) for f in lint(lib).findings if f.kind == "uncited-rule"] == [("uncited-rule", "eligible.L4")]
    code, _, err = run(tmp_path, "check", "s.thp")
    assert code == 2  # nothing to check; the warning comes first
    assert "s.thp:4:5: warning: this rule of 'eligible' has neither a label nor a kernel line" in err


def test_the_bundled_library_has_no_uncited_rule(lib: m.Library) -> None:
    assert lib.warnings == ()


@pytest.mark.parametrize("name", ["fix-v1", "fix-v2", "fix-v3"])
def test_the_2023_fix_series_written_outside_reproduces_the_library_verdicts(name: str, tmp_path: Path) -> None:
    """The series as a reviewer would write it, in files of their own: every
    property gets the verdict the library pins for the bundled fix (the
    matrix of specs/README.md), on each version the file declares."""
    from thpverify.backend.solver import Solver

    text = (bundled_path() / f"{name}.thp").read_text(encoding="utf-8")
    declared = [line.split('"')[1] for line in text.splitlines() if line.startswith("version ")]
    for v in declared:
        text = text.replace(f'version "{v}"', f'version "my-{v}"').replace(f'extends "{v}"', f'extends "my-{v}"')
    mine = tmp_path / f"my-{name}.thp"
    mine.write_text(text, encoding="utf-8")
    lib = load_library(extra=[mine])
    solver = Solver(lib)
    verdict = {"holds": "proved", "fails": "refuted", "vacuous": "vacuous"}
    checked = 0
    for prop in lib.properties.values():
        by_version = {i.version: i for i in prop.instances}
        for v in declared:
            if v in by_version:
                assert solver.check(by_version[f"my-{v}"]).verdict == verdict[by_version[v].expected or ""], (prop.name, v)
                checked += 1
    assert checked >= 25 * len(declared)  # every property written per version
