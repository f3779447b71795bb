/*
 * stats: snapshots and the text report (see stats.h). The report is written through an io_buf_t
 * in 4 KiB pieces; no lock is held while the callback runs.
 */
#include "allocator/internal/stats.h"

#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/init.h"
#include "allocator/internal/tsd.h"

bool stats_arena_merge(unsigned ind, stats_arena_t *out) {
    arena_t *a = arena_get(ind);
    if (a == NULL)
        return false;
    for (unsigned b = 0; b < SC_NBINS; b++) {
        bin_t *bin = &a->bins[b];
        mutex_lock(&bin->lock);
        bin_stats_t s = bin->stats;
        mutex_unlock(&bin->lock);
        bin_stats_t *o = &out->bins[b];
        o->nmalloc += s.nmalloc;
        o->ndalloc += s.ndalloc;
        o->nrequests += s.nrequests;
        o->nfills += s.nfills;
        o->nflushes += s.nflushes;
        o->nslabs += s.nslabs;
        o->nreslabs += s.nreslabs;
        o->curregs += s.curregs;
        o->curslabs += s.curslabs;
        out->small_allocated += s.curregs * bin_infos[b].reg_size;
    }
    mutex_lock(&a->ex.lock);
    for (unsigned l = 0; l < SC_NLARGE; l++) {
        out->large[l].nmalloc += a->lstats[l].nmalloc;
        out->large[l].ndalloc += a->lstats[l].ndalloc;
        out->large[l].nrequests += a->lstats[l].nrequests;
        out->large[l].curlextents += a->lstats[l].curlextents;
    }
    out->large_allocated += a->large_allocated;
    out->pactive += a->ex.npages_active;
    out->pdirty += a->ex.dirty.npages;
    out->pclean += a->ex.clean.npages;
    out->mapped += a->ex.mapped;
    out->npurge += a->ex.npurge;
    out->nmadvise += a->ex.nmadvise;
    out->purged += a->ex.purged;
    mutex_unlock(&a->ex.lock);
    out->nthreads += atomic_load_relaxed(&a->nthreads);
    return true;
}

static void stats_add_tcache_requests(tsd_t *tsd, void *arg) {
    uint64_t *n = arg;
    for (unsigned i = 1; i <= tsd->tcache.nhbins; i++)
        *n += atomic_load_relaxed(&tsd->tcache.bins[i].nrequests);
}

static void stats_merge_all(stats_arena_t *m) {
    memset(m, 0, sizeof(*m));
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++)
        stats_arena_merge(i, m);
}

static void stats_totals_from(const stats_arena_t *m, stats_totals_t *t) {
    memset(t, 0, sizeof(*t));
    for (unsigned b = 0; b < SC_NBINS; b++) {
        t->nmalloc += m->bins[b].nmalloc;
        t->ndalloc += m->bins[b].ndalloc;
        t->nrequests += m->bins[b].nrequests;
    }
    for (unsigned l = 0; l < SC_NLARGE; l++) {
        t->nmalloc += m->large[l].nmalloc;
        t->ndalloc += m->large[l].ndalloc;
        t->nrequests += m->large[l].nrequests;
    }
    tsd_foreach(stats_add_tcache_requests, &t->nrequests);
    t->allocated = m->small_allocated + m->large_allocated;
    t->active = m->pactive << LG_PAGE;
    t->dirty = m->pdirty << LG_PAGE;
    t->metadata = base_allocated_bytes();
    t->mapped = t->active + t->dirty + base_mapped_bytes();
    t->retained = m->pclean << LG_PAGE;
    t->resident = t->active + t->dirty + base_resident_bytes();
}

void stats_totals(stats_totals_t *t) {
    static stats_arena_t m; /* large; guarded by being filled under stats_lock */
    static mutex_t stats_lock = MUTEX_INITIALIZER(RANK_CTL);
    mutex_lock(&stats_lock);
    stats_merge_all(&m);
    stats_totals_from(&m, t);
    mutex_unlock(&stats_lock);
}

static bool stats_opt(const char *opts, char c) { return opts != NULL && strchr(opts, c) != NULL; }

