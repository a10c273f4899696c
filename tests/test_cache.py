"""Incremental checking: a verdict per check under the digest of its cone,
and a warm check replayed only when every file it read is found unchanged."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

import thpverify.infra.runner
from thpverify.infra import cache, cone, warm
from thpverify.lang.library import load_library

CLI = importlib.import_module("thpverify.cli.main")  # the module (thpverify.cli.main is also the function's name)

VOCAB = """\
atom caller: enum {page_fault, smaps};
atom special, hugepage, disabled, anonymous: bool;
assume special_not_anonymous "special mappings are file mappings": special -> !anonymous;
"""
OLD = """\
import "vocab.thp";
version "old" {
  release "1.0";
  predicate eligible() -> bool from check in "mm/x.c" lines 10..20 {
    off @11: if (disabled) return false;
    special @12..13: if (special) return false;
    @14: return caller == page_fault && hugepage;
  }
}
"""
NEW = """\
import "vocab.thp";
version "new" {
  release "2.0";
  predicate eligible() -> bool from check in "mm/x.c" lines 10..20 {
    off @11: if (disabled) return false;
    special @12..13: if (special && caller != page_fault) return false;
    @14: return caller == page_fault && hugepage;
  }
}
"""
PROPS = """\
import "vocab.thp";
import "old.thp";
import "new.thp";
property disabled_wins "disabled always wins" { prove disabled -> !eligible; expect holds; }
property special_fault "a special mapping with hugepage may fault huge" {
  callers page_fault;
  given !disabled;
  prove special && hugepage -> eligible;
  expect fails on "old";
  expect holds on "new";
}
property impossible "an anonymous special mapping" { prove special && anonymous -> eligible; expect vacuous; }
"""


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "specs"
    folder.mkdir()
    for name, text in (("vocab.thp", VOCAB), ("old.thp", OLD), ("new.thp", NEW), ("props.thp", PROPS)):
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(property, version) of every check actually solved."""
    made: list[tuple[str, str]] = []
    real = thpverify.infra.runner.check_chunk

    def counting(lib: object, chunk: tuple[tuple[str, int], ...], share: object = None) -> object:
        verdicts = real(lib, chunk, share)  # type: ignore[arg-type]
        made.extend((v.property_name, v.version) for v in verdicts)
        return verdicts

    monkeypatch.setattr(thpverify.infra.runner, "check_chunk", counting)
    return made


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """One entry each time `check` loads the specs (a replay does not)."""
    made: list[object] = []
    real = CLI.checked

    def counting(*args: object, **kwargs: object) -> object:
        made.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(CLI, "checked", counting)
    return made


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_edit_rechecks_only_the_checks_that_read_it(specs: Path, solved: list[tuple[str, str]]) -> None:
    props = str(specs / "props.thp")
    first = run_cli("check", "--json", props)
    assert first[0] == 0 and len(solved) == 6
    solved.clear()
    (specs / "new.thp").write_text(NEW + "// a comment after the last rule moves nothing\n", encoding="utf-8")
    assert run_cli("check", "--json", props) == first
    assert solved == []  # the same cones: every verdict from the cache
    _edit(specs / "new.thp", "special && caller != page_fault", "special && caller != smaps")
    edited = run_cli("check", "--json", props)
    assert sorted(solved) == [("disabled_wins", "new"), ("impossible", "new"), ("special_fault", "new")]
    assert edited == run_cli("check", "--json", "--no-cache", props)
    assert edited[0] == 10  # special_fault on new is refuted now
    solved.clear()
    (specs / "old.thp").write_text("// a line above the rules moves them\n" + OLD, encoding="utf-8")
    moved = run_cli("check", props)
    assert sorted(solved) == [("disabled_wins", "old"), ("impossible", "old"), ("special_fault", "old")]
    assert moved == run_cli("check", "--no-cache", props) and "old.thp:7" in run_cli("check", "-v", props)[1]


def test_the_vocabulary_and_the_tool_are_in_every_key(specs: Path) -> None:
    lib = load_library([specs / "props.thp"])
    keys = cone.instance_keys(lib, "tool")
    assert len(set(keys.values())) == 6 and keys == cone.instance_keys(lib, "tool")
    assert set(keys.values()).isdisjoint(cone.instance_keys(lib, "another tool").values())
    _edit(specs / "vocab.thp", "atom special,", "atom unused: bool;\natom special,")
    assert set(keys.values()).isdisjoint(cone.instance_keys(load_library([specs / "props.thp"]), "tool").values())


def test_a_warm_check_replays_every_format_byte_for_byte(specs: Path, loads: list[object], tmp_path: Path) -> None:
    props = str(specs / "props.thp")
    for argv in (["check"], ["check", "-v"], ["check", "--json"], *(["check", "--format", f] for f in ("junit", "sarif", "markdown"))):
        cold = run_cli(*argv, "--no-cache", props)
        assert run_cli(*argv, props) == cold  # solved (or read verdict by verdict) and recorded
        count = len(loads)
        assert run_cli(*argv, props) == cold  # replayed
        assert len(loads) == count, argv
    target = tmp_path / "report.xml"
    cold = run_cli("check", "--format", "junit", "-o", str(target), props)
    written = target.read_bytes()
    target.unlink()
    count = len(loads)
    assert run_cli("check", "--format", "junit", "-o", str(target), props) == cold
    assert len(loads) == count and target.read_bytes() == written


