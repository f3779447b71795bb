/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_print: the report of malloc_stats_print (also stats_print:true at exit, and glibc's
 * malloc_stats), made from stats.c's snapshots through the emitter, which writes text or JSON
 * from the same calls. The option letters become stats_flags_t; each section is one function,
 * and the tables are column tables (emitter_col_t). The report takes its snapshots into static
 * buffers guarded by print_lock and writes through an io_buf_t in 4 KiB pieces; no allocator
 * lock is held while the callback runs, and nothing here allocates or uses stdio.
 *
 * print_lock is a plain pthread mutex outside the lock order, held while the callback runs (a
 * callback may allocate or call mallctl). No fork hook takes it, as a report may be blocked in
 * its callback; the child makes it fresh (stats_print_postfork_child), which is safe because
 * what it guards is rebuilt by each report.
 */
#include "allocator/internal/stats_print.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/os.h"
#include "allocator/internal/tcache.h"

static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

void stats_print_postfork_child(void) { pthread_mutex_init(&print_lock, NULL); }

typedef struct stats_flags_s {
    bool json, general, merged, destroyed, unmerged, bins, large, mutex, extents;
} stats_flags_t;

/* jemalloc 5's malloc_stats_print letters; 'h' has nothing to omit here (there is no HPA). */
static stats_flags_t stats_flags(const char *opts) {
    stats_flags_t f = {false, true, true, true, true, true, true, true, true};
    static const char letters[] = "gmdablxe"; /* each clears one flag, in this order: */
    bool *const omit[] = {&f.general, &f.merged, &f.destroyed, &f.unmerged,
                          &f.bins,    &f.large,  &f.mutex,     &f.extents};
    for (const char *c = opts; c != NULL && *c != '\0'; c++) {
        const char *l = strchr(letters, *c);
        if (*c == 'J')
            f.json = true;
        else if (l != NULL)
            *omit[l - letters] = false;
    }
    return f;
}

/* One "opt." line: the options are conf.h's table, in its order; narenas shows the count in use. */
static void stats_print_opt(emitter_t *em, size_t i) {
    const char *name = conf_option_name(i);
    conf_value_t v = conf_option_value(i, narenas_auto);
    switch (v.type) {
    case CONF_T_BOOL:
        emitter_b(em, name, NULL, v.b);
        break;
    case CONF_T_UNSIGNED:
        emitter_u(em, name, NULL, v.u);
        break;
    case CONF_T_SIZE:
        emitter_u(em, name, NULL, v.z);
        break;
    case CONF_T_SSIZE:
        emitter_d(em, name, NULL, v.d);
        break;
    case CONF_T_STRING:
        emitter_s(em, name, NULL, v.s);
        break;
    }
}

static const emitter_col_t bininfo_cols[] = {
    {"size", NULL, 0}, {"nregs", NULL, 0}, {"slab_size", NULL, 0}};

