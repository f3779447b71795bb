/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats: gathering the allocator's counters into snapshots (stats_arena_t), the totals over all
 * arenas, and one merge function per counter struct, through which every sum of counters goes.
 * Gathering takes each bin lock and then the arena's extents lock, one at a time, and the
 * thread list lock, one at a time, so a caller may hold ctl_lock, but no arena, bin or
 * thread-list lock. The report that prints snapshots is stats_print.h.
 */
#ifndef ALLOCATOR_INTERNAL_STATS_H
#define ALLOCATOR_INTERNAL_STATS_H

#include "allocator/internal/arena.h"
#include "allocator/internal/io.h" /* not needed here, but ctl.c relies on it coming through */

/* Free extents of one page-size class (free-extent bin) of an arena, for the report. */
typedef struct stats_eclass_s {
    size_t ndirty, nmuzzy, nretained; /* extents */
    size_t pdirty, pmuzzy, pretained; /* pages */
} stats_eclass_t;

typedef struct stats_arena_s {
    bin_stats_t bins[SC_NBINS_MAX];
    large_stats_t large[SC_NLARGE_MAX];
    size_t small_allocated;
    size_t large_allocated;
    size_t pactive;
    size_t pdirty;
    size_t pmuzzy;
    size_t pretained;
    size_t mapped; /* chunk bytes */
    size_t tcache_bytes; /* bytes in the thread caches that fill from the arenas merged in */
    purge_stats_t purge_dirty, purge_muzzy;
    unsigned nthreads;
    /* When the oldest arena merged in was made (nstime_now_precise; 0 if the clock could not be
     * read yet; arenas made before it could, at boot, count from when it could: the allocator's
     * start, within microseconds). Uptimes are taken from one reading of the clock for a whole
     * snapshot (stats_uptime_ns), so that an older arena never reads younger. */
    uint64_t born_ns;
    ssize_t dirty_decay_ms, muzzy_decay_ms; /* of the last arena merged in */
    /* Mutex contention: times a lock was found held. */
    uint64_t bins_nwait[SC_NBINS_MAX];
    uint64_t extents_nwait;
} stats_arena_t;

typedef struct stats_totals_s {
    size_t allocated;
    size_t active;
    size_t metadata;
    size_t metadata_thp; /* chunks of metadata asked to be huge pages */
    size_t resident;
    size_t mapped;
    size_t retained;
    size_t dirty;
    size_t muzzy;
    uint64_t nmalloc;
    uint64_t ndalloc;
    uint64_t nrequests;
} stats_totals_t;

/* s's active, dirty and muzzy pages in bytes: its arenas' mapped and (muzzy counted, as in
 * stats.resident) resident memory both. */
static inline size_t stats_arena_paged_bytes(const stats_arena_t *s) {
    return (s->pactive + s->pdirty + s->pmuzzy) << LG_PAGE;
}

/* Nanoseconds from s's oldest arena's making to now (a clock reading), 0 if unknown. */
static inline uint64_t stats_uptime_ns(const stats_arena_t *s, uint64_t now) {
    return s->born_ns != 0 && now > s->born_ns ? now - s->born_ns : 0;
}

/* Merges: add each counter of from to the same counter of to. */
void stats_bin_add(bin_stats_t *to, const bin_stats_t *from);
void stats_large_add(large_stats_t *to, const large_stats_t *from);
void stats_purge_add(purge_stats_t *to, const purge_stats_t *from);
/* Sums over the classes of snapshot s: all small classes into *small, all large into *large. */
void stats_arena_sums(const stats_arena_t *s, bin_stats_t *small, large_stats_t *large);

/*
 * A fresh snapshot of arena ind, or of every arena merged (ind UINT_MAX), with free extents
 * counted into eclass[PSZ_NCLASSES] unless it is NULL. False: no such arena. The caller
 * serialises use of out and eclass (they are large, so usually static).
 */
bool stats_snapshot(unsigned ind, stats_arena_t *out, stats_eclass_t *eclass);
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

/* realloc(ptr, 0) with ptr not NULL (stats.zero_reallocs, read live as jemalloc's is). */
void stats_zero_realloc_count(void);
size_t stats_zero_reallocs(void);
/* The totals of snapshot m of every arena, with the metadata allocator's (now) added. */
void stats_totals_from(const stats_arena_t *m, stats_totals_t *t);

#endif
