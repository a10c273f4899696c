"""Observed facts -> the model's atoms: `observe` maps one VMA, the
system settings and the process's bits to known atoms, and says why each
atom it cannot see stays unknown.

Kernel facts (Linux 6.18.2, gfunkmonk/linux-6.18.2 @57dc26c98e5e):
- the geometry atoms (`pgoff_aligned`, `block_fits`, `within_size`) are
  computed by kernel/geometry.py, with the kernel's arithmetic;
- mm/shmem.c shmem_mmap 2929-2939 (an inode unlinked at mmap time gets
  shmem_anon_vm_ops, so memfd and shared anonymous memory are
  `vma_is_anon_shmem`), shmem_zero_setup 5887-5908, and the internal mount's
  `huge` following shmem_enabled unless deny/force (5434-5438, 5501-5503).
- include/linux/mm.h vma_is_temporary_stack 878-890 with
  VM_STACK_INCOMPLETE_SETUP 451, 475: grows-down with both `sr` and `rr`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import geometry
from .geometry import within_size
from .proc import Mount, Vma
from .settings import Process, Settings

# VmFlags mnemonics (fs/proc/task_mmu.c 1139-1192) -> the vocabulary's bits.
FLAG_ATOMS = {"hg": "VM_HUGEPAGE", "nh": "VM_NOHUGEPAGE", "io": "VM_IO", "de": "VM_DONTEXPAND",
              "pf": "VM_PFNMAP", "mm": "VM_MIXEDMAP", "ht": "VM_HUGETLB", "ex": "VM_EXEC"}


def pgoff_aligned(v: Vma) -> int:
    """The pgoff test per order (geometry.pgoff_aligned)."""
    return geometry.pgoff_aligned(v.start, v.pgoff)


def block_fits(v: Vma) -> int:
    """The range test per order at vm_end - size, unsigned wrap included (geometry.block_fits)."""
    return geometry.block_fits(v.start, v.end)


@dataclass(frozen=True)
class Observation:
    """The model's inputs for one VMA: known atoms, and what stays unknown and why."""

    kind: str  # a short description: "anonymous", "memfd (shmem)", ...
    known: tuple[tuple[str, bool | str | int], ...]
    unknown: tuple[tuple[str, str], ...]  # atom, why it cannot be observed


_SPECIAL_NAMES = ("[vdso]", "[vvar]", "[vvar_vclock]", "[uprobes]", "[sigpage]", "[vectors]")


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    best: Mount | None = None
    for mt in mounts:
        p = mt.point.rstrip("/") or "/"
        if (path == p or path.startswith(p.rstrip("/") + "/")) and (best is None or len(p) >= len(best.point.rstrip("/") or "/")):
            best = mt
    return best


def observe(v: Vma, s: Settings, proc: Process, i_size: int | None = None) -> Observation:
    """Map one VMA's observable facts to atoms of the vocabulary."""
    known: dict[str, bool | str | int] = {"caller": "smaps"}
    unknown: dict[str, str] = {}
    flags = set(v.vmflags)
    for mnemonic, atom in FLAG_ATOMS.items():
        known[atom] = mnemonic in flags
    known["vma_VM_HUGEPAGE"] = known["VM_HUGEPAGE"]
    known["vma_VM_NOHUGEPAGE"] = known["VM_NOHUGEPAGE"]
    # The temporary stack only exists while exec sets it up (mm.h 878-890).
    known["vma_is_temporary_stack"] = "gd" in flags and "sr" in flags and "rr" in flags
    if s.sysfs:  # hugepage_init returns before creating sysfs when the hardware has no THP
        known["thp_unsupported"] = False
    else:
        unknown["thp_unsupported"] = "no /sys/kernel/mm/transparent_hugepage"
    if s.thp_enabled is not None:
        known["thp_enabled"] = s.thp_enabled
    if s.shmem_enabled is not None:
        known["shmem_enabled"] = s.shmem_enabled
    for key, atom in (("always", "huge_anon_orders_always"), ("madvise", "huge_anon_orders_madvise"),
                      ("inherit", "huge_anon_orders_inherit")):
        if key in s.anon:
            known[atom] = s.anon[key]
    for key, atom in (("always", "huge_shmem_orders_always"), ("madvise", "huge_shmem_orders_madvise"),
                      ("inherit", "huge_shmem_orders_inherit"), ("within_size", "huge_shmem_orders_within_size")):
        if key in s.shmem:
            known[atom] = s.shmem[key]
    if s.read_only_thp_for_fs is None:
        unknown["CONFIG_READ_ONLY_THP_FOR_FS"] = "no /proc/config.gz"
    else:
        known["CONFIG_READ_ONLY_THP_FOR_FS"] = s.read_only_thp_for_fs
    # THP is built in when its sysfs directory exists (mm/huge_memory.c, hugepage_init).
    if s.sysfs:
        known["CONFIG_TRANSPARENT_HUGEPAGE"] = True
    for name in ("CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_FS_DAX", "CONFIG_SHMEM"):
        if name in s.kconfig:
            known.setdefault(name, s.kconfig[name])
        elif name not in known:
            unknown[name] = "no /proc/config.gz or /boot/config-RELEASE"
    # Only secretmem and guest_memfd files have anonymous inodes (7.0+).
    known["IS_ANON_FILE"] = v.path.startswith(("/secretmem", "anon_inode:"))
    if proc.disable_completely is None:
        unknown["MMF_DISABLE_THP"] = "no THP_enabled line in /proc/PID/status"
    else:
        known["MMF_DISABLE_THP"] = proc.disable_completely
    if proc.disable_except_advised is None:
        unknown["MMF_DISABLE_THP_EXCEPT_ADVISED"] = "only the process itself can read it (PR_GET_THP_DISABLE)"
    else:
        known["MMF_DISABLE_THP_EXCEPT_ADVISED"] = proc.disable_except_advised
    if v.inode == 0 and v.dev == "00:00":  # no file: show_map_vma prints offset 0 (fs/proc/task_mmu.c 469-479)
        unknown["pgoff_aligned"] = "smaps shows no vm_pgoff for a VMA without a file"
    else:
        known["pgoff_aligned"] = pgoff_aligned(v)
    known["block_fits"] = block_fits(v)
    known["vm_mm"] = v.path != "[vsyscall]"  # the gate VMA has no mm
    anon_kb = v.kb("Anonymous")
    if anon_kb:
        known["anon_vma"] = True  # anonymous pages need an anon_vma
    kind = _classify(v, s, known, unknown, i_size)
    for atom in ("anon_vma", "huge_fault", "vma_is_dax", "inode_is_open_for_write", "within_size", "S_ISREG",
                 "vma_is_anon_shmem", "tmpfs_huge", "shmem_file", "vma_is_anonymous", "vm_file"):
        if atom not in known and atom not in unknown:
            unknown[atom] = "not visible in smaps"
    return Observation(kind, tuple(sorted(known.items())), tuple(sorted(unknown.items())))


