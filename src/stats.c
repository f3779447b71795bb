/*
 * stats: snapshots of the allocator's counters, and the report of malloc_stats_print (also
 * stats_print:true at exit and glibc's malloc_stats); stats_totals feeds mallinfo and
 * malloc_info. A snapshot copies each bin's counters under its lock, then the arena's large and
 * page counters under its extents lock (one lock at a time), then adds the request counts that
 * live thread caches have not merged yet, under tsd_list_lock. The report takes its snapshots
 * into static buffers guarded by print_lock, and writes through an io_buf_t in 4 KiB pieces;
 * no allocator lock is held while the callback runs, and nothing here allocates or uses stdio.
 *
 * One emitter makes both forms, so they cannot drift apart. em_u(em, key, label, v) prints
 * `label: v` in text and `"key": v` in JSON (label "" leaves the pair out of the text, key NULL
 * out of the JSON); em_open/em_close bracket an object or array (a titled section in text);
 * em_row prints a table row from a column table: aligned columns in text, members in JSON.
 */
#include "allocator/internal/stats.h"

#include <limits.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/init.h"
#include "allocator/internal/tsd.h"

/* ---- Snapshots ---- */

static void stats_purge_add(purge_stats_t *to, const purge_stats_t *from) {
    to->npurge += from->npurge;
    to->nmadvise += from->nmadvise;
    to->purged += from->purged;
}

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
        out->bins_nwait[b] += nwait;
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
}

typedef struct {
    stats_arena_t *out;
    const arena_t *arena; /* NULL: every thread */
} stats_tcache_arg_t;

/*
 * Requests a live thread served from its cache since that bin's last fill or flush, credited
 * to the arena its cache fills from (where the fill or flush will merge them). Small classes
 * only: a cached large class counts every request locally and never merges the count, while
 * the arena counts the misses as well, so adding it would count those twice.
 */
