/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl: the mallctl tree (see ctl.h) and its resolver. Each subtree is one list of rows
 * (ctl_tree.h): a read-only value is a row, a name that acts is a row naming its handler; the
 * opt.* rows come from conf.h's option table, and the stats.* subtree and the epoch snapshot are
 * ctl_stats.c. A component that is a decimal number selects a node's "<i>" child, whose validity
 * check sees the index. Handlers follow jemalloc's conventions (ctl_tree.h's READ/WRITE
 * helpers); an unknown name or index is ENOENT. ctl_lock serialises handlers that change state
 * and guards the statistics snapshot.
 */
#include "allocator/internal/ctl.h"

#include <limits.h>

#include "allocator.h"
#include "allocator/internal/background.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/ctl_tree.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/io.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/stats.h"
#include "allocator/internal/tsd.h"

mutex_t ctl_lock = MUTEX_INITIALIZER(RANK_CTL_OUTER);

/* ---- top level ----------------------------------------------------------------------------- */

static int background_thread_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    WRITE_VALUE(v, bool);
    bool old = background_enabled();
    READ(old, bool);
    if (has_v && v != old) {
        int err = background_enable(v);
        if (err != 0)
            return err;
    }
    return 0;
}

static int max_background_threads_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    WRITE_VALUE(v, size_t);
    size_t old = background_max_get();
    READ(old, size_t);
    if (has_v) {
        int err = background_max_set(v);
        if (err != 0)
            return err;
    }
    return 0;
}

/* ---- config.* ------------------------------------------------------------------------------ */

#define CONFIG(X)                                                                                  \
    X(RO, config, cache_oblivious, bool, false)                                                    \
    X(RO, config, debug, bool, config_debug)                                                       \
    X(RO, config, fill, bool, config_fill)                                                         \
    X(RO, config, lazy_lock, bool, false)                                                          \
    X(RO, config, malloc_conf, const char *, ALLOCATOR_MALLOC_CONF)                                \
    X(RO, config, opt_safety_checks, bool, false)                                                  \
    X(RO, config, prof, bool, config_prof)                                                         \
    X(RO, config, prof_libgcc, bool, config_prof_libgcc)                                           \
    X(RO, config, prof_libunwind, bool, false)                                                     \
    X(RO, config, stats, bool, config_stats)                                                       \
    X(RO, config, utrace, bool, false)                                                             \
    X(RO, config, xmalloc, bool, true)
CTL_TABLE(config, CONFIG);

/* ---- opt.* --------------------------------------------------------------------------------- */

/* Every opt.<name>: option mib[1] of conf.h's table, read-only, in the option's type. */
static int opt_ctl(CTL_ARGS) {
    (void)miblen;
    READONLY();
    conf_value_t v = conf_option_value(mib[1], narenas_auto);
    switch (v.type) {
    case CONF_T_BOOL:
        READ(v.b, bool);
        break;
    case CONF_T_UNSIGNED:
        READ(v.u, unsigned);
        break;
    case CONF_T_SSIZE:
        READ(v.d, ssize_t);
        break;
    case CONF_T_SIZE:
        READ(v.z, size_t);
        break;
    case CONF_T_STRING:
        READ(v.s, const char *);
        break;
    }
    return 0;
}

#define CTL_OPT_ROW(kind, name, def, min, max) {#name, NULL, NULL, NULL, opt_ctl},
static const ctl_node_t opt_children[] = {CONF_OPTIONS(CTL_OPT_ROW) CTL_END};

/* ---- thread.* ------------------------------------------------------------------------------ */

/*
 * The caller's real thread state, or NULL (inside init, after thread exit, out of memory). The
 * entry point (api_ctl.c) has fetched it, making it on the thread's first call.
 */
static tsd_t *ctl_tsd(void) {
    tsd_t *tsd = tsd_get();
    return tsd_is_real(tsd) ? tsd : NULL;
}

