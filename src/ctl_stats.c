/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl_stats: the statistics half of the mallctl tree: the snapshot that "epoch" refreshes, and
 * the stats.* names that read it, as jemalloc does, so a reader sees values that agree with each
 * other. ctl.c's resolver reaches these through ctl_stats_children and ctl_epoch_ctl; arena
 * reset and destroy drop the snapshot (ctl_stats_invalidate). ctl_lock (ctl.c) guards the
 * snapshot; the snapshot's per-arena buffers come from base_alloc and are never freed.
 */
#include <limits.h>

#include "allocator.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/ctl_tree.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/stats.h"

static uint64_t ctl_epoch;
static bool ctl_snap_valid;
static uint64_t ctl_snap_ns; /* the clock when the snapshot was taken: every uptime's now */
static stats_totals_t ctl_totals CACHE_ALIGNED;
static stats_arena_t ctl_merged CACHE_ALIGNED;
/* A copy of stats_destroyed_get() for the snapshot. */
static stats_arena_t ctl_destroyed CACHE_ALIGNED;
static stats_arena_t *ctl_arena_snap[ARENAS_MAX];
static bool ctl_arena_present[ARENAS_MAX];

/* Refresh the snapshot. ctl_lock held. */
static void ctl_refresh(void) {
    unsigned n = atomic_load_acquire(&narenas_total);
    memset(&ctl_merged, 0, sizeof(ctl_merged));
    for (unsigned i = 0; i < n; i++) {
        if (arena_get(i) == NULL) {
            ctl_arena_present[i] = false;
            continue;
        }
        if (ctl_arena_snap[i] == NULL)
            ctl_arena_snap[i] = base_alloc(sizeof(stats_arena_t), CACHELINE);
        if (ctl_arena_snap[i] == NULL)
            continue;
        memset(ctl_arena_snap[i], 0, sizeof(stats_arena_t));
        ctl_arena_present[i] = stats_arena_merge(i, ctl_arena_snap[i]);
        stats_arena_merge(i, &ctl_merged);
    }
    stats_totals(&ctl_totals);
    ctl_snap_ns = nstime_stamp();
    ctl_snap_valid = true;
}

static void ctl_snap_ensure(void) {
    if (!ctl_snap_valid)
        ctl_refresh();
}

void ctl_stats_invalidate(void) { ctl_snap_valid = false; }

/* The snapshot for a stats.arenas.<i> index: an arena, or MALLCTL_ARENAS_ALL for the merge. */
static const stats_arena_t *ctl_snap(size_t i) {
    ctl_snap_ensure();
    if (i == MALLCTL_ARENAS_ALL)
        return &ctl_merged;
    if (i == MALLCTL_ARENAS_DESTROYED) {
        memset(&ctl_destroyed, 0, sizeof(ctl_destroyed));
        stats_destroyed_get(&ctl_destroyed);
        return &ctl_destroyed;
    }
    return i < ARENAS_MAX && ctl_arena_present[i] ? ctl_arena_snap[i] : NULL;
}

int ctl_epoch_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    WRITE_VALUE(v, uint64_t);
    (void)v;
    mutex_lock(&ctl_lock);
    if (has_v || !ctl_snap_valid) {
        ctl_refresh();
        ctl_epoch++;
    }
    uint64_t e = ctl_epoch;
    mutex_unlock(&ctl_lock);
    READ(e, uint64_t);
    return 0;
}

/* STAT: a total of the snapshot; the lock makes the snapshot stable while read. */
#define CTL_DEF_STAT(fn, t, expr)                                                                  \
    static int fn(CTL_ARGS) {                                                                      \
        (void)mib, (void)miblen;                                                                   \
        READONLY();                                                                                \
        mutex_lock(&ctl_lock);                                                                     \
        ctl_snap_ensure();                                                                         \
        t v_ = (expr);                                                                             \
        mutex_unlock(&ctl_lock);                                                                   \
        READ(v_, t);                                                                               \
        return 0;                                                                                  \
    }
/* BGSTAT: a field of the background threads' statistics, read live (no epoch needed). */
#define CTL_DEF_BGSTAT(fn, t, field)                                                               \
    static int fn(CTL_ARGS) {                                                                      \
        (void)mib, (void)miblen;                                                                   \
        READONLY();                                                                                \
        background_stats_t bs;                                                                     \
        background_stats_get(&bs);                                                                 \
        READ((t)bs.field, t);                                                                      \
        return 0;                                                                                  \
    }
