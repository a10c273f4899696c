"""From a class of failing inputs to a mapping one can make and watch.

`plan` finds an input of the class that userspace can create: it tries
mapping skeletons (the kinds `conform` makes, with advice, touch, exec and
prctl modes) against the class, with the geometry atoms restricted to values
a real placement gives (a grid of addresses, lengths, file offsets and file
sizes on both sides of every order boundary, computed by geometry.py) and
the settings first held to this machine's, then free. What no skeleton can
create is named with what would create it (`NEEDS`), never dropped.

`run` makes the mapping in a child process and watches the outcome the
class predicts: smaps THPeligible (`thp_eligible`), AnonHugePages /
ShmemPmdMapped / FilePmdMapped after a fault (`eligible` for page_fault),
the result of MADV_COLLAPSE (`eligible` for madv_collapse). khugepaged's
decision is not watched (it shows only after a scan). Nothing is written
to /sys or /proc/sys: a setting the machine lacks is reported as needed
and the run is skipped.

Kernel facts (Linux 6.18.2, gfunkmonk/linux-6.18.2 @57dc26c98e5e), besides
those of smaps.py, conform.py and geometry.py:
- mm/khugepaged.c madvise_collapse 2767-2840: hugepage_vma_revalidate
  fails with -EINVAL when thp_vma_allowable_order refuses
  (TVA_FORCED_COLLAPSE); other failures are -EAGAIN or -ENOMEM;
- mm/memory.c __handle_mm_fault 6165-6175: a PMD fault is tried when
  thp_vma_allowable_order(..., TVA_PAGEFAULT, PMD_ORDER) allows it and
  the PMD is empty; do_huge_pmd_anonymous_page (mm/huge_memory.c
  1345-1400) then falls back when the aligned block at the faulting address
  does not fit (`geometry.fault_fits`);
- fs/proc/task_mmu.c smaps_pmd_entry 927-955: AnonHugePages,
  ShmemPmdMapped and FilePmdMapped count PMD-mapped pages only.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import model as m
from ..analysis.engine import Engine
from ..results import CexClass, CexClasses, Fixed, Value
from . import geometry as g
from .child import in_child
from .conform import HUGE_OPTIONS, MODES, Case, MappingKind, _Libc, _make, known_inputs
from .proc import entry_at, parse_smaps, thp_vmstat
from .settings import Settings, read_settings
from .smaps import pick_version

MiB, GiB = 1 << 20, 1 << 30
HIGH = 1 << 40  # a 1 GiB-aligned place for high mappings
MAP_FIXED_NOREPLACE = 0x100000
MADV_COLLAPSE = 25
EINVAL = 22
GEOMETRY = ("pgoff_aligned", "block_fits", "within_size")
SETTING_ATOMS = ("thp_enabled", "shmem_enabled", "huge_anon_orders_always", "huge_anon_orders_madvise",
                 "huge_anon_orders_inherit", "huge_shmem_orders_always", "huge_shmem_orders_madvise",
                 "huge_shmem_orders_inherit", "huge_shmem_orders_within_size", "CONFIG_READ_ONLY_THP_FOR_FS")

# What creates an atom value userspace alone cannot.
NEEDS: dict[tuple[str, bool], str] = {
    ("huge_fault", True): "a driver or file system whose vm_ops have ->huge_fault: device DAX (/dev/daxN.M) or a "
                          "DAX file system (ext4/xfs mounted -o dax on persistent memory, emulated with the boot "
                          "option memmap=SIZE!OFFSET)",
    ("vma_is_dax", True): "a DAX file system on persistent memory (emulated: boot option memmap=SIZE!OFFSET, "
                          "mkfs.ext4 /dev/pmem0, mount -o dax)",
    ("VM_IO", True): "a driver mapping made with remap_pfn_range/io_remap_pfn_range (device memory)",
    ("VM_PFNMAP", True): "a driver mapping made with remap_pfn_range (raw PFNs, no struct page)",
    ("VM_MIXEDMAP", True): "a driver that inserts pages with vm_insert_page/vmf_insert_mixed (the seed thread's driver)",
    ("VM_DONTEXPAND", True): "a special mapping that sets VM_DONTEXPAND (a driver, a perf_event or io_uring ring)",
    ("VM_HUGETLB", True): "reserved hugetlb pages (hugepages= at boot or vm.nr_hugepages > 0), then MAP_HUGETLB",
    ("thp_unsupported", True): "a CPU without THP support (x86: no PSE, e.g. qemu -cpu ...,-pse): hugepage_init "
                               "leaves transparent_hugepage off",
    ("vma_is_temporary_stack", True): "exec's stack while setup_arg_pages runs: not reachable from userspace",
    ("vm_mm", False): "the gate VMA [vsyscall] (boot option vsyscall=xonly or emulate); only smaps shows it",
    ("anon_vma", True): "an anon_vma on a mapping that is not private and written (a private file mapping, written)",
}
CREATABLE: tuple[tuple[str, bool], ...] = (
    ("huge_fault", False), ("vma_is_dax", False), ("VM_IO", False), ("VM_PFNMAP", False), ("VM_MIXEDMAP", False),
    ("VM_DONTEXPAND", False), ("VM_HUGETLB", False), ("thp_unsupported", False), ("vma_is_temporary_stack", False),
    ("vm_mm", True))


# ------------------------------------------------------------------ the machine


@dataclass(frozen=True)
class Machine:
    settings: Settings
    root: bool
    mmap_min_addr: int
    hugetlb_free: int
    root_fs_dax: bool | None = None

    @property
    def kernel(self) -> str:
        return self.settings.kernel


def machine() -> Machine:
    """This machine, read-only."""
    s = read_settings()
    try:
        low = int(Path("/proc/sys/vm/mmap_min_addr").read_text())
    except (OSError, ValueError):
        low = 1 << 16
    free = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("HugePages_Free:"):
                free = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return Machine(s, os.geteuid() == 0, max(low, g.PAGE), free, None)


# ------------------------------------------------------------------ plans


@dataclass(frozen=True)
class Observation:
    predicate: str
    caller: str | None
    how: str  # smaps, fault, collapse, or none
    expected: Value  # the model's value for the class
    why: str = ""  # for how == none


@dataclass(frozen=True)
class Plan:
    property_name: str
    version: str
    klass: int
    sides: tuple[tuple[str, Value, str | None], ...]  # predicate, value, rule
    caller: str | None
    point: tuple[tuple[str, bool | str | int], ...]  # the input, atom -> value
    case: Case | None
    start: int  # absolute address of the mapping
    fault_at: int
    prctl: str
    settings: tuple[tuple[str, str, str | None], ...]  # sysfs file, needed value, this machine's
    boot: tuple[str, ...]  # boot options or kernel config needed
    observations: tuple[Observation, ...]
    needs: tuple[tuple[str, str], ...]  # atom=value, what would create it
    note: str = ""

    @property
    def makeable(self) -> bool:
        return self.case is not None and not self.needs

    def differs(self) -> list[tuple[str, str, str | None]]:
        return [s for s in self.settings if s[1] != s[2]]


def _skeletons(root: bool) -> Iterator[tuple[Case, str]]:
    """Mappings userspace makes, simplest first, with each prctl mode."""
    advices: tuple[tuple[str, ...], ...] = ((), ("hg",), ("nh",))
    kinds: list[tuple[MappingKind, dict[str, Any]]] = [
        (MappingKind.ANON, {}), (MappingKind.DEVZERO, {}), (MappingKind.SHARED_ANON, {"shared": True}),
        (MappingKind.MEMFD, {"shared": True}), (MappingKind.MEMFD, {}), (MappingKind.SYSV, {"shared": True}),
        (MappingKind.DEVZERO, {"shared": True}),
        (MappingKind.SHM_FILE, {"shared": True}), (MappingKind.SHM_FILE, {"shared": True, "unlink": "before"}),
        (MappingKind.ROOT_FILE, {}), (MappingKind.ROOT_FILE, {"shared": True, "write_open": True}),
    ]
    if root:
        kinds += [(MappingKind.MOUNT_FILE, {"shared": True, "huge": h}) for h in HUGE_OPTIONS]
        kinds += [(MappingKind.MOUNT_FILE, {"shared": True, "huge": h, "unlink": "before"}) for h in HUGE_OPTIONS]
    for mode in MODES:
        for kind, extra in kinds:
            for adv in advices:
                for touch in (False, True):
                    if touch and (extra.get("shared") or kind is MappingKind.SYSV):
                        continue  # a write to shared memory gives no anon_vma
                    for exec_ in (False, True):
                        yield Case(f"{kind} {adv}", kind, 2 * MiB, 0, adv, touch=touch, exec_=exec_,
                                   file_size=2 * MiB, **extra), mode
    for mode in MODES:  # the madvise(MADV_HUGEPAGE) call itself: khugepaged_enter_vma gets the flags to install
        for kind, extra in kinds:
            yield Case(f"{kind} {PENDING}", kind, 2 * MiB, 0, (PENDING,), file_size=2 * MiB, **extra), mode


PENDING = "hg-pending"  # advice: MADV_HUGEPAGE, seen by khugepaged_enter_vma before the flags are installed


def _skeleton_atoms(case: Case, mode: str, mach: Machine) -> dict[str, Any]:
    pending = PENDING in case.advice
    if pending:
        case = dataclasses.replace(case, advice=("hg",))
    known = known_inputs(case, mode, HIGH, mach.settings, mach.root_fs_dax)
    if pending:  # mm/khugepaged.c hugepage_madvise: the new flags are the argument, the VMA still has the old
        known.update(vma_VM_HUGEPAGE=False, vma_VM_NOHUGEPAGE=False)
    for a in [*GEOMETRY, *SETTING_ATOMS, "caller"]:
        known.pop(a, None)
    if case.kind not in (MappingKind.ANON, MappingKind.DEVZERO) or case.shared:
        known["anon_vma"] = case.touch and not case.shared
    internal = (MappingKind.DEVZERO, MappingKind.SHARED_ANON, MappingKind.MEMFD, MappingKind.SYSV)
    if case.kind in internal and case.shared or case.kind is MappingKind.MEMFD:
        known.pop("tmpfs_huge", None)  # follows shmem_enabled: tied in the query
    return known


@dataclass(frozen=True)
class Placement:
    start: int
    length: int
    pgoff: int
    file_size: int


def _placements(mach: Machine) -> list[Placement]:
    """A grid of placements; the geometry atoms of each are computed by geometry.py."""
    lengths = g.boundary_lengths() + [GiB + g.PAGE, 2 * GiB]
    # First a PMD-sized and a larger aligned mapping, where a fault can map a PMD page.
    out: list[Placement] = [Placement(HIGH, 2 * MiB, 0, 0), Placement(HIGH, 4 * MiB, 0, 0)]
    for mis in [0] + [g.PAGE << j for j in range(10)]:
        for length in lengths:
            out.append(Placement(HIGH + mis, length, 0, 0))
    lows = sorted({max(mach.mmap_min_addr, 1 << j) for j in range(16, 30)} | {(1 << 20) + g.PAGE, 512 * MiB})
    for start in lows:
        for length in lengths:
            if start + length < GiB:
                out.append(Placement(start, length, 0, 0))
    return out


def _file_variants(p: Placement) -> Iterator[Placement]:
    spfn = p.start >> g.PAGE_SHIFT
    pgoffs = [0, spfn % (1 << 19)] + [(spfn - (1 << t)) % (1 << 19) for t in range(10)]
    for pgoff in dict.fromkeys(pgoffs):
        sizes = {g.PAGE}
        for k in g.ORDERS:
            top = -(-(pgoff + 1) // (1 << k)) * (1 << k) * g.PAGE
            sizes.update({top, top - g.PAGE})
        for size in sorted(sizes):
            yield Placement(p.start, p.length, pgoff, size)


def _geometry_of(case: Case, p: Placement) -> dict[str, int]:
    anonymous = case.kind is MappingKind.ANON
    geo = g.Geometry(p.start, p.length, p.pgoff, p.file_size if case.kind not in ("anon",) else None)
    return geo.atoms(anonymous)


def plan(lib: m.Library, inst: m.Instance, result: CexClasses, k: CexClass, mach: Machine,
         engine: Engine | None = None) -> Plan:
    from ..analysis.classes import ClassesError

    try:
        return _plan(lib, inst, result, k, mach, engine)
    except ClassesError as exc:
        sides = tuple((name, side.value, side.rule) for name, side in zip(_predicates(inst, lib), k.sides, strict=True))
        return Plan(result.property_name, result.version, k.index, sides, None, (), None, 0, 0, "none", (), (), (),
                    (("search", f"no plan: {exc}"),))


def _plan(lib: m.Library, inst: m.Instance, result: CexClasses, k: CexClass, mach: Machine,
          engine: Engine | None = None) -> Plan:
    from ..analysis.classes import ClassQuery

    eng = engine or Engine(lib)
    q = ClassQuery(eng, inst, k, at_most_one=MODE_GROUPS, never=[(a, g.PUD_ORDER) for grp in MODE_GROUPS for a in grp])
    sides = tuple((name, side.value, side.rule) for name, side in zip(_predicates(inst, lib), k.sides, strict=True))
    base: dict[str, Any] = dict(property_name=result.property_name, version=result.version, klass=k.index, sides=sides)
    read = set(result.space)
    base["read"] = read
    grid = _placements(mach)
    machine_settings = _settings_atoms(mach)
    prefs = _coordinates(lib, machine_settings)
    unread = {a: v for a, v in machine_settings.items() if a not in read}
    for pass_ in ("machine", "free"):
        for case, mode in _skeletons(mach.root):
            fixed = _skeleton_atoms(case, mode, mach)
            fixed.update(machine_settings if pass_ == "machine" else unread)
            tied = [_tied(q, case)]
            if q.ask(fixed, tied) is None:
                continue
            found = _place(q, lib, fixed, tied, case, grid, read)
            if found is None:
                continue
            placement, point = found
            if pass_ == "free":  # change as few settings as the class needs
                geometry = {a: point[a] for a in GEOMETRY if a in read and a in point}
                skeleton = {a: v for a, v in fixed.items() if a not in SETTING_ATOMS}
                _, point = q.needed(prefs, {**skeleton, **geometry}, tied)
            case = dataclasses.replace(case, length=placement.length, pgoff=placement.pgoff, file_size=placement.file_size)
            return _plan_of(lib, inst, point, case, mode, placement.start, mach, base)
    return _unmakeable(q, lib, mach, base)


def _fields(base: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != "read"}


def _predicates(inst: m.Instance, lib: m.Library) -> list[str]:

    return [name for _, name in m.predicate_calls(lib, inst.claim)]


MODE_GROUPS = (("huge_anon_orders_always", "huge_anon_orders_madvise", "huge_anon_orders_inherit"),
               ("huge_shmem_orders_always", "huge_shmem_orders_madvise", "huge_shmem_orders_inherit",
                "huge_shmem_orders_within_size"))  # sysfs holds one mode per size; PUD has no hugepages-<size>


def _settings_atoms(mach: Machine) -> dict[str, Any]:
    from .observe import observe
    from .proc import Vma
    from .settings import Process

    v = Vma(0, HIGH, HIGH + 2 * MiB, "rw-p", 0, "00:00", 0, "", (), (), None)
    known = dict(observe(v, mach.settings, Process(None, None)).known)
    return {a: known[a] for a in SETTING_ATOMS if a in known}


def _coordinates(lib: m.Library, values: dict[str, Any]) -> list[tuple[str, int | None, Any]]:
    out: list[tuple[str, int | None, Any]] = []
    for a, v in values.items():
        if a not in lib.atoms:
            continue
        typ = lib.atoms[a].type
        if typ.kind is m.TypeKind.SET:
            out.extend((a, e, bool(v >> e & 1)) for e in lib.universes[typ.name].elements)
        else:
            out.append((a, None, v))
    return out


def _tied(q: Any, case: Case) -> Any:
    """The internal shmem mount's huge= follows shmem_enabled unless deny/force (mm/shmem.c 5434-5438)."""
    internal = (case.kind in (MappingKind.SHARED_ANON, MappingKind.MEMFD, MappingKind.SYSV)
                or (case.kind is MappingKind.DEVZERO and case.shared))
    if not internal:
        return None
    return q.follows("tmpfs_huge", "shmem_enabled", HUGE_OPTIONS, ("deny", "force"))