static void stats_add_tcache(tsd_t *tsd, void *arg) {
    stats_tcache_arg_t *t = arg;
    if (t->arena != NULL && atomic_load_relaxed(&tsd->tcache.arena) != t->arena)
        return;
    unsigned n = atomic_load_relaxed(&tsd->tcache.nhbins);
    for (unsigned i = 0; i < n && i < SC_NBINS; i++)
        t->out->bins[i].nrequests += atomic_load_relaxed(&tsd->tcache.bins[i + 1].nrequests);
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
 * stats_arena_destroyed's caller changes holding ctl_lock; print_lock the report's buffers. The
 * report holds print_lock while the callback runs, so it is a plain pthread mutex outside the
 * lock order: a callback may allocate or call mallctl. No fork hook takes these locks (a
 * report may be blocked in its callback); the child makes them fresh instead, which is safe
 * because what they guard is rebuilt on each use, or changes only under ctl_lock, which fork
 * holds.
 */
static mutex_t stats_lock = MUTEX_INITIALIZER(RANK_CTL);
static mutex_t destroyed_lock = MUTEX_INITIALIZER(RANK_CTL);
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static stats_arena_t stats_destroyed;
static bool stats_any_destroyed;

void stats_postfork_child(void) {
    pthread_mutex_init(&stats_lock.m, NULL);
    pthread_mutex_init(&destroyed_lock.m, NULL);
    pthread_mutex_init(&print_lock, NULL);
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

/*
 * A fresh snapshot of arena ind, or of every arena merged (ind UINT_MAX), with free extents
 * counted into eclass[PSZ_NCLASSES] unless it is NULL. False: no such arena.
 */
static bool stats_snapshot(unsigned ind, stats_arena_t *out, stats_eclass_t *eclass) {
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
    t->allocated = m->small_allocated + m->large_allocated;
    t->active = m->pactive << LG_PAGE;
    t->dirty = m->pdirty << LG_PAGE;
    t->muzzy = m->pmuzzy << LG_PAGE;
    t->metadata = base_allocated_bytes();
    t->mapped = t->active + t->dirty + t->muzzy + base_mapped_bytes();
    t->retained = m->pretained << LG_PAGE;
    /* Muzzy pages count as resident until the kernel takes them, which it does not tell. */
    t->resident = t->active + t->dirty + t->muzzy + base_resident_bytes();
}

void stats_totals(stats_totals_t *t) {
    static stats_arena_t m; /* large; guarded by stats_lock */
    mutex_lock(&stats_lock);
    stats_snapshot(UINT_MAX, &m, NULL);
    stats_totals_from(&m, t);
    mutex_unlock(&stats_lock);
}

/* ---- The emitter ---- */

typedef struct em_s {
    io_buf_t *b;
    bool json;
    bool comma;         /* JSON: the innermost open container has a member already */
    unsigned depth;     /* JSON: open containers */
    unsigned indent;    /* text: indentation level (two spaces each) */
    uint32_t array;     /* JSON: bit i set when open container i (from the innermost) is [] */
    uint32_t titled;    /* text: bit i set when open container i printed a title */
    const char *prefix; /* text: put before a key printed as its own label ("opt.") */
} em_t;

static void em_puts(em_t *em, const char *s) { io_buf_printf(em->b, "%s", s); }

static void em_pad(em_t *em, size_t n) {
    static const char spaces[] = "                                ";
    const size_t max = sizeof(spaces) - 1;
    for (; n > 0; n -= n < max ? n : max)
        em_puts(em, spaces + max - (n < max ? n : max));
}

/* Length of the well-formed UTF-8 sequence that starts s (n bytes left), or 0. */
static size_t em_utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    /* The second byte excludes overlong forms, UTF-16 surrogates and code points > 0x10ffff. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    for (size_t i = 1; i < len; i++, lo = 0x80, hi = 0xbf) {
        if (s[i] < lo || s[i] > hi)
            return 0;
    }
    return len;
}

/*
 * s[0..n) as a JSON string: '"', '\' and control characters escaped; a byte that does not
 * begin well-formed UTF-8 becomes U+FFFD, so the output is valid JSON whatever the input.
 */
static void em_json_str(em_t *em, const char *s, size_t n) {
    char out[128];
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < n;) {
        if (k + 8 > sizeof(out)) {
            out[k] = '\0';
            em_puts(em, out);
            k = 0;
        }
        unsigned char c = (unsigned char)s[i];
        size_t len = em_utf8_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(out + k, "\\ufffd", 6);
            k += 6;
            len = 1;
        } else if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += io_format(out + k, sizeof(out) - k, "\\u%04x", c);
        } else {
            memcpy(out + k, s + i, len);
            k += len;
        }
        i += len;
    }
    out[k++] = '"';
    out[k] = '\0';
    em_puts(em, out);
}

static void em_json_indent(em_t *em, unsigned depth) {
    static const char tabs[] = "\t\t\t\t\t\t\t\t";
    em_puts(em, tabs + (sizeof(tabs) - 1 - (depth < sizeof(tabs) ? depth : sizeof(tabs) - 1)));
}

/* JSON: start a member (key NULL: an array element) on a line of its own. */
static void em_json_member(em_t *em, const char *key) {
    em_puts(em, em->comma ? ",\n" : "\n");
    em_json_indent(em, em->depth);
    if (key != NULL) {
        em_json_str(em, key, strlen(key));
        em_puts(em, ": ");
    }
    em->comma = true;
}

/* Start a key/value pair; false when this form leaves it out (see the file comment). */
static bool em_key(em_t *em, const char *key, const char *label) {
    if (em->json) {
        if (key != NULL)
            em_json_member(em, key);
        return key != NULL;
    }
    if (label != NULL && label[0] == '\0')
        return false;
    em_pad(em, 2 * em->indent);
    if (label == NULL && em->prefix != NULL)
        em_puts(em, em->prefix);
    io_buf_printf(em->b, "%s: ", label != NULL ? label : key);
    return true;
}

