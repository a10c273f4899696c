"""The live conformance probe: mappings whose inputs are known, against smaps.

One child process per prctl mode creates every mapping (each in its own slot
of a PROT_NONE reservation, so that no two merge), reads its own
/proc/self/smaps and sends it back. The parent knows each case's inputs from
what the child did, not from smaps; it checks smaps' VmFlags against the flags
it expects, and compares THPeligible with the model. Nothing is written to
/sys or /proc/sys; the files live in one temporary directory that is removed,
and the tmpfs `huge=` mounts (root only) live in a private mount namespace
that dies with the child.

Facts of the kernel the probe relies on (Linux 6.18.2, gfunkmonk/linux-6.18.2
@57dc26c98e5e), besides those listed in smaps.py:
- include/linux/mman.h calc_vm_flag_bits 153-162: MAP_STACK sets VM_NOHUGEPAGE;
- mm/khugepaged.c hugepage_madvise 340-372: MADV_HUGEPAGE clears
  VM_NOHUGEPAGE and the reverse, so the last advice wins;
- fs/ext4/file.c 791-805: a non-DAX ext4 file gets ext4_file_vm_ops, which
  has no huge_fault (DAX itself is read with statx, STATX_ATTR_DAX);
- mm/shmem.c shmem_zero_setup 5887-5908: shared anonymous memory and shared
  /dev/zero are an unlinked shmem file of the mapping's size.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from .child import in_child
from .geometry import PAGE, within_size
from .observe import block_fits, observe, pgoff_aligned
from .proc import Vma, parse_mounts, parse_smaps
from .settings import Process, Settings

C = TypeVar("C")  # a probe's case

MiB = 1 << 20
SLOT = 8 * MiB
PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC = 0, 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_GROWSDOWN, MAP_NORESERVE, MAP_STACK = 0x100, 0x4000, 0x20000
MADV = {"hg": 14, "nh": 15}  # MADV_HUGEPAGE, MADV_NOHUGEPAGE
PR_SET_THP_DISABLE, PR_THP_DISABLE_EXCEPT_ADVISED = 41, 2
CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x20000, 0x4000, 0x40000
STATX_ATTR_DAX = 0x00200000
HUGE_OPTIONS = ("never", "always", "within_size", "advise")
MODES = ("none", "disable", "except_advised")


class MappingKind(StrEnum):
    """How a probe's mapping is made."""

    ANON = "anon"  # private anonymous memory
    DEVZERO = "devzero"  # /dev/zero, private or shared
    SHARED_ANON = "shared_anon"  # MAP_SHARED | MAP_ANONYMOUS
    MEMFD = "memfd"
    SHM_FILE = "shm_file"  # a file on /dev/shm
    ROOT_FILE = "root_file"  # a file on the root file system
    MOUNT_FILE = "mount_file"  # a file on a tmpfs mounted with huge=
    SYSV = "sysv"  # SysV shared memory
    NONE = "none"  # no mapping: a reproduction that needs none was planned


@dataclass(frozen=True)
class Case:
    """One mapping to create: how, and what the probe knows about it."""

    name: str
    kind: MappingKind
    length: int
    offset: int = 0  # from the slot's 4 MiB-aligned start
    advice: tuple[str, ...] = ()
    stack: bool = False
    growsdown: bool = False
    touch: bool = False
    shared: bool = False
    exec_: bool = False
    file_size: int = 0
    pgoff: int = 0  # pages
    unlink: str = ""  # "", "before" (mmap) or "after"
    huge: str = ""  # the tmpfs mount's huge= (mount_file)
    write_open: bool = False


