"""The fault probe: one fault on a fresh mapping, then smaps' PMD counters.

Each case maps a fresh region (anonymous, shmem or a regular file), touches
one address once, by a read or a write, and reads its own smaps entry: a
PMD-mapped page shows in AnonHugePages, ShmemPmdMapped or FilePmdMapped
(fs/proc/task_mmu.c 6.18.2 smaps_pmd_entry 1002-1036). The model's
`fault_tries_huge` on the same inputs must match: a PMD mapping where it
says true, none where it says false. A true answer without a PMD mapping
agrees only if a THP fallback counter of /proc/vmstat rose around the
touch (the allocation was tried and failed).

What the probe knows of each fault: the page cache of a fresh file is
empty and holds no PMD folio; the PMD entry of a fresh slot of the
reservation is empty; the faulting index is vm_pgoff plus the address's
page offset. Facts of the kernel it relies on (Linux 6.18.2,
gfunkmonk/linux-6.18.2 @57dc26c98e5e), besides conform's:
- fs/ext4/file.c 801-805: ext4_file_vm_ops' fault is filemap_fault;
- fs/ext4/inode.c ext4_should_enable_large_folio 5149-5164: a regular ext4
  file takes large folios unless the mount journals data or the file system
  has the verity or encrypt feature (those two are not visible here and are
  taken to be off); before 6.16 ext4 has no large folios (taken as unknown).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import geometry as g
from .child import in_child
from .conform import HUGE_OPTIONS, Case, MappingKind, MiB, _Libc, _make, _root_fs_dax, known_inputs
from .observe import mount_of
from .proc import Vma, parse_smaps, thp_vmstat
from .settings import Settings

PMD_FIELDS = ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped")
FALLBACKS = ("thp_fault_fallback", "thp_fault_fallback_charge", "thp_file_fallback", "thp_file_fallback_charge")


@dataclass(frozen=True)
class FaultCase:
    """A fresh mapping (as conform makes it) and the one touch it gets."""

    mapping: Case
    at: int  # offset of the faulting address in the mapping
    write: bool

    @property
    def name(self) -> str:
        return self.mapping.name


def _case(name: str, kind: MappingKind, at: int, write: bool, **kw: Any) -> FaultCase:
    shared = kind in (MappingKind.SHARED_ANON, MappingKind.MEMFD, MappingKind.MOUNT_FILE) and not kw.pop("private", False)
    return FaultCase(Case(name, kind, kw.pop("length", 4 * MiB), shared=shared, **kw), at, write)


def fault_cases(root: bool) -> list[FaultCase]:
    """Anonymous memory, shmem and regular files; the tmpfs huge= mounts need root."""
    out = [
        _case("anon 4 MiB MADV_HUGEPAGE write", MappingKind.ANON, MiB, True, advice=("hg",)),
        _case("anon 4 MiB no advice write", MappingKind.ANON, MiB, True),
        _case("anon 4 MiB MADV_NOHUGEPAGE write", MappingKind.ANON, MiB, True, advice=("nh",)),
        _case("anon 1.5 MiB MADV_HUGEPAGE write", MappingKind.ANON, 0, True, advice=("hg",), length=3 * MiB // 2),
        # The VMA starts a page past a PMD boundary: the first block does not fit, the second does.
        _case("anon 4 MiB at +4K MADV_HUGEPAGE write in the first block", MappingKind.ANON, 0, True, advice=("hg",), offset=g.PAGE),
        _case("anon 4 MiB at +4K MADV_HUGEPAGE write in the second block", MappingKind.ANON, 2 * MiB, True, advice=("hg",),
              offset=g.PAGE),
        _case("shared anon 4 MiB MADV_HUGEPAGE write", MappingKind.SHARED_ANON, 0, True, advice=("hg",)),
        _case("shared anon 4 MiB no advice write", MappingKind.SHARED_ANON, 0, True),
        _case("memfd 4 MiB MADV_HUGEPAGE write", MappingKind.MEMFD, 0, True, advice=("hg",), file_size=4 * MiB),
        _case("memfd 4 MiB read", MappingKind.MEMFD, 0, False, file_size=4 * MiB),
        _case("root fs file MADV_HUGEPAGE read", MappingKind.ROOT_FILE, MiB, False, advice=("hg",), file_size=4 * MiB),
        _case("root fs file no advice read", MappingKind.ROOT_FILE, MiB, False, file_size=4 * MiB),
        _case("root fs file MADV_HUGEPAGE at pgoff 1 read", MappingKind.ROOT_FILE, 0, False, advice=("hg",), file_size=4 * MiB + g.PAGE,
              pgoff=1),
        _case("root fs file MADV_HUGEPAGE beyond a PMD of file read", MappingKind.ROOT_FILE, 0, False, advice=("hg",),
              file_size=MiB, length=2 * MiB),
    ]
    if root:
        for huge in HUGE_OPTIONS:
            for adv in ((), ("hg",)):
                tag = "+".join(adv) or "no advice"
                out.append(_case(f"tmpfs huge={huge} {tag} write", MappingKind.MOUNT_FILE, MiB, True, advice=adv, huge=huge,
                                 file_size=4 * MiB))
        out += [
            _case("tmpfs huge=always read", MappingKind.MOUNT_FILE, 0, False, huge="always", file_size=4 * MiB),
            _case("tmpfs huge=always private write", MappingKind.MOUNT_FILE, 0, True, huge="always", file_size=4 * MiB, private=True),
            _case("tmpfs huge=always at pgoff 1 write", MappingKind.MOUNT_FILE, 0, True, huge="always", file_size=8 * MiB, pgoff=1),
            _case("tmpfs huge=within_size 3 MiB file write in the first block", MappingKind.MOUNT_FILE, 0, True, huge="within_size",
                  file_size=3 * MiB),
            _case("tmpfs huge=within_size 3 MiB file write in the second block", MappingKind.MOUNT_FILE, 2 * MiB, True,
                  huge="within_size", file_size=3 * MiB),
        ]
    return out


# ------------------------------------------------------------------ the child


def touch(addr: int, write: bool, counters: Sequence[str]) -> int:
    """One read or write at addr; how much the given counters rose meanwhile."""
    before = thp_vmstat()
    if write:
        ctypes.memset(addr, 1, 1)
    else:
        ctypes.string_at(addr, 1)
    after = thp_vmstat()
    return sum(after.get(k, 0) - before.get(k, 0) for k in counters)


def _child(todo: Sequence[FaultCase], workdir: str) -> dict[str, Any]:
    from .conform import SLOT, child_mounts, slots

    libc = _Libc()
    out: dict[str, Any] = {"starts": {}, "errors": {}, "fallback": {}}
    mounts, todo = child_mounts(libc, workdir, todo, lambda k: k.mapping.kind, out)
    with slots(libc, len(todo)) as where:
        for i, k in enumerate(todo):
            addr = where.base + i * SLOT + k.mapping.offset
            try:
                _make(libc, k.mapping, addr, workdir, mounts, where.keep, where.linked)
                out["starts"][k.name] = addr
                out["fallback"][k.name] = touch(addr + k.at, k.write, FALLBACKS)
            except OSError as exc:
                out["errors"][k.name] = str(exc)
        out["smaps"] = Path("/proc/self/smaps").read_text()
    return out


# ------------------------------------------------------------------ what the probe knows


@dataclass(frozen=True)
class FaultOutcome:
    case: FaultCase
    vma: Vma | None
    known: tuple[tuple[str, bool | str | int], ...]
    fallback: int = 0  # how much the THP fallback counters rose around the touch
    skipped: str = ""
    result: Any = None  # EvalResult

    @property
    def pmd_kb(self) -> int | None:
        return None if self.vma is None else sum(self.vma.kb(f) or 0 for f in PMD_FIELDS)

    @property
    def status(self) -> str:
        r = self.result
        if self.skipped:
            return "skipped"
        if r is None or self.pmd_kb is None:
            return "undecided"
        if r.contradicts:
            return "DISAGREE"
        if r.value is None:
            return "undecided"
        mapped = self.pmd_kb > 0
        if r.value is True:
            return "agree" if mapped or self.fallback > 0 else "DISAGREE"
        return "DISAGREE" if mapped else "agree"


def large_folios(settings: Settings, workdir: str) -> bool | None:
    """Whether a new regular file under workdir takes large folios, where known (ext4 only)."""
    mt = mount_of(workdir, settings.mounts)
    if mt is None or mt.fstype != "ext4":
        return None
    release = re.match(r"(\d+)\.(\d+)", settings.kernel or "")
    if release is None or (int(release[1]), int(release[2])) < (6, 16):
        return None
    return "data=journal" not in mt.options


def fault_inputs(k: FaultCase, start: int, settings: Settings, fs_dax: bool | None, folios: bool | None) -> dict[str, Any]:
    """The model's inputs for one fault: the mapping's (as conform knows them) and the fault's."""
    c = k.mapping
    known = known_inputs(c, "none", start, settings, fs_dax)
    addr = start + k.at
    index = c.pgoff + k.at // g.PAGE
    size = c.length if c.kind is MappingKind.SHARED_ANON else c.file_size
    known.update(caller="page_fault", fault_write=k.write, VM_SHARED=c.shared, pmd_none=True,
                 fault_block_fits=g.fault_fits(start, start + c.length, addr), pagecache_pmd_folio=False,
                 pagecache_range_empty=True, fault_within_size=g.within_size(index, size))
    if c.kind is MappingKind.ROOT_FILE:
        if known.get("vma_is_dax") is False:
            known["filemap_fault"] = True  # ext4_file_vm_ops
        if folios is not None:
            known["mapping_large_folio_support"] = folios
    else:
        known["filemap_fault"] = False
    return known


