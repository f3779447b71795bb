/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The free path's region-start test (sc.h, sz_region_ordinal; rtree.h, rtree_read_fast):
 * for every small class, every page of its slab and every 16-byte step (and some odd offsets) in
 * the page, an offset passes exactly when it starts one of the slab's regions, and then the
 * ordinal is the region's index. Offsets past the slab, before it (negative) or with bits above
 * the address space fail; so does anything but offset 0 in a large extent, its last page included.
 * The fast path's form, with the multiplier and shift taken from a radix-tree slot and the count
 * from a thread cache's bin, agrees once the bin is active; before, and for the bin of a class
 * above tcache_max, never written, it passes nothing (the free fast path then leaves for the slow
 * path at its first test).
 */
#include "allocator/internal/pages.h"
#include "allocator/internal/tcache.h"
#include "unit.h"

static unsigned nbad;

static void expect_region(unsigned ind, uint64_t off, bool start) {
    uint64_t ord = sz_region_ordinal(off, sz_region_mul_tab[ind], sz_region_shift_tab[ind]);
    bool pass = ord < sz_region_count(ind);
    size_t size = sz_index2size(ind);
    bool ok = pass == start && (!start || ord == off / size);
    if (!ok && nbad++ < 10)
        fprintf(stderr, "class %zu, offset %#llx: ordinal %#llx, expected %s\n", size,
                (unsigned long long)off, (unsigned long long)ord,
                start ? "a region start" : "no region start");
    check(ok);
}

static void test_small(void) {
    for (unsigned ind = 0; ind < SC_NBINS; ind++) {
        const bin_info_t *info = &bin_infos[ind];
        size_t size = info->reg_size;
        for (size_t page = 0; page < info->slab_pages; page++) {
            for (size_t in = 0; in < PAGE; in += QUANTUM) {
                uint64_t off = page * PAGE + in;
                expect_region(ind, off, off % size == 0);
                expect_region(ind, off + 8, false);
                expect_region(ind, off + 1, false);
            }
        }
        /* Past the slab, before it, and with bits above the address space. */
        expect_region(ind, info->slab_size, false);
        expect_region(ind, (uint64_t)info->nregs * size, false);
        expect_region(ind, (uint64_t)info->nregs * size * 7, false);
        expect_region(ind, -(uint64_t)size, false);
        expect_region(ind, -(uint64_t)QUANTUM, false);
        for (unsigned bit = LG_VADDR; bit < 64; bit++) {
            expect_region(ind, (uint64_t)1 << bit, false);
            expect_region(ind, ((uint64_t)1 << bit) + size, false);
        }
    }
}

static void test_large(void) {
    for (unsigned ind = SC_NBINS; ind < SC_NSIZES; ind++) {
        size_t size = sz_index2size(ind);
        expect_region(ind, 0, true);
        expect_region(ind, QUANTUM, false);
        expect_region(ind, PAGE, false);
        expect_region(ind, size - PAGE, false); /* the last page, which the tree registers */
        expect_region(ind, size, false);
        expect_region(ind, -(uint64_t)PAGE, false);
        expect_region(ind, (uint64_t)1 << 60, false);
        if (ind < SC_NBINS + 16) {
            for (size_t off = PAGE; off < size; off += PAGE)
                expect_region(ind, off, false);
        }
    }
}

/*
 * What free_fastpath computes: the bin from the slot's entry, the ordinal from the slot's own
 * copy of the class's constants (rtree_read_fast), the count from the bin.
 */
static bool fast_start(const tcache_t *tc, uintptr_t p, const cache_bin_t **cbp) {
    size_t off;
    uint64_t ord;
    rtree_read_fast(p, rtree_leaf_of(p), &off, &ord);
    *cbp = (const cache_bin_t *)((const char *)tc->bins + off);
    return ord < (*cbp)->region_count;
}

static void test_cache_bins(void) {
    static tcache_t tc;
    void **stacks = malloc(tcache_stack_bytes());
    check(stacks != NULL);
    tcache_init(&tc, NULL, stacks, true);
    static extent_t ext __attribute__((aligned(64)));
    uintptr_t base = (uintptr_t)0x7f1234560000;
    check(!rtree_ensure(base, 2 * PAGE));
    const cache_bin_t *cb;
    for (unsigned binid = 1; binid <= SC_NSIZES; binid++) {
        rtree_entry_t e = rtree_entry_make(&ext, binid, binid - 1 < SC_NBINS);
        check_eq(rtree_entry_binid(e), binid);
        check(rtree_entry_extent(e) == &ext);
        rtree_write_range(base, 2 * PAGE, e, base);
        size_t size = sz_index2size(binid - 1);
        if (binid - 1 >= tcache_nhbins()) {
            /* A class no cache holds: its bin is never written (all zero) and passes nothing. */
            check(!fast_start(&tc, base, &cb));
            check(cb == &tc.bins[binid]);
            continue;
        }
        /* A cached class's bin passes nothing until the slow path activates it. */
        check(!fast_start(&tc, base, &cb));
        check(cb == &tc.bins[binid]);
        tcache_bin_activate(&tc, binid);
        check(fast_start(&tc, base, &cb));
        check(cb == &tc.bins[binid]);
        check(!fast_start(&tc, base + QUANTUM / 2, &cb));
        if (size < 2 * PAGE) /* the second region, if the slab has one */
            check(fast_start(&tc, base + size, &cb) ==
                  (binid - 1 < SC_NBINS && bin_infos[binid - 1].nregs > 1));
        check(!fast_start(&tc, base + PAGE + QUANTUM / 2, &cb));
        /* Bits above the address space: the same slot, and no region start. */
        check(!fast_start(&tc, base | (uintptr_t)1 << 60, &cb));
        check(!fast_start(&tc, (base + size) | (uintptr_t)1 << 62, &cb));
        /* A sampled block's entry (base = start + 1, emap.h) passes nothing. */
        rtree_write_range(base, 2 * PAGE, e | RTREE_PROF_BIT, base + 1);
        check(!fast_start(&tc, base, &cb));
    }
    /* No class (free extents, unknown pointers): bins[0], which passes nothing. */
    rtree_write_range(base, 2 * PAGE, 0, 0);
    check(!fast_start(&tc, base, &cb));
    check(cb == &tc.bins[0]);
    check(!fast_start(&tc, (uintptr_t)0x123456789000, &cb));
    check(cb == &tc.bins[0]);
    free(stacks);
}

int main(void) {
    pages_boot(); /* the page size: the kernel's, or the test-only setting's */
    sc_boot();
    test_small();
    test_large();
    test_cache_bins();
    return unit_finish("region");
}
