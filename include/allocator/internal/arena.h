/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * arena: an independent heap: one bin per small class and a page allocator for slabs and large
 * extents. Threads are spread over arenas (least loaded first) to cut lock contention; a
 * pointer always returns to the arena that owns its extent, whichever thread frees it.
 *
 * The arena table arenas[] is written under arenas_lock (ctl) and read lock-free (acquire).
 * Large-allocation statistics are guarded by ex.lock; bins by their own locks.
 */
#ifndef ALLOCATOR_INTERNAL_ARENA_H
#define ALLOCATOR_INTERNAL_ARENA_H

#include "allocator/internal/bin.h"

#define SC_NLARGE (SC_NSIZES - SC_NBINS)
/* Arrays over the large classes hold this many: as many as the smallest page has. */
#define SC_NLARGE_MAX (SC_NSIZES - SC_NBINS_MIN)

typedef struct large_stats_s {
    uint64_t nmalloc;
    uint64_t ndalloc;
    uint64_t nrequests;
    size_t curlextents;
} large_stats_t;

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct arena_s {
    unsigned ind;
    unsigned nthreads; /* atomic: threads bound to this arena */
    unsigned nalloc;   /* atomic: those of them that have allocated (tsd_t.alloc_counted) */
    /* Written at creation, so beside what boot writes anyway (not on the last page). */
    uint64_t created_ns; /* nstime_now_precise() when made; 0 before the clock could be read */
    extents_t ex;
    bin_t bins[SC_NBINS_MAX];
    large_stats_t lstats[SC_NLARGE_MAX]; /* ex.lock */
    size_t large_allocated;          /* ex.lock: bytes in active large extents */
    struct arena_s *next_spare;      /* arenas_lock: destroyed arenas kept for reuse */
} arena_t;

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
extern arena_t *arenas[ARENAS_MAX];
extern unsigned narenas_auto;  /* arenas threads are spread over */
extern unsigned narenas_total; /* arenas created or reserved (atomic) */
/* The arena for requests of opt_oversize_threshold or more (UINT_MAX: none); fixed at init. */
extern unsigned arena_huge_ind;

static inline arena_t *arena_get(unsigned ind) {
    return ind < ARENAS_MAX ? atomic_load_acquire(&arenas[ind]) : NULL;
}

/*
 * How often threads have found the locks that an allocation of class ind from arena takes
 * already held (the bin's lock for a small class, and the extents lock, which large classes and
 * new slabs take): read before and after the allocation, a difference says another thread held
 * one meanwhile (tsd_arena_shared). The counts are read without the locks: a hint.
 */
static inline uint64_t arena_lock_waits(arena_t *arena, unsigned ind) {
    uint64_t n = atomic_load_relaxed(&arena->ex.lock.ncontended);
    return ind < SC_NBINS ? n + atomic_load_relaxed(&arena->bins[ind].lock.ncontended) : n;
}

/* Indices below this may name an arena (automatic, oversize, or created). */
unsigned arenas_limit(void);
/*
 * Set the number of automatic arenas (mallopt M_ARENA_MAX), capped below the oversize arena and
 * any created arena so that no thread is bound to those. Returns the count set. Arenas past a
 * lowered count stay automatic (never manual, so never reset or destroyed).
 */
unsigned arenas_auto_set(unsigned n);
/* Arena ind, created if it does not exist yet (NULL if out of memory). */
arena_t *arena_get_or_create(unsigned ind);
/* The arena a new thread should use: the least loaded of the automatic ones. */
arena_t *arena_choose(void);
/*
 * The automatic arena with the fewest threads that allocate from it (arena_t.nalloc; the lowest
 * index among equals), created if need be: where a thread's first allocation takes it
 * (tsd_arena_first_alloc). NULL if it cannot be made.
 */
arena_t *arena_choose_alloc(void);
/* The sum of nalloc over the automatic arenas (a hint: read without locks). */
unsigned arenas_nalloc(void);
/*
 * percpu_arena: the automatic arena of the CPU the calling thread runs on (CPU number modulo the
 * automatic arenas); cur if that is the one, or if the CPU cannot be had.
 */
arena_t *arena_percpu(arena_t *cur);
/* The dedicated arena for oversize requests, created on first use (NULL: none). */
arena_t *arena_huge(void);
/*
 * Create a new arena beyond the automatic ones (reusing a destroyed one's index), drawing memory
 * from hooks (NULL: the default source); returns its index or UINT_MAX.
 */