def _classify(v: Vma, s: Settings, known: dict[str, bool | str | int], unknown: dict[str, str], i_size: int | None) -> str:
    path = v.path
    internal_huge = s.shmem_enabled if s.shmem_enabled in ("always", "within_size", "advise", "never") else None

    def not_file() -> None:
        known.update(vm_file=False, shmem_file=False, vma_is_dax=False, vma_is_anon_shmem=False, vma_is_shmem=False)

    def shmem(anon_shmem: bool | None, huge: str | None, why_huge: str) -> None:
        known.update(vm_file=True, vma_is_anonymous=False, shmem_file=True, vma_is_dax=False, huge_fault=False, S_ISREG=True)
        if anon_shmem is None:
            unknown["vma_is_anon_shmem"] = "deleted: unlinked before or after mmap"
        else:
            known["vma_is_anon_shmem"] = anon_shmem
            if anon_shmem:
                known["vma_is_shmem"] = True
        if huge is None:
            unknown["tmpfs_huge"] = why_huge
        else:
            known["tmpfs_huge"] = huge
        if i_size is None:
            unknown["within_size"] = "the file's i_size is not in smaps"
        else:
            known["within_size"] = within_size(v.pgoff, i_size)

    if v.path == "[vsyscall]":
        not_file()
        known["vma_is_anonymous"] = False
        return "gate VMA (vsyscall)"
    if path in _SPECIAL_NAMES:
        not_file()
        known["vma_is_anonymous"] = False  # special mappings have vm_ops
        return "special mapping " + path
    if v.inode == 0 and (path == "" or path in ("[heap]", "[stack]") or path.startswith("[anon:")):
        not_file()
        known["vma_is_anonymous"] = True
        known["huge_fault"] = False
        return "anonymous" + (" " + path if path else "")
    if path.startswith("[anon_shmem:") or (path == "/dev/zero (deleted)" and v.shared):
        shmem(True, internal_huge, "shmem_enabled is deny/force")
        return "shared anonymous (shmem)"
    if path == "/dev/zero" and not v.shared:
        known.update(vm_file=True, vma_is_anonymous=True, shmem_file=False, vma_is_dax=False, vma_is_anon_shmem=False,
                     vma_is_shmem=False, huge_fault=False, S_ISREG=False)
        return "private /dev/zero (anonymous)"
    if path.startswith("/memfd:"):
        if "ht" in v.vmflags:
            known.update(vm_file=True, vma_is_anonymous=False, shmem_file=False, vma_is_dax=False, vma_is_anon_shmem=False)
            return "memfd (hugetlbfs)"
        shmem(True, internal_huge, "shmem_enabled is deny/force")
        return "memfd (shmem)"
    if path.startswith("/SYSV"):
        shmem(False, internal_huge, "shmem_enabled is deny/force")
        return "SysV shm (shmem)"
    deleted = path.endswith(" (deleted)")
    real = path[: -len(" (deleted)")] if deleted else path
    mt = mount_of(real, s.mounts) if real.startswith("/") else None
    if mt is not None and mt.fstype == "tmpfs":
        huge = mt.option("huge")
        shmem(None if deleted else False, huge or "never", "")
        return f"tmpfs file (shmem, huge={huge or 'never'})"
    known["vm_file"] = True
    if mt is not None and mt.fstype in ("devtmpfs", "proc", "sysfs", "debugfs", "tracefs") or real.startswith("/dev/"):
        return "device or special file"
    known.update(vma_is_anonymous=False, shmem_file=False, vma_is_anon_shmem=False, S_ISREG=True)
    unknown["vma_is_dax"] = "DAX is not shown in smaps"
    unknown["huge_fault"] = "the file system's vm_ops are not visible"
    unknown["inode_is_open_for_write"] = "writers of the file are not visible"
    return f"file on {mt.fstype}" if mt else "file"
