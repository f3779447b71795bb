/*
 * extent: a run of pages, and the page allocator an arena carves them from.
 *
 * An extent_t describes [addr, addr + size) inside one chunk. Its state is one of
 *   ACTIVE    a slab or a large allocation;
 *   DIRTY     free, pages resident with old contents;
 *   MUZZY     free, handed to the kernel with MADV_FREE: it may take the pages (they then read
 *             as zero) or leave them resident with old contents;
 *   RETAINED  free address space whose pages are not resident and read as zero (fresh from
 *             mmap, or purged with MADV_DONTNEED), kept for reuse instead of munmap.
 * Free extents live in an eset per state: lists binned by page-size class plus a bitmap of
 * non-empty bins (the smallest fitting bin is found with one bit scan), and an LRU list that
 * purging takes the oldest from. Neighbouring free extents of the same state coalesce; they
 * never merge across chunks. Reuse prefers dirty, then muzzy, then retained, then a new chunk.
 *
 * Pages move dirty -> muzzy -> retained as their decay (decay.h) allows, or dirty -> retained
 * directly when muzzy_decay_ms is 0 or the kernel lacks MADV_FREE. With retain:false a chunk
 * that becomes entirely retained is unmapped.
 *
 * extents_t is an arena's page allocator: the three esets, the decay state, the recycled
 * extent_t structs and the counters. Every field of extents_t, and every field of a free
 * extent, is guarded by extents_t.lock. An active extent's fields are fixed while it is active,
 * except a slab's bitmap and nfree, which its bin's lock guards.
 */
#ifndef ALLOCATOR_INTERNAL_EXTENT_H
#define ALLOCATOR_INTERNAL_EXTENT_H

#include "allocator.h"
#include "allocator/internal/decay.h"
#include "allocator/internal/mutex.h"
#include "allocator/internal/rtree.h"
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

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct eset_s {
    extent_t *bins[PSZ_NCLASSES];
    uint64_t nonempty[(PSZ_NCLASSES + 63) / 64];
    extent_t *lru_head; /* oldest */
    extent_t *lru_tail; /* newest */
    size_t npages;
    size_t nextents;
} eset_t;

/* A mapping obtained from the arena's memory source; never split or merged. */
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct chunk_s {
    uintptr_t addr;
    size_t size;
    struct chunk_s *next;
} chunk_t;

/* The default memory source: mmap through pages (what arenas use unless told otherwise). */
extern extent_hooks_t extent_hooks_default;

/* Purge counters of one state (dirty or muzzy), as jemalloc's stats.arenas.<i>.*_npurge etc. */
typedef struct purge_stats_s {
    uint64_t npurge;   /* purge passes that purged something */
    uint64_t nmadvise; /* madvise calls (one per extent purged) */
    uint64_t purged;   /* pages purged */
} purge_stats_t;

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct extents_s {
    mutex_t lock;
    unsigned arena_ind;
    eset_t dirty;
    eset_t muzzy;
    eset_t retained;
    decay_t decay_dirty; /* dirty -> muzzy (or retained) */
    decay_t decay_muzzy; /* muzzy -> retained */
    bool retain;         /* keep fully retained chunks mapped (opt retain) */
    bool bg_sleeping;    /* atomic: this arena's background thread (if any) waits for dirty
                            pages, or has not seen the arena yet: a free should wake it */
    extent_t *spare;     /* recycled extent_t structs */
    size_t npages_active;
    size_t mapped;         /* bytes of chunks mapped for this arena */
    int thp;               /* 0 leave chunks to the kernel, 1 ask for huge pages, -1 refuse */
    unsigned lg_max_fit;   /* reuse a dirty extent only up to request << lg_max_fit */
    extent_hooks_t *hooks; /* memory source; called with lock held */
    chunk_t *chunks;       /* every chunk of this arena */
    chunk_t *spare_chunks;
    uint64_t nchunks_unmapped; /* chunks given back with retain:false */
    purge_stats_t purge_dirty;
    purge_stats_t purge_muzzy;
} extents_t;