static int thread_arena_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    tsd_t *tsd = ctl_tsd();
    if (tsd == NULL)
        return EAGAIN;
    WRITE_VALUE(v, unsigned);
    unsigned old = tsd->arena->ind;
    READ(old, unsigned);
    if (has_v && v != old) {
        if (v >= atomic_load_acquire(&narenas_total) && v >= narenas_auto)
            return EFAULT;
        /* Under percpu_arena the CPU chooses among the automatic arenas (jemalloc's EPERM). */
        if (opt_percpu_arena == PERCPU_ARENA_PERCPU && v < narenas_auto)
            return EPERM;
        arena_t *arena = arena_get_or_create(v);
        if (arena == NULL)
            return EAGAIN;
        tcache_flush_all(&tsd->tcache);
        tsd_arena_move(tsd, arena);
        tsd->tcache.arena = arena;
    }
    /* The program chose the arena: a wait for its locks no longer moves the thread. */
    if (has_v)
        tsd->arena_bound = true;
    return 0;
}

/*
 * thread.allocated / deallocated, and the ...p names that hand out the counter's address (which
 * makes the thread keep that counter exact from then on: tsd_counters_live).
 */
#define CTL_THREAD_COUNTER(name, field)                                                            \
    static int name##_ctl(CTL_ARGS) {                                                              \
        (void)mib, (void)miblen;                                                                   \
        READONLY();                                                                                \
        tsd_t *tsd = ctl_tsd();                                                                    \
        READ(tsd != NULL ? tsd_##field(tsd) : 0, uint64_t);                                        \
        return 0;                                                                                  \
    }                                                                                              \
    static int name##p_ctl(CTL_ARGS) {                                                             \
        (void)mib, (void)miblen;                                                                   \
        READONLY();                                                                                \
        tsd_t *tsd = ctl_tsd();                                                                    \
        if (tsd == NULL)                                                                           \
            return EAGAIN;                                                                         \
        if (oldp != NULL && oldlenp != NULL && *oldlenp == sizeof(uint64_t *))                     \
            tsd_counters_live(tsd);                                                                \
        READ(&tsd->field, uint64_t *);                                                             \
        return 0;                                                                                  \
    }

CTL_THREAD_COUNTER(thread_allocated, thread_allocated)
CTL_THREAD_COUNTER(thread_deallocated, thread_deallocated)

/* thread.peak.read (uint64_t) and thread.peak.reset: the thread's net peak (tsd.h). */
static int thread_peak_read_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    READONLY();
    tsd_t *tsd = ctl_tsd();
    READ(tsd != NULL ? tsd_peak_read(tsd) : 0, uint64_t);
    return 0;
}

static int thread_peak_reset_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    NEITHER();
    tsd_t *tsd = ctl_tsd();
    if (tsd != NULL)
        tsd_peak_reset(tsd);
    return 0;
}

#define THREAD_PEAK(X)                                                                             \
    X(FN, thread_peak, read, thread_peak_read_ctl, _)                                              \
    X(FN, thread_peak, reset, thread_peak_reset_ctl, _)
CTL_TABLE(thread_peak, THREAD_PEAK);

static int thread_tcache_enabled_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    tsd_t *tsd = ctl_tsd();
    if (tsd == NULL)
        return EAGAIN;
    WRITE_VALUE(v, bool);
    bool old = tsd->tcache_enabled;
    READ(old, bool);
    if (has_v)
        tsd_tcache_set_enabled(tsd, v && !opt_junk_alloc && !opt_junk_free && !opt_zero);
    return 0;
}

static int thread_tcache_flush_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    NEITHER();
    tsd_t *tsd = ctl_tsd();
    if (tsd != NULL)
        tcache_flush_all(&tsd->tcache);
    return 0;
}

static int thread_idle_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    NEITHER();
    tsd_t *tsd = ctl_tsd();
    if (tsd == NULL)
        return 0;
    tcache_flush_all(&tsd->tcache);
    arena_decay_now(tsd->arena);
    return 0;
}

#define THREAD_TCACHE(X)                                                                           \
    X(FN, thread_tcache, enabled, thread_tcache_enabled_ctl, _)                                    \
    X(FN, thread_tcache, flush, thread_tcache_flush_ctl, _)
CTL_TABLE(thread_tcache, THREAD_TCACHE);

#define THREAD(X)                                                                                  \
    X(FN, thread, arena, thread_arena_ctl, _)                                                      \
    X(FN, thread, allocated, thread_allocated_ctl, _)                                              \
    X(FN, thread, allocatedp, thread_allocatedp_ctl, _)                                            \
    X(FN, thread, deallocated, thread_deallocated_ctl, _)                                          \
    X(FN, thread, deallocatedp, thread_deallocatedp_ctl, _)                                        \
    X(DIR, thread, tcache, thread_tcache_children, _)                                              \
    X(DIR, thread, prof, ctl_thread_prof_children, _)                                              \
    X(FN, thread, idle, thread_idle_ctl, _)                                                        \
    X(DIR, thread, peak, thread_peak_children, _)
