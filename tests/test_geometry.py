"""kernel/geometry.py against brute force and against the kernel's arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from thpverify.kernel import geometry as g

PAGE = g.PAGE
GiB = 1 << 30


@given(st.integers(1, 1 << 20), st.integers(1, 4096), st.sampled_from(g.ORDERS))
def test_block_fits_is_the_last_aligned_block_or_a_wrap(start_page: int, pages: int, k: int) -> None:
    start, end = start_page * PAGE, (start_page + pages) * PAGE
    size = PAGE << k
    last = (end - size) // size * size if end >= size else None
    expected = (last is not None and last >= start) or end < size
    assert bool(g.block_fits(start, end) >> k & 1) == expected


def test_low_vma_fits_by_wrap_around() -> None:
    # 4 KiB at 1 MiB: vm_end - 2 MiB wraps, haddr + 2 MiB wraps to 0: the range test passes.
    assert g.block_fits(0x100000, 0x101000) >> g.PMD_ORDER & 1
    assert not g.block_fits(0x1000000, 0x1001000) >> g.PMD_ORDER & 1
    # Every VMA that ends below 1 GiB passes the PUD test; one that ends at 1 GiB does not.
    assert g.block_fits(GiB - 2 * PAGE, GiB - PAGE) >> g.PUD_ORDER & 1
    assert not g.block_fits(GiB - 2 * PAGE, GiB) >> g.PUD_ORDER & 1


@given(st.integers(0, 1 << 35), st.integers(0, 1 << 40))
def test_pgoff_test_wraps_like_unsigned_long(start_page: int, pgoff: int) -> None:
    mask = g.pgoff_aligned(start_page * PAGE, pgoff)
    for k in g.ORDERS:
        assert bool(mask >> k & 1) == (((start_page - pgoff) % (1 << 64)) % (1 << k) == 0)


@given(st.integers(0, 3000), st.integers(0, 5000 * PAGE))
def test_within_size_is_the_aligned_range_below_eof(index: int, i_size: int) -> None:
    mask = g.within_size(index, i_size)
    pages = -(-i_size // PAGE)
    for k in g.ORDERS:
        n = 1 << k
        assert bool(mask >> k & 1) == ((index // n + 1) * n <= pages)


def test_anonymous_geometry_is_always_pgoff_aligned() -> None:
    atoms = g.Geometry(0x7F0000001000, 2 << 20).atoms(anonymous=True)
    assert atoms["pgoff_aligned"] == g.order_mask(g.ORDERS)
    assert not atoms["block_fits"] >> g.PMD_ORDER & 1  # a misaligned 2 MiB holds no 2 MiB block


def test_boundary_lengths_straddle_every_order() -> None:
    lengths = g.boundary_lengths()
    for k in g.ORDERS:
        size = PAGE << k
        assert {size - PAGE, size, size + PAGE} - {0} <= set(lengths)