def probe(settings: Settings, root: bool | None = None) -> list[FaultOutcome]:
    """Run the child; the outcomes, without the model's answers."""
    root = os.geteuid() == 0 if root is None else root
    todo = fault_cases(root)
    workdir = tempfile.mkdtemp(prefix="thpverify-conform-", dir="/tmp")
    try:
        for huge in HUGE_OPTIONS:
            os.mkdir(os.path.join(workdir, "mnt-" + huge))
        fs_dax = _root_fs_dax(workdir, settings)
        folios = large_folios(settings, workdir)
        raw = in_child(functools.partial(_child, todo, workdir), lambda why: {"skipped": why},
                       {"skipped": "the child sent nothing"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcomes(todo, raw, settings, fs_dax, folios)


def outcomes(todo: Sequence[FaultCase], raw: dict[str, Any], settings: Settings, fs_dax: bool | None,
             folios: bool | None) -> list[FaultOutcome]:
    if "skipped" in raw:
        return [FaultOutcome(k, None, (), skipped=raw["skipped"]) for k in todo]
    vmas = {v.start: v for v in parse_smaps(raw["smaps"], "<smaps of the fault child>")}
    out = []
    for k in todo:
        why = raw["errors"].get(k.name) or (raw.get("mount_error", "") if k.mapping.kind is MappingKind.MOUNT_FILE else "")
        if why or k.name not in raw["starts"]:
            out.append(FaultOutcome(k, None, (), skipped=why or "not run"))
            continue
        start = raw["starts"][k.name]
        known = fault_inputs(k, start, settings, fs_dax, folios)
        out.append(FaultOutcome(k, vmas.get(start), tuple(sorted(known.items())), raw["fallback"][k.name]))
    return out


def answered(outs: Sequence[FaultOutcome], ask: Any) -> list[FaultOutcome]:
    """Each outcome with the model's answer (`ask(known)`)."""
    return [dataclasses.replace(o, result=ask(o.known)) if not o.skipped else o for o in outs]
