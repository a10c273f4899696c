"""fault_tries_huge: the fault path in the specs, and the live fault probe of `conform`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from thpverify import model as m
from thpverify.backend.solver import Solver
from thpverify.kernel import fault
from thpverify.kernel import geometry as g
from thpverify.kernel.settings import Settings
from thpverify.kernel.smaps import Explainer, pick_version
from thpverify.results import Fixed

FAULT_VERSIONS = ("v6.18", "v6.19", "v7.0", "v7.1")
MiB = 1 << 20


def test_the_fault_path_is_an_output_from_6_18_only(lib: m.Library) -> None:
    have = {v for v, ver in lib.versions.items() if "fault_tries_huge" in ver.outputs}
    assert have == set(FAULT_VERSIONS)


def test_fault_properties_are_vacuous_where_the_path_is_not_modelled(lib: m.Library) -> None:
    props = [p for p in lib.properties.values() if p.span.file.endswith("properties-fault.thp")]
    assert len(props) >= 10
    for p in props:
        for inst in p.instances:
            if inst.version not in FAULT_VERSIONS:
                assert inst.expected == "vacuous", (p.name, inst.version)


def _ask(lib: m.Library, version: str, **atoms: Any) -> Any:
    return Solver(lib).evaluate(version, "fault_tries_huge", [Fixed(a, None, v) for a, v in atoms.items()])


# A shared tmpfs huge=always file, fresh, faulted by a write at a fitting address.
TMPFS = dict(CONFIG_TRANSPARENT_HUGEPAGE=True, pmd_none=True, vma_is_anonymous=False, huge_fault=False, vm_file=True,
             shmem_file=True, vma_is_shmem=True, vma_is_anon_shmem=False, vma_is_dax=False, S_ISREG=True,
             filemap_fault=False, tmpfs_huge="always", shmem_enabled="never", thp_enabled="never", thp_unsupported=False,
             vma_VM_HUGEPAGE=False, vma_VM_NOHUGEPAGE=False, MMF_DISABLE_THP=False, MMF_DISABLE_THP_EXCEPT_ADVISED=False,
             pagecache_pmd_folio=False, pagecache_range_empty=True, fault_write=True, VM_SHARED=True,
             pgoff_aligned=g.order_mask(g.ORDERS), fault_block_fits=g.order_mask(range(1, 10)), vm_mm=True)


@pytest.mark.parametrize("version", FAULT_VERSIONS)
def test_tmpfs_always_is_decided_by_shmem_not_by_the_eligibility(lib: m.Library, version: str) -> None:
    r = _ask(lib, version, **TMPFS)
    assert (r.value, r.rule) == (True, "shmem")
    # The page-fault eligibility of the same VMA is false: thp_enabled=never.
    e = Solver(lib).evaluate(version, "eligible", [Fixed(a, None, v) for a, v in {**TMPFS, "caller": "page_fault"}.items()])
    assert e.value is False
    assert _ask(lib, version, **{**TMPFS, "VM_SHARED": False}).rule == "cow"
    assert _ask(lib, version, **{**TMPFS, "pagecache_range_empty": False}).value is False


def test_fault_inputs_place_the_fault() -> None:
    s = Settings("6.18.2", True, "madvise", "never", {"inherit": 1 << 9}, {}, False, ())
    case = next(k for k in fault.fault_cases(root=False) if k.name.endswith("write in the second block"))
    start = 64 * MiB + case.mapping.offset
    known = fault.fault_inputs(case, start, s, None, None)
    assert known["fault_block_fits"] >> g.PMD_ORDER & 1
    assert not g.fault_fits(start, start + case.mapping.length, start) >> g.PMD_ORDER & 1  # the first block
    assert known["caller"] == "page_fault" and known["VM_SHARED"] is False and known["filemap_fault"] is False
    beyond = next(k for k in fault.fault_cases(root=False) if "beyond a PMD" in k.name)
    known = fault.fault_inputs(beyond, 64 * MiB, s, False, True)
    assert not known["fault_within_size"] >> g.PMD_ORDER & 1
    assert known["filemap_fault"] and known["mapping_large_folio_support"]


def test_a_true_answer_needs_a_pmd_mapping_or_a_fallback() -> None:
    class R:
        contradicts = False

        def __init__(self, value: bool) -> None:
            self.value = value

    case = fault.fault_cases(root=False)[0]
    mapped = fault.Vma(0, 0, 4 * MiB, "rw-p", 0, "00:00", 0, "", (("AnonHugePages", 2048),), (), 0)
    small = fault.Vma(0, 0, 4 * MiB, "rw-p", 0, "00:00", 0, "", (("AnonHugePages", 0),), (), 0)
    status = [fault.FaultOutcome(case, v, (), fb, result=R(value)).status
              for v, fb, value in ((mapped, 0, True), (small, 0, True), (small, 1, True), (mapped, 0, False),
                                   (small, 0, False))]
    assert status == ["agree", "DISAGREE", "agree", "DISAGREE", "agree"]


def test_live(lib: m.Library) -> None:
    """Every fault on this machine as the model says, PMD-mapped and not."""
    from thpverify.kernel.settings import read_settings

    chosen = pick_version(lib, os.uname().release)
    if chosen not in FAULT_VERSIONS or not Path("/sys/kernel/mm/transparent_hugepage").is_dir():
        pytest.skip(f"the running kernel's model ({chosen}) has no fault path, or THP is not built")
    ex = Explainer(lib, chosen)
    outs = fault.answered(fault.probe(read_settings()), lambda known: ex.ask(known, "fault_tries_huge"))
    run = [o for o in outs if not o.skipped]
    assert len(run) > 10
    assert [o.case.name for o in run if o.status != "agree"] == []
    assert {bool(o.pmd_kb) for o in run} == {True, False}
    assert not [p for p in Path("/tmp").iterdir() if p.name.startswith("thpverify-conform-")]