def _place(q: Any, lib: m.Library, fixed: dict[str, Any], tied: list[Any], case: Case, grid: Sequence[Placement],
           read: set[str]) -> tuple[Placement, dict[str, Any]] | None:
    """The first placement of the grid whose geometry the class allows with this skeleton."""
    wanted = [a for a in GEOMETRY if a in read and a in lib.atoms]
    tried: set[tuple[int, ...]] = set()
    filelike = case.kind is not MappingKind.ANON
    for p in grid:
        for variant in (_file_variants(p) if filelike else [p]):
            atoms = _geometry_of(case, variant)
            key = tuple(atoms.get(a, -1) for a in wanted)
            if key in tried:
                continue
            tried.add(key)
            point = q.ask({**fixed, **{a: atoms[a] for a in wanted if a in atoms}}, tied)
            if point is not None:
                return variant, point
    return None


def _plan_of(lib: m.Library, inst: m.Instance, point: dict[str, Any], case: Case, mode: str, start: int, mach: Machine,
             base: dict[str, Any]) -> Plan:
    caller = point.get("caller") if "caller" in lib.atoms else None
    settings = _needed_settings({a: v for a, v in point.items() if a in base["read"]}, mach.settings)
    boot = []
    if "CONFIG_READ_ONLY_THP_FOR_FS" in point and mach.settings.read_only_thp_for_fs is not None \
            and point["CONFIG_READ_ONLY_THP_FOR_FS"] != mach.settings.read_only_thp_for_fs:
        boot.append(f"a kernel built with CONFIG_READ_ONLY_THP_FOR_FS={'y' if point['CONFIG_READ_ONLY_THP_FOR_FS'] else 'n'}")
    fault_at = _fault_address(start, case.length)
    obs = tuple(_observation(name, value, caller, case) for name, value, _ in base["sides"])
    shown = tuple(sorted((a, v) for a, v in point.items() if a in lib.atoms))
    return Plan(**_fields(base), caller=str(caller) if caller is not None else None, point=shown, case=case, start=start,
                fault_at=fault_at, prctl=mode, settings=tuple(settings), boot=tuple(boot), observations=obs, needs=())