/* What never changes during execution: version, build, options, size classes ('g' omits). */
static void stats_print_general(emitter_t *em) {
    emitter_s(em, "version", "Version", ALLOCATOR_VERSION);
    emitter_prefix(em, "config.");
    emitter_open(em, "config", "Build-time option settings", false);
    emitter_b(em, "debug", NULL, config_debug);
    emitter_b(em, "fill", NULL, config_fill);
    emitter_s(em, "malloc_conf", NULL, ALLOCATOR_MALLOC_CONF);
    emitter_b(em, "prof", NULL, config_prof);
    emitter_b(em, "stats", NULL, config_stats);
    emitter_u(em, "lg_page", NULL, LG_PAGE);
    emitter_u(em, "lg_chunk", NULL, LG_CHUNK);
    emitter_u(em, "lg_vaddr", NULL, LG_VADDR);
    emitter_close(em);
    emitter_prefix(em, "opt.");
    emitter_open(em, "opt", "Run-time option settings", false);
    for (size_t i = 0; i < CONF_NOPTIONS; i++)
        stats_print_opt(em, i);
    emitter_close(em);
    emitter_prefix(em, NULL);

    unsigned nhbins = tcache_nhbins();
    emitter_open(em, "arenas", NULL, false);
    emitter_u(em, "narenas", "Arenas", atomic_load_acquire(&narenas_total));
    emitter_u(em, NULL, "CPUs", os_ncpus());
    emitter_d(em, "dirty_decay_ms", "", opt_dirty_decay_ms);
    emitter_d(em, "muzzy_decay_ms", "", opt_muzzy_decay_ms);
    emitter_u(em, "quantum", "Quantum size", QUANTUM);
    emitter_u(em, "page", "Page size", PAGE);
    emitter_u(em, NULL, "Chunk size", CHUNK);
    emitter_u(em, "tcache_max", "Maximum thread-cached size class",
              nhbins > 0 ? sz_index2size(nhbins - 1) : 0);
    emitter_u(em, "nbins", "Number of bin size classes", SC_NBINS);
    emitter_u(em, "nhbins", "Number of thread-cache bin size classes", nhbins);
    if (emitter_json(em)) {
        emitter_open(em, "bin", NULL, true);
        for (unsigned i = 0; i < SC_NBINS; i++) {
            uint64_t v[] = {bin_infos[i].reg_size, bin_infos[i].nregs, bin_infos[i].slab_size};
            emitter_row(em, "", NULL, bininfo_cols, ARRAY_SIZE(v), v);
        }
        emitter_close(em);
    }
    emitter_u(em, "nlextents", "Number of large size classes", SC_NLARGE);
    if (emitter_json(em)) {
        emitter_open(em, "lextent", NULL, true);
        for (unsigned l = 0; l < SC_NLARGE; l++) {
            uint64_t v = sz_index2size(SC_NBINS + l);
            emitter_row(em, "", NULL, bininfo_cols, 1, &v);
        }
        emitter_close(em);
    }
    emitter_close(em);
}

static void stats_print_totals(emitter_t *em, const stats_totals_t *t) {
    emitter_text(em,
                 "Allocated: %zu, active: %zu, metadata: %zu, resident: %zu, mapped: %zu, "
                 "retained: %zu\n",
                 t->allocated, t->active, t->metadata, t->resident, t->mapped, t->retained);
    emitter_text(em, "Allocations: nmalloc %llu, ndalloc %llu, nrequests %llu\n",
                 (unsigned long long)t->nmalloc, (unsigned long long)t->ndalloc,
                 (unsigned long long)t->nrequests);
    if (!emitter_json(em))
        return;
    emitter_open(em, "stats", NULL, false);
    emitter_u(em, "allocated", NULL, t->allocated);
    emitter_u(em, "active", NULL, t->active);
    emitter_u(em, "metadata", NULL, t->metadata);
    emitter_u(em, "resident", NULL, t->resident);
    emitter_u(em, "mapped", NULL, t->mapped);
    emitter_u(em, "retained", NULL, t->retained);
    /* Not in jemalloc's "stats": the text's "Allocations:" line. */
    emitter_u(em, "nmalloc", NULL, t->nmalloc);
    emitter_u(em, "ndalloc", NULL, t->ndalloc);
    emitter_u(em, "nrequests", NULL, t->nrequests);
    emitter_close(em);
}

