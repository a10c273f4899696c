"""The running kernel's own answer: /proc/PID/smaps, read-only.

Parses an smaps file into VMAs, reads the THP settings (sysfs, /proc/config.gz,
the process's mounts and status) into observed facts, maps those facts to the
model's atoms (what cannot be seen from userspace stays unknown), and asks the
model for `thp_eligible` on the same inputs. Kernel facts used here are those
of Linux 6.18.2 (gfunkmonk/linux-6.18.2 @57dc26c98e5e):

- fs/proc/task_mmu.c show_smap 1371-1373: THPeligible is
  `thp_vma_allowable_orders(vma, vma->vm_flags, TVA_SMAPS, THP_ORDERS_ALL)`;
  show_smap_vma_flags 1133-1211: the VmFlags mnemonics.
- the geometry atoms (`pgoff_aligned`, `block_fits`, `within_size`) are
  computed by kernel/geometry.py, with the kernel's arithmetic;
- mm/shmem.c shmem_mmap 2929-2939 (an inode unlinked at mmap time gets
  shmem_anon_vm_ops, so memfd and shared anonymous memory are
  `vma_is_anon_shmem`), shmem_zero_setup 5887-5908, and the internal mount's
  `huge` following shmem_enabled unless deny/force (5434-5438, 5501-5503).
- fs/proc/array.c task_thp_status 418-424: `THP_enabled` is 0 exactly when
  MMF_DISABLE_THP_COMPLETELY is set; MMF_DISABLE_THP_EXCEPT_ADVISED is only
  visible to the process itself (kernel/sys.c prctl_get_thp_disable 2473-2487).
- include/linux/mm.h vma_is_temporary_stack 878-890 with
  VM_STACK_INCOMPLETE_SETUP 451, 475: grows-down with both `sr` and `rr`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import geometry
from .geometry import ORDERS, PAGE, PMD_ORDER, order_mask, within_size

SYSFS = Path("/sys/kernel/mm/transparent_hugepage")
ANON_ORDERS_ALL = frozenset(range(2, 10))  # include/linux/huge_mm.h:79

# VmFlags mnemonics (fs/proc/task_mmu.c 1139-1192) -> the vocabulary's bits.
FLAG_ATOMS = {"hg": "VM_HUGEPAGE", "nh": "VM_NOHUGEPAGE", "io": "VM_IO", "de": "VM_DONTEXPAND",
              "pf": "VM_PFNMAP", "mm": "VM_MIXEDMAP", "ht": "VM_HUGETLB", "ex": "VM_EXEC"}


THP_ENABLED = ("always", "madvise", "never")
SHMEM_ENABLED = ("always", "within_size", "advise", "never", "deny", "force")


def decode(data: bytes, file: str) -> str:
    """UTF-8 text, or a SmapsError at the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise SmapsError(f"{file}:{line}:{col}: error: not UTF-8 (byte {data[exc.start]:#04x})") from None


class SmapsError(InputError):
    """A malformed input, with its place: file:line:col: message (exit 2)."""


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class Vma:
    """One smaps entry."""

    line: int  # where its header is
    start: int
    end: int
    perms: str
    pgoff: int  # in pages
    dev: str
    inode: int
    path: str
    fields: tuple[tuple[str, int], ...]  # the "Name: N kB" lines
    vmflags: tuple[str, ...]
    thp_eligible: int | None  # None: the kernel printed no THPeligible line

    @property
    def size(self) -> int:
        return self.end - self.start

    def kb(self, name: str) -> int | None:
        return dict(self.fields).get(name)

    @property
    def shared(self) -> bool:
        return self.perms[3:4] == "s"


_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$")
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_ ]*):\s*(.*)$")


