/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * extent: the page allocator inside each arena, and its state extents_t.
 *
 * Free extents (edata.h) live in an eset per state (eset.h). Neighbouring free extents of the
 * same state coalesce; they never merge across chunks. Reuse prefers dirty, then muzzy, then
 * retained, then a new chunk. The page allocator is four modules over this one struct:
 *   extent.c  allocation, free, split (carving) and coalescing, in-place resize, arena reset;
 *   chunk.c   the memory source (extent_hooks_t, mmap by default) and the chunk life cycle;
 *   purge.c   purging and decay: pages move dirty -> muzzy -> retained as their decay (decay.h)
 *             allows, or dirty -> retained directly when muzzy_decay_ms is 0 or the kernel lacks
 *             MADV_FREE; with retain:false a chunk that becomes entirely retained is unmapped;
 *   eset.c    the sets themselves.
 * Allocation and free run decay's tick (purge.h), and purging coalesces what it purged through
 * extent.c: the page allocator is one layer, and these two call each other.
 *
 * extents_t holds the three esets, the decay state, the recycled extent_t structs and slab
 * bitmaps, the idle slabs (emptied slabs kept whole for their class, see extent_slab_retire),
 * and the counters. Every field of extents_t, and every field of a free extent, is guarded by
 * extents_t.lock.
 */
#ifndef ALLOCATOR_INTERNAL_EXTENT_H
#define ALLOCATOR_INTERNAL_EXTENT_H

#include "allocator.h"
#include "allocator/internal/decay.h"
#include "allocator/internal/edata.h"
#include "allocator/internal/emap.h"
#include "allocator/internal/eset.h"
#include "allocator/internal/mutex.h"
#include "allocator/internal/slab.h"

/* Arena indices are below this (arena.h's table; chunk.c keeps each arena's dss setting). */
#define ARENAS_MAX 4096
_Static_assert(ARENAS_MAX - 1 <= UINT16_MAX, "extent_t.arena_ind holds an arena index in 16 bits");

/* A mapping obtained from the arena's memory source; never split or merged. */
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct chunk_s {
    uintptr_t addr;
    size_t size;
    struct chunk_s *next;
} chunk_t;

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
    slab_bitmaps_t bitmaps; /* recycled slab bitmaps (slab.h) */
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
    /*
     * Idle slabs (extent_slab_retire): emptied slabs kept whole, still registered as slabs of
     * their class, with their bitmaps, for that class's next new slab; linked through next, one
     * list per class. idle_pages counts their pages (at most EXTENTS_IDLE_PAGES).
     */
    extent_t *idle[SC_NBINS_MAX];
    size_t idle_pages;
} extents_t;

/*
 * The most pages of idle slabs an arena keeps (16 MiB with 4 KiB pages). They cost no memory
 * that freeing them would not: they go back to the dirty set (extents_idle_release), where a
 * freed slab would have gone, as soon as the arena's page allocator is asked for anything else
 * (extent_alloc: another class's slab, a large block), before an in-place grow or a chunk
 * adoption that they block, when a decay epoch ends, and on purge, reset and release.
 */
#define EXTENTS_IDLE_PAGES ((size_t)4096)

bool extents_init(extents_t *ex, unsigned arena_ind, ssize_t dirty_decay_ms, ssize_t muzzy_decay_ms,
                  bool retain);

/*
 * Allocate size bytes (a PAGE multiple) aligned to align (a power of two >= PAGE). Returns an
 * ACTIVE extent with no rtree entries of its own (the caller registers it through emap.h), or
 * NULL with nothing changed when memory cannot be had. *zeroed says whether its pages are known
 * to be zero. Lock held.
 */
extent_t *extent_alloc(extents_t *ex, size_t size, size_t align, bool *zeroed);
/*
 * The same for an extent that stands in for a small region (a heap profile's sampled small
 * block, prof.h): the idle slabs stay unless no dirty extent fits it. Releasing them all for each
 * such block (one every 512 KiB allocated, by default) made every class's next slab anew: with
 * heap profiling on, bench/batch fifo 20000 120 made 4.7 times as many slabs (10% more
 * instructions). Other requests keep releasing them first, which keeps peaks lower (keeping
 * them until no dirty extent fits raised realloc_str's by 2%).
 */