static void em_u(em_t *em, const char *key, const char *label, unsigned long long v) {
    if (em_key(em, key, label))
        io_buf_printf(em->b, "%llu%s", v, em->json ? "" : "\n");
}

static void em_d(em_t *em, const char *key, const char *label, long long v) {
    if (em_key(em, key, label))
        io_buf_printf(em->b, "%lld%s", v, em->json ? "" : "\n");
}

static void em_b(em_t *em, const char *key, const char *label, bool v) {
    if (em_key(em, key, label))
        io_buf_printf(em->b, "%s%s", v ? "true" : "false", em->json ? "" : "\n");
}

static void em_s(em_t *em, const char *key, const char *label, const char *s) {
    if (!em_key(em, key, label))
        return;
    if (em->json)
        em_json_str(em, s, strlen(s));
    else
        io_buf_printf(em->b, "\"%s\"\n", s);
}

/* Open an object or array named key; in text, print title (if any) and indent what follows. */
static void em_open(em_t *em, const char *key, const char *title, bool array) {
    if (em->json) {
        em_json_member(em, key);
        em_puts(em, array ? "[" : "{");
        em->comma = false;
        em->depth++;
    } else if (title != NULL) {
        em_pad(em, 2 * em->indent);
        io_buf_printf(em->b, "%s\n", title);
        em->indent++;
    }
    em->array = em->array << 1 | array;
    em->titled = em->titled << 1 | (title != NULL);
}

static void em_close(em_t *em) {
    if (em->json) {
        em->depth--;
        em_puts(em, "\n");
        em_json_indent(em, em->depth);
        em_puts(em, em->array & 1 ? "]" : "}");
        em->comma = true;
    } else if (em->titled & 1) {
        em->indent--;
    }
    em->array >>= 1;
    em->titled >>= 1;
}

/* A table column: JSON key (NULL: text only; "a.b" is b inside object a) and text heading. */
typedef struct col_s {
    const char *key;
    const char *head; /* NULL: JSON only */
    unsigned width;
} col_t;

/* Text: one cell right-aligned in width; lead, when given, starts the cell on the left. */
static void em_cell(em_t *em, const char *lead, const char *s, unsigned width) {
    size_t used = (lead != NULL ? strlen(lead) : 0) + strlen(s);
    if (lead != NULL)
        em_puts(em, lead);
    em_pad(em, used < width ? width - used : 1);
    em_puts(em, s);
}

/* Text: the headings of a table, the first one led by title. */
static void em_header(em_t *em, const char *title, const col_t *cols, unsigned n) {
    if (em->json)
        return;
    em_pad(em, 2 * em->indent);
    for (unsigned i = 0; i < n; i++) {
        if (cols[i].head != NULL) {
            em_cell(em, title, cols[i].head, cols[i].width);
            title = NULL;
        }
    }
    em_puts(em, "\n");
}

/*
 * One table row of values v[0..n). Text: lead, then the columns that have headings. JSON: the
 * columns that have keys, as an object named key (key "": an array element), or, with key
 * NULL, as members of the current object.
 */
static void em_row(em_t *em, const char *key, const char *lead, const col_t *cols, unsigned n,
                   const uint64_t *v) {
    if (!em->json) {
        em_pad(em, 2 * em->indent);
        for (unsigned i = 0; i < n; i++) {
            if (cols[i].head == NULL)
                continue;
            char num[24];
            io_format(num, sizeof(num), "%llu", (unsigned long long)v[i]);
            em_cell(em, lead, num, cols[i].width);
            lead = NULL;
        }
        em_puts(em, "\n");
        return;
    }
    if (key != NULL) {
        em_json_member(em, key[0] != '\0' ? key : NULL);
        em_puts(em, "{");
    }
    bool first = true;
    for (unsigned i = 0; i < n; i++) {
        const char *k = cols[i].key;
        if (k == NULL)
            continue;
        if (key == NULL)
            em_json_member(em, NULL);
        else if (!first)
            em_puts(em, ", ");
        first = false;
        const char *dot = strchr(k, '.');
        em_json_str(em, k, dot != NULL ? (size_t)(dot - k) : strlen(k));
        if (dot != NULL) {
            em_puts(em, ": {");
            em_json_str(em, dot + 1, strlen(dot + 1));
        }
        io_buf_printf(em->b, ": %llu%s", (unsigned long long)v[i], dot != NULL ? "}" : "");
    }
    if (key != NULL)
        em_puts(em, "}");
}