/* Column tables, laid out as tables. */
/* clang-format off */
static const emitter_col_t page_cols[] = {
    {"pactive", "active", 30},       {"pdirty", "dirty", 13},       {"pmuzzy", "muzzy", 13},
    {NULL, "retained", 13},
};
static const emitter_col_t purge_cols[2][3] = {
    {{"dirty_npurge", "npurge", 30}, {"dirty_nmadvise", "nmadvise", 13}, {"dirty_purged", "purged", 13}},
    {{"muzzy_npurge", "npurge", 30}, {"muzzy_nmadvise", "nmadvise", 13}, {"muzzy_purged", "purged", 13}},
};
static const emitter_col_t sum_cols[] = {
    {"allocated", "allocated", 30},  {"nmalloc", "nmalloc", 13},    {"ndalloc", "ndalloc", 13},
    {"nrequests", "nrequests", 13},  {"nfills", "nfill", 13},       {"nflushes", "nflush", 13},
};
static const emitter_col_t mutex_cols[] = {{"num_wait", "n_waiting", 30}};
/* The last column is left out without mutex statistics ('x'). */
static const emitter_col_t bin_cols[] = {
    {NULL, "size", 20},              {NULL, "ind", 4},              {NULL, "allocated", 13},
    {"nmalloc", "nmalloc", 13},      {"ndalloc", "ndalloc", 13},    {"nrequests", "nrequests", 13},
    {"curregs", "curregs", 13},      {"curslabs", "curslabs", 10},
    {"nonfull_slabs", "nonfull_slabs", 14},                         {NULL, "regs", 5},
    {NULL, "pgs", 4},                {"nfills", "nfills", 11},      {"nflushes", "nflushes", 11},
    {"nslabs", "nslabs", 11},        {"nreslabs", "nreslabs", 11},
    {"mutex.num_wait", "n_waiting", 11},
};
static const emitter_col_t large_cols[] = {
    {NULL, "size", 20},              {NULL, "ind", 4},              {NULL, "allocated", 13},
    {"nmalloc", "nmalloc", 13},      {"ndalloc", "ndalloc", 13},    {"nrequests", "nrequests", 13},
    {"curlextents", "curlextents", 13},
};
static const emitter_col_t extent_cols[] = {
    {NULL, "size", 20},              {NULL, "ind", 4},              {"ndirty", "ndirty", 13},
    {"dirty_bytes", "dirty", 13},    {"nmuzzy", "nmuzzy", 13},      {"muzzy_bytes", "muzzy", 13},
    {"nretained", "nretained", 13},  {"retained_bytes", "retained", 13},
    {NULL, "ntotal", 13},            {NULL, "total", 13},
};
/* clang-format on */

/* Pages of the smallest extent of free-extent class c (the inverse of psz_floor_index). */
static size_t stats_psz_pages(unsigned c) {
    if (c < 4)
        return c + 1;
    unsigned lg = c / 4 + 1;
    return ((size_t)1 << lg) + ((size_t)(c % 4) << (lg - 2));
}

static void stats_print_tables(emitter_t *em, const stats_flags_t *f, const stats_arena_t *s,
                               const stats_eclass_t *eclass) {
    bool gap = false;
    if (f->bins) {
        unsigned ncols = ARRAY_SIZE(bin_cols) - (f->mutex ? 0 : 1);
        emitter_open(em, "bins", NULL, true);
        emitter_header(em, "bins:", bin_cols, ncols);
        for (unsigned i = 0; i < SC_NBINS; i++) {
            const bin_stats_t *b = &s->bins[i];
            const bin_info_t *bi = &bin_infos[i];
            if (!emitter_json(em) && b->nmalloc == 0 && b->curregs == 0) {
                gap = true;
                continue;
            }
            emitter_gap(em, &gap);
            uint64_t v[] = {bi->reg_size,     i,           b->curregs * bi->reg_size,
                            b->nmalloc,       b->ndalloc,  b->nrequests,
                            b->curregs,       b->curslabs, b->nonfull_slabs,
                            bi->nregs,        bi->slab_pages, b->nfills,
                            b->nflushes,      b->nslabs,   b->nreslabs,
                            s->bins_nwait[i]};
            emitter_row(em, "", NULL, bin_cols, ncols, v);
        }
        emitter_gap(em, &gap);
        emitter_close(em);
    }
    if (f->large) {
        emitter_open(em, "lextents", NULL, true);
        emitter_header(em, "large:", large_cols, ARRAY_SIZE(large_cols));
        for (unsigned l = 0; l < SC_NLARGE; l++) {
            const large_stats_t *ls = &s->large[l];
            if (!emitter_json(em) && ls->nmalloc == 0 && ls->curlextents == 0) {
                gap = true;
                continue;
            }
            emitter_gap(em, &gap);
            size_t size = sz_index2size(SC_NBINS + l);
            uint64_t v[] = {size,        SC_NBINS + l,  ls->curlextents * size, ls->nmalloc,
                            ls->ndalloc, ls->nrequests, ls->curlextents};
            emitter_row(em, "", NULL, large_cols, ARRAY_SIZE(v), v);
        }
        emitter_gap(em, &gap);
        emitter_close(em);
    }
    if (f->extents && eclass != NULL) {
        emitter_open(em, "extents", NULL, true);
        emitter_header(em, "extents:", extent_cols, ARRAY_SIZE(extent_cols));
        for (unsigned c = 0; c < PSZ_NCLASSES; c++) {
            const stats_eclass_t *e = &eclass[c];
            uint64_t n = e->ndirty + e->nmuzzy + e->nretained;
            if (!emitter_json(em) && n == 0) {
                gap = true;
                continue;
            }
            emitter_gap(em, &gap);
            uint64_t size = stats_psz_pages(c) << LG_PAGE;
            uint64_t dirty = e->pdirty << LG_PAGE, muzzy = e->pmuzzy << LG_PAGE;
            uint64_t retained = e->pretained << LG_PAGE;
            uint64_t v[] = {size,
                            c,
                            e->ndirty,
                            dirty,
                            e->nmuzzy,
                            muzzy,
                            e->nretained,
                            retained,
                            n,
                            dirty + muzzy + retained};
            emitter_row(em, "", NULL, extent_cols, ARRAY_SIZE(v), v);
        }
        emitter_gap(em, &gap);
        emitter_close(em);
    }
}

