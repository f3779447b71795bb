/* SPDX-License-Identifier: BSD-2-Clause */
/* The radix tree: empty lookups read zero, writes land on the right page, entries pack. */
#include "allocator/internal/extent.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/rtree.h"
#include "unit.h"

int main(void) {
    pages_boot();
    sc_boot();
    /* Nothing registered: any address reads 0, NULL included, without faulting. */
    check_eq(rtree_read(NULL), 0);
    check_eq(rtree_read((void *)(uintptr_t)0x7fff12345000), 0);
    check_eq(rtree_read((void *)~(uintptr_t)0), 0);

    static extent_t ext __attribute__((aligned(64)));
    uintptr_t base = (uintptr_t)1 << 40;
    size_t span = (size_t)3 << 30; /* crosses leaf boundaries */
    check(!rtree_ensure(base, span));
    check(rtree_validate(base) && rtree_validate(base + span - 1));
    rtree_entry_t e = rtree_entry_make(&ext, 17, true);
    check(rtree_entry_extent(e) == &ext);
    check_eq(rtree_entry_binid(e), 17);
    check(rtree_entry_slab(e));
    check_eq(e >> RTREE_BINOFF_SHIFT, 17 * 64); /* the bin offset the free fast path reads */
    rtree_entry_t big = rtree_entry_make(&ext, SC_NSIZES, false);
    check(!rtree_entry_slab(big) && rtree_entry_extent(big) == &ext);
    check_eq(rtree_entry_binid(big), SC_NSIZES);
    check_eq(big >> RTREE_BINOFF_SHIFT, (uintptr_t)SC_NSIZES * 64);
    rtree_write_range(base + ((size_t)1 << 30) - 2 * PAGE, 4 * PAGE, e, 12345);
    check_eq(rtree_read((void *)(base + ((size_t)1 << 30) - 2 * PAGE)), e);
    check_eq(rtree_read((void *)(base + ((size_t)1 << 30) + PAGE + 5)), e);
    check_eq(rtree_read_base32((void *)(base + ((size_t)1 << 30) + PAGE + 5)), 12345);
    check_eq(rtree_slot_binoff(rtree_slot_ptr(base + ((size_t)1 << 30) + PAGE)), 17 * 64);
    check_eq(rtree_read_base32((void *)(base + ((size_t)1 << 30) + 2 * PAGE)), 0);
    check_eq(rtree_read((void *)(base + ((size_t)1 << 30) + 2 * PAGE)), 0);
    check_eq(rtree_read((void *)(base + ((size_t)1 << 30) - 3 * PAGE)), 0);
    /* The shared zero leaf is never written. */
    for (size_t i = 0; i < RTREE_LEAF_N; i += 4096)
        check(rtree.zero_leaf[i].entry == 0 && rtree.zero_leaf[i].neg_base == 0 &&
              rtree.zero_leaf[i].region_c == 0);
    return unit_finish("rtree");
}