void stats_print(io_write_cb_t *cb, void *opaque, const char *opts) {
    if (init_ensure() != INIT_OK)
        return;
    static io_buf_t buf;
    static stats_arena_t m;
    static mutex_t print_lock = MUTEX_INITIALIZER(RANK_INIT);
    pthread_mutex_lock(&print_lock.m);
    io_buf_t *b = &buf;
    io_buf_init(b, cb, opaque);
    stats_merge_all(&m);
    stats_totals_t t;
    stats_totals_from(&m, &t);
    io_buf_printf(b, "___ Begin allocator statistics ___\n");
    if (!stats_opt(opts, 'g')) {
        io_buf_printf(b, "Version: \"%s\"\n", ALLOCATOR_VERSION);
        io_buf_printf(b, "Build: debug %s, lg_page %d, lg_chunk %d\n",
                      config_debug ? "true" : "false", LG_PAGE, LG_CHUNK);
        io_buf_printf(b, "Options: narenas %u, tcache %s, tcache_max %zu, dirty_decay_ms %zd\n",
                      narenas_auto, opt_tcache ? "true" : "false", opt_tcache_max,
                      opt_dirty_decay_ms);
        io_buf_printf(b, "Arenas: %u, CPUs: %u\n", atomic_load_acquire(&narenas_total),
                      init_ncpus());
    }
    io_buf_printf(b,
                  "Allocated: %zu, active: %zu, metadata: %zu, resident: %zu, mapped: %zu, "
                  "retained: %zu\n",
                  t.allocated, t.active, t.metadata, t.resident, t.mapped, t.retained);
    io_buf_printf(b, "Allocations: nmalloc %llu, ndalloc %llu, nrequests %llu\n",
                  (unsigned long long)t.nmalloc, (unsigned long long)t.ndalloc,
                  (unsigned long long)t.nrequests);
    io_buf_printf(b, "Pages: active %zu, dirty %zu, retained %zu; purges %llu (%llu madvise, "
                     "%llu pages)\n",
                  m.pactive, m.pdirty, m.pclean, (unsigned long long)m.npurge,
                  (unsigned long long)m.nmadvise, (unsigned long long)m.purged);
    if (!stats_opt(opts, 'b')) {
        io_buf_printf(b, "bins:           size ind    allocated      nmalloc      ndalloc    "
                         "nrequests      curregs     curslabs regs pgs\n");
        for (unsigned i = 0; i < SC_NBINS; i++) {
            const bin_stats_t *s = &m.bins[i];
            if (s->nmalloc == 0)
                continue;
            io_buf_printf(b, "%20zu %4u %12zu %12llu %12llu %12llu %12zu %12zu %4u %3u\n",
                          bin_infos[i].reg_size, i, s->curregs * bin_infos[i].reg_size,
                          (unsigned long long)s->nmalloc, (unsigned long long)s->ndalloc,
                          (unsigned long long)s->nrequests, s->curregs, s->curslabs,
                          bin_infos[i].nregs, bin_infos[i].slab_pages);
        }
    }
    if (!stats_opt(opts, 'l')) {
        io_buf_printf(b, "large:          size ind    allocated      nmalloc      ndalloc    "
                         "nrequests  curlextents\n");
        for (unsigned l = 0; l < SC_NLARGE; l++) {
            const large_stats_t *s = &m.large[l];
            if (s->nmalloc == 0)
                continue;
            size_t size = sz_index2size(l + SC_NBINS);
            io_buf_printf(b, "%20zu %4u %12zu %12llu %12llu %12llu %12zu\n", size,
                          l + SC_NBINS, s->curlextents * size, (unsigned long long)s->nmalloc,
                          (unsigned long long)s->ndalloc, (unsigned long long)s->nrequests,
                          s->curlextents);
        }
    }
    io_buf_printf(b, "___ End allocator statistics ___\n");
    io_buf_flush(b);
    pthread_mutex_unlock(&print_lock.m);
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts) {
    stats_print(write_cb, cbopaque, opts);
}