/*
 * One arena's section, or (sum) the merged or destroyed one, as jemalloc's "stats.arenas.<i>";
 * eclass NULL leaves out the free extents (a destroyed arena has none).
 */
static void stats_print_arena(emitter_t *em, const stats_flags_t *f, const char *key,
                              const char *title, const stats_arena_t *s,
                              const stats_eclass_t *eclass, bool sum) {
    emitter_open(em, key, title, false);
    emitter_u(em, "nthreads", "assigned threads", s->nthreads);
    emitter_u(em, "uptime_ns", "uptime",
              stats_uptime_ns(s, nstime_stamp()));
    if (!sum) {
        emitter_d(em, "dirty_decay_ms", NULL, s->dirty_decay_ms);
        emitter_d(em, "muzzy_decay_ms", NULL, s->muzzy_decay_ms);
    }
    emitter_header(em, "", page_cols, ARRAY_SIZE(page_cols));
    uint64_t pages[] = {s->pactive, s->pdirty, s->pmuzzy, s->pretained};
    emitter_row(em, NULL, "pages:", page_cols, ARRAY_SIZE(pages), pages);
    /* Purging, per state left: dirty (to muzzy or retained) and muzzy (to retained). */
    emitter_header(em, "purging:", purge_cols[0], 3);
    const purge_stats_t *ps[2] = {&s->purge_dirty, &s->purge_muzzy};
    for (unsigned i = 0; i < 2; i++) {
        uint64_t v[] = {ps[i]->npurge, ps[i]->nmadvise, ps[i]->purged};
        emitter_row(em, NULL, i == 0 ? "dirty:" : "muzzy:", purge_cols[i], 3, v);
    }

    bin_stats_t bs;
    large_stats_t ls;
    stats_arena_sums(s, &bs, &ls);
    uint64_t small[6] = {s->small_allocated, bs.nmalloc, bs.ndalloc,
                         bs.nrequests,       bs.nfills,  bs.nflushes};
    uint64_t large[6] = {s->large_allocated, ls.nmalloc, ls.ndalloc, ls.nrequests}, total[6];
    for (unsigned i = 0; i < 6; i++)
        total[i] = small[i] + large[i];
    emitter_header(em, "", sum_cols, ARRAY_SIZE(sum_cols));
    emitter_row(em, "small", "small:", sum_cols, 6, small);
    emitter_row(em, "large", "large:", sum_cols, 4, large); /* large classes have no fills */
    if (!emitter_json(em))
        emitter_row(em, NULL, "total:", sum_cols, 6, total);
    emitter_u(em, NULL, "active", s->pactive << LG_PAGE);
    emitter_u(em, "mapped", NULL, s->mapped);
    emitter_u(em, "retained", NULL, s->pretained << LG_PAGE);
    emitter_u(em, "resident", NULL, stats_arena_paged_bytes(s));
    emitter_u(em, "tcache_bytes", NULL, s->tcache_bytes);

    if (f->mutex) {
        /* Only the counter mutex_t keeps: how often lock() found the mutex held. */
        emitter_open(em, "mutexes", NULL, false);
        emitter_header(em, "mutexes:", mutex_cols, 1);
        emitter_row(em, "extents", "extents", mutex_cols, 1, &s->extents_nwait);
        uint64_t bins_nwait = 0;
        for (unsigned b = 0; b < SC_NBINS; b++)
            bins_nwait += s->bins_nwait[b];
        if (!emitter_json(em)) /* per bin in JSON, in the bins table */
            emitter_row(em, NULL, "bins", mutex_cols, 1, &bins_nwait);
        emitter_close(em);
    }
    stats_print_tables(em, f, s, eclass);
    emitter_close(em);
}

