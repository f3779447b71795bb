/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bin: the slabs of one small size class in one arena. Regions are handed out from the
 * transfer array, then from slabcur, then from the non-full slabs (lowest serial first), then
 * from a new slab; a slab that becomes empty returns to the arena's page allocator unless it is
 * slabcur. Everything in a bin_t, and the bitmap/nfree of its slabs, is guarded by bin_t.lock.
 * Full slabs are on no list.
 *
 * The transfer array (xfer) holds regions that tcache flushes gave back, as plain pointers: they
 * are free, but their slab bitmaps still mark them allocated, so a flush and the next fill (of
 * any thread) move them without touching slab metadata. It is bounded (bin_xfer_slots:
 * BIN_XFER_SLOTS regions and BIN_XFER_BYTES bytes). bin_xfer_drain gives its regions back to
 * their slabs where the bin's memory must be released (purge), and bin_xfer_gc, visiting one bin
 * per arena tick, those that stayed unused for a whole visit; a reset drops it with the slabs.
 * Statistics count its regions as free: curregs drops when a flush puts a region there (as
 * ndalloc rises) and rises when a fill takes one (as nmalloc rises).
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
} bin_stats_t;

/*
 * The transfer array's bounds: at most BIN_XFER_SLOTS regions totalling at most BIN_XFER_BYTES.
 * Its slots are not in the bin_t (they would spread the bins' locks and lists over many pages)
 * but in the arena's pool (arena.h), untouched until used.
 */
#define BIN_XFER_SLOTS 1024
#define BIN_XFER_BYTES ((size_t)32 << 10)
/* How many slots the array of class binind has. */
static inline unsigned bin_xfer_slots(unsigned binind) {
    size_t max = BIN_XFER_BYTES / bin_infos[binind].reg_size;
    return max < BIN_XFER_SLOTS ? (unsigned)max : BIN_XFER_SLOTS;
}

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct bin_s {
    mutex_t lock;
    extent_t *slabcur;
    extent_t *nonfull; /* doubly linked through next/prev */
    extent_t *spare;   /* empty slabs kept for the next ones needed, linked through next */
    size_t spare_bytes; /* their total size */
    bin_stats_t stats;
    unsigned nxfer;    /* regions in xfer[0, nxfer) */
    unsigned xfer_max; /* xfer's slots: bin_xfer_slots(class), unless the pool ran short */
    unsigned xfer_low; /* the least nxfer since bin_xfer_gc's last visit */
    void **xfer;       /* the transfer array, in the arena's pool */
} CACHE_ALIGNED bin_t;

/* A bin keeps empty slabs while they total less than this (4 slabs of 1 page, 1 of 3 or 4). */
#define BIN_SPARE_BYTES ((size_t)4 * PAGE)

/* xfer: nslots slots for the transfer array, of which it uses up to bin_xfer_slots(binind). */
void bin_init(bin_t *bin, unsigned binind, void **xfer, unsigned nslots);
/*
 * Give the regions of the bin's transfer array back to their slabs (an emptied slab becomes a
 * spare or goes back to ex). bin->lock must be held.
 */
void bin_xfer_drain(bin_t *bin, unsigned binind, extents_t *ex);
/*
 * One visit of the transfer array's GC: the regions no fill took since the last visit (the
 * oldest, below the low-water mark) go back to their slabs, so an idle bin pins nothing for
 * long. Skips a bin whose lock is taken.
 */
void bin_xfer_gc(bin_t *bin, unsigned binind, extents_t *ex);
/* Whether ptr is in the bin's transfer array (a free region). bin->lock must be held. */
bool bin_xfer_holds(const bin_t *bin, const void *ptr);
/*
 * Drain the transfer array, then give the bin's spare slabs back to ex; returns their size in
 * bytes. Takes both locks.
 */
size_t bin_spare_release(bin_t *bin, unsigned binind, extents_t *ex);

/*
 * Fill out[0..n) with regions of class binind, taking new slabs from ex. Returns how many were
 * had (fewer only when memory ran out). nrequests is added to the bin's request count. Takes
 * bin->lock, and ex->lock for new slabs.
 */
unsigned bin_alloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **out, unsigned n,
                         uint64_t nrequests);
/*
 * Return ptr (in slab, of class binind) to the bin. bin->lock must be held; an emptied slab
 * goes back to ex (taking ex->lock). Aborts with a message on a double or misaligned free.
 */
void bin_dalloc_locked(bin_t *bin, unsigned binind, extents_t *ex, extent_t *slab, void *ptr);
/*
 * The same for a batch (a tcache flush): ptrs[i] lies in slab rtree_entry_extent(ents[i]), all of
 * class binind. Those in slabs of ex's arena are returned, to the transfer array while it has
 * room and xfer_ok, else to their slabs; the others are moved, in order, to the front of ptrs and
 * ents, and their number is returned. bin->lock must be held.
 */
#define BIN_PREFETCH_AHEAD 4
unsigned bin_dalloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **ptrs,
                          rtree_entry_t *ents, unsigned n, bool xfer_ok);

void bin_prefork(bin_t *bin);
void bin_postfork_parent(bin_t *bin);
void bin_postfork_child(bin_t *bin);
/* Debug: slab lists, slab bitmaps, the transfer array and counters agree. bin->lock held. */
void bin_validate(bin_t *bin, unsigned binind);

#endif