/*
 * Called with ex->lock held when an arena whose background thread sleeps until woken (see
 * bg_sleeping) gets purgeable pages; set by background.c. Must take no lock below
 * RANK_BACKGROUND.
 */
extern void (*extents_wake_hook)(unsigned arena_ind);

bool extents_init(extents_t *ex, unsigned arena_ind, ssize_t dirty_decay_ms, ssize_t muzzy_decay_ms,
                  bool retain);

/*
 * Allocate size bytes (a PAGE multiple) aligned to align (a power of two >= PAGE). Returns an
 * ACTIVE extent with no rtree entries of its own (the caller registers it), or NULL with nothing
 * changed when memory cannot be had. *zeroed says whether its pages are known to be zero.
 * Lock held.
 */
extent_t *extent_alloc(extents_t *ex, size_t size, size_t align, bool *zeroed);
/* Free an ACTIVE extent: clears its rtree entries, coalesces, may purge. Lock held. */
void extent_dalloc(extents_t *ex, extent_t *e);
/*
 * Grow an active extent in place to new_size by taking the free pages after it. Returns true if
 * impossible. *zeroed says whether the added pages are zero. Lock held; the caller rewrites the
 * extent's rtree boundary entries.
 */
bool extent_expand(extents_t *ex, extent_t *e, size_t new_size, bool *zeroed);
/* Shrink an active extent to new_size, freeing the tail. Lock held; caller re-registers. */
void extent_shrink(extents_t *ex, extent_t *e, size_t new_size);
/*
 * Decay: move dirty and muzzy pages on as their curves allow at time now_ns (nstime.h), and
 * return the nanoseconds until more is due (UINT64_MAX: nothing until pages are freed). Lock held.
 */
uint64_t extents_decay(extents_t *ex, uint64_t now_ns);
/* The same without working out when more is due (cheap when no epoch has ended). Lock held. */
void extents_decay_step(extents_t *ex, uint64_t now_ns);
/*
 * A decay tick, on every extent allocation and free (before the freed pages join their set):
 * reads the (coarse, cheap) clock when decay is time-based and runs decay if an epoch ended.
 * Returns the time read, for dating the pages the free adds, or UINT64_MAX if it read none.
 * Lock held.
 */
uint64_t extents_decay_tick(extents_t *ex);
/* Set a decay time (ms >= -1) of dirty (muzzy false) or muzzy pages; purges at once for 0. */
void extents_decay_ms_set(extents_t *ex, bool muzzy, ssize_t ms);
/* Unmap every chunk that is one free extent, whatever its state. Returns bytes. Lock held. */
size_t extents_release_free_chunks(extents_t *ex);
/* Purge every dirty and muzzy page back to the system (retained). Returns pages purged. */
size_t extents_purge_all(extents_t *ex);
/* Pages in each state, for statistics. Lock held. */
static inline size_t extents_npages(const extents_t *ex, extent_state_t state) {
    return state == EXTENT_DIRTY      ? ex->dirty.npages
           : state == EXTENT_MUZZY    ? ex->muzzy.npages
           : state == EXTENT_RETAINED ? ex->retained.npages
                                      : ex->npages_active;
}

/*
 * Free every active extent of the arena (arena reset). The caller holds every bin lock of the
 * arena and ex->lock, and clears the bins afterwards.
 */
void extents_release_all(extents_t *ex);
/* Return every chunk to the memory source and forget them (arena destroy). Lock held. */
void extents_unmap_all(extents_t *ex);

void extents_prefork(extents_t *ex);
void extents_postfork_parent(extents_t *ex);
void extents_postfork_child(extents_t *ex);

/* Debug: check set membership, counters and rtree boundaries of every free extent. */
void extents_validate(extents_t *ex);

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
