"""The pytest plugin, run inside pytest through pytester."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
import xmlschema
from conftest import CORPUS, HERE

# Imported here so that pytester's in-process runs (which drop the modules a
# run imports) reuse them instead of importing Z3 and building the parser
# again in every test.
from thpverify.backend import solver
from thpverify.infra import pytest_plugin  # noqa: F401
from thpverify.lang import parser, resolve, typecheck  # noqa: F401
from thpverify.render import sarif  # noqa: F401

ROOT = HERE.parent
MINI = (CORPUS / "mini.thp").read_text(encoding="utf-8")
# The same library with one expectation that the solver contradicts.
WRONG = MINI.replace('expect fails on "old";', 'expect holds on "old";')


def _installed() -> bool:
    return any(ep.value == "thpverify.infra.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11"))


def _args(*args: str) -> list[str]:
    """Load the plugin by name unless the installed entry point already does;
    leave out plugins the inner runs do not need."""
    quiet = ["-p", "no:hypothesispytest", "-p", "no:cacheprovider"]
    return [*quiet, *args] if _installed() else [*quiet, "-p", "thpverify.infra.pytest_plugin", *args]


def _specs(pytester: pytest.Pytester, text: str = MINI, name: str = "mini.thp") -> Path:
    folder = pytester.path / "specs"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_collects_one_item_per_property_and_version(pytester: pytest.Pytester) -> None:
    _specs(pytester)
    result = pytester.runpytest(*_args("--collect-only", "-q", "specs/"))
    result.assert_outcomes()
    result.stdout.fnmatch_lines([
        "specs/mini.thp::disabled_wins[[]old[]]",
        "specs/mini.thp::disabled_wins[[]new[]]",
        "specs/mini.thp::special_fault[[]old[]]",
        "specs/mini.thp::special_fault[[]new[]]",
        "specs/mini.thp::impossible[[]old[]]",
        "specs/mini.thp::impossible[[]new[]]",
        "6 tests collected*",
    ])


def test_verdicts_as_expected_pass(pytester: pytest.Pytester) -> None:
    _specs(pytester)
    result = pytester.runpytest(*_args("specs/"))
    result.assert_outcomes(passed=6)
    assert result.ret == 0


def test_unexpected_verdict_fails_with_counterexample_and_rule(pytester: pytest.Pytester) -> None:
    _specs(pytester, WRONG)
    result = pytester.runpytest(*_args("specs/", "-k", "special_fault"))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*special_fault[[]old[]]*",
        "special_fault [[]old[]]: refuted, expected proved",
        "*counterexample (any other value for the rest):*",
        "*special, hugepage*",
        "*old eligible = false, decided by special*",
        "*at specs/mini.thp:13:5, kernel mm/x.c:12-13 (1.0)*",
        "FAILED specs/mini.thp::special_fault[[]old[]]*",
    ])


def test_junitxml_validates_and_carries_the_failure(pytester: pytest.Pytester) -> None:
    _specs(pytester, WRONG)
    result = pytester.runpytest(*_args("specs/", "--junitxml=report.xml"))
    result.assert_outcomes(passed=5, failed=1)
    report = pytester.path / "report.xml"
    schema = xmlschema.XMLSchema(str(ROOT / "docs" / "junit.xsd"))
    schema.validate(str(report))
    doc = schema.to_dict(str(report))
    cases = [c for suite in doc["testsuite"] for c in suite["testcase"]]
    assert len(cases) == 6
    failed = [c for c in cases if "failure" in c]
    assert [c["@name"] for c in failed] == ["special_fault[old]"]
    assert "decided by special" in failed[0]["failure"][0]["@message"] + str(failed[0]["failure"][0])


def test_spec_error_is_a_collection_error_with_location(pytester: pytest.Pytester) -> None:
    _specs(pytester, MINI.replace("prove disabled -> !eligible;", "prove disabled -> ;"))
    result = pytester.runpytest(*_args("specs/"))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting specs/mini.thp*", "*specs/mini.thp:27:*error*"])


def test_files_without_properties_are_not_collected(pytester: pytest.Pytester) -> None:
    _specs(pytester)
    _specs(pytester, "// only a vocabulary\natom extra: bool;\n", "vocab.thp")
    result = pytester.runpytest(*_args("--collect-only", "-q", "specs/"))
    assert "vocab.thp" not in result.stdout.str()
    result.stdout.fnmatch_lines(["6 tests collected*"])


def test_ini_option_turns_collection_off(pytester: pytest.Pytester) -> None:
    _specs(pytester)
    pytester.makeini("[pytest]\nthpverify_collect = false\n")
    result = pytester.runpytest(*_args("--collect-only", "-q", "specs/"))
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_plugin_imports_neither_z3_nor_lark_without_spec_files(pytester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_light="""
        import sys

        def test_light(pytestconfig):
            assert pytestconfig.pluginmanager.hasplugin("thpverify.infra.pytest_plugin") or \\
                pytestconfig.pluginmanager.hasplugin("thpverify")
            assert "z3" not in sys.modules
            assert "lark" not in sys.modules
    """)
    result = pytester.runpytest_subprocess(*_args())
    result.assert_outcomes(passed=1)


def test_our_corpus_is_not_collected(pytester: pytest.Pytester) -> None:
    """tests/conftest.py keeps spec files under tests/ out of collection."""
    tests = pytester.path / "tests"
    (tests / "corpus").mkdir(parents=True)
    (tests / "corpus" / "mini.thp").write_text(MINI, encoding="utf-8")
    ours = (HERE / "conftest.py").read_text(encoding="utf-8")
    setting = next(line for line in ours.splitlines() if line.startswith("collect_ignore"))
    (tests / "conftest.py").write_text(setting + "\n", encoding="utf-8")
    result = pytester.runpytest(*_args("--collect-only", "-q", "tests/"))
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()
    _specs(pytester)
    result = pytester.runpytest(*_args("--collect-only", "-q", "specs/", "tests/"))
    result.stdout.fnmatch_lines(["6 tests collected*"])


def test_verdicts_come_from_the_result_cache_check_uses(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(pytester.path / "cache"))
    _specs(pytester)
    pytester.runpytest(*_args("specs/")).assert_outcomes(passed=6)

    def unsolvable(self: object, inst: object) -> object:
        raise AssertionError("solved again")

    monkeypatch.setattr(solver.Solver, "check", unsolvable)
    pytester.runpytest(*_args("specs/")).assert_outcomes(passed=6)  # every verdict read back
    pytester.runpytest(*_args("specs/", "--thpverify-no-cache")).assert_outcomes(failed=6)
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", "off")
    pytester.runpytest(*_args("specs/")).assert_outcomes(failed=6)