def parse_smaps(text: str, file: str = "<smaps>") -> list[Vma]:
    vmas: list[Vma] = []
    cur: dict[str, Any] | None = None

    def flush() -> None:
        if cur is not None:
            vmas.append(Vma(**cur))

    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        h = _HEADER.match(raw)
        if h:
            flush()
            start, end = int(h[1], 16), int(h[2], 16)
            if end <= start:
                raise SmapsError(f"{file}:{number}:1: error: the VMA ends before it starts")
            cur = dict(line=number, start=start, end=end, perms=h[3], pgoff=int(h[4], 16) // PAGE, dev=h[5],
                       inode=int(h[6]), path=h[7] or "", fields=(), vmflags=(), thp_eligible=None)
            continue
        f = _FIELD.match(raw)
        if f is None:
            raise SmapsError(f"{file}:{number}:1: error: expected a VMA header or 'Name: value', got {raw[:40]!r}")
        if cur is None:
            raise SmapsError(f"{file}:{number}:1: error: '{f[1]}' before the first VMA header")
        name, value = f[1], f[2].strip()
        col = len(raw) - len(raw.split(":", 1)[1].lstrip()) + 1  # the value's column
        if name == "VmFlags":
            cur["vmflags"] = tuple(value.split())
        elif name == "THPeligible":
            if value not in ("0", "1"):
                raise SmapsError(f"{file}:{number}:{col}: error: THPeligible must be 0 or 1, got {value!r}")
            cur["thp_eligible"] = int(value)
        else:
            parts = value.split()
            if parts and parts[0].isdigit():
                cur["fields"] = cur["fields"] + ((name, int(parts[0])),)
    flush()
    if not vmas:
        raise SmapsError(f"{file}:1:1: error: no VMA in this file")
    return vmas


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    options: tuple[str, ...]

    def option(self, name: str) -> str | None:
        for o in self.options:
            if o == name:
                return ""
            if o.startswith(name + "="):
                return o[len(name) + 1:]
        return None


@dataclass(frozen=True)
class Settings:
    """Everything system-wide the decision reads, as observed."""

    kernel: str  # uname -r
    sysfs: bool  # /sys/kernel/mm/transparent_hugepage exists (hugepage_init succeeded)
    thp_enabled: str | None
    shmem_enabled: str | None
    anon: Mapping[str, int] = field(default_factory=dict)  # always/madvise/inherit -> order mask
    shmem: Mapping[str, int] = field(default_factory=dict)  # always/madvise/inherit/within_size -> mask
    read_only_thp_for_fs: bool | None = None  # None: no /proc/config.gz
    mounts: tuple[Mount, ...] = ()
    # The Kconfig options the decision reads (KCONFIG), from /proc/config.gz
    # or /boot/config-RELEASE; an option missing here is unknown.
    kconfig: Mapping[str, bool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "sysfs": self.sysfs, "thp_enabled": self.thp_enabled,
                "shmem_enabled": self.shmem_enabled, "anon": dict(sorted(self.anon.items())),
                "shmem": dict(sorted(self.shmem.items())), "read_only_thp_for_fs": self.read_only_thp_for_fs,
                "mounts": [[mt.point, mt.fstype, ",".join(mt.options)] for mt in self.mounts],
                "kconfig": dict(sorted(self.kconfig.items()))}

    @staticmethod
    def from_json(doc: Mapping[str, Any], file: str = "<settings>") -> Settings:
        s = Settings._from_json(doc, file)
        for name, value, allowed in (("thp_enabled", s.thp_enabled, THP_ENABLED), ("shmem_enabled", s.shmem_enabled, SHMEM_ENABLED)):
            if value is not None and value not in allowed:
                raise SmapsError(f"{file}:1:1: error: settings.{name} is {value!r}; expected one of {', '.join(allowed)}")
        for name, masks, modes in (("anon", s.anon, ("always", "madvise", "inherit")),
                                   ("shmem", s.shmem, ("always", "madvise", "inherit", "within_size"))):
            for mode, mask in masks.items():
                if mode not in modes:
                    raise SmapsError(f"{file}:1:1: error: settings.{name} has mode {mode!r}; expected {', '.join(modes)}")
                if mask < 0 or mask & ~order_mask(ORDERS):
                    raise SmapsError(f"{file}:1:1: error: settings.{name}.{mode} = {mask} holds orders outside {list(ORDERS)}")
        return s

    @staticmethod
    def _from_json(doc: Mapping[str, Any], file: str) -> Settings:
        try:
            return Settings(kernel=str(doc["kernel"]), sysfs=bool(doc["sysfs"]), thp_enabled=doc["thp_enabled"],
                            shmem_enabled=doc["shmem_enabled"], anon={str(k): int(v) for k, v in doc["anon"].items()},
                            shmem={str(k): int(v) for k, v in doc["shmem"].items()},
                            read_only_thp_for_fs=doc["read_only_thp_for_fs"],
                            mounts=tuple(Mount(p, t, tuple(o.split(","))) for p, t, o in doc["mounts"]),
                            kconfig={str(k): bool(v) for k, v in doc.get("kconfig", {}).items() if str(k) in KCONFIG})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SmapsError(f"{file}:1:1: error: not a settings record: {exc}") from None