CTL_TABLE(thread, THREAD);

/* ---- tcache.* ------------------------------------------------------------------------------ */

static int tcache_create_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    READONLY();
    VERIFY_READ(unsigned);
    tsd_t *tsd = ctl_tsd();
    arena_t *arena = tsd != NULL ? tsd->arena : arena_get(0);
    unsigned ind = tcaches_create(arena);
    if (ind == UINT_MAX)
        return EAGAIN;
    READ(ind, unsigned);
    return 0;
}

static int tcache_flush_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    WRITEONLY();
    if (newp == NULL)
        return EINVAL;
    WRITE_VALUE(v, unsigned);
    (void)has_v;
    return tcaches_flush(v) ? 0 : EFAULT;
}

static int tcache_destroy_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    WRITEONLY();
    if (newp == NULL)
        return EINVAL;
    WRITE_VALUE(v, unsigned);
    (void)has_v;
    return tcaches_destroy(v) ? 0 : EFAULT;
}

#define TCACHE(X)                                                                                  \
    X(FN, tcache, create, tcache_create_ctl, _)                                                    \
    X(FN, tcache, flush, tcache_flush_ctl, _)                                                      \
    X(FN, tcache, destroy, tcache_destroy_ctl, _)
CTL_TABLE(tcache, TCACHE);

/* ---- arena.<i>.* --------------------------------------------------------------------------- */

/* arena.<narenas>.* is jemalloc's older spelling of "all arenas"; purge and decay accept it. */
static bool arena_index_ok(size_t i) { return i <= ctl_narenas() || i == MALLCTL_ARENAS_ALL; }

/* Apply fn to arena mib[1], or to every arena for MALLCTL_ARENAS_ALL. */
static void ctl_arena_foreach(size_t ind, void (*fn)(arena_t *)) {
    if (ind == MALLCTL_ARENAS_ALL || ind == ctl_narenas()) {
        unsigned n = atomic_load_acquire(&narenas_total);
        for (unsigned i = 0; i < n; i++) {
            arena_t *a = arena_get(i);
            if (a != NULL)
                fn(a);
        }
    } else {
        arena_t *a = arena_get((unsigned)ind);
        if (a != NULL)
            fn(a);
    }
}

static void ctl_arena_purge_one(arena_t *a) { arena_purge(a); }

static void ctl_arena_decay_one(arena_t *a) { arena_decay_now(a); }

static int arena_i_purge_ctl(CTL_ARGS) {
    (void)miblen;
    NEITHER();
    ctl_arena_foreach(mib[1], ctl_arena_purge_one);
    return 0;
}

static int arena_i_decay_ctl(CTL_ARGS) {
    (void)miblen;
    NEITHER();
    ctl_arena_foreach(mib[1], ctl_arena_decay_one);
    return 0;
}

/*
 * arena.<i>.dss: an arena's setting, or with <i> all arenas (or narenas, jemalloc's older
 * spelling) the setting of arenas created from now on, as jemalloc does; existing arenas keep
 * theirs. An unknown word is EINVAL, an arena that does not exist EFAULT (jemalloc's errors).
 */
static int arena_i_dss_ctl(CTL_ARGS) {
    (void)miblen;
    WRITE_VALUE(v, const char *);
    int dss = -1;
    for (int i = 0; has_v && v != NULL && conf_dss_names[i] != NULL; i++)
        if (strcmp(v, conf_dss_names[i]) == 0)
            dss = i;
    if (has_v && dss < 0)
        return EINVAL;
    bool all = mib[1] == MALLCTL_ARENAS_ALL || mib[1] == ctl_narenas();
    if (!all && arena_get((unsigned)mib[1]) == NULL)
        return EFAULT;
    READ(conf_dss_names[all ? dss_default_get() : chunk_dss_get((unsigned)mib[1])], const char *);
    if (dss >= 0) {
        if (all)
            dss_default_set((conf_dss_t)dss);
        else
            chunk_dss_set((unsigned)mib[1], (conf_dss_t)dss);
    }
    return 0;
}

