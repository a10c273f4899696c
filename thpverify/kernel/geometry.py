"""Address, length and file offset -> `pgoff_aligned`, `block_fits`, `within_size`.

The one implementation used by `smaps`, `conform` and `reproduce`. It does
the kernel's arithmetic in the kernel's integer width (`unsigned long`, 64
bits on x86-64), wrap-around included. Facts of Linux 6.18.2
(gfunkmonk/linux-6.18.2 @57dc26c98e5e):

- include/linux/huge_mm.h thp_vma_suitable_order 220-238: the pgoff test
  (227-231) subtracts vm_pgoff from vm_start >> PAGE_SHIFT as unsigned long
  and tests the low bits; the range test (233-237) aligns `addr` down and
  compares, again as unsigned long, so `haddr + hpage_size` can wrap to 0;
- mm/huge_memory.c __thp_vma_allowable_orders 147-160: outside the fault
  path each order is asked at addr = vm_end - (PAGE_SIZE << order), an
  unsigned subtraction. For a VMA that ends below the block size it wraps:
  haddr becomes 2^64 - size, haddr + size wraps to 0, and both comparisons
  pass. So a 4 KiB mapping ending below 2 MiB fits a PMD block, and every
  VMA ending below 1 GiB fits a PUD block (seen on 6.18: a 4 KiB anonymous
  MADV_HUGEPAGE mapping at 0x100000 shows THPeligible 1);
- mm/shmem.c shmem_get_orders_within_size 575-595: at index = vm_pgoff and
  write_end = 0, order k stays when i_size rounded up to pages reaches
  round_up(index + 1, 2^k).

The fault path checks the faulting address instead (`fault_fits`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
BITS = 64  # sizeof(unsigned long) * 8 on x86-64
ULONG = (1 << BITS) - 1
ORDERS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 18)
PMD_ORDER, PUD_ORDER = 9, 18
TASK_SIZE = (1 << 47) - PAGE  # x86-64, 4-level paging: arch/x86/include/asm/page_64_types.h


def order_mask(orders: Iterable[int]) -> int:
    return sum(1 << k for k in orders)


def orders_of(mask: int) -> tuple[int, ...]:
    return tuple(k for k in ORDERS if mask >> k & 1)


def _u(x: int) -> int:
    """x as the kernel's unsigned long holds it."""
    return x & ULONG


def pgoff_ok(start: int, pgoff: int, order: int) -> bool:
    """huge_mm.h:227-231: IS_ALIGNED((vm_start >> PAGE_SHIFT) - vm_pgoff, 2^order)."""
    return _u((start >> PAGE_SHIFT) - pgoff) & ((1 << order) - 1) == 0


def range_ok(start: int, end: int, addr: int, order: int) -> bool:
    """huge_mm.h:233-237 at `addr`: the aligned block holding addr lies in [start, end)."""
    size = PAGE << order
    haddr = _u(addr) & _u(~(size - 1))
    return not (haddr < start or _u(haddr + size) > end)


def pgoff_aligned(start: int, pgoff: int) -> int:
    """The orders whose pgoff test passes, as a mask."""
    return order_mask(k for k in ORDERS if pgoff_ok(start, pgoff, k))


def block_fits(start: int, end: int) -> int:
    """The orders whose range test passes at addr = vm_end - size (mm/huge_memory.c:151), as a mask."""
    return order_mask(k for k in ORDERS if range_ok(start, end, _u(end - (PAGE << k)), k))


def fault_fits(start: int, end: int, addr: int) -> int:
    """The orders whose range test passes at a faulting address, as a mask."""
    return order_mask(k for k in ORDERS if range_ok(start, end, addr, k))


def within_size(pgoff: int, i_size: int) -> int:
    """mm/shmem.c:575-595 at index = vm_pgoff, write_end = 0, as a mask."""
    pages = -(-i_size // PAGE)
    return order_mask(k for k in ORDERS if pages >= -(-(pgoff + 1) // (1 << k)) * (1 << k))


@dataclass(frozen=True)
class Geometry:
    """A concrete VMA placement: where, how long, at which file page, over a file of which size."""

    start: int
    length: int
    pgoff: int = 0  # pages
    file_size: int | None = None  # bytes; None: no file

    @property
    def end(self) -> int:
        return self.start + self.length

    def atoms(self, anonymous: bool) -> dict[str, int]:
        """The geometry atoms this placement gives. A private anonymous VMA
        has vm_pgoff = vm_start >> PAGE_SHIFT (mm/mmap.c 533-538), so every
        order is pgoff-aligned."""
        pgoff = self.start >> PAGE_SHIFT if anonymous else self.pgoff
        out = {"pgoff_aligned": pgoff_aligned(self.start, pgoff), "block_fits": block_fits(self.start, self.end)}
        if self.file_size is not None:
            out["within_size"] = within_size(self.pgoff, self.file_size)
        return out


def boundary_lengths() -> list[int]:
    """Lengths on both sides of every order boundary (and the boundary itself)."""
    out = {PAGE}
    for k in ORDERS:
        size = PAGE << k
        out.update({size - PAGE, size, size + PAGE})
    return sorted(x for x in out if x > 0)
