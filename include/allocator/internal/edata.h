/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * edata: the extent descriptor (jemalloc's name for it), a run of pages and what it holds.
 *
 * An extent_t describes [addr, addr + size) inside one chunk. Its state is one of
 *   ACTIVE    a slab or a large allocation;
 *   DIRTY     free, pages resident with old contents;
 *   MUZZY     free, handed to the kernel with MADV_FREE: it may take the pages (they then read
 *             as zero) or leave them resident with old contents;
 *   RETAINED  free address space whose pages are not resident and read as zero (fresh from
 *             mmap, or purged with MADV_DONTNEED), kept for reuse instead of munmap.
 * Descriptors come from base and are recycled through their arena's page allocator (extent.h),
 * never freed. Every field of a free extent is guarded by its arena's extents_t.lock; an active
 * extent's fields are fixed while it is active, except a slab's bitmap and nfree, which its
 * bin's lock guards. This header is only the layout and the slab bitmap's accessors: the sets
 * (eset.h), the address map (emap.h) and the page allocator (extent.h) build on it.
 */
#ifndef ALLOCATOR_INTERNAL_EDATA_H
#define ALLOCATOR_INTERNAL_EDATA_H

#include "allocator/internal/sc.h"

typedef enum {
    EXTENT_ACTIVE = 0,
    EXTENT_DIRTY = 1,
    EXTENT_MUZZY = 2,
    EXTENT_RETAINED = 3
} extent_state_t;

#define SLAB_BITMAP_WORDS ((SLAB_MAXREGS + 63) / 64)

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct extent_s {
    /*
     * What a slab free touches comes first, in one cache line with 4 KiB pages: the address,
     * the owning arena and the bitmap (bin lock). A set bit is a free region.
     */
    uintptr_t addr;
    unsigned arena_ind;
    uint32_t nfree;
    uint64_t bitmap[SLAB_BITMAP_WORDS];
    uint16_t szind; /* size class while active */
    uint8_t state;  /* extent_state_t */
    bool slab;
    size_t size;
    uintptr_t chunk_addr; /* the chunk holding this extent, for merge bounds */
    size_t chunk_size;
    struct extent_s *next, *prev;         /* eset bin list, or a bin's slab lists */
    struct extent_s *lru_next, *lru_prev; /* eset LRU list */
    uint64_t serial;                      /* allocation order, for address-ordered reuse */
} CACHE_ALIGNED extent_t;

/* The address of the extent's last page (where its end boundary is registered). */
static inline uintptr_t extent_last_page(const extent_t *e) { return e->addr + e->size - PAGE; }

/* Slab bitmap helpers (bin lock held). */
static inline void slab_bitmap_init(extent_t *slab, unsigned nregs) {
    for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++) {
        unsigned lo = w * 64;
        if (nregs >= lo + 64)
            slab->bitmap[w] = ~(uint64_t)0;
        else if (nregs > lo)
            slab->bitmap[w] = ((uint64_t)1 << (nregs - lo)) - 1;
        else
            slab->bitmap[w] = 0;
    }
    slab->nfree = nregs;
}

/*
 * Take up to n free regions of reg_size bytes, lowest address first, marking them used and
 * writing their addresses to out. Returns how many were taken (fewer only if the slab ran out).
 * Works a bitmap word at a time: each set bit is a free region.
 */
static inline unsigned slab_regions_take(extent_t *slab, size_t reg_size, void **out, unsigned n) {
    unsigned got = 0;
    for (unsigned w = 0; got < n && slab->nfree > 0; w++) {
        uint64_t bits = slab->bitmap[w];
        if (bits == 0)
            continue;
        uintptr_t base = slab->addr + (size_t)w * 64 * reg_size;
        unsigned took = 0;
        do {
            unsigned bit = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            out[got + took++] = (void *)(base + (size_t)bit * reg_size);
        } while (bits != 0 && got + took < n);
        slab->bitmap[w] = bits;
        slab->nfree -= took;
        got += took;
    }
    return got;
}

/* Mark region ind free. Returns true if it already was (a double free). */
static inline bool slab_bitmap_give(extent_t *slab, unsigned ind) {
    uint64_t mask = (uint64_t)1 << (ind & 63);
    if (slab->bitmap[ind >> 6] & mask)
        return true;
    slab->bitmap[ind >> 6] |= mask;
    slab->nfree++;
    return false;
}

#endif