unsigned arena_create_new(extent_hooks_t *hooks);
/* Is ind an arena made by arena_create_new (the only kind reset and destroy accept)? */
bool arena_is_manual(unsigned ind);
/* Discard every allocation of the arena (no thread may be using it). */
void arena_reset(arena_t *arena);
/* Reset, return all memory to its source and free the index. False if threads are bound. */
bool arena_destroy(arena_t *arena);

void *arena_malloc_small(arena_t *arena, unsigned binind, bool zero);
void *arena_malloc_large(arena_t *arena, size_t usize, size_t align, bool zero);
/*
 * A sampled block (prof.h) of usize bytes (any class; ind, its class index): a large extent of
 * its own, at least SC_LARGE_MINCLASS, registered as sampled (emap.h) so its free leaves the
 * fast path and its usable size is usize's class. Its prof fields are cleared. NULL when out of
 * memory.
 */
extent_t *arena_malloc_sampled(arena_t *arena, size_t usize, unsigned ind, size_t align,
                               bool zero);
/*
 * The large block of e (the caller's: live, or just taken from a thread's cache) becomes a
 * sampled one where it is, registered as sampled and reporting class report (e's own, or a
 * smaller one for a promoted small request); prof fields cleared. Returns e.
 */
extent_t *arena_large_mark_sampled(extent_t *e, unsigned report);
/* The sampled block of e (uncounted already) becomes a plain large block of e's class again,
 * to be cached by a thread (malloc.c). */
void arena_sampled_unmark(extent_t *e);
/* Free ptr, whose rtree entry is entry, to the arena that owns it. */
void arena_dalloc(void *ptr, rtree_entry_t entry);
/*
 * Resize the large allocation e in place to usable size usize (a large class). Returns true if
 * it cannot (nothing changed). New bytes are zeroed when zero is set, or with opt_zero. A
 * sampled block (sampled: its entry has the prof bit, reporting e's own class) stays
 * registered as sampled; its counts are the caller's business.
 */
bool arena_ralloc_large_inplace(extent_t *e, size_t usize, bool zero, bool sampled);
/* Free the large block of e, whose pages were moved away (pages_move), as retained pages. */
void arena_dalloc_moved(extent_t *e);

/*
 * How full the extent holding ptr is, as jemalloc's experimental.utilization names report it
 * (the fields in their order there): its free regions, its regions and its size in bytes (0 free
 * of 1 for a large or sampled block), and, for a slab, its bin's free regions and regions over
 * all the bin's slabs and the address of the slab the bin hands out from next (NULL for none).
 * All zero when ptr is in no active extent. ptr must not be freed meanwhile (the caller's).
 */
typedef struct arena_util_s {
    size_t nfree, nregs, size;
    size_t bin_nfree, bin_nregs;
    void *slabcur_addr;
} arena_util_t;
void arena_util_query(const void *ptr, arena_util_t *out);
/* Purge all of an arena's dirty and muzzy pages; returns the number of pages purged. */
size_t arena_purge(arena_t *arena);
/*
 * When memory or address space runs out: unmap every wholly free chunk of every arena (taking
 * each arena's extents lock in turn). Returns the bytes given back.
 */
size_t arenas_release_free_chunks(void);
/* Bytes mapped for every arena, read without their locks (heap profiling's gdump). */
size_t arenas_mapped_estimate(void);
/* Run the arena's decay now (mallctl arena.<i>.decay). */
void arena_decay_now(arena_t *arena);
/*
 * A slow-path tick (the tcache's periodic event): if the arena (or the oversize arena) has
 * dirty or muzzy pages and its lock is free, run decay at the current time.
 */
void arena_decay_tick(arena_t *arena);

/*
 * Fork: the _ctl hooks take, release and renew arenas_lock; the others every bin, then every
 * extents (released in the reverse order; the child also forgets every arena's thread count).
 */
void arenas_prefork_ctl(void);
void arenas_postfork_parent_ctl(void);
void arenas_postfork_child_ctl(void);
void arenas_prefork(void);
void arenas_postfork_parent(void);
void arenas_postfork_child(void);

/* Debug: bins and extent sets of every arena. */
void arenas_validate(void);

#endif