/* Text: a "---" line stands for a run of unused rows of a table, as in jemalloc's tables. */
static void em_gap(em_t *em, bool *gap) {
    if (*gap && !em->json) {
        em_pad(em, 2 * em->indent);
        em_puts(em, "                     ---\n");
    }
    *gap = false;
}

/* ---- The report ---- */

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

typedef enum { OV_BOOL, OV_UNSIGNED, OV_SIZE, OV_SSIZE, OV_CHARS, OV_STRING, OV_JUNK } ov_type_t;

typedef struct opt_view_s {
    const char *name;
    ov_type_t type;
    const void *var;
} opt_view_t;

/* The run-time options (conf.h), in jemalloc's order; narenas shows the effective count. */
static const opt_view_t stats_opts[] = {
    {"abort", OV_BOOL, &opt_abort},
    {"abort_conf", OV_BOOL, &opt_abort_conf},
    {"confirm_conf", OV_BOOL, &opt_confirm_conf},
    {"retain", OV_BOOL, &opt_retain},
    {"dss", OV_STRING, &opt_dss},
    {"narenas", OV_UNSIGNED, &narenas_auto},
    {"percpu_arena", OV_STRING, &opt_percpu_arena},
    {"oversize_threshold", OV_SIZE, &opt_oversize_threshold},
    {"metadata_thp", OV_STRING, &opt_metadata_thp},
    {"background_thread", OV_BOOL, &opt_background_thread},
    {"max_background_threads", OV_SIZE, &opt_max_background_threads},
    {"dirty_decay_ms", OV_SSIZE, &opt_dirty_decay_ms},
    {"muzzy_decay_ms", OV_SSIZE, &opt_muzzy_decay_ms},
    {"lg_extent_max_active_fit", OV_SIZE, &opt_lg_extent_max_active_fit},
    {"junk", OV_JUNK, NULL},
    {"zero", OV_BOOL, &opt_zero},
    {"xmalloc", OV_BOOL, &opt_xmalloc},
    {"tcache", OV_BOOL, &opt_tcache},
    {"tcache_max", OV_SIZE, &opt_tcache_max},
    {"thp", OV_STRING, &opt_thp},
    {"prof", OV_BOOL, &opt_prof},
    {"prof_prefix", OV_CHARS, opt_prof_prefix},
    {"prof_active", OV_BOOL, &opt_prof_active},
    {"prof_thread_active_init", OV_BOOL, &opt_prof_thread_active_init},
    {"lg_prof_sample", OV_SIZE, &opt_lg_prof_sample},
    {"prof_accum", OV_BOOL, &opt_prof_accum},
    {"lg_prof_interval", OV_SSIZE, &opt_lg_prof_interval},
    {"prof_gdump", OV_BOOL, &opt_prof_gdump},
    {"prof_final", OV_BOOL, &opt_prof_final},
    {"prof_leak", OV_BOOL, &opt_prof_leak},
    {"stats_print", OV_BOOL, &opt_stats_print},
    {"stats_print_opts", OV_CHARS, opt_stats_print_opts},
    {"zero_realloc", OV_STRING, &opt_zero_realloc},
};

