/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Size classes: the tables agree with the closed forms, four classes per doubling, slabs; at
 * every page size the build serves (sc_boot recomputed for each, as boot would after reading it).
 */
#include "allocator/internal/edata.h"
#include "allocator/internal/sc.h"
#include "allocator/internal/slab.h"
#include "unit.h"

static void check_tables(void) {
    sc_boot();
    check_eq(SC_NBINS, 4 * (LG_PAGE + 2) - 21);
    check(SC_NBINS >= SC_NBINS_MIN && SC_NBINS <= SC_NBINS_MAX);
    check_eq(SC_LARGE_MINCLASS, 4 * PAGE);
    /*
     * A descriptor is two cache lines at every page size (the bitmap is the slab's, slab.h), and
     * the bitmap lists have a length for the slab with the most regions.
     */
    check_eq(sizeof(extent_t), 2 * CACHELINE);
    check(offsetof(extent_t, bitmap) < CACHELINE && offsetof(extent_t, nfree) < CACHELINE);
    check((1u << (SLAB_BITMAP_NLISTS - 1)) >= slab_bitmap_words(SLAB_MAXREGS));
    /* The first classes are quantum multiples, then four per doubling. */
    size_t expect[] = {16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640};
    for (unsigned i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        check_eq(sz_index2size(i), expect[i]);
    check_eq(SC_SMALL_MAXCLASS, sz_index2size(SC_NBINS - 1));
    check_eq(SC_LARGE_MINCLASS, sz_index2size(SC_NBINS));
    check_eq(sz_index2size(SC_NSIZES - 1), SC_LARGE_MAXCLASS);
    /* Every size maps to the smallest class that holds it. */
    for (size_t size = 1; size <= (1u << 20); size++) {
        unsigned ind = sz_size2index(size);
        if (sz_index2size(ind) < size || (ind > 0 && sz_index2size(ind - 1) >= size)) {
            check(!"size2index not the smallest fitting class");
            fprintf(stderr, "size %zu -> ind %u (%zu)\n", size, ind, sz_index2size(ind));
            break;
        }
    }
    for (unsigned i = 0; i + 1 < SC_NSIZES; i++) {
        check(sz_index2size(i) < sz_index2size(i + 1));
        check_eq(sz_size2index(sz_index2size(i)), i);
        check_eq(sz_size2index(sz_index2size(i) + 1), i + 1);
    }
    check_eq(sz_s2u(100), 112);
    check_eq(sz_s2u(0), 16);
    check_eq(sz_s2u(SC_LARGE_MAXCLASS + 1), 0);
    /* Aligned usable sizes are multiples of the alignment (so slab regions are aligned). */
    for (size_t align = 16; align <= PAGE; align <<= 1) {
        for (size_t size = 1; size < 3 * PAGE; size += 7) {
            size_t u = sz_sa2u(size, align);
            check(u >= size);
            if (u <= SC_SMALL_MAXCLASS && u % align != 0) {
                check(!"aligned small class is not a multiple of the alignment");
                break;
            }
        }
    }
    /* Slabs: no tail waste, at most SLAB_MAXREGS regions, a PAGE multiple. */
    for (unsigned i = 0; i < SC_NBINS; i++) {
        const bin_info_t *b = &bin_infos[i];
        check_eq(b->slab_size % PAGE, 0);
        check_eq(b->slab_size, (size_t)b->slab_pages * PAGE);
        check_eq(b->slab_size, (size_t)b->nregs * b->reg_size);
        check(b->nregs >= 1 && b->nregs <= SLAB_MAXREGS);
        for (unsigned r = 0; r < b->nregs; r++)
            check_eq(sz_region_index(b, 0x10000000, 0x10000000 + (uintptr_t)r * b->reg_size), r);
        /* The smallest exact run of pages, doubled only while under four regions and within
         * SC_SLAB_PAGES_DOUBLED pages: one live region never pins more (14336 B: 7 pages). */
        size_t run = 1;
        while (run * PAGE % b->reg_size != 0)
            run++;
        check(b->slab_pages % run == 0);
        check(b->slab_pages == run ||
              (b->slab_pages <= SC_SLAB_PAGES_DOUBLED && (b->slab_pages / 2) * PAGE / b->reg_size < 4));
    }
    /* Page-size classes used by the free-extent bins are monotone and floor <= ceil. */
    for (size_t n = 1; n < 100000; n++) {
        check(psz_floor_index(n) <= psz_ceil_index(n));
        check(psz_floor_index(n) <= psz_floor_index(n + 1));
        check(psz_floor_index(n) < PSZ_NCLASSES);
    }
    /* The fast path's offset table agrees with the index lookup, for every size it covers. */
    for (size_t size = 0; size <= SZ_FAST_MAXCLASS; size++)
        check_eq(sz_size2binoff(size), (sz_size2index(size == 0 ? 1 : size) + 1) * SZ_CACHE_BIN_STRIDE);
    /*
     * It is filled a page at a time: emptied, one size's lookup fills that page and no other.
     * A page of entries is a page of memory: the table starts on a 4 KiB boundary, so a fill
     * writes (and makes resident) one page of it, not parts of two.
     */
    check_eq((uintptr_t)sz_size2binoff_tab % (SZ_BINOFF_PAGE_N * sizeof(uint16_t)), 0);
    size_t page = SZ_FAST_MAXCLASS / SZ_BINOFF_PAGE_N - 1; /* a whole page: sizes near 30 KiB */
    size_t lo = page * SZ_BINOFF_PAGE_N, hi = lo + SZ_BINOFF_PAGE_N;
    for (size_t s = lo - 1; s <= hi; s++)
        sz_size2binoff_tab[s] = 0;
    check_eq(sz_size2binoff(lo + 100), (sz_size2index(lo + 100) + 1) * SZ_CACHE_BIN_STRIDE);
    check_eq(sz_size2binoff_tab[lo - 1], 0);
    check_eq(sz_size2binoff_tab[hi], 0);
    for (size_t s = lo; s < hi; s++)
        check_eq(sz_size2binoff_tab[s], (sz_size2index(s) + 1) * SZ_CACHE_BIN_STRIDE);
    sz_binoff_fill(lo - 1);
    sz_binoff_fill(hi);
}

int main(void) {
    if (config_lg_page != 0) {
        check_tables();
        return unit_finish("sc");
    }
    unsigned checked = 0;
    for (unsigned lg = LG_PAGE_MIN; lg <= LG_PAGE_MAX; lg++) {
        pages_lg_page = lg;
        check_eq(PAGE, (size_t)1 << lg);
        check_tables();
        checked++;
    }
    check_eq(checked, 5); /* 4 KiB to 64 KiB */
    return unit_finish("sc");
}