/* arena.<i>.dirty_decay_ms and muzzy_decay_ms: read, or set (which restarts that curve). */
static int ctl_arena_decay_ms(const size_t *mib, void *oldp, size_t *oldlenp, void *newp,
                              size_t newlen, bool muzzy) {
    if (mib[1] == MALLCTL_ARENAS_ALL)
        return EFAULT;
    arena_t *a = arena_get((unsigned)mib[1]);
    if (a == NULL)
        return EFAULT;
    WRITE_VALUE(v, ssize_t);
    if (has_v && !decay_ms_valid(v))
        return EFAULT;
    mutex_lock(&a->ex.lock);
    ssize_t old = muzzy ? a->ex.decay_muzzy.ms : a->ex.decay_dirty.ms;
    mutex_unlock(&a->ex.lock);
    READ(old, ssize_t);
    if (has_v) {
        mutex_lock(&a->ex.lock);
        extents_decay_ms_set(&a->ex, muzzy, v);
        mutex_unlock(&a->ex.lock);
    }
    return 0;
}

static int arena_i_dirty_decay_ms_ctl(CTL_ARGS) {
    (void)miblen;
    return ctl_arena_decay_ms(mib, oldp, oldlenp, newp, newlen, false);
}

static int arena_i_muzzy_decay_ms_ctl(CTL_ARGS) {
    (void)miblen;
    return ctl_arena_decay_ms(mib, oldp, oldlenp, newp, newlen, true);
}

/* The manual arena named by mib[1], or NULL (automatic arenas cannot be reset or destroyed). */
static arena_t *ctl_manual_arena(size_t ind) {
    if (ind >= ARENAS_MAX || !arena_is_manual((unsigned)ind))
        return NULL;
    return arena_get((unsigned)ind);
}

/*
 * reset and destroy look the arena up under ctl_lock, which arenas.create holds too: looked up
 * before, it might be destroyed by another thread meanwhile and come back from the spare list
 * as someone else's new arena.
 */
static int arena_i_reset_ctl(CTL_ARGS) {
    (void)miblen;
    NEITHER();
    if (ctl_manual_arena(mib[1]) == NULL)
        return EFAULT;
    tsd_t *tsd = ctl_tsd();
    if (tsd != NULL)
        tcache_flush_all(&tsd->tcache);
    mutex_lock(&ctl_lock);
    arena_t *a = ctl_manual_arena(mib[1]);
    if (a == NULL) {
        mutex_unlock(&ctl_lock);
        return EFAULT;
    }
    prof_arena_reset(tsd, a);
    arena_reset(a);
    ctl_stats_invalidate();
    mutex_unlock(&ctl_lock);
    return 0;
}

static int arena_i_destroy_ctl(CTL_ARGS) {
    (void)miblen;
    NEITHER();
    if (ctl_manual_arena(mib[1]) == NULL)
        return EFAULT;
    tsd_t *tsd = ctl_tsd();
    if (tsd != NULL)
        tcache_flush_all(&tsd->tcache);
    mutex_lock(&ctl_lock);
    arena_t *a = ctl_manual_arena(mib[1]);
    if (a == NULL || atomic_load_relaxed(&a->nthreads) != 0) {
        mutex_unlock(&ctl_lock);
        return EFAULT;
    }
    stats_arena_destroyed(a->ind);
    prof_arena_reset(tsd, a);
    bool ok = arena_destroy(a);
    ctl_stats_invalidate();
    mutex_unlock(&ctl_lock);
    return ok ? 0 : EFAULT;
}

static int arena_i_extent_hooks_ctl(CTL_ARGS) {
    (void)miblen;
    if (mib[1] == MALLCTL_ARENAS_ALL)
        return EFAULT;
    arena_t *a = arena_get((unsigned)mib[1]);
    if (a == NULL)
        return EFAULT;
    WRITE_VALUE(v, extent_hooks_t *);
    if (has_v && v == NULL)
        return EINVAL;
    mutex_lock(&a->ex.lock);
    extent_hooks_t *old = a->ex.hooks;
    mutex_unlock(&a->ex.lock);
    READ(old, extent_hooks_t *);
    if (has_v) {
        mutex_lock(&a->ex.lock);
        a->ex.hooks = v;
        mutex_unlock(&a->ex.lock);
    }
    return 0;
}