static void stats_print_opt(em_t *em, const opt_view_t *o) {
    const void *v = o->var;
    if (o->type == OV_BOOL)
        em_b(em, o->name, NULL, *(const bool *)v);
    else if (o->type == OV_UNSIGNED)
        em_u(em, o->name, NULL, *(const unsigned *)v);
    else if (o->type == OV_SIZE)
        em_u(em, o->name, NULL, *(const size_t *)v);
    else if (o->type == OV_SSIZE)
        em_d(em, o->name, NULL, *(const ssize_t *)v);
    else if (o->type == OV_CHARS)
        em_s(em, o->name, NULL, (const char *)v);
    else if (o->type == OV_STRING)
        em_s(em, o->name, NULL, *(const char *const *)v);
    else
        em_s(em, o->name, NULL,
             opt_junk_alloc ? (opt_junk_free ? "true" : "alloc")
                            : (opt_junk_free ? "free" : "false"));
}

static const col_t bininfo_cols[] = {{"size", NULL, 0}, {"nregs", NULL, 0}, {"slab_size", NULL, 0}};

/* What never changes during execution: version, build, options, size classes ('g' omits). */
static void stats_print_general(em_t *em) {
    em_s(em, "version", "Version", ALLOCATOR_VERSION);
    em->prefix = "config.";
    em_open(em, "config", "Build-time option settings", false);
    em_b(em, "debug", NULL, config_debug);
    em_b(em, "fill", NULL, config_fill);
    em_s(em, "malloc_conf", NULL, ALLOCATOR_MALLOC_CONF);
    em_b(em, "prof", NULL, config_prof);
    em_b(em, "stats", NULL, config_stats);
    em_u(em, "lg_page", NULL, LG_PAGE);
    em_u(em, "lg_chunk", NULL, LG_CHUNK);
    em_u(em, "lg_vaddr", NULL, LG_VADDR);
    em_close(em);
    em->prefix = "opt.";
    em_open(em, "opt", "Run-time option settings", false);
    for (size_t i = 0; i < ARRAY_SIZE(stats_opts); i++)
        stats_print_opt(em, &stats_opts[i]);
    em_close(em);
    em->prefix = NULL;

    unsigned nhbins = tcache_nhbins();
    em_open(em, "arenas", NULL, false);
    em_u(em, "narenas", "Arenas", atomic_load_acquire(&narenas_total));
    em_u(em, NULL, "CPUs", init_ncpus());
    em_d(em, "dirty_decay_ms", "", opt_dirty_decay_ms);
    em_d(em, "muzzy_decay_ms", "", opt_muzzy_decay_ms);
    em_u(em, "quantum", "Quantum size", QUANTUM);
    em_u(em, "page", "Page size", PAGE);
    em_u(em, NULL, "Chunk size", CHUNK);
    em_u(em, "tcache_max", "Maximum thread-cached size class",
         nhbins > 0 ? sz_index2size(nhbins - 1) : 0);
    em_u(em, "nbins", "Number of bin size classes", SC_NBINS);
    em_u(em, "nhbins", "Number of thread-cache bin size classes", nhbins);
    if (em->json) {
        em_open(em, "bin", NULL, true);
        for (unsigned i = 0; i < SC_NBINS; i++) {
            uint64_t v[] = {bin_infos[i].reg_size, bin_infos[i].nregs, bin_infos[i].slab_size};
            em_row(em, "", NULL, bininfo_cols, ARRAY_SIZE(v), v);
        }
        em_close(em);
    }
    em_u(em, "nlextents", "Number of large size classes", SC_NLARGE);
    if (em->json) {
        em_open(em, "lextent", NULL, true);
        for (unsigned l = 0; l < SC_NLARGE; l++) {
            uint64_t v = sz_index2size(SC_NBINS + l);
            em_row(em, "", NULL, bininfo_cols, 1, &v);
        }
        em_close(em);
    }
    em_close(em);
}

