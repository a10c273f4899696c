"""The geometry sweep of `conform`: placements over the whole user address
range, lengths and file offsets on both sides of every order boundary, for
each mapping kind whose THPeligible reads the geometry here.

One child makes each mapping in turn (MAP_FIXED_NOREPLACE first, so that
nothing already mapped is replaced), reads its smaps entry and unmaps it.
The inputs are known from what the child did (`conform.known_inputs`, whose
geometry is geometry.py's), so each case asks the model about exactly the
VMA the kernel judged.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import geometry as g
from .child import in_child
from .conform import HUGE_OPTIONS, Case, MappingKind, Outcome, _Libc, _make, known_inputs
from .proc import entry_at, parse_smaps
from .settings import Settings

MAP_FIXED_NOREPLACE = 0x100000
MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE, PROT_NONE = 0x02, 0x20, 0x4000, 0
GiB = 1 << 30


def bases(mmap_min_addr: int) -> list[tuple[str, int]]:
    """Where the placements start: the lowest mappable address, below and
    above the 1 GiB and 4 GiB lines, far up, and just under the top of the
    user address range (below the stack's usual place)."""
    low = max(mmap_min_addr, g.PAGE)
    low = -(-low // (1 << 16)) * (1 << 16)
    return [("lowest", low), ("under 1 GiB", GiB - (64 << 20)), ("4 GiB", 4 * GiB), ("1 TiB", 1 << 40),
            ("top", (g.TASK_SIZE + g.PAGE) - (1 << 40))]


def sweep_cases(mmap_min_addr: int, root: bool) -> Iterator[tuple[Case, int]]:
    lengths = g.boundary_lengths()
    shifts = (0, g.PAGE, 64 << 10, (2 << 20) - g.PAGE)
    for name, base in bases(mmap_min_addr):
        for shift in shifts:
            for length in lengths:
                start = base + shift
                if name == "under 1 GiB" and start + length > GiB + (8 << 20):
                    continue
                yield Case(f"sweep anon {name}+{shift:#x} len {length:#x}", MappingKind.ANON, length, 0, ("hg",)), start
                if root:
                    for pgoff in (0, 1, 511, 512):
                        yield Case(f"sweep tmpfs huge=always {name}+{shift:#x} len {length:#x} pgoff {pgoff}",
                                   MappingKind.MOUNT_FILE, length, 0, (), shared=True, file_size=length + pgoff * g.PAGE,
                                   huge="always", pgoff=pgoff), start


def _child(todo: Sequence[tuple[Case, int]], workdir: str) -> dict[str, Any]:
    from .conform import CLONE_NEWNS, MS_PRIVATE, MS_REC

    libc = _Libc()
    c = libc.c
    c.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    mounts: dict[str, str] = {}
    out: dict[str, Any] = {"entries": {}, "errors": {}}
    if any(case.kind is MappingKind.MOUNT_FILE for case, _ in todo):
        try:
            libc.check(c.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
            libc.check(c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
            point = os.path.join(workdir, "mnt-always")
            libc.check(c.mount(b"none", point.encode(), b"tmpfs", 0, b"huge=always,size=64m"), "mount tmpfs")
            mounts["always"] = point
        except OSError as exc:
            out["mount_error"] = str(exc)
            todo = [(k, s) for k, s in todo if k.kind is not MappingKind.MOUNT_FILE]
    for case, start in todo:
        try:
            libc.mmap(start, case.length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE)
        except OSError as exc:
            out["errors"][case.name] = f"the place is taken or out of range: {exc}"
            continue
        keep: list[int] = []
        linked: list[str] = []
        try:
            _make(libc, case, start, workdir, mounts, keep, linked)
            text = Path("/proc/self/smaps").read_text()
            out["entries"][case.name] = entry_at(text, start)
        except OSError as exc:
            out["errors"][case.name] = str(exc)
        finally:
            c.munmap(start, case.length)
            for path in linked:
                os.unlink(path)
            for fd in keep:
                os.close(fd)
    return out




def run_sweep(settings: Settings, mmap_min_addr: int, root: bool) -> list[Outcome]:
    todo = list(sweep_cases(mmap_min_addr, root))
    workdir = tempfile.mkdtemp(prefix="thpverify-sweep-", dir="/tmp")
    try:
        for huge in HUGE_OPTIONS:
            os.mkdir(os.path.join(workdir, "mnt-" + huge))
        doc = in_child(lambda: _child(todo, workdir), lambda why: {"skipped": why},
                       {"skipped": "the sweep's child sent nothing"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return outcomes(todo, doc, settings)


def outcomes(todo: Sequence[tuple[Case, int]], doc: dict[str, Any], settings: Settings) -> list[Outcome]:
    out: list[Outcome] = []
    for case, start in todo:
        if "skipped" in doc:
            out.append(Outcome(case, "sweep", None, (), skipped=doc["skipped"]))
            continue
        if case.kind is MappingKind.MOUNT_FILE and "mount_error" in doc:
            out.append(Outcome(case, "sweep", None, (), skipped=doc["mount_error"]))
            continue
        if case.name in doc["errors"]:
            out.append(Outcome(case, "sweep", None, (), skipped=doc["errors"][case.name]))
            continue
        known = known_inputs(case, "none", start, settings, None)
        vmas = parse_smaps(doc["entries"][case.name], "<smaps of the sweep>") if doc["entries"].get(case.name) else []
        vma = vmas[0] if vmas else None
        problems = [] if vma is not None and vma.end == start + case.length else ["the mapping is not one VMA of its own"]
        out.append(Outcome(case, "sweep", vma, tuple(sorted(known.items())), tuple(problems)))
    return out