#define ARENA_I(X)                                                                                 \
    X(FN, arena_i, reset, arena_i_reset_ctl, _)                                                    \
    X(FN, arena_i, destroy, arena_i_destroy_ctl, _)                                                \
    X(FN, arena_i, extent_hooks, arena_i_extent_hooks_ctl, _)                                      \
    X(RO, arena_i, initialized, bool,                                                              \
      mib[1] == MALLCTL_ARENAS_ALL || arena_get((unsigned)mib[1]) != NULL)                         \
    X(FN, arena_i, purge, arena_i_purge_ctl, _)                                                    \
    X(FN, arena_i, decay, arena_i_decay_ctl, _)                                                    \
    X(FN, arena_i, dss, arena_i_dss_ctl, _)                                                        \
    X(FN, arena_i, dirty_decay_ms, arena_i_dirty_decay_ms_ctl, _)                                  \
    X(FN, arena_i, muzzy_decay_ms, arena_i_muzzy_decay_ms_ctl, _)
CTL_TABLE(arena_i, ARENA_I);
CTL_INDEXED(arena_i);

/* ---- arenas.* ------------------------------------------------------------------------------ */

/* Decay times for arenas created from now on (-2: not set, the options apply). */
static ssize_t arenas_decay_ms_default[2] = {-2, -2}; /* dirty, muzzy */

static int arenas_create_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    VERIFY_READ(unsigned);
    WRITE_VALUE(hooks, extent_hooks_t *);
    if (has_hooks && hooks == NULL)
        return EINVAL;
    mutex_lock(&ctl_lock);
    unsigned ind = arena_create_new(has_hooks ? hooks : NULL);
    for (unsigned m = 0; m < 2 && ind != UINT_MAX; m++) {
        if (arenas_decay_ms_default[m] == -2)
            continue;
        arena_t *a = arena_get(ind);
        mutex_lock(&a->ex.lock);
        extents_decay_ms_set(&a->ex, m == 1, arenas_decay_ms_default[m]);
        mutex_unlock(&a->ex.lock);
    }
    mutex_unlock(&ctl_lock);
    if (ind == UINT_MAX)
        return EAGAIN;
    READ(ind, unsigned);
    return 0;
}

static int arenas_lookup_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (newp == NULL || newlen != sizeof(void *))
        return EINVAL;
    void *ptr;
    memcpy(&ptr, newp, sizeof(ptr));
    if (ptr == NULL || !rtree_addr_valid(ptr))
        return EINVAL;
    rtree_entry_t entry = rtree_read(ptr);
    if (rtree_entry_binid(entry) == 0)
        return EINVAL;
    READ(rtree_entry_extent(entry)->arena_ind, unsigned);
    return 0;
}

static int ctl_arenas_decay_ms(void *oldp, size_t *oldlenp, void *newp, size_t newlen, unsigned m) {
    WRITE_VALUE(v, ssize_t);
    if (has_v && !decay_ms_valid(v))
        return EFAULT;
    mutex_lock(&ctl_lock);
    ssize_t old = arenas_decay_ms_default[m] != -2 ? arenas_decay_ms_default[m]
                  : m == 0                         ? opt_dirty_decay_ms
                                                   : opt_muzzy_decay_ms;
    mutex_unlock(&ctl_lock);
    READ(old, ssize_t);
    if (has_v) {
        mutex_lock(&ctl_lock);
        arenas_decay_ms_default[m] = v;
        mutex_unlock(&ctl_lock);
    }
    return 0;
}

static int arenas_dirty_decay_ms_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    return ctl_arenas_decay_ms(oldp, oldlenp, newp, newlen, 0);
}

static int arenas_muzzy_decay_ms_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    return ctl_arenas_decay_ms(oldp, oldlenp, newp, newlen, 1);
}

#define ARENAS_BIN_I(X)                                                                            \
    X(RO, arenas_bin_i, size, size_t, bin_infos[mib[2]].reg_size)                                  \
    X(RO, arenas_bin_i, nregs, uint32_t, bin_infos[mib[2]].nregs)                                  \
    X(RO, arenas_bin_i, slab_size, size_t, bin_infos[mib[2]].slab_size)
CTL_TABLE(arenas_bin_i, ARENAS_BIN_I);
CTL_INDEXED(arenas_bin_i);

