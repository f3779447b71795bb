/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The free path's region-start test (sc.h, sz_region_start; rtree.h, rtree_read_fast): for every
 * small class, every page of its slab and every 16-byte step (and some odd offsets) in the page,
 * an offset passes exactly when it starts one of the slab's regions; in a large extent only
 * offset 0 passes, its last page included. With 4 and 8 KiB pages every small class has its
 * constant (none falls back to the slow path). The fast path's form, with the constant and the
 * base's low half taken from a radix-tree slot, agrees; the bin it names has room only once
 * active, and never for a class above tcache_max (the free fast path then leaves for the slow
 * path). Sampled blocks, unknown pointers, pointers with bits above the address space and every
 * pointer of a thread whose frees must take the slow path (TSD_LEAF_SLOW) pass nothing.
 */
#include "allocator/internal/api.h"
#include "allocator/internal/pages.h"
#include "unit.h"

static unsigned nbad;

static void expect_region(unsigned ind, uint64_t off, bool start) {
    uint32_t c = sz_region_c_tab[ind];
    bool pass = sz_region_start((uint32_t)off, c);
    bool ok = pass == (start && c != 0);
    if (!ok && nbad++ < 10)
        fprintf(stderr, "class %zu, offset %#llx: %s, expected %s\n", sz_index2size(ind),
                (unsigned long long)off, pass ? "passes" : "fails",
                start ? "a region start" : "no region start");
    check(ok);
}

static void test_small(void) {
    for (unsigned ind = 0; ind < SC_NBINS; ind++) {
        const bin_info_t *info = &bin_infos[ind];
        size_t size = info->reg_size;
        if (LG_PAGE <= 13)
            check(sz_region_c_tab[ind] != 0);
        if (info->nregs > 1 && sz_region_c_tab[ind] != 0)
            check_eq(sz_region_c_tab[ind], info->div_magic); /* ceil(2^32 / size) */
        for (size_t page = 0; page < info->slab_pages; page++) {
            for (size_t in = 0; in < PAGE; in += QUANTUM) {
                uint64_t off = page * PAGE + in;
                expect_region(ind, off, off % size == 0);
                expect_region(ind, off + 8, false);
                expect_region(ind, off + 1, false);
                if (in + QUANTUM == PAGE)
                    expect_region(ind, off + QUANTUM - 1, false); /* the page's last byte */
            }
        }
    }
}

static void test_large(void) {
    for (unsigned ind = SC_NBINS; ind < SC_NSIZES; ind++) {
        size_t size = sz_index2size(ind);
        if (size >= ((size_t)1 << 31)) {
            check_eq(sz_region_c_tab[ind], 0);
            continue;
        }
        check_eq(sz_region_c_tab[ind], 1);
        expect_region(ind, 0, true);
        expect_region(ind, QUANTUM, false);
        expect_region(ind, PAGE, false);
        expect_region(ind, size - PAGE, false); /* the last page, which the tree registers */
        expect_region(ind, size - 1, false);
        if (ind < SC_NBINS + 16) {
            for (size_t off = PAGE; off < size; off += PAGE)
                expect_region(ind, off, false);
        }
    }
}

/*
 * What free_fastpath computes, the tag aside: the leaf (fastpath_leaf, with tls as the thread's
 * copy), the bin and the region test from the slot (rtree_read_fast), room in the bin.
 */
static bool fast_start(tsd_tls_t *tls, const tcache_t *tc, uintptr_t p, const cache_bin_t **cbp) {
    size_t off;
    bool start;
    rtree_read_fast(p, fastpath_leaf(tls, p), &off, &start);
    *cbp = (const cache_bin_t *)((const char *)tc->bins + off);
    return start && (*cbp)->top < (*cbp)->full;
}

static void test_cache_bins(void) {
    static tcache_t tc;
    void **stacks = malloc(tcache_stack_bytes());
    check(stacks != NULL);
    tcache_init(&tc, NULL, stacks, true);
    static extent_t ext __attribute__((aligned(64)));
    uintptr_t base = (uintptr_t)0x7f1234560000;
    check(!rtree_ensure(base, 2 * PAGE));
    tsd_tls_t tls = {NULL, UINTPTR_MAX, NULL};
    const cache_bin_t *cb;
    for (unsigned binid = 1; binid <= SC_NSIZES; binid++) {
        rtree_entry_t e = rtree_entry_make(&ext, binid, binid - 1 < SC_NBINS);
        check_eq(rtree_entry_binid(e), binid);
        check(rtree_entry_extent(e) == &ext);
        rtree_write_range(base, 2 * PAGE, e, base);
        size_t size = sz_index2size(binid - 1);
        if (binid - 1 >= tcache_nhbins()) {
            /* A class no cache holds: its bin is never written (all zero) and has no room. */
            check(!fast_start(&tls, &tc, base, &cb));
            check(cb == &tc.bins[binid] && cb->full == 0);
            continue;
        }
        /* A cached class's bin has no room until the slow path activates it. */
        check(!fast_start(&tls, &tc, base, &cb));
        check(cb == &tc.bins[binid]);
        tcache_bin_activate(&tc, binid);
        /* A class without the test's constant (sc.h: some with 16 and 64 KiB pages) never. */
        bool has_c = sz_region_c_tab[binid - 1] != 0;
        check_eq(fast_start(&tls, &tc, base, &cb), has_c);
        check(cb == &tc.bins[binid]);
        check(!fast_start(&tls, &tc, base + QUANTUM / 2, &cb));
        if (size < 2 * PAGE) /* the second region, if the slab has one */
            check(fast_start(&tls, &tc, base + size, &cb) ==
                  (has_c && binid - 1 < SC_NBINS && bin_infos[binid - 1].nregs > 1));
        check(!fast_start(&tls, &tc, base + PAGE + QUANTUM / 2, &cb));
        /*
         * Bits above the address space: the low 32 bits of a region start, and the slot of the
         * region's page if the leaf were looked up with those bits dropped; the lookup gives
         * the empty leaf instead, the copy kept by the lookups above matches no such pointer,
         * and bins[0] has no room.
         */
        check(!fast_start(&tls, &tc, base | (uintptr_t)1 << 60, &cb));
        check(cb == &tc.bins[0]);
        check(!fast_start(&tls, &tc, (base + size) | (uintptr_t)1 << 62, &cb));
        check(!fast_start(&tls, &tc, base | (uintptr_t)1 << LG_VADDR, &cb));
        check(tls.leaf == rtree_leaf_of(base)); /* still the copy of base's leaf */
        /* A thread whose frees all take the slow path: the empty leaf for every pointer. */
        tsd_tls_t slow = {NULL, TSD_LEAF_SLOW, NULL};
        check(!fast_start(&slow, &tc, base, &cb));
        check(cb == &tc.bins[0] && slow.leaf_key == TSD_LEAF_SLOW);
        /* A sampled block's entry (its slot's constant is 0: emap.h) passes nothing. */
        rtree_write_range(base, 2 * PAGE, e | RTREE_PROF_BIT, base + 1);
        check(!fast_start(&tls, &tc, base, &cb));
        check(!fast_start(&tls, &tc, base + 1, &cb));
    }
    /* No class (free extents, unknown pointers): bins[0], which has no room. */
    rtree_write_range(base, 2 * PAGE, 0, 0);
    check(!fast_start(&tls, &tc, base, &cb));
    check(cb == &tc.bins[0]);
    check(!fast_start(&tls, &tc, (uintptr_t)0x123456789000, &cb));
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
