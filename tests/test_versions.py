"""`thpverify versions`: goldens on a small corpus, and the bundled library's own sources."""

from __future__ import annotations

import json
import re

from conftest import golden, run_cli

from thpverify import model as m
from thpverify.cli.versions import catalogue


def test_versions_text_golden() -> None:
    code, out, err = run_cli("versions", "--spec", "tests/corpus/versions.thp")
    assert code == 0, err
    golden("versions_corpus.txt", out)


def test_versions_json_golden() -> None:
    code, out, _ = run_cli("versions", "--json", "--spec", "tests/corpus/versions.thp")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "thpverify/2"
    assert [(v["name"], v["status"]) for v in doc["versions"]] == [("v1.0", "read"), ("v1.0-fix", "patch"), ("v1.1", "inferred")]
    golden("versions_corpus.json", out)


def test_inferred_version_does_not_inherit_its_base_tree() -> None:
    _, out, _ = run_cli("versions", "--json", "--spec", "tests/corpus/versions.thp")
    inferred = json.loads(out)["versions"][2]
    assert inferred["repository"] == "" and inferred["commit"] == "" and inferred["extends"] == "v1.0"


def test_versions_bad_spec_is_a_spec_error() -> None:
    code, _, err = run_cli("versions", "--spec", "tests/corpus/no-such.thp")
    assert code == 2 and "no such file" in err


def test_bundled_versions_name_their_source(lib: m.Library) -> None:
    entries = catalogue(lib)
    assert {e.status for e in entries} <= {"read", "patch", "inferred"}
    for e in entries:
        if e.status == "inferred":
            assert e.note, f"{e.name} is inferred and says nothing of what from"
        else:
            assert re.fullmatch(r"[0-9a-f]{40}", e.commit), f"{e.name} names no full commit"
            assert "/" in e.repository
    releases = [tuple(int(x) for x in re.findall(r"\d+", e.release)[:3]) for e in entries if e.status != "patch"]
    assert releases == sorted(releases)
