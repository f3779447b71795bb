/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats: snapshots of the allocator's counters (for mallctl's stats.*, the report in
 * stats_print.c, and glibc's mallinfo and malloc_info through stats_totals), the destroyed
 * arenas' total, and the merge functions every sum of counters goes through. A snapshot copies
 * each bin's counters under its lock, then the arena's large and page counters under its extents
 * lock (one lock at a time), then adds the request counts that live thread caches have not
 * merged yet, under tsd_list_lock. Nothing here allocates or uses stdio.
 */
#include "allocator/internal/stats.h"

#include <limits.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/tsd.h"

/* ---- Merges: one per counter struct ---- */

void stats_bin_add(bin_stats_t *to, const bin_stats_t *from) {
    to->nmalloc += from->nmalloc;
    to->ndalloc += from->ndalloc;
    to->nrequests += from->nrequests;
    to->nfills += from->nfills;
    to->nflushes += from->nflushes;
    to->nslabs += from->nslabs;
    to->nreslabs += from->nreslabs;
    to->curregs += from->curregs;
    to->curslabs += from->curslabs;
    to->nonfull_slabs += from->nonfull_slabs;
}

void stats_large_add(large_stats_t *to, const large_stats_t *from) {
    to->nmalloc += from->nmalloc;
    to->ndalloc += from->ndalloc;
    to->nrequests += from->nrequests;
    to->curlextents += from->curlextents;
}

void stats_purge_add(purge_stats_t *to, const purge_stats_t *from) {
    to->npurge += from->npurge;
    to->nmadvise += from->nmadvise;
    to->purged += from->purged;
}

void stats_arena_sums(const stats_arena_t *s, bin_stats_t *small, large_stats_t *large) {
    *small = (bin_stats_t){0};
    *large = (large_stats_t){0};
    for (unsigned b = 0; b < SC_NBINS; b++)
        stats_bin_add(small, &s->bins[b]);
    for (unsigned l = 0; l < SC_NLARGE; l++)
        stats_large_add(large, &s->large[l]);
}

/* ---- Snapshots ---- */

static void stats_eset_count(const eset_t *s, unsigned c, size_t *n, size_t *pages) {
    for (const extent_t *e = s->bins[c]; e != NULL; e = e->next) {
        (*n)++;
        *pages += e->size >> LG_PAGE;
    }
}

/* Add arena a's shared counters into out, and (eclass not NULL) its free extents per class. */
static void stats_gather(arena_t *a, stats_arena_t *out, stats_eclass_t *eclass) {
    for (unsigned b = 0; b < SC_NBINS; b++) {
        bin_t *bin = &a->bins[b];
        mutex_lock(&bin->lock);
        bin_stats_t s = bin->stats;
        uint64_t nwait = bin->lock.ncontended;
        mutex_unlock(&bin->lock);
        stats_bin_add(&out->bins[b], &s);
        out->small_allocated += s.curregs * bin_infos[b].reg_size;
        out->bins_nwait[b] += nwait;
    }
    mutex_lock(&a->ex.lock);
    for (unsigned l = 0; l < SC_NLARGE; l++)
        stats_large_add(&out->large[l], &a->lstats[l]);
    out->large_allocated += a->large_allocated;
    out->pactive += extents_npages(&a->ex, EXTENT_ACTIVE);
    out->pdirty += extents_npages(&a->ex, EXTENT_DIRTY);
    out->pmuzzy += a->ex.muzzy.npages;
    out->pretained += a->ex.retained.npages;
    out->mapped += a->ex.mapped;
    stats_purge_add(&out->purge_dirty, &a->ex.purge_dirty);
    stats_purge_add(&out->purge_muzzy, &a->ex.purge_muzzy);
    out->dirty_decay_ms = a->ex.decay_dirty.ms;
    out->muzzy_decay_ms = a->ex.decay_muzzy.ms;
    out->extents_nwait += a->ex.lock.ncontended;
    for (unsigned c = 0; eclass != NULL && c < PSZ_NCLASSES; c++) {
        stats_eset_count(&a->ex.dirty, c, &eclass[c].ndirty, &eclass[c].pdirty);
        stats_eset_count(&a->ex.muzzy, c, &eclass[c].nmuzzy, &eclass[c].pmuzzy);
        stats_eset_count(&a->ex.retained, c, &eclass[c].nretained, &eclass[c].pretained);
    }
    mutex_unlock(&a->ex.lock);
    out->nthreads += atomic_load_relaxed(&a->nthreads);
    uint64_t born = a->created_ns != 0 ? a->created_ns : atomic_load_relaxed(&nstime_ready_ns);
    if (born != 0 && (out->born_ns == 0 || born < out->born_ns))
        out->born_ns = born;
}

typedef struct {
    stats_arena_t *out;
    const arena_t *arena; /* NULL: every thread */
} stats_tcache_arg_t;

/*
 * Requests a live thread served from its cache since that bin's last fill or flush, credited
 * to the arena its cache fills from (where the fill or flush will merge them). Small classes
 * only: a cached large class counts every request locally and never merges the count, while
 * the arena counts the misses as well, so adding it would count those twice. And the bytes its
 * cache holds, every cached class (read relaxed: the owner changes them as this runs).
 */