extent_t *extent_alloc_keep_idle(extents_t *ex, size_t size, size_t align, bool *zeroed);
/*
 * Called by extent_alloc (ex's lock held) when nothing free fits, before mapping a new chunk: a
 * chunk of size bytes or more at alignment align taken from another arena (chunk.h, chunk_attach
 * done), as chunk_grow returns one, or NULL. Installed by arena.c; NULL until then.
 */
extern extent_t *(*extents_adopt_hook)(extents_t *ex, size_t size, size_t align);
/* Free an ACTIVE extent: clears its rtree entries, coalesces, may purge. Lock held. */
void extent_dalloc(extents_t *ex, extent_t *e);
/*
 * An emptied slab (all regions free, no longer counted by its bin) leaves its bin: it becomes
 * an idle slab of ex, or, when the idle slabs are at their budget or dirty pages are purged at
 * once (dirty_decay_ms 0), is freed (extent_dalloc). Lock held.
 */
void extent_slab_retire(extents_t *ex, extent_t *slab);
/*
 * An idle slab of class binind, every region free, its bitmap and rtree entries as they were,
 * or NULL if there is none. Lock held.
 */
static inline extent_t *extent_slab_reuse(extents_t *ex, unsigned binind) {
    extent_t *slab = ex->idle[binind];
    if (slab != NULL) {
        ex->idle[binind] = slab->next;
        slab->next = NULL;
        ex->idle_pages -= slab->size >> LG_PAGE;
    }
    return slab;
}
/* Free every idle slab into the dirty set (as extent_dalloc). Lock held. */
void extents_idle_release(extents_t *ex);

/*
 * Grow an active extent in place to new_size by taking the free pages after it. Returns true if
 * impossible. *zeroed says whether the added pages are zero. Lock held; the caller rewrites the
 * extent's rtree boundary entries.
 */
bool extent_expand(extents_t *ex, extent_t *e, size_t new_size, bool *zeroed);
/* Shrink an active extent to new_size, freeing the tail. Lock held; caller re-registers. */
void extent_shrink(extents_t *ex, extent_t *e, size_t new_size);

/*
 * Free the ACTIVE large extent e whose pages were moved away (they read as zero): into the
 * retained set, not the dirty one, so that statistics and reuse know it holds no page; a chunk
 * left wholly retained is unmapped as purging would (retain:false). Lock held.
 */
void extent_dalloc_moved(extents_t *ex, extent_t *e);

/*
 * Pages in each state, for statistics. Lock held. Idle slabs count as dirty pages: they hold no
 * block and are resident, as dirty pages are (npages_active counts them, as active extents).
 */
static inline size_t extents_npages(const extents_t *ex, extent_state_t state) {
    return state == EXTENT_DIRTY      ? ex->dirty.npages + ex->idle_pages
           : state == EXTENT_MUZZY    ? ex->muzzy.npages
           : state == EXTENT_RETAINED ? ex->retained.npages
                                      : ex->npages_active - ex->idle_pages;
}

/*
 * Free every active extent of the arena (arena reset). The caller holds every bin lock of the
 * arena and ex->lock, and clears the bins afterwards.
 */
void extents_release_all(extents_t *ex);

void extents_prefork(extents_t *ex);
void extents_postfork_parent(extents_t *ex);
void extents_postfork_child(extents_t *ex);

/* Debug: check set membership, counters and rtree boundaries of every free extent. */
void extents_validate(extents_t *ex);

/* ---- for the page allocator's own modules (chunk.c, purge.c); lock held ---------------- */

/* The set of a free state. */
static inline eset_t *extents_set(extents_t *ex, extent_state_t state) {
    assert(state != EXTENT_ACTIVE);
    return state == EXTENT_DIRTY ? &ex->dirty : state == EXTENT_MUZZY ? &ex->muzzy : &ex->retained;
}
/* A zeroed descriptor owned by ex's arena (recycled or from base), or NULL. */
extent_t *extent_struct_new(extents_t *ex);
/* Give a descriptor back for reuse. */
void extent_struct_delete(extents_t *ex, extent_t *e);
/*
 * Insert a free extent (in no set, boundaries not registered) into its state's set, merging
 * with free neighbours of the same state in its chunk. Returns the merged extent (e's struct).
 */
extent_t *extents_insert_coalesced(extents_t *ex, extent_t *e);
/*
 * e was just inserted as retained: when ex does not retain and e spans its whole chunk, the
 * chunk goes back to the memory source (its record too, unless the source refused).
 */
void extents_release_whole(extents_t *ex, extent_t *e);

#endif
