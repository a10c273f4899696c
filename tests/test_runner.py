"""The runner's chunks and the result cache: the same answers however they are reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS, run_cli

from thpverify.infra import cache
from thpverify.infra.runner import check_all, chunks
from thpverify.lang.library import load_library


def test_forked_chunks_answer_as_in_process() -> None:
    paths = [CORPUS / "mini.thp"]
    lib = load_library(paths)
    assert len(chunks(lib)) >= 2  # else the forked path below is not exercised
    here = check_all(lib, jobs=1, min_parallel=10**9)
    one = check_all(lib, jobs=1, min_parallel=0)
    two = check_all(lib, jobs=2, min_parallel=0)
    assert here == one == two
    names = [(p, i.version) for p, prop in lib.properties.items() for i in prop.instances]
    assert [(v.property_name, v.version) for v in two] == names  # library order


def test_warm_run_reads_the_cache_and_a_change_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(tmp_path / "cache"))
    spec = tmp_path / "mini.thp"
    spec.write_text((CORPUS / "mini.thp").read_text(encoding="utf-8"), encoding="utf-8")
    cold = run_cli("check", str(spec))
    cold_json = run_cli("check", "--json", str(spec))
    assert cold[0] == 0

    import thpverify.infra.runner

    solved: list[object] = []
    real = thpverify.infra.runner.check_all

    def counting(*args: object, **kwargs: object) -> object:
        solved.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(thpverify.infra.runner, "check_all", counting)
    assert run_cli("check", str(spec)) == cold
    assert run_cli("check", "--json", str(spec)) == cold_json
    assert solved == []

    spec.write_text(spec.read_text(encoding="utf-8") + "\n// edited\n", encoding="utf-8")
    assert run_cli("check", str(spec))[0] == 0
    assert len(solved) == 1


def test_cache_off_and_damaged_entries_are_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", "off")
    assert cache.directory() is None
    where = tmp_path / "cache"
    monkeypatch.setenv("THPVERIFY_CACHE_DIR", str(where))
    source = (CORPUS / "mini.thp").read_text(encoding="utf-8")
    key = cache.key({"mini": source})
    assert key != cache.key({"mini": source + "x"})
    assert cache.load(key) is None
    cache.store(key, {"payload": [1, "two"]})
    assert cache.load(key) == {"payload": [1, "two"]}
    entry = where / f"{key}.json"
    entry.write_bytes(entry.read_bytes().replace(b"two", b"TWO"))
    assert cache.load(key) is None  # the entry's own digest no longer matches


def test_known_verdicts_are_kept_and_the_rest_answer_as_in_a_full_run() -> None:
    lib = load_library([CORPUS / "mini.thp"])
    full = check_all(lib, jobs=1, min_parallel=10**9)
    items = [(p, i) for p, prop in lib.properties.items() for i in range(len(prop.instances))]
    known = {item: v for n, (item, v) in enumerate(zip(items, full, strict=True)) if n % 3 == 1}
    assert len(chunks(lib, known)) == len(chunks(lib))  # every version keeps a check to make
    for jobs, min_parallel in ((1, 10**9), (2, 0)):
        assert check_all(lib, jobs=jobs, min_parallel=min_parallel, known=known) == full
    assert check_all(lib, known=dict(zip(items, full, strict=True))) == full  # nothing left to check
