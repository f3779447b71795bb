/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sc: builds the size-class tables once at boot (sc_boot, called by init before any allocation
 * is served) and the per-bin slab geometry. The tables are written once and read lock-free.
 */
#include "allocator/internal/sc.h"

uint8_t sz_size2index_tab[(SC_LOOKUP_MAXCLASS >> LG_QUANTUM) + 1];
/* Page-aligned: a fill of one page of entries (sz_binoff_fill) writes one page of memory. */
uint16_t sz_size2binoff_tab[SZ_FAST_MAXCLASS + 1]
    __attribute__((aligned(SZ_BINOFF_PAGE_N * sizeof(uint16_t))));
size_t sz_index2size_tab[SC_NSIZES];
bin_info_t bin_infos[SC_NBINS_MAX];
uint32_t sz_region_c_tab[SC_NSIZES];

/* ceil(2^32 / size), for size below 2^31: bin_info_t.div_magic and sz_region_start's c. */
static uint32_t sc_div_magic(size_t size) {
    return (uint32_t)((((uint64_t)1 << 32) + size - 1) / size);
}

/* sz_region_start's constant (sc.h) for a class of size bytes, nregs regions an extent. */
static uint32_t sc_region_c(size_t size, uint64_t nregs) {
    if (size >= ((size_t)1 << 31))
        return 0;
    if (nregs == 1)
        return 1;
    uint64_t c = sc_div_magic(size);
    uint64_t e = c * size - ((uint64_t)1 << 32);
    if ((nregs - 1) * e >= c || (nregs - 1) * e + (size - 1) * c >= ((uint64_t)1 << 32))
        return 0;
    return (uint32_t)c;
}

static void bin_info_compute(bin_info_t *info, size_t size) {
    /* The smallest slab with no tail waste: size = odd * 2^k. */
    size_t pages;
    size_t pow2_part = size & (~size + 1);
    if (pow2_part >= PAGE)
        pages = size / PAGE;
    else
        pages = size / pow2_part;
    /*
     * At least four regions a slab where that costs no more than SC_SLAB_PAGES_DOUBLED pages. A
     * slab goes back only when all its regions are free, so one live region pins all of it: for
     * the classes of a few KiB, whose blocks pass through quickly (strings grown by realloc),
     * slabs of four regions and up to 16 pages stayed a quarter full (bench/ realloc_str).
     */
    while (pages * PAGE / size < 4 && pages * 2 <= SC_SLAB_PAGES_DOUBLED)
        pages *= 2;
    info->reg_size = size;
    info->slab_pages = (uint32_t)pages;
    info->slab_size = pages * PAGE;
    info->nregs = (uint32_t)(info->slab_size / size);
    info->div_magic = sc_div_magic(size);
}

void sz_binoff_fill(size_t size) {
    size_t lo = size - size % SZ_BINOFF_PAGE_N, hi = lo + SZ_BINOFF_PAGE_N;
    if (hi > ARRAY_SIZE(sz_size2binoff_tab))
        hi = ARRAY_SIZE(sz_size2binoff_tab);
    /* Class by class: each run of sizes that rounds to one class gets its offset. */
    for (size_t s = lo; s < hi;) {
        unsigned ind = sz_size2index_compute(s == 0 ? 1 : s);
        size_t end = sz_index2size_compute(ind) + 1;
        uint16_t off = (uint16_t)((ind + 1u) * SZ_CACHE_BIN_STRIDE);
        for (; s < end && s < hi; s++) /* racing fillers store the same values */
            atomic_store_relaxed(&sz_size2binoff_tab[s], off);
    }
}

void sc_boot(void) {
    for (unsigned i = 0; i < SC_NSIZES; i++)
        sz_index2size_tab[i] = sz_index2size_compute(i);
    for (size_t i = 0; i < ARRAY_SIZE(sz_size2index_tab); i++)
        sz_size2index_tab[i] = (uint8_t)sz_size2index_compute(i << LG_QUANTUM);
    sz_binoff_fill(0);
    for (unsigned i = 0; i < SC_NBINS; i++)
        bin_info_compute(&bin_infos[i], sz_index2size_tab[i]);
    for (unsigned i = 0; i < SC_NSIZES; i++)
        sz_region_c_tab[i] = sc_region_c(sz_index2size_tab[i], sz_region_count(i));
}
