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
 * bin's lock guards. A descriptor is the same 128 bytes for every extent at every page size: a
 * slab's bitmap is not in it but pointed to (slab.h owns it, and its operations). This header is
 * only the layout; the sets (eset.h), the address map (emap.h) and the page allocator (extent.h)
 * build on it.
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

/*
 * Two cache lines, whatever the page size. The first holds what a slab's fill and free touch
 * (bin lock): the address, the bitmap pointer, the owning arena, nfree, the class, the bin's
 * list links, the size and, for a slab of up to EXTENT_BITS_INLINE * 64 regions, the bitmap
 * itself (slab.h); a longer bitmap is elsewhere. The second holds what only the page allocator
 * (chunk bounds, the LRU) and the profiler read.
 * Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h).
 */
#define EXTENT_BITS_INLINE 2

typedef struct extent_s {
    uintptr_t addr;
    uint64_t *bitmap; /* a slab's region bitmap (slab.h; a set bit is a free region); else NULL */
    uint16_t arena_ind; /* below ARENAS_MAX */
    uint16_t nfree;     /* at most SLAB_MAXREGS_MAX */
    uint16_t szind;     /* size class while active */
    uint8_t state;      /* extent_state_t */
    bool slab;
    struct extent_s *next, *prev; /* eset bin list, or a bin's slab lists */
    size_t size;
    /* The bitmap of a slab of at most EXTENT_BITS_INLINE * 64 regions (bitmap points here). */
    uint64_t bits[EXTENT_BITS_INLINE];
    uintptr_t chunk_addr; /* the chunk holding this extent, for merge bounds */
    size_t chunk_size;
    struct extent_s *lru_next, *lru_prev; /* eset LRU list */
    uint64_t serial;                      /* allocation order, for address-ordered reuse */
    /*
     * A sampled block's (prof.h; its radix-tree entry has RTREE_PROF_BIT): its counts, and its
     * last-N record (prof_recent.h, which writes and clears it). Set before the block is handed
     * out, read when it is freed. prof_tctx is EXTENT_PROF_SPARE while the extent is free, kept
     * by a thread for one of its next sampled small blocks (malloc.c, prof_tdata_t.spare).
     */
    struct prof_tctx_s *prof_tctx;
    struct prof_recent_s *prof_recent;
} CACHE_ALIGNED extent_t;
_Static_assert(sizeof(extent_t) == 2 * CACHELINE &&
                   offsetof(extent_t, bits) + sizeof(((extent_t *)0)->bits) <= CACHELINE,
               "extent_t: two lines, the first holding a short slab's bitmap");
_Static_assert(SLAB_MAXREGS_MAX <= UINT16_MAX, "extent_t: nfree fits 16 bits");
/* Read by bin/allocator-gdb.py: changing it: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
#define EXTENT_PROF_SPARE ((struct prof_tctx_s *)1)

/* The address of the extent's last page (where its end boundary is registered). */
static inline uintptr_t extent_last_page(const extent_t *e) { return e->addr + e->size - PAGE; }

#endif
