"""`thpverify conform`: replayed from a recorded run on this machine, and live where the kernel has a spec."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from thpverify import model as m
from thpverify.kernel import conform
from thpverify.kernel.proc import parse_smaps
from thpverify.kernel.settings import Settings
from thpverify.kernel.smaps import Explainer, pick_version

RECORDED = Path(__file__).parent / "fixtures" / "smaps" / "conform"


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((RECORDED / "conform.json").read_text())
    return doc


def inputs(doc: dict[str, Any], row: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted({**doc["common"], **row["known"]}.items())


def test_cases_are_many_and_distinct() -> None:
    names = [c.name for c in conform.cases(root=True)]
    assert len(names) == len(set(names))
    assert len(names) * len(conform.MODES) > 300
    assert len(conform.cases(root=False)) < len(names)  # the tmpfs mounts need root


def test_recorded_smaps_hold_every_case(recorded: dict[str, Any]) -> None:
    for mode in conform.MODES:
        doc = {**recorded["settings"], "mounts": recorded["settings"]["mounts"] + recorded["child_mounts"][mode]}
        settings = Settings.from_json(doc)  # with the child's private tmpfs mounts
        vmas = {v.start: v for v in parse_smaps((RECORDED / f"conform-{mode}.smaps").read_text())}
        rows = [r for r in recorded["cases"] if r["prctl"] == mode]
        assert len(rows) > 100
        for row in rows:
            v = vmas[int(row["start"], 16)]
            assert v.thp_eligible == row["kernel"], row["case"]
            known = dict(inputs(recorded, row))
            # what `smaps` alone would conclude never contradicts what the probe knows
            assert conform.classifier_mismatches(v, mode, settings, known) == [], row["case"]


def test_recorded_run_agreed(recorded: dict[str, Any]) -> None:
    assert all(r["model"] is bool(r["kernel"]) for r in recorded["cases"])
    assert {r["kernel"] for r in recorded["cases"]} == {0, 1}


def test_model_replays_the_recorded_answers(lib: m.Library, recorded: dict[str, Any]) -> None:
    """One case per (prctl, rule, answer): the model still gives the kernel's answer."""
    ex = Explainer(lib, "v6.18")
    seen = set()
    for row in recorded["cases"]:
        key = (row["prctl"], row["rule"], row["kernel"])
        if key in seen:
            continue
        seen.add(key)
        r = ex.ask(inputs(recorded, row))
        assert r.value is bool(row["kernel"]), row["case"]
    assert len(seen) >= 15


def test_a_wrong_input_is_caught(lib: m.Library, recorded: dict[str, Any]) -> None:
    """The comparison can fail: the same case with one fact wrong disagrees with the kernel."""
    ex = Explainer(lib, "v6.18")
    yes = next(r for r in recorded["cases"] if r["kernel"] == 1 and r["case"].startswith("tmpfs huge=always"))
    wrong = dict(inputs(recorded, yes))
    wrong["tmpfs_huge"] = "never"
    assert ex.ask(sorted(wrong.items())).value is False
    no = next(r for r in recorded["cases"] if r["kernel"] == 0 and r["case"] == "anon 2 MiB aligned hg+nh")
    wrong = dict(inputs(recorded, no))
    wrong.update(VM_NOHUGEPAGE=False, vma_VM_NOHUGEPAGE=False, VM_HUGEPAGE=True, vma_VM_HUGEPAGE=True)
    assert ex.ask(sorted(wrong.items())).value is True


def test_known_inputs_follow_the_last_advice() -> None:
    s = Settings("6.18.0", True, "madvise", "never", {"inherit": 1 << 9}, {}, False, ())
    case = conform.Case("x", conform.MappingKind.ANON, 2 << 20, advice=("nh", "hg"), stack=True)
    k = conform.known_inputs(case, "none", 4 << 20, s, False)
    assert (k["VM_HUGEPAGE"], k["VM_NOHUGEPAGE"]) == (True, False)
    stack = conform.known_inputs(conform.Case("y", conform.MappingKind.ANON, 2 << 20, stack=True), "except_advised", 4 << 20, s, False)
    assert stack["VM_NOHUGEPAGE"] and stack["MMF_DISABLE_THP_EXCEPT_ADVISED"]


def test_live(lib: m.Library) -> None:
    release = os.uname().release
    chosen = pick_version(lib, release)
    if chosen is None or chosen[1:] != ".".join(release.split(".")[:2]):
        pytest.skip(f"the running kernel {release} has no spec of its own")
    if "THPeligible" not in Path("/proc/self/smaps").read_text():
        pytest.skip("this kernel's smaps has no THPeligible line")
    before = Path("/proc/self/mounts").read_text()
    code, out, _ = run_cli("conform", "--no-sweep")
    assert code == 0, out
    last = " ".join(out.split("agreement: ")[1].split())
    n, _, total = last.split()[:3]
    assert n == total and int(n) > 100
    assert Path("/proc/self/mounts").read_text() == before
    assert not [p for p in Path("/dev/shm").iterdir() if p.name.startswith("thpverify-")]
    assert not [p for p in Path("/tmp").iterdir() if p.name.startswith("thpverify-conform-")]


def test_live_geometry_sweep_of_anonymous_mappings(lib: m.Library) -> None:
    """The anonymous half of conform's sweep (the tmpfs half needs root and a mount, and runs in `conform`)."""
    from thpverify.kernel.settings import read_settings
    from thpverify.kernel.smaps import Explainer
    from thpverify.kernel.sweep import run_sweep

    release = os.uname().release
    if pick_version(lib, release) != "v6.18" or "THPeligible" not in Path("/proc/self/smaps").read_text():
        pytest.skip(f"the running kernel {release} is not a 6.18 with THPeligible")
    settings = read_settings()
    ex = Explainer(lib, "v6.18")
    outs = [o for o in run_sweep(settings, int(Path("/proc/sys/vm/mmap_min_addr").read_text()), root=False) if not o.skipped]
    assert len(outs) > 300
    wrong = [o.case.name for o in outs if (ex.ask(o.known).value is True) != bool(o.vma and o.vma.thp_eligible)]
    assert not wrong
    assert any(o.vma is not None and o.vma.start < 1 << 21 and o.vma.thp_eligible for o in outs)  # the wrap, seen