void stats_print(io_write_cb_t *cb, void *opaque, const char *opts) {
    static io_buf_t buf CACHE_ALIGNED;
    /* Large, so static; guarded by print_lock. */
    static stats_arena_t snap CACHE_ALIGNED;
    static stats_eclass_t eclass[PSZ_NCLASSES];
    stats_flags_t f = stats_flags(opts);
    pthread_mutex_lock(&print_lock);
    io_buf_init(&buf, cb, opaque);
    emitter_t em;
    emitter_init(&em, &buf, f.json);
    stats_snapshot(UINT_MAX, &snap, f.merged && f.extents ? eclass : NULL);
    stats_totals_t t;
    stats_totals_from(&snap, &t);
    emitter_begin(&em);
    emitter_text(&em, "___ Begin allocator statistics ___\n");
    /*
     * The top-level key is "jemalloc", as in jemalloc's own output, so that tools written for
     * jemalloc's JSON read ours unchanged. (Untitled, so the text shows nothing of it.)
     */
    emitter_open(&em, "jemalloc", NULL, false);
    if (f.general)
        stats_print_general(&em);
    stats_print_totals(&em, &t);
    f.destroyed = f.destroyed && stats_destroyed_get(NULL);
    if (f.merged || f.destroyed || f.unmerged) {
        emitter_open(&em, "stats.arenas", NULL, false);
        if (f.merged)
            stats_print_arena(&em, &f, "merged", "Merged arenas stats:", &snap, eclass, true);
        if (f.destroyed && stats_destroyed_get(&snap))
            stats_print_arena(&em, &f, "destroyed", "Destroyed arenas stats:", &snap, NULL, true);
        unsigned n = f.unmerged ? atomic_load_acquire(&narenas_total) : 0;
        for (unsigned i = 0; i < n; i++) {
            if (!stats_snapshot(i, &snap, f.extents ? eclass : NULL))
                continue;
            char key[16], title[32];
            io_format(key, sizeof(key), "%u", i);
            io_format(title, sizeof(title), "arenas[%u]:", i);
            stats_print_arena(&em, &f, key, title, &snap, eclass, false);
        }
        emitter_close(&em);
    }
    emitter_close(&em);
    emitter_text(&em, "___ End allocator statistics ___\n");
    emitter_end(&em);
    io_buf_flush(&buf);
    pthread_mutex_unlock(&print_lock);
}

/*
 * stats_print:true reports at exit through a duplicate of standard error taken at init, because
 * programs commonly close standard error in their own atexit handlers, which run before ours.
 */
static int stats_print_fd = -1;

static void stats_print_write(void *opaque, const char *s) {
    (void)opaque;
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(stats_print_fd, s, len);
        if (w <= 0)
            break;
        s += w;
        len -= (size_t)w;
    }
}

static void stats_print_atexit(void) {
    if (stats_print_fd >= 0 && malloc_message == NULL)
        stats_print(stats_print_write, NULL, opt_stats_print_opts);
    else
        stats_print(NULL, NULL, opt_stats_print_opts);
}

TEXT_HOT void stats_print_boot(void) {
    if (opt_stats_print) {
        stats_print_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
        atexit(stats_print_atexit);
    }
}