/* ASTAT: per-arena; A is the snapshot of arena mib[2], J = mib[4] a bin or lextent. */
#define CTL_DEF_ASTAT(fn, t, expr)                                                                 \
    static int fn(CTL_ARGS) {                                                                      \
        (void)miblen;                                                                              \
        READONLY();                                                                                \
        mutex_lock(&ctl_lock);                                                                     \
        const stats_arena_t *A = ctl_snap(mib[2]);                                                 \
        if (A == NULL) {                                                                           \
            mutex_unlock(&ctl_lock);                                                               \
            return ENOENT;                                                                         \
        }                                                                                          \
        t v_ = (expr);                                                                             \
        mutex_unlock(&ctl_lock);                                                                   \
        READ(v_, t);                                                                               \
        return 0;                                                                                  \
    }
#define J (mib[4])

static uint64_t sum_bins(const stats_arena_t *a, size_t off) {
    uint64_t n = 0;
    for (unsigned b = 0; b < SC_NBINS; b++)
        n += *(const uint64_t *)((const char *)&a->bins[b] + off);
    return n;
}
static uint64_t sum_large(const stats_arena_t *a, size_t off) {
    uint64_t n = 0;
    for (unsigned l = 0; l < SC_NLARGE; l++)
        n += *(const uint64_t *)((const char *)&a->large[l] + off);
    return n;
}
#define BINSUM(f) sum_bins(A, offsetof(bin_stats_t, f))
#define LSUM(f) sum_large(A, offsetof(large_stats_t, f))

/* An arena's decay time, live; the options' for the merged and destroyed indices. */
static ssize_t ctl_arena_decay_ms(size_t ind, bool muzzy) {
    arena_t *a = ind < ARENAS_MAX ? arena_get((unsigned)ind) : NULL;
    if (a == NULL)
        return muzzy ? opt_muzzy_decay_ms : opt_dirty_decay_ms;
    return muzzy ? a->ex.decay_muzzy.ms : a->ex.decay_dirty.ms;
}

/* An arena's dss setting; for the merge of all arenas, the one new arenas get. */
static const char *ctl_arena_dss(size_t ind) {
    if (ind == MALLCTL_ARENAS_DESTROYED)
        return "N/A";
    arena_t *a = ind < ARENAS_MAX ? arena_get((unsigned)ind) : NULL;
    return conf_dss_names[a == NULL ? dss_default_get() : chunk_dss_get((unsigned)ind)];
}

/* stats.arenas.<i>.small.*, large.*, bins.<j>.*, lextents.<j>.* */
#define SA_SMALL(X)                                                                                \
    X(ASTAT, sa_small, allocated, size_t, A->small_allocated)                                      \
    X(ASTAT, sa_small, nmalloc, uint64_t, BINSUM(nmalloc))                                         \
    X(ASTAT, sa_small, ndalloc, uint64_t, BINSUM(ndalloc))                                         \
    X(ASTAT, sa_small, nrequests, uint64_t, BINSUM(nrequests))                                     \
    X(ASTAT, sa_small, nfills, uint64_t, BINSUM(nfills))                                           \
    X(ASTAT, sa_small, nflushes, uint64_t, BINSUM(nflushes))
CTL_TABLE(sa_small, SA_SMALL);

#define SA_LARGE(X)                                                                                \
    X(ASTAT, sa_large, allocated, size_t, A->large_allocated)                                      \
    X(ASTAT, sa_large, nmalloc, uint64_t, LSUM(nmalloc))                                           \
    X(ASTAT, sa_large, ndalloc, uint64_t, LSUM(ndalloc))                                           \
    X(ASTAT, sa_large, nrequests, uint64_t, LSUM(nrequests))
CTL_TABLE(sa_large, SA_LARGE);

#define SA_BINS_J(X)                                                                               \
    X(ASTAT, sa_bins_j, nmalloc, uint64_t, A->bins[J].nmalloc)                                     \
    X(ASTAT, sa_bins_j, ndalloc, uint64_t, A->bins[J].ndalloc)                                     \
    X(ASTAT, sa_bins_j, nrequests, uint64_t, A->bins[J].nrequests)                                 \
    X(ASTAT, sa_bins_j, curregs, size_t, A->bins[J].curregs)                                       \
    X(ASTAT, sa_bins_j, nfills, uint64_t, A->bins[J].nfills)                                       \
    X(ASTAT, sa_bins_j, nflushes, uint64_t, A->bins[J].nflushes)                                   \
    X(ASTAT, sa_bins_j, nslabs, uint64_t, A->bins[J].nslabs)                                       \
    X(ASTAT, sa_bins_j, nreslabs, uint64_t, A->bins[J].nreslabs)                                   \
    X(ASTAT, sa_bins_j, curslabs, size_t, A->bins[J].curslabs)                                     \
    X(ASTAT, sa_bins_j, nonfull_slabs, size_t, A->bins[J].nonfull_slabs)