def _fault_address(start: int, length: int) -> int:
    size = g.PAGE << g.PMD_ORDER
    first = -(-start // size) * size
    return first if first + size <= start + length else start


def _observation(name: str, value: Value, caller: Any, case: Case) -> Observation:
    if name == "thp_eligible":
        return Observation(name, None, "smaps", value)
    if name == "eligible" and caller == "page_fault":
        return Observation(name, caller, "fault", value)
    if name == "eligible" and caller == "madv_collapse":
        return Observation(name, caller, "collapse", value)
    if name == "eligible" and caller == "khugepaged":
        return Observation(name, caller, "none", value, "khugepaged decides on its own schedule "
                           "(scan_sleep_millisecs); whether it took the mm is not visible: not watched")
    if name == "eligible" and caller == "smaps":
        return Observation(name, caller, "none", value, "smaps prints thp_eligible (all orders), not the PMD answer")
    return Observation(name, str(caller) if caller is not None else None, "none", value,
                       f"'{name}' has no userspace observation")


SYSFS_NAMES = {"thp_enabled": "enabled", "shmem_enabled": "shmem_enabled"}


def _needed_settings(point: dict[str, Any], s: Settings) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    root = "/sys/kernel/mm/transparent_hugepage/"
    for atom, file in SYSFS_NAMES.items():
        if atom in point:
            now = s.thp_enabled if atom == "thp_enabled" else s.shmem_enabled
            out.append((root + file, str(point[atom]), now))
    for prefix, modes, now_masks, file in (
            ("huge_anon_orders_", ("always", "madvise", "inherit"), s.anon, "enabled"),
            ("huge_shmem_orders_", ("always", "madvise", "inherit", "within_size"), s.shmem, "shmem_enabled")):
        if not any(prefix + mode in point for mode in modes):
            continue
        for k in g.ORDERS:
            if k >= g.PUD_ORDER:
                continue
            want = next((mode for mode in modes if int(point.get(prefix + mode, 0)) >> k & 1), "never")
            have = next((mode for mode in modes if int(now_masks.get(mode, 0)) >> k & 1), "never") if now_masks else None
            if file == "shmem_enabled" and want == "madvise":
                want = "advise"
            if file == "shmem_enabled" and have == "madvise":
                have = "advise"
            path = f"{root}hugepages-{(g.PAGE << k) // 1024}kB/{file}"
            if Path(root).is_dir() and not Path(path).exists():
                if want != "never":
                    out.append((path, want, "absent"))
                continue  # this kernel has no such mode file: the order is off
            out.append((path, want, have))
    return out


def _unmakeable(q: Any, lib: m.Library, mach: Machine, base: dict[str, Any]) -> Plan:
    """No skeleton realises the class: name the atom values that need more than userspace."""
    prefs = [(a, None, v) for a, v in CREATABLE if a in lib.atoms and not (a == "VM_HUGETLB" and mach.hugetlb_free > 0)]
    dropped, point = q.needed(prefs)
    needs = [(f"{a}={'0' if v else '1'}", NEEDS.get((a, not v), "not creatable from userspace")) for a, _, v in dropped]
    if not needs:
        needs.append(("geometry or flags", "no mapping kind this tool makes gives this class (kinds: anonymous, "
                      "/dev/zero, shared anonymous, memfd, SysV shm, /dev/shm and tmpfs files, a file on the root "
                      "file system; with MADV_HUGEPAGE/NOHUGEPAGE, touch, exec and each prctl mode)"))
    caller = point.get("caller") if "caller" in lib.atoms else None
    obs = tuple(_observation(name, value, caller, Case("", MappingKind.ANON, 0)) for name, value, _ in base["sides"])
    return Plan(**_fields(base), caller=str(caller) if caller is not None else None,
                point=tuple(sorted(point.items())), case=None, start=0, fault_at=0, prctl="none",
                settings=tuple(_needed_settings({a: v for a, v in point.items() if a in base["read"]}, mach.settings)),
                boot=(), observations=obs, needs=tuple(needs))


# ------------------------------------------------------------------ running it here


@dataclass(frozen=True)
class Seen:
    predicate: str
    how: str
    model: Value | None  # the model's value for the inputs made
    rule: str | None
    kernel: bool | None  # what the kernel showed, as the model's value, or None
    detail: str
    status: str  # agree, DISAGREE, not watched


@dataclass(frozen=True)
class RunResult:
    klass: int
    status: str  # agree, DISAGREE, skipped, undecided
    why: str = ""
    seen: tuple[Seen, ...] = ()
    in_class: bool | None = None
    timings: tuple[tuple[str, float], ...] = ()
    smaps: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def skip_reason(lib: m.Library, p: Plan, mach: Machine) -> str:
    if p.case is not None and PENDING in p.case.advice:
        return "the class lives inside the madvise(MADV_HUGEPAGE) call (khugepaged_enter_vma): nothing to watch afterwards"
    chosen = pick_version(lib, mach.kernel)
    if chosen != p.version:
        return f"the running kernel {mach.kernel} is modelled by {chosen}, not {p.version}"
    if p.needs:
        return "needs " + "; ".join(f"{a}: {w}" for a, w in p.needs)
    if p.case is None:
        return "no mapping found"
    if p.boot:
        return "needs " + "; ".join(p.boot)
    bad = p.differs()
    if bad:
        return "needs settings this machine lacks (nothing is written to /sys): " + ", ".join(
            f"{f.split('transparent_hugepage/')[-1]}={want} (now {have})" for f, want, have in bad)
    if p.case.kind is MappingKind.MOUNT_FILE and not mach.root:
        return "a tmpfs mount needs root"
    return ""


def run(lib: m.Library, p: Plan, mach: Machine) -> RunResult:
    """Make the mapping in a child here and watch it (see the module's doc)."""
    import time

    why = skip_reason(lib, p, mach)
    if why:
        return RunResult(p.klass, "skipped", why)
    assert p.case is not None
    t0 = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="thpverify-reproduce-", dir="/tmp")
    try:
        for huge in HUGE_OPTIONS:
            os.mkdir(os.path.join(workdir, "mnt-" + huge))
        doc = _in_child(p, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    t1 = time.monotonic()
    if "error" in doc:
        return RunResult(p.klass, "skipped", doc["error"], timings=(("child", t1 - t0),))
    result = judge(lib, p, mach, doc)
    t2 = time.monotonic()
    return dataclasses.replace(result, timings=(("child", t1 - t0), ("model", t2 - t1)))


def judge(lib: m.Library, p: Plan, mach: Machine, doc: dict[str, Any]) -> RunResult:
    """Compare what the child saw with the model's answer on the inputs it made."""
    from ..backend.solver import Solver

    assert p.case is not None
    known = known_inputs(p.case, p.prctl, p.start, mach.settings, mach.root_fs_dax)
    if p.case.kind not in (MappingKind.ANON, MappingKind.DEVZERO) or p.case.shared:
        known["anon_vma"] = p.case.touch and not p.case.shared
    solver = Solver(lib)
    seen: list[Seen] = []
    in_class = True
    vmas = {v.start: v for v in parse_smaps(doc["before"], "<smaps of the reproducer>")}
    vma = vmas.get(p.start)
    for o, (name, value, rule) in zip(p.observations, p.sides, strict=True):
        given = dict(known)
        if o.caller is not None:
            given["caller"] = o.caller
        elif p.caller is not None:
            given["caller"] = p.caller
        r = solver.evaluate(p.version, name, [Fixed(a, None, v) for a, v in sorted(given.items()) if a in lib.atoms])
        if r.value != value or (rule is not None and r.rule != rule):
            in_class = False
        kernel, detail = _kernel_answer(o, vma, doc)
        if o.how == "none":
            status = "not watched"
        elif kernel is None or r.value is None:
            status = "undecided"
        else:
            status = "agree" if kernel == r.value else "DISAGREE"
        seen.append(Seen(name, o.how, r.value, r.rule, kernel, detail or o.why, status))
    statuses = {x.status for x in seen}
    if "DISAGREE" in statuses:
        status = "DISAGREE"
    elif "undecided" in statuses or statuses == {"not watched"}:
        status = "undecided"
    else:
        status = "agree"
    return RunResult(p.klass, status, "" if in_class else "the mapping made is not in the class", tuple(seen), in_class,
                     smaps=doc.get("entry", ""), extra={k: doc[k] for k in ("fault", "collapse") if k in doc})


def _kernel_answer(o: Observation, vma: Any, doc: dict[str, Any]) -> tuple[bool | None, str]:
    if o.how == "smaps":
        if vma is None or vma.thp_eligible is None:
            return None, "no smaps entry with THPeligible for the mapping"
        return bool(vma.thp_eligible), f"THPeligible {vma.thp_eligible}"
    if o.how == "fault":
        f = doc.get("fault", {})
        pmd = int(f.get("pmd_kb", 0))
        tried = int(f.get("fallback", 0))
        if pmd:
            return True, f"{f.get('field')} {pmd} kB after a write at {f.get('at')}"
        if not f.get("fits"):
            return None, "no PMD-aligned block inside the mapping to fault"
        if tried:
            return True, f"no PMD page, but the fault tried one ({f.get('counter')} +{tried})"
        return False, f"{f.get('field')} 0 kB after a write at {f.get('at')}"
    if o.how == "collapse":
        c = doc.get("collapse", {})
        err = int(c.get("errno", -1))
        if c.get("result") == 0:
            return True, "MADV_COLLAPSE: 0"
        return err != EINVAL, f"MADV_COLLAPSE: {os.strerror(err) if err > 0 else err}"
    return None, ""


def _in_child(p: Plan, workdir: str) -> dict[str, Any]:
    return in_child(lambda: _child(p, workdir), lambda why: {"error": why}, {"error": "the child sent nothing"})




def _child(p: Plan, workdir: str) -> dict[str, Any]:
    from .conform import (
        CLONE_NEWNS,
        MAP_ANONYMOUS,
        MAP_NORESERVE,
        MAP_PRIVATE,
        MS_PRIVATE,
        MS_REC,
        PR_SET_THP_DISABLE,
        PR_THP_DISABLE_EXCEPT_ADVISED,
        PROT_NONE,
    )

    assert p.case is not None
    case = p.case
    libc = _Libc()
    c = libc.c
    if p.prctl == "disable":
        libc.check(c.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), "prctl")
    elif p.prctl == "except_advised":
        libc.check(c.prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0), "prctl")
    mounts: dict[str, str] = {}
    if case.kind is MappingKind.MOUNT_FILE:
        libc.check(c.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        libc.check(c.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        point = os.path.join(workdir, "mnt-" + case.huge)
        libc.check(c.mount(b"none", point.encode(), b"tmpfs", 0, f"huge={case.huge},size=64m".encode()), "mount tmpfs")
        mounts[case.huge] = point
    # Reserve the place first, refusing to replace anything already mapped.
    libc.mmap(p.start, case.length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE)
    keep: list[int] = []
    linked: list[str] = []
    doc: dict[str, Any] = {}
    try:
        _make(libc, case, p.start, workdir, mounts, keep, linked)
        doc["before"] = Path("/proc/self/smaps").read_text()
        doc["entry"] = entry_at(doc["before"], p.start)
        hows = {o.how for o in p.observations}
        if "fault" in hows:
            doc["fault"] = _fault(p, libc)
        elif "collapse" in hows:
            libc.c.madvise.restype = ctypes.c_int
            r = libc.c.madvise(p.start, case.length, MADV_COLLAPSE)
            doc["collapse"] = {"result": r, "errno": ctypes.get_errno() if r else 0}
    finally:
        for path in linked:
            os.unlink(path)
        for fd in keep:
            os.close(fd)
    return doc


def _fault(p: Plan, libc: _Libc) -> dict[str, Any]:
    assert p.case is not None
    fits = bool(g.fault_fits(p.start, p.start + p.case.length, p.fault_at) >> g.PMD_ORDER & 1)
    field_ = "AnonHugePages" if p.case.kind is MappingKind.ANON or (p.case.kind is MappingKind.DEVZERO and not p.case.shared) else (
        "FilePmdMapped" if p.case.kind is MappingKind.ROOT_FILE else "ShmemPmdMapped")
    counter = "thp_fault_fallback" if field_ == "AnonHugePages" else "thp_file_fallback"
    before = thp_vmstat()
    ctypes.memset(p.fault_at, 1, 1) if "w" in _perms(p) else ctypes.string_at(p.fault_at, 1)
    after = thp_vmstat()
    vma = {v.start: v for v in parse_smaps(Path("/proc/self/smaps").read_text(), "<smaps>")}.get(p.start)
    pmd = vma.kb(field_) if vma is not None else None
    tried = after.get(counter, 0) - before.get(counter, 0) + after.get(counter + "_charge", 0) - before.get(counter + "_charge", 0)
    return {"pmd_kb": pmd or 0, "field": field_, "at": f"{p.fault_at:#x}", "fits": fits, "fallback": tried,
            "counter": counter}


def _perms(p: Plan) -> str:
    assert p.case is not None
    return "r" if p.case.kind is MappingKind.ROOT_FILE and not p.case.write_open else "rw"


@dataclass(frozen=True)
class RunOutcome:
    """A reproducer run, shaped as a conform outcome (`conform --from`)."""

    case: Case
    mode: str
    run: RunResult
    vma: Any = None
    known: tuple[tuple[str, Any], ...] = ()
    problems: tuple[str, ...] = ()
    result: Any = None

    @property
    def skipped(self) -> str:
        return self.run.why if self.run.status == "skipped" else ""

    @property
    def status(self) -> str:
        return {"agree": "agree", "DISAGREE": "DISAGREE", "skipped": "skipped"}.get(self.run.status, "undecided")


def as_outcome(case: Case, r: RunResult) -> RunOutcome:
    problems = tuple(f"{s.predicate} via {s.how}: kernel {s.kernel}, model {s.model}" for s in r.seen if s.status == "DISAGREE")
    return RunOutcome(case, "from", r, problems=problems)
