"""Advice: one line a performance engineer can act on, keyed on the
label of the rule that decided (`explain_rule`; the labels in
ADVICE_LABELS, held to every spec by a test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .geometry import ORDERS, PAGE, PMD_ORDER
from .proc import Vma

ANON_ORDERS_ALL = frozenset(range(2, 10))  # include/linux/huge_mm.h:79


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