#define ARENAS_LEXTENT_I(X)                                                                        \
    X(RO, arenas_lextent_i, size, size_t, sz_index2size(SC_NBINS + (unsigned)mib[2]))
CTL_TABLE(arenas_lextent_i, ARENAS_LEXTENT_I);
CTL_INDEXED(arenas_lextent_i);

#define ARENAS(X)                                                                                  \
    X(RO, arenas, narenas, unsigned, ctl_narenas())                                                \
    X(FN, arenas, dirty_decay_ms, arenas_dirty_decay_ms_ctl, _)                                    \
    X(FN, arenas, muzzy_decay_ms, arenas_muzzy_decay_ms_ctl, _)                                    \
    X(RO, arenas, quantum, size_t, QUANTUM)                                                        \
    X(RO, arenas, page, size_t, PAGE)                                                              \
    X(RO, arenas, tcache_max, size_t,                                                              \
      tcache_nhbins() == 0 ? 0 : sz_index2size(tcache_nhbins() - 1))                               \
    X(RO, arenas, nbins, unsigned, SC_NBINS)                                                       \
    X(RO, arenas, nhbins, unsigned, tcache_nhbins())                                               \
    X(IDX, arenas, bin, arenas_bin_i_node, ctl_bin_index_ok)                                       \
    X(RO, arenas, nlextents, unsigned, SC_NLARGE)                                                  \
    X(IDX, arenas, lextent, arenas_lextent_i_node, ctl_lextent_index_ok)                           \
    X(FN, arenas, create, arenas_create_ctl, _)                                                    \
    X(FN, arenas, lookup, arenas_lookup_ctl, _)
CTL_TABLE(arenas, ARENAS);

/* ---- the root and the walkers -------------------------------------------------------------- */

#define ROOT(X)                                                                                    \
    X(RO, root, version, const char *, ALLOCATOR_VERSION)                                          \
    X(FN, root, epoch, ctl_epoch_ctl, _)                                                           \
    X(FN, root, background_thread, background_thread_ctl, _)                                       \
    X(FN, root, max_background_threads, max_background_threads_ctl, _)                             \
    X(DIR, root, config, config_children, _)                                                       \
    X(DIR, root, opt, opt_children, _)                                                             \
    X(DIR, root, thread, thread_children, _)                                                       \
    X(DIR, root, tcache, tcache_children, _)                                                       \
    X(IDX, root, arena, arena_i_node, arena_index_ok)                                              \
    X(DIR, root, arenas, arenas_children, _)                                                       \
    X(DIR, root, prof, ctl_prof_children, _)                                                       \
    X(DIR, root, stats, ctl_stats_children, _)                                                     \
    X(DIR, root, experimental, ctl_experimental_children, _)
CTL_TABLE(root, ROOT);
static const ctl_node_t root_node = {"", root_children, NULL, NULL, NULL};

/* Parse a decimal component; false if it is not one. */
static bool ctl_parse_index(const char *s, size_t len, size_t *out) {
    if (len == 0 || len > 19)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/*
 * Resolve name into mib[0..*depth); returns the node reached or NULL. At most cap components:
 * a longer name fails, unless partial, when the walk stops there (jemalloc's partial MIB: the
 * rest of the name is not looked up) and *complete says so.
 */
static const ctl_node_t *ctl_resolve(const char *name, size_t *mib, size_t cap, bool partial,
                                     size_t *depth, bool *complete) {
    *complete = false;
    const ctl_node_t *node = &root_node;
    size_t d = 0;
    const char *s = name;
    if (name == NULL || *name == '\0' || *name == '.')
        return NULL;
    for (;;) {
        const char *dot = strchr(s, '.');
        size_t len = dot != NULL ? (size_t)(dot - s) : strlen(s);
        if (d >= cap) {
            if (!partial)
                return NULL;
            break;
        }
        const ctl_node_t *next = NULL;
        if (node->indexed != NULL) {
            size_t i;
            if (!ctl_parse_index(s, len, &i) || !node->index_ok(i))
                return NULL;
            mib[d] = i;
            next = node->indexed;
        } else if (node->children != NULL) {
            for (size_t c = 0; node->children[c].name != NULL; c++) {
                if (strlen(node->children[c].name) == len &&
                    memcmp(node->children[c].name, s, len) == 0) {
                    mib[d] = c;
                    next = &node->children[c];
                    break;
                }
            }
        }
        if (next == NULL)
            return NULL;
        node = next;
        d++;
        if (dot == NULL) {
            *complete = true;
            break;
        }
        s = dot + 1;
    }
    *depth = d;
    return node;
}

/* Walk mib; returns the node reached or NULL. */
static const ctl_node_t *ctl_walk(const size_t *mib, size_t miblen) {
    const ctl_node_t *node = &root_node;
    for (size_t d = 0; d < miblen; d++) {
        if (node->indexed != NULL) {
            if (!node->index_ok(mib[d]))
                return NULL;
            node = node->indexed;
        } else if (node->children != NULL) {
            size_t n = 0;
            while (node->children[n].name != NULL)
                n++;
            if (mib[d] >= n)
                return NULL;
            node = &node->children[mib[d]];
        } else {
            return NULL;
        }
    }
    return node;
}

int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen) {
    if (mib == NULL || miblen == 0 || miblen > CTL_MAX_DEPTH)
        return ENOENT;
    const ctl_node_t *node = ctl_walk(mib, miblen);
    if (node == NULL || node->handler == NULL)
        return ENOENT;
    return node->handler(mib, miblen, oldp, oldlenp, newp, newlen);
}