static void stats_print_totals(em_t *em, const stats_totals_t *t) {
    if (!em->json) {
        io_buf_printf(em->b,
                      "Allocated: %zu, active: %zu, metadata: %zu, resident: %zu, mapped: %zu, "
                      "retained: %zu\n",
                      t->allocated, t->active, t->metadata, t->resident, t->mapped, t->retained);
        io_buf_printf(em->b, "Allocations: nmalloc %llu, ndalloc %llu, nrequests %llu\n",
                      (unsigned long long)t->nmalloc, (unsigned long long)t->ndalloc,
                      (unsigned long long)t->nrequests);
        return;
    }
    em_open(em, "stats", NULL, false);
    em_u(em, "allocated", NULL, t->allocated);
    em_u(em, "active", NULL, t->active);
    em_u(em, "metadata", NULL, t->metadata);
    em_u(em, "resident", NULL, t->resident);
    em_u(em, "mapped", NULL, t->mapped);
    em_u(em, "retained", NULL, t->retained);
    /* Not in jemalloc's "stats": the text's "Allocations:" line. */
    em_u(em, "nmalloc", NULL, t->nmalloc);
    em_u(em, "ndalloc", NULL, t->ndalloc);
    em_u(em, "nrequests", NULL, t->nrequests);
    em_close(em);
}

