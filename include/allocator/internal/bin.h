/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bin: the slabs of one small size class in one arena. Regions are handed out from slabcur,
 * then from the non-full slabs (lowest serial first), then from a new slab (an idle slab of the
 * class first, extent.h); a slab that becomes empty stays if it is slabcur, becomes a spare
 * while the spares are below BIN_SPARE_BYTES, and otherwise returns to the arena's page
 * allocator as an idle slab (extent_slab_retire). Everything in a
 * bin_t, and the bitmap/nfree of its slabs, is guarded by bin_t.lock. Full slabs are on no list.
 */
#ifndef ALLOCATOR_INTERNAL_BIN_H
#define ALLOCATOR_INTERNAL_BIN_H

#include "allocator/internal/extent.h"
#include "allocator/internal/purge.h"
#include "allocator/internal/slab.h"

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct bin_stats_s {
    uint64_t nmalloc;   /* regions handed out (to tcaches or callers) */
    uint64_t ndalloc;   /* regions returned */
    uint64_t nrequests; /* allocation requests, thread-cache hits included */
    uint64_t nfills;
    uint64_t nflushes;
    uint64_t nslabs; /* slabs created */
    uint64_t nreslabs;
    size_t curregs;
    size_t curslabs;
    size_t nonfull_slabs; /* slabs on the non-full list (neither slabcur nor the spares) */
} bin_stats_t;

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct bin_s {
    mutex_t lock;
    extent_t *slabcur;
    extent_t *nonfull; /* doubly linked through next/prev */
    extent_t *spare;   /* empty slabs kept for the next ones needed, linked through next */
    size_t spare_bytes; /* their total size */
    bin_stats_t stats;
} CACHE_ALIGNED bin_t;

/* A bin keeps empty slabs while they total less than this (4 slabs of 1 page, 1 of 3 or 4). */
#define BIN_SPARE_BYTES ((size_t)4 * PAGE)

/* Initialise a bin whose memory is zero (arena_new: fresh base memory, or a cleared spare). */
void bin_init(bin_t *bin);
/* Give the bin's spare slabs back to ex; returns their size in bytes. Takes both locks. */
size_t bin_spare_release(bin_t *bin, extents_t *ex);

/*
 * Fill out[0..n) with regions of class binind, taking new slabs from ex. Returns how many were
 * had (fewer only when memory ran out). nrequests is added to the bin's request count. Takes
 * bin->lock, and ex->lock for new slabs.
 */
unsigned bin_alloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **out, unsigned n,
                         uint64_t nrequests);
/*
 * The same, highest address first (as a thread cache's stack wants them, to hand out the lowest
 * first): out[0..got) holds them, got as above.
 */
unsigned bin_alloc_batch_down(bin_t *bin, unsigned binind, extents_t *ex, void **out, unsigned n,
                              uint64_t nrequests);
/*
 * Return ptr (in slab, of class binind) to the bin. bin->lock must be held; an emptied slab
 * goes back to ex (taking ex->lock). Aborts with a message on a double or misaligned free.
 */
void bin_dalloc_locked(bin_t *bin, unsigned binind, extents_t *ex, extent_t *slab, void *ptr);
/*
 * The same for a batch: ptrs[i] lies in slab rtree_entry_extent(ents[i]), all of class binind,
 * and ents[n] is 0 (no entry of an allocation is: the loops stop there without a count). Those
 * in slabs of ex's arena are returned; the others are moved, in order, to the front of ptrs and
 * ents, ents[their number] is set to 0, and their number is returned. bin->lock must be held.
 */
#define BIN_PREFETCH_AHEAD 4
unsigned bin_dalloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **ptrs,
                          rtree_entry_t *ents, unsigned n);

void bin_prefork(bin_t *bin);
void bin_postfork_parent(bin_t *bin);
void bin_postfork_child(bin_t *bin);
/* Debug: slab lists, slab bitmaps and counters agree. bin->lock held. */
void bin_validate(bin_t *bin, unsigned binind);

#endif