def _anon_cases() -> Iterator[Case]:
    geometries = (("4 KiB", 4096, 0), ("1.5 MiB", 3 * MiB // 2, 0), ("2 MiB aligned", 2 * MiB, 0),
                  ("2 MiB misaligned", 2 * MiB, PAGE), ("4 MiB misaligned", 4 * MiB, PAGE))
    advices: tuple[tuple[str, ...], ...] = ((), ("hg",), ("nh",), ("hg", "nh"), ("nh", "hg"))
    for gname, length, offset in geometries:
        for adv in advices:
            yield Case(f"anon {gname} {'+'.join(adv) or 'no advice'}", MappingKind.ANON, length, offset, adv)
        for adv in ((), ("hg",)):
            yield Case(f"anon {gname} touched {'+'.join(adv) or 'no advice'}", MappingKind.ANON, length, offset, adv, touch=True)
    for adv in ((), ("hg",)):
        tag = "+".join(adv) or "no advice"
        yield Case(f"MAP_STACK 2 MiB {tag}", MappingKind.ANON, 2 * MiB, 0, adv, stack=True)
        yield Case(f"MAP_GROWSDOWN 2 MiB {tag}", MappingKind.ANON, 2 * MiB, 0, adv, growsdown=True)
        yield Case(f"anon 2 MiB exec {tag}", MappingKind.ANON, 2 * MiB, 0, adv, exec_=True)


def _file_cases(root: bool) -> Iterator[Case]:
    for adv in ((), ("hg",), ("nh",)):
        tag = "+".join(adv) or "no advice"
        yield Case(f"private /dev/zero 2 MiB {tag}", MappingKind.DEVZERO, 2 * MiB, 0, adv)
        yield Case(f"shared /dev/zero 2 MiB {tag}", MappingKind.DEVZERO, 2 * MiB, 0, adv, shared=True)
        yield Case(f"shared anon 2 MiB {tag}", MappingKind.SHARED_ANON, 2 * MiB, 0, adv, shared=True)
        yield Case(f"shared anon 1.5 MiB {tag}", MappingKind.SHARED_ANON, 3 * MiB // 2, 0, adv, shared=True)
        yield Case(f"memfd 2 MiB of 4 MiB {tag}", MappingKind.MEMFD, 2 * MiB, 0, adv, shared=True, file_size=4 * MiB)
        yield Case(f"memfd 2 MiB of 1 MiB {tag}", MappingKind.MEMFD, 2 * MiB, 0, adv, shared=True, file_size=MiB)
        yield Case(f"memfd private 2 MiB {tag}", MappingKind.MEMFD, 2 * MiB, 0, adv, file_size=2 * MiB)
        yield Case(f"memfd 2 MiB at pgoff 1 {tag}", MappingKind.MEMFD, 2 * MiB, 0, adv, shared=True, file_size=4 * MiB, pgoff=1)
        for unlink in ("", "before", "after"):
            yield Case(f"/dev/shm file {unlink or 'linked'} {tag}", MappingKind.SHM_FILE, 2 * MiB, 0, adv, shared=True,
                       file_size=2 * MiB, unlink=unlink)
        yield Case(f"root fs file read-only {tag}", MappingKind.ROOT_FILE, 2 * MiB, 0, adv, file_size=2 * MiB)
        yield Case(f"root fs file shared rw {tag}", MappingKind.ROOT_FILE, 2 * MiB, 0, adv, shared=True, file_size=2 * MiB,
                   write_open=True)
        yield Case(f"root fs file exec {tag}", MappingKind.ROOT_FILE, 2 * MiB, 0, adv, exec_=True, file_size=2 * MiB)
        yield Case(f"SysV shm 2 MiB {tag}", MappingKind.SYSV, 2 * MiB, 0, adv, shared=True, file_size=2 * MiB)
        yield Case(f"/dev/shm file exec {tag}", MappingKind.SHM_FILE, 2 * MiB, 0, adv, shared=True, exec_=True, file_size=2 * MiB)
        if root:
            for huge in ("always", "within_size"):
                yield Case(f"tmpfs huge={huge} pgoff 1 {tag}", MappingKind.MOUNT_FILE, 2 * MiB, 0, adv, shared=True,
                           file_size=8 * MiB, huge=huge, pgoff=1)
                yield Case(f"tmpfs huge={huge} 4 MiB at +4K pgoff 1 {tag}", MappingKind.MOUNT_FILE, 4 * MiB, PAGE, adv, shared=True,
                           file_size=8 * MiB, huge=huge, pgoff=1)
                yield Case(f"tmpfs huge={huge} 1.5 MiB {tag}", MappingKind.MOUNT_FILE, 3 * MiB // 2, 0, adv, shared=True,
                           file_size=4 * MiB, huge=huge)
            for size, pgoff, sname in ((2 * MiB, 0, "2 MiB"), (2 * MiB - PAGE, 0, "2 MiB-4K"), (4 * MiB, 512, "4 MiB @2M"),
                                       (4 * MiB - PAGE, 512, "4 MiB-4K @2M")):
                yield Case(f"tmpfs within_size file {sname} {tag}", MappingKind.MOUNT_FILE, 2 * MiB, 0, adv, shared=True,
                           file_size=size, huge="within_size", pgoff=pgoff)
            for huge in HUGE_OPTIONS:
                for size, sname in ((4 * MiB, "4 MiB"), (MiB, "1 MiB")):
                    yield Case(f"tmpfs huge={huge} 2 MiB of {sname} {tag}", MappingKind.MOUNT_FILE, 2 * MiB, 0, adv, shared=True,
                               file_size=size, huge=huge)
                yield Case(f"tmpfs huge={huge} unlinked {tag}", MappingKind.MOUNT_FILE, 2 * MiB, 0, adv, shared=True,
                           file_size=4 * MiB, huge=huge, unlink="before")


def cases(root: bool) -> list[Case]:
    return list(_anon_cases()) + list(_file_cases(root))


# ------------------------------------------------------------------ the child


class _Libc:
    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        libc.memfd_create.argtypes = [ctypes.c_char_p, ctypes.c_uint]
        libc.shmat.restype = ctypes.c_void_p
        libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
        libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
        self.c = libc

    def check(self, r: int, what: str) -> int:
        if r == -1 or r is None:
            e = ctypes.get_errno()
            raise OSError(e, f"{what}: {os.strerror(e)}")
        return r

    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int = -1, off: int = 0) -> int:
        r = self.c.mmap(addr, length, prot, flags, fd, off)
        if r is None or r == ctypes.c_void_p(-1).value:
            e = ctypes.get_errno()
            raise OSError(e, f"mmap: {os.strerror(e)}")
        return int(r)


def _child(mode: str, todo: Sequence[Case], workdir: str) -> dict[str, Any]:
    libc = _Libc()
    c = libc.c
    out: dict[str, Any] = {"mode": mode, "starts": {}, "errors": {}}
    if mode == "disable":
        libc.check(c.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "prctl")
    elif mode == "except_advised" and c.prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0) != 0:
        return {"mode": mode, "skipped": "prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED): "
                + os.strerror(ctypes.get_errno())}
    mounts, todo = child_mounts(libc, workdir, todo, lambda k: k.kind, out)
    with slots(libc, len(todo)) as where:
        for i, case in enumerate(todo):
            addr = where.base + i * SLOT + case.offset
            try:
                _make(libc, case, addr, workdir, mounts, where.keep, where.linked)
                out["starts"][case.name] = addr
            except OSError as exc:
                out["errors"][case.name] = str(exc)
        out["smaps"] = Path("/proc/self/smaps").read_text()
        out["mounts"] = Path("/proc/self/mounts").read_text()
    return out