def _selected(text: str) -> str | None:
    m = re.search(r"\[([a-z_+]+)\]", text)
    return m[1] if m else None


def _size_order(dirname: str) -> int | None:
    m = re.fullmatch(r"hugepages-(\d+)kB", dirname)
    if not m:
        return None
    pages = int(m[1]) * 1024 // PAGE
    order = pages.bit_length() - 1
    return order if 1 << order == pages and order in ORDERS else None


def read_sysfs(root: Path = SYSFS) -> tuple[bool, str | None, str | None, dict[str, int], dict[str, int]]:
    if not root.is_dir():
        return False, None, None, {}, {}
    enabled = _selected((root / "enabled").read_text())
    shmem_path = root / "shmem_enabled"
    shmem_enabled = _selected(shmem_path.read_text()) if shmem_path.exists() else None
    anon = {"always": 0, "madvise": 0, "inherit": 0}
    shmem = {"always": 0, "madvise": 0, "inherit": 0, "within_size": 0}
    for d in sorted(root.glob("hugepages-*kB")):
        order = _size_order(d.name)
        if order is None:
            continue
        for name, masks in (("enabled", anon), ("shmem_enabled", shmem)):
            p = d / name
            if p.exists():
                mode = _selected(p.read_text())
                key = "madvise" if mode == "advise" else mode
                if key in masks:
                    masks[key] |= 1 << order
    return True, enabled, shmem_enabled, anon, shmem


KCONFIG = ("CONFIG_TRANSPARENT_HUGEPAGE", "CONFIG_READ_ONLY_THP_FOR_FS", "CONFIG_FS_DAX", "CONFIG_SHMEM")


def read_kconfig(release: str | None = None) -> dict[str, bool]:
    """The options of KCONFIG the running kernel was built with: from
    /proc/config.gz, else /boot/config-RELEASE; {} when neither is there.
    An option the file does not set (or sets to n) is false."""
    release = release or os.uname().release
    for path, packed in ((Path("/proc/config.gz"), True), (Path("/boot") / f"config-{release}", False)):
        try:
            data = path.read_bytes()
            text = (gzip.decompress(data) if packed else data).decode("utf-8", "replace")
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        return {name: re.search(rf"^{name}=[ym]$", text, re.M) is not None for name in KCONFIG}
    return {}


def read_config() -> bool | None:
    """CONFIG_READ_ONLY_THP_FOR_FS, or None when the kernel's config cannot be read."""
    return read_kconfig().get("CONFIG_READ_ONLY_THP_FOR_FS")


def _unescape(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), s)


def parse_mounts(text: str) -> tuple[Mount, ...]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            out.append(Mount(_unescape(parts[1]), parts[2], tuple(parts[3].split(","))))
    return tuple(out)


def read_settings(pid: int | str = "self") -> Settings:
    sysfs, enabled, shmem_enabled, anon, shmem = read_sysfs()
    try:
        mounts = parse_mounts(Path(f"/proc/{pid}/mounts").read_text())
    except OSError:
        mounts = ()
    kconfig = read_kconfig()
    return Settings(kernel=os.uname().release, sysfs=sysfs, thp_enabled=enabled, shmem_enabled=shmem_enabled,
                    anon=anon, shmem=shmem, read_only_thp_for_fs=kconfig.get("CONFIG_READ_ONLY_THP_FOR_FS"), mounts=mounts,
                    kconfig=kconfig)


@dataclass(frozen=True)
class Process:
    """Per-mm facts: the prctl bits, where they can be seen."""

    disable_completely: bool | None
    disable_except_advised: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"disable_completely": self.disable_completely, "disable_except_advised": self.disable_except_advised}

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Process:
        return Process(doc.get("disable_completely"), doc.get("disable_except_advised"))


def read_process(pid: int | str = "self") -> Process:
    completely: bool | None = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("THP_enabled:"):
                completely = line.split()[1] == "0"
    except OSError:
        pass
    except_advised: bool | None = None
    if completely:
        except_advised = False  # kernel/sys.c 2502-2509: one bit or the other
    elif pid in ("self", os.getpid()):
        except_advised = _prctl_get_thp_disable()
    return Process(completely, except_advised)