/* Column tables, laid out as tables. */
/* clang-format off */
static const col_t page_cols[] = {
    {"pactive", "active", 30},       {"pdirty", "dirty", 13},       {"pmuzzy", "muzzy", 13},
    {NULL, "retained", 13},
};
static const col_t purge_cols[2][3] = {
    {{"dirty_npurge", "npurge", 30}, {"dirty_nmadvise", "nmadvise", 13}, {"dirty_purged", "purged", 13}},
    {{"muzzy_npurge", "npurge", 30}, {"muzzy_nmadvise", "nmadvise", 13}, {"muzzy_purged", "purged", 13}},
};
static const col_t sum_cols[] = {
    {"allocated", "allocated", 30},  {"nmalloc", "nmalloc", 13},    {"ndalloc", "ndalloc", 13},
    {"nrequests", "nrequests", 13},  {"nfills", "nfill", 13},       {"nflushes", "nflush", 13},
};
static const col_t mutex_cols[] = {{"num_wait", "n_waiting", 30}};
/* The last column is left out without mutex statistics ('x'). */
static const col_t bin_cols[] = {
    {NULL, "size", 20},              {NULL, "ind", 4},              {NULL, "allocated", 13},
    {"nmalloc", "nmalloc", 13},      {"ndalloc", "ndalloc", 13},    {"nrequests", "nrequests", 13},
    {"curregs", "curregs", 13},      {"curslabs", "curslabs", 10},  {NULL, "regs", 5},
    {NULL, "pgs", 4},                {"nfills", "nfills", 11},      {"nflushes", "nflushes", 11},
    {"nslabs", "nslabs", 11},        {"nreslabs", "nreslabs", 11},
    {"mutex.num_wait", "n_waiting", 11},
};
static const col_t large_cols[] = {
    {NULL, "size", 20},              {NULL, "ind", 4},              {NULL, "allocated", 13},
    {"nmalloc", "nmalloc", 13},      {"ndalloc", "ndalloc", 13},    {"nrequests", "nrequests", 13},
    {"curlextents", "curlextents", 13},
};
static const col_t extent_cols[] = {
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

static void stats_print_tables(em_t *em, const stats_flags_t *f, const stats_arena_t *s,
                               const stats_eclass_t *eclass) {
    bool gap = false;
    if (f->bins) {
        unsigned ncols = ARRAY_SIZE(bin_cols) - (f->mutex ? 0 : 1);
        em_open(em, "bins", NULL, true);
        em_header(em, "bins:", bin_cols, ncols);
        for (unsigned i = 0; i < SC_NBINS; i++) {
            const bin_stats_t *b = &s->bins[i];
            const bin_info_t *bi = &bin_infos[i];
            if (!em->json && b->nmalloc == 0 && b->curregs == 0) {
                gap = true;
                continue;
            }
            em_gap(em, &gap);
            uint64_t v[] = {bi->reg_size,   i,           b->curregs * bi->reg_size,
                            b->nmalloc,     b->ndalloc,  b->nrequests,
                            b->curregs,     b->curslabs, bi->nregs,
                            bi->slab_pages, b->nfills,   b->nflushes,
                            b->nslabs,      b->nreslabs, s->bins_nwait[i]};
            em_row(em, "", NULL, bin_cols, ncols, v);
        }
        em_gap(em, &gap);
        em_close(em);
    }
    if (f->large) {
        em_open(em, "lextents", NULL, true);
        em_header(em, "large:", large_cols, ARRAY_SIZE(large_cols));
        for (unsigned l = 0; l < SC_NLARGE; l++) {
            const large_stats_t *ls = &s->large[l];
            if (!em->json && ls->nmalloc == 0 && ls->curlextents == 0) {
                gap = true;
                continue;
            }
            em_gap(em, &gap);
            size_t size = sz_index2size(SC_NBINS + l);
            uint64_t v[] = {size,        SC_NBINS + l,  ls->curlextents * size, ls->nmalloc,
                            ls->ndalloc, ls->nrequests, ls->curlextents};
            em_row(em, "", NULL, large_cols, ARRAY_SIZE(v), v);
        }
        em_gap(em, &gap);
        em_close(em);
    }
    if (f->extents && eclass != NULL) {
        em_open(em, "extents", NULL, true);
        em_header(em, "extents:", extent_cols, ARRAY_SIZE(extent_cols));
        for (unsigned c = 0; c < PSZ_NCLASSES; c++) {
            const stats_eclass_t *e = &eclass[c];
            uint64_t n = e->ndirty + e->nmuzzy + e->nretained;
            if (!em->json && n == 0) {
                gap = true;
                continue;
            }
            em_gap(em, &gap);
            uint64_t size = stats_psz_pages(c) << LG_PAGE;
            uint64_t dirty = e->pdirty << LG_PAGE, muzzy = e->pmuzzy << LG_PAGE;
            uint64_t retained = e->pretained << LG_PAGE;
            uint64_t v[] = {size,      c, e->ndirty, dirty, e->nmuzzy, muzzy, e->nretained,
                            retained, n, dirty + muzzy + retained};
            em_row(em, "", NULL, extent_cols, ARRAY_SIZE(v), v);
        }
        em_gap(em, &gap);
        em_close(em);
    }
}

/*
 * One arena's section, or (sum) the merged or destroyed one, as jemalloc's "stats.arenas.<i>";
 * eclass NULL leaves out the free extents (a destroyed arena has none).
 */
static void stats_print_arena(em_t *em, const stats_flags_t *f, const char *key, const char *title,
                              const stats_arena_t *s, const stats_eclass_t *eclass, bool sum) {
    em_open(em, key, title, false);
    em_u(em, "nthreads", "assigned threads", s->nthreads);
    if (!sum) {
        em_d(em, "dirty_decay_ms", NULL, s->dirty_decay_ms);
        em_d(em, "muzzy_decay_ms", NULL, s->muzzy_decay_ms);
    }
    em_header(em, "", page_cols, ARRAY_SIZE(page_cols));
    uint64_t pages[] = {s->pactive, s->pdirty, s->pmuzzy, s->pretained};
    em_row(em, NULL, "pages:", page_cols, ARRAY_SIZE(pages), pages);
    /* Purging, per state left: dirty (to muzzy or retained) and muzzy (to retained). */
    em_header(em, "purging:", purge_cols[0], 3);
    const purge_stats_t *ps[2] = {&s->purge_dirty, &s->purge_muzzy};
    for (unsigned i = 0; i < 2; i++) {
        uint64_t v[] = {ps[i]->npurge, ps[i]->nmadvise, ps[i]->purged};
        em_row(em, NULL, i == 0 ? "dirty:" : "muzzy:", purge_cols[i], 3, v);
    }

    uint64_t small[6] = {s->small_allocated}, large[6] = {s->large_allocated}, total[6];
    for (unsigned b = 0; b < SC_NBINS; b++) {
        small[1] += s->bins[b].nmalloc;
        small[2] += s->bins[b].ndalloc;
        small[3] += s->bins[b].nrequests;
        small[4] += s->bins[b].nfills;
        small[5] += s->bins[b].nflushes;
    }
    for (unsigned l = 0; l < SC_NLARGE; l++) {
        large[1] += s->large[l].nmalloc;
        large[2] += s->large[l].ndalloc;
        large[3] += s->large[l].nrequests;
    }
    for (unsigned i = 0; i < 6; i++)
        total[i] = small[i] + large[i];
    em_header(em, "", sum_cols, ARRAY_SIZE(sum_cols));
    em_row(em, "small", "small:", sum_cols, 6, small);
    em_row(em, "large", "large:", sum_cols, 4, large); /* large classes have no fills */
    if (!em->json)
        em_row(em, NULL, "total:", sum_cols, 6, total);
    em_u(em, NULL, "active", s->pactive << LG_PAGE);
    em_u(em, "mapped", NULL, s->mapped);
    em_u(em, "retained", NULL, s->pretained << LG_PAGE);

    if (f->mutex) {
        /* Only the counter mutex_t keeps: how often lock() found the mutex held. */
        em_open(em, "mutexes", NULL, false);
        em_header(em, "mutexes:", mutex_cols, 1);
        em_row(em, "extents", "extents", mutex_cols, 1, &s->extents_nwait);
        uint64_t bins_nwait = 0;
        for (unsigned b = 0; b < SC_NBINS; b++)
            bins_nwait += s->bins_nwait[b];
        if (!em->json) /* per bin in JSON, in the bins table */
            em_row(em, NULL, "bins", mutex_cols, 1, &bins_nwait);
        em_close(em);
    }
    stats_print_tables(em, f, s, eclass);
    em_close(em);
}

void stats_print(io_write_cb_t *cb, void *opaque, const char *opts) {
    if (init_ensure() != INIT_OK)
        return;
    static io_buf_t buf;
    /* Large, so static; guarded by print_lock. */
    static stats_arena_t snap;
    static stats_eclass_t eclass[PSZ_NCLASSES];
    stats_flags_t f = stats_flags(opts);
    pthread_mutex_lock(&print_lock);
    io_buf_init(&buf, cb, opaque);
    em_t em = {.b = &buf, .json = f.json};
    stats_snapshot(UINT_MAX, &snap, f.merged && f.extents ? eclass : NULL);
    stats_totals_t t;
    stats_totals_from(&snap, &t);
    if (f.json) {
        /*
         * The top-level key is "jemalloc", as in jemalloc's own output, so that tools written
         * for jemalloc's JSON read ours unchanged.
         */
        em_puts(&em, "{");
        em_open(&em, "jemalloc", NULL, false);
    } else {
        em_puts(&em, "___ Begin allocator statistics ___\n");
    }
    if (f.general)
        stats_print_general(&em);
    stats_print_totals(&em, &t);
    f.destroyed = f.destroyed && stats_destroyed_get(NULL);
    if (f.merged || f.destroyed || f.unmerged) {
        em_open(&em, "stats.arenas", NULL, false);
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
        em_close(&em);
    }
    if (f.json) {
        em_close(&em);
        em_puts(&em, "\n}\n");
    } else {
        em_puts(&em, "___ End allocator statistics ___\n");
    }
    io_buf_flush(&buf);
    pthread_mutex_unlock(&print_lock);
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts) {
    stats_print(write_cb, cbopaque, opts);
}
