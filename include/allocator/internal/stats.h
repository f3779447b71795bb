/*
 * stats: gathering the allocator's counters into snapshots, and the report of
 * malloc_stats_print / stats_print:true / glibc's malloc_stats, in text or (opts "J") in
 * jemalloc 5's JSON layout. Gathering takes each bin lock and then the arena's extents lock,
 * one at a time, and the thread list lock; printing holds no allocator lock while the write
 * callback runs, so the callback may allocate.
 */
#ifndef ALLOCATOR_INTERNAL_STATS_H
#define ALLOCATOR_INTERNAL_STATS_H

#include "allocator/internal/arena.h"
#include "allocator/internal/io.h"

/* Free extents of one page-size class (free-extent bin) of an arena, for the report. */
typedef struct stats_eclass_s {
    size_t ndirty, nmuzzy, nretained; /* extents */
    size_t pdirty, pmuzzy, pretained; /* pages */
} stats_eclass_t;

typedef struct stats_arena_s {
    bin_stats_t bins[SC_NBINS];
    large_stats_t large[SC_NLARGE];
    size_t small_allocated;
    size_t large_allocated;
    size_t pactive;
    size_t pdirty;
    size_t pmuzzy;
    size_t pretained;
    size_t mapped; /* chunk bytes */
    purge_stats_t purge_dirty, purge_muzzy;
    unsigned nthreads;
    ssize_t dirty_decay_ms, muzzy_decay_ms; /* of the last arena merged in */
    /* Mutex contention: times a lock was found held. */
    uint64_t bins_nwait[SC_NBINS];
    uint64_t extents_nwait;
} stats_arena_t;

typedef struct stats_totals_s {
    size_t allocated;
    size_t active;
    size_t metadata;
    size_t resident;
    size_t mapped;
    size_t retained;
    size_t dirty;
    size_t muzzy;
    uint64_t nmalloc;
    uint64_t ndalloc;
    uint64_t nrequests;
} stats_totals_t;

/*
 * Add arena ind's counters into *out (out is not cleared), with the request counts that live
 * threads bound to it have not merged yet. Returns false if no such arena.
 */
bool stats_arena_merge(unsigned ind, stats_arena_t *out);
/*
 * Arena destruction: stats_arena_destroyed(ind) adds arena ind's counters to the destroyed
 * arenas' total; call it just before destroying the arena, holding ctl_lock (which keeps it out
 * of fork). stats_destroyed_get copies that total into *out (unless out is NULL); it returns
 * false, copying nothing, if no arena was destroyed.
 */
void stats_arena_destroyed(unsigned ind);
bool stats_destroyed_get(stats_arena_t *out);
/* Fork, in the child: make the statistics' own locks fresh (they need no prefork hook). */
void stats_postfork_child(void);
/* Totals over every arena and the metadata allocator. */
void stats_totals(stats_totals_t *t);
/*
 * Print the report; cb NULL means malloc_message or standard error. opts holds jemalloc 5's
 * letters: J JSON; g no constants (version, build, options); m no merged arena; d no destroyed
 * arenas; a no per-arena sections; b no bins; l no large classes; x no mutex counters; e no free
 * extents; h no HPA (there is none). Other characters are ignored.
 */
void stats_print(io_write_cb_t *cb, void *opaque, const char *opts);

#endif