def _prctl_get_thp_disable() -> bool | None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        r = libc.prctl(42, 0, 0, 0, 0)  # PR_GET_THP_DISABLE
    except (OSError, AttributeError):
        return None
    return None if r < 0 else bool(r & 2)  # PR_THP_DISABLE_EXCEPT_ADVISED


# ------------------------------------------------------------------ facts -> atoms


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


def _mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
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
    mt = _mount_of(real, s.mounts) if real.startswith("/") else None
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


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class VmaReport:
    """One VMA: the kernel's THPeligible, the model's, the rule, and advice."""

    vma: Vma
    kind: str
    kernel: int | None
    model: str | None  # "true"/"false" or None (depends)
    depends_on: tuple[str, ...]
    rule: str | None
    rule_at: str
    cite: str
    advice: str
    unknown: tuple[tuple[str, str], ...]
    note: str = ""

    @property
    def status(self) -> str:
        if self.kernel is None:
            return "no-kernel-answer"
        if self.model is None:
            return "depends"
        return "agree" if (self.model == "true") == bool(self.kernel) else "DISAGREE"


def load_json(path: Path) -> Any:
    try:
        text = decode(path.read_bytes(), str(path))
        return json.loads(text)
    except OSError as exc:
        raise SmapsError(f"{path}:1:1: error: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SmapsError(f"{path}:{exc.lineno}:{exc.colno}: error: {exc.msg}") from None


# ------------------------------------------------------------------ the model's answer


def pick_version(lib: Any, kernel: str) -> str | None:
    """The modelled release nearest at or below `kernel`, by major and minor
    number, in the library's one release order (patches are never picked)."""
    from ..model import release_numbers

    running = release_numbers(kernel)[:2]
    if len(running) < 2:
        return None
    below = [(release_numbers(lib.versions[v].get("release"))[:2], v) for v in lib.releases()]
    below = [(numbers, v) for numbers, v in below if numbers <= running]
    return max(below)[1] if below else None


# The usual value of atoms smaps cannot show, used only to name a deciding
# rule when the value is already the same for every value of them.
USUAL: dict[str, bool | str | int] = {
    "vma_is_dax": False, "huge_fault": False, "inode_is_open_for_write": False, "anon_vma": True,
    "MMF_DISABLE_THP_EXCEPT_ADVISED": False, "vma_is_anon_shmem": False}


class Explainer:
    """Asks the model about observed VMAs; identical inputs are asked once."""

    def __init__(self, lib: Any, version: str) -> None:
        from ..backend.solver import Solver

        self.lib = lib
        self.version = version
        self.solver = Solver(lib)
        self.cache: dict[tuple[str, tuple[tuple[str, bool | str | int], ...]], Any] = {}

    def ask(self, known: Sequence[tuple[str, bool | str | int]], output: str = "thp_eligible") -> Any:
        from ..results import Fixed

        key = tuple(sorted((a, v) for a, v in known if a in self.lib.atoms))
        if (output, key) not in self.cache:
            given = [Fixed(a, None, v) for a, v in key]
            self.cache[output, key] = self.solver.evaluate(self.version, output, given)
        return self.cache[output, key]

    def report(self, v: Vma, obs: Observation) -> VmaReport:
        from ..results import Fixed

        r = self.ask(obs.known)
        known = dict(obs.known)
        unknown = dict(obs.unknown)
        depends = tuple(d for d in r.depends_on)
        if r.contradicts:
            advice = "inputs contradict the model's assumptions: " + ", ".join(r.contradicts)
        elif r.value is None:
            advice = "depends on " + ", ".join(depends) + ": " + "; ".join(
                unknown[d] for d in depends if d in unknown) if depends else "depends on atoms not observed"
        else:
            advice = explain_rule(r.rule, r.value == "true", v, known)
        note = r.note if r.contradicts else ""
        if r.value is not None and r.rule is None and not r.contradicts:
            # The value is fixed, the rule is not: name the rule of the usual case.
            usual = {a: val for a, val in USUAL.items() if a in unknown}
            r2 = self.ask(list(obs.known) + list(usual.items()))
            if r2.rule is not None and r2.value == r.value:
                note = "(rule of the usual case " + ", ".join(str(Fixed(a, None, val)) for a, val in sorted(usual.items())) \
                    + "; the value is the same whatever they are)"
                advice = explain_rule(r2.rule, r.value == "true", v, {**known, **usual})
                r = r2
            elif obs.kind.startswith("special mapping"):
                advice = "a kernel special mapping (vDSO, vvar): not eligible"
            else:
                advice = ("eligible" if r.value == "true" else "not eligible") \
                    + "; which rule decides depends on what smaps does not show"
        if r.value == "false" and advice.startswith("needs MADV_HUGEPAGE"):
            advice = self._if_advised(v, obs, advice)
        return VmaReport(vma=v, kind=obs.kind, kernel=v.thp_eligible, model=r.value, depends_on=depends, rule=r.rule,
                         rule_at=r.rule_at, cite=r.kernel, advice=advice, unknown=obs.unknown, note=note)


    def _if_advised(self, v: Vma, obs: Observation, advice: str) -> str:
        """Advice to add MADV_HUGEPAGE, kept only if the model says it is enough."""
        advised = {**dict(obs.known), "VM_HUGEPAGE": True, "vma_VM_HUGEPAGE": True,
                   "VM_NOHUGEPAGE": False, "vma_VM_NOHUGEPAGE": False}
        then = self.ask(list(advised.items()))
        if then.value == "true":
            return advice
        usual = self.ask(list({**USUAL, **advised}.items()))  # what is observed wins over the usual
        if then.value is None:
            if usual.value != "false":
                return advice + "; then it depends on " + ", ".join(then.depends_on)
            return (f"MADV_HUGEPAGE alone is not enough unless {' or '.join(then.depends_on)}: "
                    + explain_rule(usual.rule, False, v, {**USUAL, **advised}))
        rule = then.rule if then.rule is not None else usual.rule
        return "MADV_HUGEPAGE alone is not enough: " + explain_rule(rule, False, v, advised)


def human(size: int) -> str:
    for unit, n in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= n:
            q = size / n
            return f"{q:g} {unit}" if q == int(q) or len(f"{q:g}") <= 4 else f"{q:.1f} {unit}"
    return f"{size} B"


def _candidates(v: Vma, known: Mapping[str, Any]) -> list[int]:
    """The orders the suitability test is asked about, smallest first."""
    if known.get("vma_is_anonymous"):
        hg = bool(known.get("VM_HUGEPAGE"))
        mask = int(known.get("huge_anon_orders_always", 0))
        if hg:
            mask |= int(known.get("huge_anon_orders_madvise", 0))
        te = known.get("thp_enabled")
        if te == "always" or (hg and te != "never"):
            mask |= int(known.get("huge_anon_orders_inherit", 0))
        orders = [k for k in ORDERS if mask >> k & 1 and k in ANON_ORDERS_ALL]
        return orders or [PMD_ORDER]
    return [k for k in ORDERS if k <= PMD_ORDER]


def _geometry(v: Vma, known: Mapping[str, Any]) -> str:
    orders = _candidates(v, known)
    fits = int(known.get("block_fits", 0))
    aligned = int(known.get("pgoff_aligned", 0))
    k = orders[0]
    block = human(PAGE << k)
    if not any(fits >> o & 1 for o in orders):
        if v.size < PAGE << k:
            return f"the {block} block does not fit: {human(v.size)} mapping"
        return f"no {block}-aligned {block} block inside the mapping: align it"
    return f"file offset and address disagree mod {block}: map at an address congruent to the offset" if not any(
        aligned >> o & 1 for o in orders) else f"no {block} block is both aligned and inside"


# The rule labels the advice below is keyed on, with the first modelled
# release whose thp_eligible (or a predicate it calls) has each; a test holds
# every label to every version from that release on.
ADVICE_LABELS: dict[str, str] = {
    "dax": "v5.19", "disabled": "v5.19", "file": "v5.19", "pgoff": "v5.19", "range": "v5.19", "shmem": "v5.19",
    "suitable": "v5.19", "temporary_stack": "v5.19", "VM_NO_KHUGEPAGED": "v6.0", "no_mm": "v6.0", "sysfs": "v6.1",
    "huge_fault": "v6.7", "no_enabled_order": "v6.8", "no_suitable_order": "v6.8", "completely": "v6.18",
    "except_advised": "v6.18", "madv_nohugepage": "v6.18",
}


def explain_rule(rule: str | None, eligible: bool, v: Vma, known: Mapping[str, Any]) -> str:
    """One line a performance engineer can act on."""
    te, se = known.get("thp_enabled"), known.get("shmem_enabled")
    hg = bool(known.get("VM_HUGEPAGE"))
    if eligible:
        if rule == "huge_fault":
            return "eligible: the file system's ->huge_fault maps huge pages"
        if rule == "file":
            return "eligible: read-only file THP (CONFIG_READ_ONLY_THP_FOR_FS)"
        if known.get("shmem_file"):
            return "eligible: shmem THP (" + ("MADV_HUGEPAGE, " if hg else "") + f"shmem_enabled={se})"
        return "eligible" + (" (MADV_HUGEPAGE)" if hg and te == "madvise" else f" (enabled={te})")
    if known.get("VM_NOHUGEPAGE") and rule in ("disabled", "madv_nohugepage", "shmem"):
        return "MADV_NOHUGEPAGE or MAP_STACK set it off: VmFlags nh"
    if known.get("MMF_DISABLE_THP") and rule in ("disabled", "completely", "shmem"):
        return "off for the process: prctl(PR_SET_THP_DISABLE)"
    if known.get("MMF_DISABLE_THP_EXCEPT_ADVISED") and not hg and rule in ("disabled", "except_advised", "shmem"):
        return "needs MADV_HUGEPAGE: PR_THP_DISABLE_EXCEPT_ADVISED"
    if rule == "no_enabled_order":
        if te == "madvise" and not hg:
            return "needs MADV_HUGEPAGE: enabled=madvise"
        return f"no THP size enabled: enabled={te}, hugepages-*/enabled"
    if rule in ("no_suitable_order", "suitable", "pgoff", "range"):
        return _geometry(v, known)
    if rule == "no_mm":
        return "gate VMA (no mm): never THP"
    if rule == "dax":
        return "DAX: huge pages come from the fault path only"
    if rule == "VM_NO_KHUGEPAGED":
        return "VM_IO/PFNMAP/MIXEDMAP/DONTEXPAND/HUGETLB mapping"
    if rule == "temporary_stack":
        return "stack during exec: never THP"
    if rule == "sysfs":
        return "file THP off: enabled=never" if te == "never" else "needs MADV_HUGEPAGE: enabled=madvise"
    if known.get("shmem_file"):
        return _shmem_advice(rule, known)
    if known.get("vma_is_anonymous") is False and (rule or "").startswith("L"):  # the unlabelled last return
        if known.get("CONFIG_READ_ONLY_THP_FOR_FS") is False:
            return "no ->huge_fault and CONFIG_READ_ONLY_THP_FOR_FS=n"
        return "no ->huge_fault, and the file is not read-only THP"
    return f"not eligible ({rule})"


def _shmem_advice(rule: str | None, known: Mapping[str, Any]) -> str:
    se, huge = known.get("shmem_enabled"), known.get("tmpfs_huge")
    hg = bool(known.get("VM_HUGEPAGE"))
    if se == "deny":
        return "shmem THP denied: shmem_enabled=deny"
    if not known.get("vma_is_anon_shmem"):
        if huge == "advise" and not hg:
            return "needs MADV_HUGEPAGE: tmpfs huge=advise"
        if huge == "within_size":
            return "file smaller than the 2 MiB range: huge=within_size" + ("" if hg else " (or MADV_HUGEPAGE)")
        return f"tmpfs mounted huge={huge}: mount with huge=always/advise"
    if se == "advise" and not hg:
        return "needs MADV_HUGEPAGE: shmem_enabled=advise"
    if se == "within_size":
        return "shmem smaller than the range: shmem_enabled=within_size"
    return f"shmem THP off: shmem_enabled={se}, hugepages-*/shmem_enabled"


def explain(lib: Any, version: str, vmas: Sequence[Vma], settings: Settings, proc: Process,
            sizes: Mapping[int, int] | None = None) -> list[VmaReport]:
    ex = Explainer(lib, version)
    return [ex.report(v, observe(v, settings, proc, (sizes or {}).get(v.start))) for v in vmas]


def entry_at(smaps: str, start: int) -> str:
    """The smaps entry that starts at `start` (addresses are printed zero-padded to 8 digits)."""
    lines: list[str] = []
    keep = False
    for line in smaps.splitlines(keepends=True):
        first = line.split(" ", 1)[0]
        if "-" in first and ":" not in first:
            try:
                keep = int(first.split("-", 1)[0], 16) == start
            except ValueError:
                keep = False
        if keep:
            lines.append(line)
    return "".join(lines)
