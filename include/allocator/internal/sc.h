/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * sc: size classes and the size <-> index mappings ("sz" functions).
 *
 * Classes: 16, 32, 48, 64 (the quantum), then four classes per doubling: for each power of two
 * 2^k >= 64, the classes 2^k + i * 2^(k-2), i = 1..4. Classes below 4 * PAGE are "small" and
 * live in slabs; the rest are "large", page multiples, served as whole extents. The largest
 * class is 2^(LG_VADDR-1); larger requests fail with ENOMEM.
 *
 * Each small class ("bin") has a slab of slab_pages pages holding nregs regions, chosen so that
 * the slab has no tail waste (slab_pages = the odd part of the size, or size / PAGE).
 *
 * The classes themselves do not depend on the page size; where the small ones end (SC_NBINS,
 * SC_SMALL_MAXCLASS, SC_LARGE_MINCLASS), the slab geometry (bin_infos) and what follows from
 * them do. Unless --with-lg-page fixed it, LG_PAGE is read at boot (config.h), so those are
 * values read at run time, and arrays over the small classes are sized for the most of them
 * any page allows (SC_NBINS_MAX). sc_boot computes every table once, after the page is known.
 */
#ifndef ALLOCATOR_INTERNAL_SC_H
#define ALLOCATOR_INTERNAL_SC_H

#include "allocator/internal/util.h"

/* Index of the class 2^k (k >= 6): the last class of its doubling. */
#define SC_POW2_INDEX(k) (4 * (k)-21)
#define SC_NBINS ((unsigned)SC_POW2_INDEX(LG_PAGE + 2))
/* Bounds for arrays over the small classes (constants: the largest and smallest page's). */
#define SC_NBINS_MAX (SC_POW2_INDEX(LG_PAGE_MAX + 2))
#define SC_NBINS_MIN (SC_POW2_INDEX(LG_PAGE_MIN + 2))
#define SC_NSIZES (SC_POW2_INDEX(LG_VADDR - 1) + 1)
#define SC_SMALL_MAXCLASS (((size_t)1 << (LG_PAGE + 2)) - ((size_t)1 << (LG_PAGE - 1)))
#define SC_LARGE_MINCLASS ((size_t)1 << (LG_PAGE + 2))
#define SC_LARGE_MAXCLASS ((size_t)1 << (LG_VADDR - 1))
#define SC_LOOKUP_MAXCLASS ((size_t)4096)
/*
 * The malloc fast path's table (sz_size2binoff_tab) covers requests up to this: the default
 * tcache_max, so that every class a thread cache holds by default is served by the fast path.
 * (A larger tcache_max caches more classes; their hits go through the slow path.)
 */
#define SZ_FAST_MAXCLASS ((size_t)32 << 10)
/*
 * A slab is the smallest run of pages its class divides exactly, doubled while it holds fewer
 * than four regions and stays within this many pages (sc.c, bin_info_compute).
 */
#define SC_SLAB_PAGES_DOUBLED 4
/* Regions per slab never exceed this (the 16-byte class in a one-page slab). */
#define SLAB_MAXREGS (PAGE / QUANTUM)
#define SLAB_MAXREGS_MAX (((size_t)1 << LG_PAGE_MAX) / QUANTUM)

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct bin_info_s {
    size_t reg_size;
    size_t slab_size;
    uint32_t nregs;
    uint32_t slab_pages;
    uint32_t div_magic; /* ceil(2^32 / reg_size): offset / reg_size without a divide */
} bin_info_t;

extern uint8_t sz_size2index_tab[(SC_LOOKUP_MAXCLASS >> LG_QUANTUM) + 1];
/*
 * The same lookup for the malloc fast path, up to SZ_FAST_MAXCLASS (small and large classes
 * alike), as a byte offset into a thread cache's bins[] ((index + 1) * SZ_CACHE_BIN_STRIDE, the
 * size of tcache.h's cache_bin_t), indexed by the request size itself: no rounding on the fast
 * path. 64 KiB of .bss, filled a page at a time when first used: sc_boot fills the first page
 * (sizes up to SZ_BINOFF_PAGE_N - 1), and the slow path fills the page of a size it finds
 * unfilled (sz_binoff_fill), so a program touches only the pages of the sizes it asks for. Zero,
 * what an unfilled entry holds, selects bins[0], which is always empty: the fast path then takes
 * the slow path, which fills the page.
 */
#define SZ_CACHE_BIN_STRIDE 64
#define SZ_BINOFF_PAGE_N ((size_t)4096 / sizeof(uint16_t))
extern uint16_t sz_size2binoff_tab[SZ_FAST_MAXCLASS + 1];
/* Fill the table's page that holds size (size <= SZ_FAST_MAXCLASS); any thread, any time. */
void sz_binoff_fill(size_t size);
/* The bin offset of a request of size bytes (<= SZ_FAST_MAXCLASS), filling its page if needed. */
static inline size_t sz_size2binoff(size_t size) {
    size_t off = sz_size2binoff_tab[size];
    if (unlikely(off == 0)) {
        sz_binoff_fill(size);
        off = sz_size2binoff_tab[size];
    }
    return off;
}
_Static_assert(SZ_FAST_MAXCLASS <= SC_LARGE_MAXCLASS, "the table's classes must exist");
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
extern size_t sz_index2size_tab[SC_NSIZES];
extern bin_info_t bin_infos[SC_NBINS_MAX];

