/*
 * stats: gathering the allocator's counters into consistent snapshots, and the text report of
 * malloc_stats_print / stats_print:true / glibc's malloc_stats. Gathering takes each bin lock
 * and each arena's extents lock in turn (never two at once) and the thread list lock.
 */
#ifndef ALLOCATOR_INTERNAL_STATS_H
#define ALLOCATOR_INTERNAL_STATS_H

#include "allocator/internal/arena.h"
#include "allocator/internal/io.h"

typedef struct stats_arena_s {
    bin_stats_t bins[SC_NBINS];
    large_stats_t large[SC_NLARGE];
    size_t small_allocated;
    size_t large_allocated;
    size_t pactive;
    size_t pdirty;
    size_t pclean;
    size_t mapped; /* chunk bytes */
    uint64_t npurge, nmadvise, purged;
    unsigned nthreads;
} stats_arena_t;

typedef struct stats_totals_s {
    size_t allocated;
    size_t active;
    size_t metadata;
    size_t resident;
    size_t mapped;
    size_t retained;
    size_t dirty;
    uint64_t nmalloc;
    uint64_t ndalloc;
    uint64_t nrequests;
} stats_totals_t;

/* Add arena ind's counters into *out (out is not cleared). Returns false if no such arena. */
bool stats_arena_merge(unsigned ind, stats_arena_t *out);
/* Totals over every arena and the metadata allocator. */
void stats_totals(stats_totals_t *t);
/* Print the report; cb NULL means malloc_message or standard error. */
void stats_print(io_write_cb_t *cb, void *opaque, const char *opts);

#endif
