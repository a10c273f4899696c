"""What the kernel and the process are configured with, read only: the
sysfs THP settings (`read_sysfs`), the Kconfig options (`read_kconfig`), the
mounts, gathered by `read_settings`; and the process's prctl bits as its
status line and PR_GET_THP_DISABLE show them (`read_process`).

Kernel facts (Linux 6.18.2, gfunkmonk/linux-6.18.2 @57dc26c98e5e):
fs/proc/array.c task_thp_status 418-424: `THP_enabled` is 0 exactly when
MMF_DISABLE_THP_COMPLETELY is set; MMF_DISABLE_THP_EXCEPT_ADVISED is only
visible to the process itself (kernel/sys.c prctl_get_thp_disable 2473-2487).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .geometry import ORDERS, PAGE, order_mask
from .proc import Mount, SmapsError, parse_mounts

SYSFS = Path("/sys/kernel/mm/transparent_hugepage")
THP_ENABLED = ("always", "madvise", "never")
SHMEM_ENABLED = ("always", "within_size", "advise", "never", "deny", "force")


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