/*
 * The free fast path's region-start test, on 32 bits. A class of size bytes has c =
 * ceil(2^32 / size) (a small class's bin_info_t.div_magic). An offset off from the start of one
 * of the class's extents, below the extent's size, is q * size + r with r < size; off * c is
 * q * (2^32 + e) + r * c, where e = c * size - 2^32 < size, so modulo 2^32 it is q * e + r * c
 * as long as that does not wrap. sc_boot checks, class by class, that (nregs - 1) * e < c and
 * (nregs - 1) * e + (size - 1) * c < 2^32: then the product's low 32 bits are below c iff
 * r == 0, that is iff off starts a region. One multiply and one compare, and the radix-tree
 * slot needs 4 bytes for c (rtree.h). A small class that fails the check (none with 4 or 8 KiB
 * pages; a few of the largest with 16 and 64 KiB pages) gets c = 0, which nothing passes: its
 * frees take the slow path, which divides (block.c). A large class (one region an extent) gets
 * c = 1, which only off == 0 passes; classes of 2 GiB and up get 0.
 */
extern uint32_t sz_region_c_tab[SC_NSIZES];

static ALWAYS_INLINE bool sz_region_start(uint32_t off, uint32_t c) { return off * c < c; }

/* Regions of class ind in one extent: a slab's count for small classes, 1 for large ones. */
static inline uint32_t sz_region_count(unsigned ind) {
    return ind < SC_NBINS ? bin_infos[ind].nregs : 1;
}

/* Computes every table above for the page size LG_PAGE (set before: pages_boot). */
void sc_boot(void);

/* Slow computation of the class index; used above the lookup table and by sc_boot. */
static inline unsigned sz_size2index_compute(size_t size) {
    if (size <= 64)
        return size == 0 ? 0 : (unsigned)((size + QUANTUM - 1) >> LG_QUANTUM) - 1;
    unsigned lg = lg_ceil(size);
    size_t base = (size_t)1 << (lg - 1);
    unsigned lg_delta = lg - 3;
    unsigned mod = (unsigned)((size - base + ((size_t)1 << lg_delta) - 1) >> lg_delta) - 1;
    return 4 + 4 * (lg - 7) + mod;
}

static inline size_t sz_index2size_compute(unsigned ind) {
    if (ind < 4)
        return (size_t)(ind + 1) << LG_QUANTUM;
    unsigned g = (ind - 4) / 4, mod = (ind - 4) % 4;
    unsigned lg = g + 7;
    return ((size_t)1 << (lg - 1)) + ((size_t)(mod + 1) << (lg - 3));
}

/* Class index of a request; size must be <= SC_LARGE_MAXCLASS. */
static ALWAYS_INLINE unsigned sz_size2index(size_t size) {
    if (likely(size <= SC_LOOKUP_MAXCLASS))
        return sz_size2index_tab[(size + QUANTUM - 1) >> LG_QUANTUM];
    return sz_size2index_compute(size);
}

static ALWAYS_INLINE size_t sz_index2size(unsigned ind) { return sz_index2size_tab[ind]; }

/* Usable size for a request, or 0 when it is larger than the largest class. */
static inline size_t sz_s2u(size_t size) {
    if (unlikely(size > SC_LARGE_MAXCLASS))
        return 0;
    return sz_index2size(sz_size2index(size));
}

/*
 * Usable size for an aligned request (alignment a power of two), or 0 when impossible. Small
 * classes that are multiples of the alignment give naturally aligned regions, since slabs are
 * page aligned; anything else is large with an aligned extent. A request for 0 bytes is served
 * as one for 1, so it too gets a distinct block with the alignment asked for (as glibc does).
 */
static inline size_t sz_sa2u(size_t size, size_t alignment) {
    if (size == 0)
        size = 1;
    if (alignment <= PAGE) {
        size_t sz = ALIGN_UP(size, alignment);
        if (sz < size)
            return 0;
        if (sz <= SC_SMALL_MAXCLASS)
            return sz_s2u(sz);
    }
    if (size > SC_LARGE_MAXCLASS || alignment > SC_LARGE_MAXCLASS)
        return 0;
    size_t usize = size <= SC_LARGE_MINCLASS ? SC_LARGE_MINCLASS : sz_s2u(size);
    return usize;
}

/* Region index of ptr in a slab starting at slab_addr. */
static inline unsigned sz_region_index(const bin_info_t *info, uintptr_t slab_addr, uintptr_t ptr) {
    uint64_t diff = ptr - slab_addr;
    return (unsigned)((diff * info->div_magic) >> 32);
}

/*
 * Page-size classes for free-extent bins: four per doubling over page counts (as many as the
 * smallest page needs; with a larger page the top ones stay empty).
 */
#define PSZ_NCLASSES (4 * (LG_VADDR - LG_PAGE_MIN) + 1)
static inline unsigned psz_floor_index(size_t npages) {
    if (npages <= 4)
        return (unsigned)npages - 1;
    unsigned lg = lg_floor(npages);
    unsigned mod = (unsigned)((npages >> (lg - 2)) & 3);
    return 4 * (lg - 1) + mod;
}
static inline unsigned psz_ceil_index(size_t npages) {
    unsigned f = psz_floor_index(npages);
    if (npages <= 4)
        return f;
    unsigned lg = lg_floor(npages);
    return (npages & (((size_t)1 << (lg - 2)) - 1)) ? f + 1 : f;
}

#endif