static void stats_add_tcache(tsd_t *tsd, void *arg) {
    stats_tcache_arg_t *t = arg;
    if (t->arena != NULL && atomic_load_relaxed(&tsd->tcache.arena) != t->arena)
        return;
    unsigned n = atomic_load_relaxed(&tsd->tcache.nhbins);
    for (unsigned i = 0; i < n; i++) {
        const cache_bin_t *cb = &tsd->tcache.bins[i + 1];
        if (i < SC_NBINS)
            t->out->bins[i].nrequests += cache_bin_nrequests(cb);
        uint32_t top = atomic_load_relaxed(&cb->top), low = atomic_load_relaxed(&cb->low);
        t->out->tcache_bytes += top > low ? (size_t)(top - low) * sz_index2size(i) : 0;
    }
}

bool stats_arena_merge(unsigned ind, stats_arena_t *out) {
    arena_t *a = arena_get(ind);
    if (a == NULL)
        return false;
    stats_gather(a, out, NULL);
    stats_tcache_arg_t t = {out, a};
    tsd_foreach(stats_add_tcache, &t);
    return true;
}

/*
 * stats_lock guards stats_totals' buffer; destroyed_lock the destroyed arenas' total, which
 * stats_arena_destroyed's caller changes holding ctl_lock. No fork hook takes them; the child
 * makes them fresh instead, which is safe because what they guard is rebuilt on each use, or
 * changes only under ctl_lock, which fork holds.
 */
static mutex_t stats_lock = MUTEX_INITIALIZER(RANK_CTL);
static mutex_t destroyed_lock = MUTEX_INITIALIZER(RANK_CTL);
static stats_arena_t stats_destroyed CACHE_ALIGNED;
static bool stats_any_destroyed;

void stats_postfork_child(void) {
    stats_lock.word = destroyed_lock.word = 0;
}

void stats_arena_destroyed(unsigned ind) {
    mutex_lock(&destroyed_lock);
    stats_any_destroyed |= stats_arena_merge(ind, &stats_destroyed);
    mutex_unlock(&destroyed_lock);
}

bool stats_destroyed_get(stats_arena_t *out) {
    mutex_lock(&destroyed_lock);
    bool any = stats_any_destroyed;
    if (any && out != NULL)
        *out = stats_destroyed;
    mutex_unlock(&destroyed_lock);
    return any;
}

bool stats_snapshot(unsigned ind, stats_arena_t *out, stats_eclass_t *eclass) {
    memset(out, 0, sizeof(*out));
    if (eclass != NULL)
        memset(eclass, 0, PSZ_NCLASSES * sizeof(*eclass));
    stats_tcache_arg_t t = {out, NULL};
    if (ind != UINT_MAX) {
        arena_t *a = arena_get(ind);
        if (a == NULL)
            return false;
        stats_gather(a, out, eclass);
        t.arena = a;
    } else {
        unsigned n = atomic_load_acquire(&narenas_total);
        for (unsigned i = 0; i < n; i++) {
            arena_t *a = arena_get(i);
            if (a != NULL)
                stats_gather(a, out, eclass);
        }
    }
    tsd_foreach(stats_add_tcache, &t);
    return true;
}

/* ---- Totals ---- */

void stats_totals_from(const stats_arena_t *m, stats_totals_t *t) {
    bin_stats_t small;
    large_stats_t large;
    stats_arena_sums(m, &small, &large);
    memset(t, 0, sizeof(*t));
    t->nmalloc = small.nmalloc + large.nmalloc;
    t->ndalloc = small.ndalloc + large.ndalloc;
    t->nrequests = small.nrequests + large.nrequests;
    t->allocated = m->small_allocated + m->large_allocated;
    t->active = m->pactive << LG_PAGE;
    t->dirty = m->pdirty << LG_PAGE;
    t->muzzy = m->pmuzzy << LG_PAGE;
    t->metadata = base_allocated_bytes();
    t->metadata_thp = base_thp_count();
    t->mapped = t->active + t->dirty + t->muzzy + base_mapped_bytes();
    t->retained = m->pretained << LG_PAGE;
    /* Muzzy pages count as resident until the kernel takes them, which it does not tell. */
    t->resident = t->active + t->dirty + t->muzzy + base_resident_bytes();
}

void stats_totals(stats_totals_t *t) {
    static stats_arena_t m CACHE_ALIGNED; /* large; guarded by stats_lock */
    mutex_lock(&stats_lock);
    stats_snapshot(UINT_MAX, &m, NULL);
    stats_totals_from(&m, t);
    mutex_unlock(&stats_lock);
}

static size_t stats_zero_realloc_n; /* atomic */

void stats_zero_realloc_count(void) { atomic_add_relaxed(&stats_zero_realloc_n, 1); }

size_t stats_zero_reallocs(void) { return atomic_load_relaxed(&stats_zero_realloc_n); }