def child_mounts(libc: _Libc, workdir: str, todo: Sequence[C], kind: Callable[[C], MappingKind],
                 out: dict[str, Any]) -> tuple[dict[str, str], list[C]]:
    """In a child, the tmpfs mounts the cases need (huge= option -> mount
    point), and the cases left: if mounting fails, the cases on a mount are
    dropped and `out["mount_error"]` says why."""
    if not any(kind(k) is MappingKind.MOUNT_FILE for k in todo):
        return {}, list(todo)
    try:
        return mount_tmpfs(libc, workdir), list(todo)
    except OSError as exc:
        out["mount_error"] = str(exc)
        return {}, [k for k in todo if kind(k) is not MappingKind.MOUNT_FILE]


@dataclass
class Slots:
    """Where a child maps its cases: one SLOT each from `base` (4 MiB
    aligned, inside a reservation), the fds it keeps open while the
    mappings are observed, and the files it created for them."""

    base: int
    keep: list[int]
    linked: list[str]


@contextlib.contextmanager
def slots(libc: _Libc, count: int) -> Iterator[Slots]:
    """A reservation for `count` cases; on leaving, the files are unlinked
    and the fds closed (the mappings go with the child)."""
    reserve = libc.mmap(0, SLOT * (count + 1), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
    where = Slots((reserve + 4 * MiB - 1) & ~(4 * MiB - 1), [], [])
    try:
        yield where
    finally:
        for path in where.linked:
            os.unlink(path)
        for fd in where.keep:
            os.close(fd)


def mount_tmpfs(libc: _Libc, workdir: str) -> dict[str, str]:
    """In a private mount namespace (the child's own), one tmpfs per huge=
    option under `workdir`: option -> mount point."""
    c = libc.c
    libc.check(c.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    libc.check(c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    mounts = {}
    for huge in HUGE_OPTIONS:
        point = os.path.join(workdir, "mnt-" + huge)
        libc.check(c.mount(b"none", point.encode(), b"tmpfs", 0, f"huge={huge},size=64m".encode()), "mount tmpfs")
        mounts[huge] = point
    return mounts


def _make(libc: _Libc, case: Case, addr: int, workdir: str, mounts: dict[str, str], keep: list[int],
          linked: list[str]) -> None:
    prot = PROT_READ | PROT_WRITE | (PROT_EXEC if case.exec_ else 0)
    flags = MAP_FIXED | (MAP_SHARED if case.shared else MAP_PRIVATE)
    fd = -1
    path = ""
    if case.kind in (MappingKind.ANON, MappingKind.SHARED_ANON):
        flags |= MAP_ANONYMOUS | (MAP_STACK if case.stack else 0) | (MAP_GROWSDOWN if case.growsdown else 0)
    elif case.kind is MappingKind.DEVZERO:
        fd = os.open("/dev/zero", os.O_RDWR)
    elif case.kind is MappingKind.MEMFD:
        fd = libc.check(libc.c.memfd_create(b"thpverify", 0), "memfd_create")
        os.ftruncate(fd, case.file_size)
    elif case.kind is MappingKind.SYSV:
        shmid = libc.check(libc.c.shmget(0, case.length, 0o1000 | 0o600), "shmget")  # IPC_PRIVATE, IPC_CREAT
        try:
            got = libc.c.shmat(shmid, addr, 0o40000)  # SHM_REMAP: over the reservation
        finally:
            libc.c.shmctl(shmid, 0, None)  # IPC_RMID: gone with the last detach
        if got != addr:
            raise OSError(ctypes.get_errno(), f"shmat placed the segment at {got}, not {addr:#x}")
        _advise(libc, case, addr)
        return
    else:
        folder = {MappingKind.SHM_FILE: "/dev/shm", MappingKind.ROOT_FILE: workdir}.get(case.kind) or mounts[case.huge]
        path = os.path.join(folder, f"thpverify-{os.getpid()}-{addr:x}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        linked.append(path)
        os.ftruncate(fd, case.file_size)
        if case.kind is MappingKind.ROOT_FILE and not case.write_open:
            os.close(fd)
            fd = os.open(path, os.O_RDONLY)
            prot &= ~PROT_WRITE
        if case.unlink == "before":
            os.unlink(linked.pop())
    start = libc.mmap(addr, case.length, prot, flags, fd, case.pgoff * PAGE)
    if start != addr:
        raise OSError(0, f"mmap placed the mapping at {start:#x}, not {addr:#x}")
    if case.unlink == "after":
        os.unlink(linked.pop())
    _advise(libc, case, addr)
    if fd >= 0:
        if case.write_open:
            keep.append(fd)
        else:
            os.close(fd)


def _advise(libc: _Libc, case: Case, addr: int) -> None:
    for adv in case.advice:
        libc.check(libc.c.madvise(addr, case.length, MADV[adv]), "madvise")
    if case.touch:
        ctypes.memset(addr, 1, 1)


def _skipped(mode: str, why: str) -> dict[str, Any]:
    return {"mode": mode, "skipped": why}


def run_children(todo: Sequence[Case], modes: Sequence[str], workdir: str) -> list[dict[str, Any]]:
    results = []
    for mode in modes:
        results.append(in_child(functools.partial(_child, mode, todo, workdir),
                                functools.partial(_skipped, mode), _skipped(mode, "the child sent nothing")))
    return results


# ------------------------------------------------------------------ what the probe knows


def statx_dax(path: str) -> bool | None:
    """STATX_ATTR_DAX of a file, or None when statx cannot say."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(256)
        if libc.statx(-100, path.encode(), 0, 0, buf) != 0:  # AT_FDCWD, mask 0: the basics
            return None
        attributes = int.from_bytes(buf.raw[8:16], "little")
        mask = int.from_bytes(buf.raw[40:48], "little")
    except (OSError, AttributeError):
        return None
    return bool(attributes & STATX_ATTR_DAX) if mask & STATX_ATTR_DAX else False


@dataclass(frozen=True)
class Outcome:
    case: Case
    mode: str
    vma: Vma | None
    known: tuple[tuple[str, bool | str | int], ...]
    problems: tuple[str, ...] = ()  # the probe's own expectations that smaps contradicted
    skipped: str = ""
    result: Any = None  # EvalResult
    unknown: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        if self.problems:
            return "DISAGREE"
        r = self.result
        if r is None or r.contradicts or r.value is None or self.vma is None or self.vma.thp_eligible is None:
            return "DISAGREE" if r is not None and r.contradicts else "undecided"
        return "agree" if (r.value is True) == bool(self.vma.thp_eligible) else "DISAGREE"


def known_inputs(case: Case, mode: str, start: int, s: Settings, root_fs_dax: bool | None) -> dict[str, Any]:
    """The model's inputs from what the child did and the observed settings."""
    flags = {"nh"} if case.stack else set()
    for adv in case.advice:  # hugepage_madvise: the last advice wins
        flags = (flags - {"nh", "hg"}) | {adv}
    k: dict[str, Any] = {
        "caller": "smaps", "vm_mm": True, "VM_IO": False, "VM_DONTEXPAND": False, "VM_PFNMAP": False,
        "VM_MIXEDMAP": False, "VM_HUGETLB": False, "VM_EXEC": case.exec_,
        "VM_HUGEPAGE": "hg" in flags, "VM_NOHUGEPAGE": "nh" in flags,
        "vma_VM_HUGEPAGE": "hg" in flags, "vma_VM_NOHUGEPAGE": "nh" in flags,
        "vma_is_temporary_stack": False,
        "MMF_DISABLE_THP": mode == "disable", "MMF_DISABLE_THP_EXCEPT_ADVISED": mode == "except_advised",
    }
    # Private anonymous memory gets vm_pgoff = addr >> PAGE_SHIFT (mm/mmap.c 533-538).
    pgoff = start // PAGE if case.kind is MappingKind.ANON else case.pgoff
    v = Vma(0, start, start + case.length, "rw-p", pgoff, "00:00", 0, "", (), (), None)
    k["pgoff_aligned"] = pgoff_aligned(v)
    k["block_fits"] = block_fits(v)
    if s.sysfs:
        k["thp_unsupported"] = False
    for atom, val in observe(v, s, Process(None, None)).known:  # sysfs and config only
        if atom.startswith(("huge_", "thp_enabled", "shmem_enabled", "CONFIG_")):
            k[atom] = val
    internal = s.shmem_enabled if s.shmem_enabled in HUGE_OPTIONS else None
    nofile = dict(vm_file=False, shmem_file=False, vma_is_dax=False, vma_is_anon_shmem=False, vma_is_shmem=False,
                  huge_fault=False)
    shmem = dict(vm_file=True, vma_is_anonymous=False, shmem_file=True, vma_is_shmem=True, vma_is_dax=False,
                 huge_fault=False, S_ISREG=True)
    if case.kind is MappingKind.ANON:
        k.update(nofile, vma_is_anonymous=True, anon_vma=case.touch)
    elif case.kind is MappingKind.DEVZERO and not case.shared:
        k.update(vm_file=True, vma_is_anonymous=True, shmem_file=False, vma_is_dax=False, vma_is_anon_shmem=False,
                 vma_is_shmem=False, huge_fault=False, S_ISREG=False, anon_vma=False)
    elif case.kind in (MappingKind.DEVZERO, MappingKind.SHARED_ANON):
        k.update(shmem, vma_is_anon_shmem=True, within_size=within_size(0, case.length))
        if internal:
            k["tmpfs_huge"] = internal
    elif case.kind is MappingKind.MEMFD:
        k.update(shmem, vma_is_anon_shmem=True, within_size=within_size(case.pgoff, case.file_size))
        if internal:
            k["tmpfs_huge"] = internal
    elif case.kind is MappingKind.SYSV:  # ipc/shm.c shm_mmap 612-616: shm_vm_ops (683-693) wrap shmem's
        k.update(shmem, vma_is_anon_shmem=False, vma_is_shmem=False, within_size=within_size(0, case.file_size))
        if internal:
            k["tmpfs_huge"] = internal
    elif case.kind in (MappingKind.SHM_FILE, MappingKind.MOUNT_FILE):
        huge = case.huge
        if case.kind is MappingKind.SHM_FILE:
            mt = [m for m in s.mounts if m.point == "/dev/shm"]
            huge = (mt[-1].option("huge") or "never") if mt else ""
        k.update(shmem, vma_is_anon_shmem=case.unlink == "before", within_size=within_size(case.pgoff, case.file_size))
        if huge:
            k["tmpfs_huge"] = huge
    elif case.kind is MappingKind.ROOT_FILE:
        k.update(vm_file=True, vma_is_anonymous=False, shmem_file=False, vma_is_anon_shmem=False, vma_is_shmem=False,
                 S_ISREG=True, inode_is_open_for_write=case.write_open)
        if root_fs_dax is not None:
            k["vma_is_dax"] = root_fs_dax
            if not root_fs_dax:
                k["huge_fault"] = False  # ext4_file_vm_ops (fs/ext4/file.c 801-805)
    return k


def _expected_flags(known: dict[str, Any], case: Case) -> set[str]:
    out = set()
    if known["VM_HUGEPAGE"]:
        out.add("hg")
    if known["VM_NOHUGEPAGE"]:
        out.add("nh")
    if case.growsdown:
        out.add("gd")
    if case.exec_:
        out.add("ex")
    return out


def probe(settings: Settings, modes: Sequence[str] = MODES, root: bool | None = None) -> tuple[list[Outcome], dict[str, Any]]:
    """Run the children; return the outcomes (without the model's answers) and the raw records."""
    root = os.geteuid() == 0 if root is None else root
    todo = cases(root)
    workdir = tempfile.mkdtemp(prefix="thpverify-conform-", dir="/tmp")
    try:
        for huge in HUGE_OPTIONS:
            os.mkdir(os.path.join(workdir, "mnt-" + huge))
        fs_dax = _root_fs_dax(workdir, settings)
        raw = run_children(todo, modes, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcomes(todo, raw, settings, fs_dax), {"root_fs_dax": fs_dax, "children": raw}


def _root_fs_dax(workdir: str, settings: Settings) -> bool | None:
    from .observe import mount_of

    mt = mount_of(workdir, settings.mounts)
    if mt is None or mt.fstype != "ext4":
        return None  # huge_fault is known only for ext4 here
    path = os.path.join(workdir, "dax-check")
    with open(path, "wb") as f:
        f.write(b"\0")
    try:
        return statx_dax(path)
    finally:
        os.unlink(path)


def outcomes(todo: Sequence[Case], raw: Sequence[dict[str, Any]], settings: Settings, fs_dax: bool | None) -> list[Outcome]:
    out: list[Outcome] = []
    for child in raw:
        mode = child["mode"]
        if "skipped" in child:
            out.extend(Outcome(c, mode, None, (), skipped=child["skipped"]) for c in todo)
            continue
        vmas = {v.start: v for v in parse_smaps(child["smaps"], f"<smaps of the {mode} child>")}
        seen_from = dataclasses.replace(settings, mounts=parse_mounts(child.get("mounts", "")))
        for c in todo:
            if c.kind is MappingKind.MOUNT_FILE and "mount_error" in child:
                out.append(Outcome(c, mode, None, (), skipped=child["mount_error"]))
                continue
            if c.name in child["errors"]:
                out.append(Outcome(c, mode, None, (), skipped=child["errors"][c.name]))
                continue
            start = child["starts"][c.name]
            known = known_inputs(c, mode, start, settings, fs_dax)
            vma = vmas.get(start)
            problems = []
            if vma is None or vma.end != start + c.length:
                problems.append("the mapping is not one VMA of its own in smaps")
            else:
                seen = set(vma.vmflags) & {"hg", "nh", "gd", "ex"}
                want = _expected_flags(known, c)
                if seen != want:
                    problems.append(f"VmFlags {' '.join(sorted(seen)) or '-'}, the probe expected {' '.join(sorted(want)) or '-'}")
                problems += classifier_mismatches(vma, mode, seen_from, known)
            out.append(Outcome(c, mode, vma, tuple(sorted(known.items())), tuple(problems)))
    return out


def classifier_mismatches(vma: Vma, mode: str, settings: Settings, known: dict[str, Any]) -> list[str]:
    """Where `smaps` (which sees only the smaps entry) would give an atom another value than the probe knows."""
    proc = Process(mode == "disable", mode == "except_advised")
    seen = dict(observe(vma, settings, proc).known)
    return [f"smaps classifies {atom}={seen[atom]!r}, the probe knows {known[atom]!r}"
            for atom in sorted(seen.keys() & known.keys()) if seen[atom] != known[atom]]


def record(folder: Path, settings: Settings, outs: Sequence[Outcome], raw: dict[str, Any]) -> None:
    """The cases' smaps entries and every case's inputs and answers, as test fixtures."""
    folder.mkdir(parents=True, exist_ok=True)
    for child in raw["children"]:
        if "smaps" in child:
            starts = {f"{a:x}-" for a in child["starts"].values()}
            (folder / f"conform-{child['mode']}.smaps").write_text(_only(child["smaps"], starts), encoding="utf-8")
    rows = [(o, dict(o.known)) for o in outs if o.vma is not None]
    common = dict(rows[0][1]) if rows else {}
    for _, k in rows:
        common = {a: v for a, v in common.items() if k.get(a, not v) == v}
    cases = [{"case": o.case.name, "prctl": o.mode, "start": f"{o.vma.start:x}", "kernel": o.vma.thp_eligible,
              "model": o.result.value if o.result is not None else None,
              "rule": o.result.rule if o.result is not None else None,
              "known": {a: v for a, v in sorted(k.items()) if a not in common}}
             for o, k in rows if o.vma is not None]
    mounts = {child["mode"]: [[mt.point, mt.fstype, ",".join(mt.options)] for mt in parse_mounts(child.get("mounts", ""))
                              if "thpverify-conform-" in mt.point] for child in raw["children"]}
    doc = {"recorded_from": "thpverify conform", "settings": settings.to_json(), "root_fs_dax": raw["root_fs_dax"],
           "child_mounts": mounts, "common": dict(sorted(common.items())), "cases": cases}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    (folder / "conform.json").write_text(text.replace('{"case"', '\n{"case"') + "\n", encoding="utf-8")


def _only(smaps: str, starts: set[str]) -> str:
    """The entries of an smaps text whose header starts with one of `starts`."""
    out: list[str] = []
    keep = False
    for line in smaps.splitlines(keepends=True):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            keep = line.startswith(tuple(starts))
        if keep:
            out.append(line)
    return "".join(out)