int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    size_t mib[CTL_MAX_DEPTH], depth;
    bool complete;
    const ctl_node_t *node = ctl_resolve(name, mib, CTL_MAX_DEPTH, false, &depth, &complete);
    if (node == NULL || node->handler == NULL)
        return ENOENT;
    return node->handler(mib, depth, oldp, oldlenp, newp, newlen);
}

int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp) {
    if (mibp == NULL || miblenp == NULL)
        return EINVAL;
    /*
     * As jemalloc 5: *miblenp becomes the lesser of the name's depth and its value on entry; a
     * smaller value gives the partial MIB that a caller completes with an index (arena.0.purge
     * with 2, then mib[1] = i). A whole name must reach a leaf.
     */
    size_t mib[CTL_MAX_DEPTH], depth;
    bool complete, partial = *miblenp < CTL_MAX_DEPTH;
    size_t cap = partial ? *miblenp : CTL_MAX_DEPTH;
    const ctl_node_t *node = ctl_resolve(name, mib, cap, partial, &depth, &complete);
    /* A whole name must end at a leaf, and a cut one must not go on past a leaf. */
    if (node == NULL || complete != (node->handler != NULL))
        return ENOENT;
    memcpy(mibp, mib, depth * sizeof(size_t));
    *miblenp = depth;
    return 0;
}

void ctl_prefork(void) { mutex_lock(&ctl_lock); }
void ctl_postfork_parent(void) { mutex_unlock(&ctl_lock); }
void ctl_postfork_child(void) { mutex_postfork_child(&ctl_lock); }

/*
 * The documentation check's view of the tree (test/unit/doc_names.c): calls cb once per leaf
 * with its full name in jemalloc's notation, each numeric level written "<i>", "<j>", ... in
 * order of depth. Reads only the static tables; needs no initialisation.
 */
static void ctl_names_walk(const ctl_node_t *node, char *buf, size_t len, char letter,
                           void (*cb)(const char *name, void *arg), void *arg) {
    if (node->handler != NULL) {
        buf[len] = '\0';
        cb(buf, arg);
        return;
    }
    const char *sep = len == 0 ? "" : ".";
    if (node->indexed != NULL) {
        size_t n = len + io_format(buf + len, CTL_NAME_MAX - len, "%s<%c>", sep, letter);
        if (n < CTL_NAME_MAX)
            ctl_names_walk(node->indexed, buf, n, (char)(letter + 1), cb, arg);
        return;
    }
    for (size_t c = 0; node->children != NULL && node->children[c].name != NULL; c++) {
        const ctl_node_t *child = &node->children[c];
        size_t n = len + io_format(buf + len, CTL_NAME_MAX - len, "%s%s", sep, child->name);
        if (n < CTL_NAME_MAX)
            ctl_names_walk(child, buf, n, letter, cb, arg);
    }
}

void ctl_names_foreach(void (*cb)(const char *name, void *arg), void *arg) {
    char buf[CTL_NAME_MAX];
    ctl_names_walk(&root_node, buf, 0, 'i', cb, arg);
}