def test_a_warm_check_falls_back_when_a_file_changes_even_with_its_size_and_time(specs: Path, loads: list[object]) -> None:
    props = str(specs / "props.thp")
    assert run_cli("check", props)[0] == 0
    assert run_cli("check", props)[0] == 0
    count = len(loads)
    path = specs / "props.thp"
    st = path.stat()
    _edit(path, "expect holds; }", "expect fails; }")  # as long as before
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    code, out, _ = run_cli("check", props)
    assert code == 10 and "UNEXPECTED" in out and len(loads) == count + 1
    (specs / "old.thp").unlink()
    code, _, err = run_cli("check", props)
    assert code == 2 and "old.thp" in err


def test_a_new_file_that_shadows_an_import_is_a_miss(specs: Path, tmp_path: Path, loads: list[object]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "top.thp").write_text('import "props.thp";\n', encoding="utf-8")
    argv = ("check", "-I", str(specs), str(mine / "top.thp"))
    assert run_cli(*argv)[0] == 0
    assert run_cli(*argv)[0] == 0
    count = len(loads)
    (mine / "new.thp").write_text(NEW, encoding="utf-8")  # props.thp finds new.thp in its own directory first
    assert run_cli(*argv)[0] == 0 and len(loads) == count
    (mine / "props.thp").write_text(PROPS.replace("expect holds; }", "expect fails; }"), encoding="utf-8")
    code, out, _ = run_cli(*argv)
    assert len(loads) == count + 1 and code == 10  # top.thp now imports mine/props.thp
    # (a re-pointed link: tests/test_hardening.py, test_a_repointed_import_link_is_not_a_stale_proof)


def test_damaged_tampered_or_oversized_entries_are_misses(specs: Path, monkeypatch: pytest.MonkeyPatch,
                                                          solved: list[tuple[str, str]]) -> None:
    props = str(specs / "props.thp")
    first = run_cli("check", "--json", props)
    where = Path(os.environ["THPVERIFY_CACHE_DIR"])
    entries = sorted(where.glob("*.json"))
    assert len(entries) >= 7  # six verdicts and the replay
    for entry in entries:
        doc = json.loads(entry.read_bytes())
        payload = doc["entry"]["payload"]
        if isinstance(payload, dict) and "output" in payload:
            payload["output"][0] = "forged"
        else:
            doc["entry"]["payload"] = "forged"
        entry.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")), encoding="utf-8")  # the digest no longer matches
    solved.clear()
    assert run_cli("check", "--json", props) == first and len(solved) == 6
    monkeypatch.setattr(cache, "MAX_ENTRY", 16)
    solved.clear()
    assert run_cli("check", "--json", props) == first and len(solved) == 6
    assert cache.load_many(["not hex", "0" * 64]) == {}


def test_a_replay_entry_in_a_wrong_shape_is_a_miss(specs: Path) -> None:
    k = warm.key({"test": True})
    props = str(specs / "props.thp")
    for payload in ({"named": [], "dirs": [], "files": [], "output": ["a", "b", None, 0]},  # records no file read
                    {"named": [[props, "yes"]], "dirs": [], "files": [], "output": []},
                    {"named": [[props, False]], "dirs": [1], "files": [[1, 2]], "output": None},
                    {"named": [[props, False]], "dirs": [], "files": [], "output": ["a", "", None, 0]}, [], "x"):
        cache.store(k, payload)
        assert warm.replay(k) is None


def test_a_warm_check_imports_neither_lark_nor_z3(specs: Path) -> None:
    props = str(specs / "props.thp")
    assert run_cli("check", props)[0] == 0
    probe = ("import sys\nfrom thpverify.cli.main import main\ncode = main(['check', sys.argv[1]])\n"
             "print(code, sorted(m for m in ('lark', 'z3', 'dd', 'tree_sitter') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe, props], capture_output=True, text=True, check=True, env=os.environ)
    assert done.stdout.splitlines()[-1] == "0 []"


def test_with_the_cache_off_every_check_is_made(specs: Path, monkeypatch: pytest.MonkeyPatch, solved: list[tuple[str, str]]) -> None:
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", "off")
    props = str(specs / "props.thp")
    assert run_cli("check", props) == run_cli("check", props)
    assert len(solved) == 12 and warm.key({}) is None


def test_a_process_loads_the_same_specs_once_while_they_are_unchanged(specs: Path) -> None:
    from thpverify.cli.common import library

    props = specs / "props.thp"
    first = library([props])
    assert library([props]) is first
    path = specs / "old.thp"
    st = path.stat()
    _edit(path, "release \"1.0\"", "release \"1.1\"")  # as long as before, at the same time
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = library([props])
    assert again is not first and again.versions["old"].get("release") == "1.1"


def test_past_max_entries_the_oldest_go(specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 10)
    cache.store_many({f"{n:064x}": n for n in range(10)})
    where = Path(os.environ["THPVERIFY_CACHE_DIR"])
    for n in range(10):
        os.utime(where / f"{n:064x}.json", (1000 + n, 1000 + n))
    cache.store_many({f"{n:064x}": n for n in (98, 99)})
    kept = sorted(int(p.stem, 16) for p in where.glob("*.json"))
    assert kept == [4, 5, 6, 7, 8, 9, 98, 99] and cache.load(f"{99:064x}") == 99