CTL_TABLE(sa_bins_j, SA_BINS_J);
CTL_INDEXED(sa_bins_j);

#define SA_LEXTENTS_J(X)                                                                           \
    X(ASTAT, sa_lextents_j, nmalloc, uint64_t, A->large[J].nmalloc)                                \
    X(ASTAT, sa_lextents_j, ndalloc, uint64_t, A->large[J].ndalloc)                                \
    X(ASTAT, sa_lextents_j, nrequests, uint64_t, A->large[J].nrequests)                            \
    X(ASTAT, sa_lextents_j, curlextents, size_t, A->large[J].curlextents)
CTL_TABLE(sa_lextents_j, SA_LEXTENTS_J);
CTL_INDEXED(sa_lextents_j);

/* stats.arenas.<i>.* */
#define SA(X)                                                                                      \
    X(ASTAT, sa, nthreads, unsigned, A->nthreads)                                                  \
    X(ASTAT, sa, uptime, uint64_t, stats_uptime_ns(A, ctl_snap_ns))                                \
    X(ASTAT, sa, dss, const char *, ctl_arena_dss(mib[2]))                                         \
    X(ASTAT, sa, dirty_decay_ms, ssize_t, ctl_arena_decay_ms(mib[2], false))                       \
    X(ASTAT, sa, muzzy_decay_ms, ssize_t, ctl_arena_decay_ms(mib[2], true))                        \
    X(ASTAT, sa, pactive, size_t, A->pactive)                                                      \
    X(ASTAT, sa, pdirty, size_t, A->pdirty)                                                        \
    X(ASTAT, sa, pmuzzy, size_t, A->pmuzzy)                                                        \
    X(ASTAT, sa, mapped, size_t, stats_arena_paged_bytes(A))                                         \
    X(ASTAT, sa, retained, size_t, A->pretained << LG_PAGE)                                        \
    X(ASTAT, sa, dirty_npurge, uint64_t, A->purge_dirty.npurge)                                    \
    X(ASTAT, sa, dirty_nmadvise, uint64_t, A->purge_dirty.nmadvise)                                \
    X(ASTAT, sa, dirty_purged, uint64_t, A->purge_dirty.purged)                                    \
    X(ASTAT, sa, muzzy_npurge, uint64_t, A->purge_muzzy.npurge)                                    \
    X(ASTAT, sa, muzzy_nmadvise, uint64_t, A->purge_muzzy.nmadvise)                                \
    X(ASTAT, sa, muzzy_purged, uint64_t, A->purge_muzzy.purged)                                    \
    X(ASTAT, sa, tcache_bytes, size_t, A->tcache_bytes)                                            \
    X(ASTAT, sa, resident, size_t, stats_arena_paged_bytes(A))                                       \
    X(DIR, sa, small, sa_small_children, _)                                                        \
    X(DIR, sa, large, sa_large_children, _)                                                        \
    X(IDX, sa, bins, sa_bins_j_node, ctl_bin_index_ok)                                             \
    X(IDX, sa, lextents, sa_lextents_j_node, ctl_lextent_index_ok)
CTL_TABLE(sa, SA);
CTL_INDEXED(sa);

#define STATS_BG(X)                                                                                \
    X(BGSTAT, stats_bg, num_threads, size_t, num_threads)                                          \
    X(BGSTAT, stats_bg, num_runs, uint64_t, num_runs)                                              \
    X(BGSTAT, stats_bg, run_interval, uint64_t, run_interval_ns)
CTL_TABLE(stats_bg, STATS_BG);

static bool ctl_stats_arena_index_ok(size_t i) {
    return i < ctl_narenas() || i == MALLCTL_ARENAS_ALL || i == MALLCTL_ARENAS_DESTROYED;
}

/* stats.* */
#define STATS(X)                                                                                   \
    X(STAT, stats, allocated, size_t, ctl_totals.allocated)                                        \
    X(STAT, stats, active, size_t, ctl_totals.active)                                              \
    X(STAT, stats, metadata, size_t, ctl_totals.metadata)                                          \
    X(STAT, stats, metadata_thp, size_t, ctl_totals.metadata_thp)                                  \
    X(STAT, stats, resident, size_t, ctl_totals.resident)                                          \
    X(STAT, stats, mapped, size_t, ctl_totals.mapped)                                              \
    X(STAT, stats, retained, size_t, ctl_totals.retained)                                          \
    X(RO, stats, zero_reallocs, size_t, stats_zero_reallocs())                                     \
    X(DIR, stats, background_thread, stats_bg_children, _)                                         \
    X(IDX, stats, arenas, sa_node, ctl_stats_arena_index_ok)
STATS(CTL_DEF)
const ctl_node_t ctl_stats_children[] = {STATS(CTL_ROW) CTL_END};
