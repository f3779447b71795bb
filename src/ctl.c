/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl: the mallctl tree (see ctl.h). Nodes are static tables; a component that is a decimal
 * number selects a node's "<i>" child, whose validity check sees the index. Handlers share the
 * READ/WRITE helpers, which implement jemalloc's conventions: a wrong *oldlenp copies what fits
 * and returns EINVAL, a wrong newlen returns EINVAL, writing a read-only name returns EPERM, an
 * unknown name or index ENOENT. ctl_lock serialises handlers that change state and guards the
 * statistics snapshot.
 */
#include "allocator/internal/ctl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "allocator.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/stats.h"
#include "allocator/internal/tsd.h"

#define CTL_ARGS                                                                                   \
    const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp, size_t newlen
#define CTL_UNUSED()                                                                               \
    do {                                                                                           \
        (void)mib;                                                                                 \
        (void)miblen;                                                                              \
    } while (0)

typedef int ctl_handler_t(CTL_ARGS);

typedef struct ctl_node_s ctl_node_t;
struct ctl_node_s {
    const char *name;
    const ctl_node_t *children; /* named children, ended by a node with name NULL */
    const ctl_node_t *indexed;  /* the "<i>" child */
    bool (*index_ok)(size_t i); /* is i a valid index for the "<i>" child */
    ctl_handler_t *handler;     /* leaf */
};

static mutex_t ctl_lock = MUTEX_INITIALIZER(RANK_CTL_OUTER);

#define READONLY()                                                                                 \
    do {                                                                                           \
        if (newp != NULL || newlen != 0)                                                           \
            return EPERM;                                                                          \
    } while (0)
#define WRITEONLY()                                                                                \
    do {                                                                                           \
        if (oldp != NULL || oldlenp != NULL)                                                       \
            return EPERM;                                                                          \
    } while (0)
#define NEITHER()                                                                                  \
    do {                                                                                           \
        READONLY();                                                                                \
        WRITEONLY();                                                                               \
    } while (0)
#define READ(v, t)                                                                                 \
    do {                                                                                           \
        if (oldp != NULL && oldlenp != NULL) {                                                     \
            t rv_ = (v);                                                                           \
            if (*oldlenp != sizeof(t)) {                                                           \
                size_t cl_ = *oldlenp < sizeof(t) ? *oldlenp : sizeof(t);                          \
                memcpy(oldp, &rv_, cl_);                                                           \
                *oldlenp = cl_;                                                                    \
                return EINVAL;                                                                     \
            }                                                                                      \
            memcpy(oldp, &rv_, sizeof(t));                                                         \
        }                                                                                          \
    } while (0)
/*
 * For names whose read creates something (arenas.create, tcache.create), as jemalloc's
 * VERIFY_READ: unless the caller can take a t, EINVAL with *oldlenp set to 0, before acting.
 */
#define VERIFY_READ(t)                                                                             \
    do {                                                                                           \
        if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(t)) {                            \
            if (oldlenp != NULL)                                                                   \
                *oldlenp = 0;                                                                      \
            return EINVAL;                                                                         \
        }                                                                                          \
    } while (0)
/*
 * Read/write names read the old value first, as jemalloc does: a wrong *oldlenp fails the call
 * before the new value takes effect, never after.
 */
/* Declares t NAME from newp when a value was supplied (has_NAME says whether). */
#define WRITE_VALUE(name, t)                                                                       \
    t name;                                                                                        \
    memset(&name, 0, sizeof(name));                                                                \
    bool has_##name = newp != NULL;                                                                \
    if (has_##name) {                                                                              \
        if (newlen != sizeof(t))                                                                   \
            return EINVAL;                                                                         \
        memcpy(&name, newp, sizeof(t));                                                            \
    }

/* A read-only leaf whose value is an expression. */
#define CTL_RO(fn, t, expr)                                                                        \
    static int fn(CTL_ARGS) {                                                                      \
        CTL_UNUSED();                                                                              \
        READONLY();                                                                                \
        READ((expr), t);                                                                           \
        return 0;                                                                                  \
    }

/* ---- statistics snapshot ------------------------------------------------------------------- */

static uint64_t ctl_epoch;
static bool ctl_snap_valid;
static stats_totals_t ctl_totals;
static stats_arena_t ctl_merged;
static stats_arena_t ctl_destroyed; /* copy of stats_destroyed_get() for the snapshot */
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
    ctl_snap_valid = true;
}

static void ctl_snap_ensure(void) {
    if (!ctl_snap_valid)
        ctl_refresh();
}

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

/* ---- top level ----------------------------------------------------------------------------- */

CTL_RO(version_ctl, const char *, ALLOCATOR_VERSION)

static int epoch_ctl(CTL_ARGS) {
    CTL_UNUSED();
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

static int background_thread_ctl(CTL_ARGS) {
    CTL_UNUSED();
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
    CTL_UNUSED();
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

CTL_RO(config_cache_oblivious_ctl, bool, false)
CTL_RO(config_debug_ctl, bool, config_debug)
CTL_RO(config_fill_ctl, bool, config_fill)
CTL_RO(config_lazy_lock_ctl, bool, false)
CTL_RO(config_malloc_conf_ctl, const char *, ALLOCATOR_MALLOC_CONF)
CTL_RO(config_opt_safety_checks_ctl, bool, false)
CTL_RO(config_prof_ctl, bool, config_prof)
CTL_RO(config_prof_libgcc_ctl, bool, false)
CTL_RO(config_prof_libunwind_ctl, bool, false)
CTL_RO(config_stats_ctl, bool, config_stats)
CTL_RO(config_utrace_ctl, bool, false)
CTL_RO(config_xmalloc_ctl, bool, true)

static const ctl_node_t config_children[] = {
    {"cache_oblivious", NULL, NULL, NULL, config_cache_oblivious_ctl},
    {"debug", NULL, NULL, NULL, config_debug_ctl},
    {"fill", NULL, NULL, NULL, config_fill_ctl},
    {"lazy_lock", NULL, NULL, NULL, config_lazy_lock_ctl},
    {"malloc_conf", NULL, NULL, NULL, config_malloc_conf_ctl},
    {"opt_safety_checks", NULL, NULL, NULL, config_opt_safety_checks_ctl},
    {"prof", NULL, NULL, NULL, config_prof_ctl},
    {"prof_libgcc", NULL, NULL, NULL, config_prof_libgcc_ctl},
    {"prof_libunwind", NULL, NULL, NULL, config_prof_libunwind_ctl},
    {"stats", NULL, NULL, NULL, config_stats_ctl},
    {"utrace", NULL, NULL, NULL, config_utrace_ctl},
    {"xmalloc", NULL, NULL, NULL, config_xmalloc_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- opt.* --------------------------------------------------------------------------------- */

static const char *ctl_junk_name(void) {
    return opt_junk_alloc ? (opt_junk_free ? "true" : "alloc") : (opt_junk_free ? "free" : "false");
}

CTL_RO(opt_abort_ctl, bool, opt_abort)
CTL_RO(opt_abort_conf_ctl, bool, opt_abort_conf)
CTL_RO(opt_confirm_conf_ctl, bool, opt_confirm_conf)
CTL_RO(opt_narenas_ctl, unsigned, narenas_auto)
CTL_RO(opt_tcache_ctl, bool, opt_tcache)
CTL_RO(opt_tcache_max_ctl, size_t, opt_tcache_max)
CTL_RO(opt_dirty_decay_ms_ctl, ssize_t, opt_dirty_decay_ms)
CTL_RO(opt_muzzy_decay_ms_ctl, ssize_t, opt_muzzy_decay_ms)
CTL_RO(opt_retain_ctl, bool, opt_retain)
CTL_RO(opt_dss_ctl, const char *, opt_dss)
CTL_RO(opt_junk_ctl, const char *, ctl_junk_name())
CTL_RO(opt_zero_ctl, bool, opt_zero)
CTL_RO(opt_xmalloc_ctl, bool, opt_xmalloc)
CTL_RO(opt_stats_print_ctl, bool, opt_stats_print)
CTL_RO(opt_stats_print_opts_ctl, const char *, opt_stats_print_opts)
CTL_RO(opt_percpu_arena_ctl, const char *, opt_percpu_arena)
CTL_RO(opt_background_thread_ctl, bool, opt_background_thread)
CTL_RO(opt_max_background_threads_ctl, size_t, opt_max_background_threads)
CTL_RO(opt_thp_ctl, const char *, opt_thp)
CTL_RO(opt_metadata_thp_ctl, const char *, opt_metadata_thp)
CTL_RO(opt_oversize_threshold_ctl, size_t, opt_oversize_threshold)
CTL_RO(opt_lg_extent_max_active_fit_ctl, size_t, opt_lg_extent_max_active_fit)
CTL_RO(opt_zero_realloc_ctl, const char *, opt_zero_realloc)
CTL_RO(opt_prof_ctl, bool, opt_prof)
CTL_RO(opt_prof_prefix_ctl, const char *, opt_prof_prefix)
CTL_RO(opt_prof_active_ctl, bool, opt_prof_active)
CTL_RO(opt_prof_thread_active_init_ctl, bool, opt_prof_thread_active_init)
CTL_RO(opt_lg_prof_sample_ctl, size_t, opt_lg_prof_sample)
CTL_RO(opt_lg_prof_interval_ctl, ssize_t, opt_lg_prof_interval)
CTL_RO(opt_prof_gdump_ctl, bool, opt_prof_gdump)
CTL_RO(opt_prof_final_ctl, bool, opt_prof_final)
CTL_RO(opt_prof_leak_ctl, bool, opt_prof_leak)
CTL_RO(opt_prof_accum_ctl, bool, opt_prof_accum)

static const ctl_node_t opt_children[] = {
    {"abort", NULL, NULL, NULL, opt_abort_ctl},
    {"abort_conf", NULL, NULL, NULL, opt_abort_conf_ctl},
    {"confirm_conf", NULL, NULL, NULL, opt_confirm_conf_ctl},
    {"narenas", NULL, NULL, NULL, opt_narenas_ctl},
    {"tcache", NULL, NULL, NULL, opt_tcache_ctl},
    {"tcache_max", NULL, NULL, NULL, opt_tcache_max_ctl},
    {"dirty_decay_ms", NULL, NULL, NULL, opt_dirty_decay_ms_ctl},
    {"muzzy_decay_ms", NULL, NULL, NULL, opt_muzzy_decay_ms_ctl},
    {"retain", NULL, NULL, NULL, opt_retain_ctl},
    {"dss", NULL, NULL, NULL, opt_dss_ctl},
    {"junk", NULL, NULL, NULL, opt_junk_ctl},
    {"zero", NULL, NULL, NULL, opt_zero_ctl},
    {"xmalloc", NULL, NULL, NULL, opt_xmalloc_ctl},
    {"stats_print", NULL, NULL, NULL, opt_stats_print_ctl},
    {"stats_print_opts", NULL, NULL, NULL, opt_stats_print_opts_ctl},
    {"percpu_arena", NULL, NULL, NULL, opt_percpu_arena_ctl},
    {"background_thread", NULL, NULL, NULL, opt_background_thread_ctl},
    {"max_background_threads", NULL, NULL, NULL, opt_max_background_threads_ctl},
    {"thp", NULL, NULL, NULL, opt_thp_ctl},
    {"metadata_thp", NULL, NULL, NULL, opt_metadata_thp_ctl},
    {"oversize_threshold", NULL, NULL, NULL, opt_oversize_threshold_ctl},
    {"lg_extent_max_active_fit", NULL, NULL, NULL, opt_lg_extent_max_active_fit_ctl},
    {"zero_realloc", NULL, NULL, NULL, opt_zero_realloc_ctl},
    {"prof", NULL, NULL, NULL, opt_prof_ctl},
    {"prof_prefix", NULL, NULL, NULL, opt_prof_prefix_ctl},
    {"prof_active", NULL, NULL, NULL, opt_prof_active_ctl},
    {"prof_thread_active_init", NULL, NULL, NULL, opt_prof_thread_active_init_ctl},
    {"lg_prof_sample", NULL, NULL, NULL, opt_lg_prof_sample_ctl},
    {"lg_prof_interval", NULL, NULL, NULL, opt_lg_prof_interval_ctl},
    {"prof_gdump", NULL, NULL, NULL, opt_prof_gdump_ctl},
    {"prof_final", NULL, NULL, NULL, opt_prof_final_ctl},
    {"prof_leak", NULL, NULL, NULL, opt_prof_leak_ctl},
    {"prof_accum", NULL, NULL, NULL, opt_prof_accum_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

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
    CTL_UNUSED();
    tsd_t *tsd = ctl_tsd();
    if (tsd == NULL)
        return EAGAIN;
    WRITE_VALUE(v, unsigned);
    unsigned old = tsd->arena->ind;
    READ(old, unsigned);
    if (has_v && v != old) {
        if (v >= atomic_load_acquire(&narenas_total) && v >= narenas_auto)
            return EFAULT;
        arena_t *arena = arena_get_or_create(v);
        if (arena == NULL)
            return EAGAIN;
        tcache_flush_all(&tsd->tcache);
        __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&arena->nthreads, 1, __ATOMIC_RELAXED);
        tsd->arena = arena;
        tsd->tcache.arena = arena;
    }
    return 0;
}

/* thread.allocated / deallocated, and the ...p names that hand out the counter's address. */
#define CTL_THREAD_COUNTER(name, field)                                                            \
    static int name##_ctl(CTL_ARGS) {                                                              \
        CTL_UNUSED();                                                                              \
        READONLY();                                                                                \
        tsd_t *tsd = ctl_tsd();                                                                    \
        READ(tsd != NULL ? tsd->field : 0, uint64_t);                                              \
        return 0;                                                                                  \
    }                                                                                              \
    static int name##p_ctl(CTL_ARGS) {                                                             \
        CTL_UNUSED();                                                                              \
        READONLY();                                                                                \
        tsd_t *tsd = ctl_tsd();                                                                    \
        if (tsd == NULL)                                                                           \
            return EAGAIN;                                                                         \
        READ(&tsd->field, uint64_t *);                                                             \
        return 0;                                                                                  \
    }

CTL_THREAD_COUNTER(thread_allocated, thread_allocated)
CTL_THREAD_COUNTER(thread_deallocated, thread_deallocated)

static int thread_tcache_enabled_ctl(CTL_ARGS) {
    CTL_UNUSED();
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
    CTL_UNUSED();
    NEITHER();
    tsd_t *tsd = ctl_tsd();
    if (tsd != NULL)
        tcache_flush_all(&tsd->tcache);
    return 0;
}

static int thread_idle_ctl(CTL_ARGS) {
    CTL_UNUSED();
    NEITHER();
    tsd_t *tsd = ctl_tsd();
    if (tsd == NULL)
        return 0;
    tcache_flush_all(&tsd->tcache);
    arena_decay_now(tsd->arena);
    return 0;
}

static const ctl_node_t thread_tcache_children[] = {
    {"enabled", NULL, NULL, NULL, thread_tcache_enabled_ctl},
    {"flush", NULL, NULL, NULL, thread_tcache_flush_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

static const ctl_node_t thread_children[] = {
    {"arena", NULL, NULL, NULL, thread_arena_ctl},
    {"allocated", NULL, NULL, NULL, thread_allocated_ctl},
    {"allocatedp", NULL, NULL, NULL, thread_allocatedp_ctl},
    {"deallocated", NULL, NULL, NULL, thread_deallocated_ctl},
    {"deallocatedp", NULL, NULL, NULL, thread_deallocatedp_ctl},
    {"tcache", thread_tcache_children, NULL, NULL, NULL},
    {"idle", NULL, NULL, NULL, thread_idle_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- tcache.* ------------------------------------------------------------------------------ */

static int tcache_create_ctl(CTL_ARGS) {
    CTL_UNUSED();
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
    CTL_UNUSED();
    WRITEONLY();
    if (newp == NULL)
        return EINVAL;
    WRITE_VALUE(v, unsigned);
    (void)has_v;
    return tcaches_flush(v) ? 0 : EFAULT;
}

static int tcache_destroy_ctl(CTL_ARGS) {
    CTL_UNUSED();
    WRITEONLY();
    if (newp == NULL)
        return EINVAL;
    WRITE_VALUE(v, unsigned);
    (void)has_v;
    return tcaches_destroy(v) ? 0 : EFAULT;
}

static const ctl_node_t tcache_children[] = {
    {"create", NULL, NULL, NULL, tcache_create_ctl},
    {"flush", NULL, NULL, NULL, tcache_flush_ctl},
    {"destroy", NULL, NULL, NULL, tcache_destroy_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- arena.<i>.* --------------------------------------------------------------------------- */

/* Arenas that exist or may: the automatic ones, the oversize arena, and created ones. */
static unsigned ctl_narenas(void) { return arenas_limit(); }

/* arena.<narenas>.* is jemalloc's older spelling of "all arenas"; purge and decay accept it. */
static bool arena_index_ok(size_t i) { return i <= ctl_narenas() || i == MALLCTL_ARENAS_ALL; }

static bool stats_arena_index_ok(size_t i) {
    return i < ctl_narenas() || i == MALLCTL_ARENAS_ALL || i == MALLCTL_ARENAS_DESTROYED;
}

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

static int arena_i_initialized_ctl(CTL_ARGS) {
    (void)miblen;
    READONLY();
    bool init = mib[1] == MALLCTL_ARENAS_ALL || arena_get((unsigned)mib[1]) != NULL;
    READ(init, bool);
    return 0;
}

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

static int arena_i_dss_ctl(CTL_ARGS) {
    CTL_UNUSED();
    WRITE_VALUE(v, const char *);
    if (has_v && (v == NULL || strcmp(v, "disabled") != 0))
        return EFAULT; /* sbrk is not built yet */
    READ(opt_dss, const char *);
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
    arena_reset(a);
    ctl_snap_valid = false;
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
    bool ok = arena_destroy(a);
    ctl_snap_valid = false;
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

static const ctl_node_t arena_i_children[] = {
    {"reset", NULL, NULL, NULL, arena_i_reset_ctl},
    {"destroy", NULL, NULL, NULL, arena_i_destroy_ctl},
    {"extent_hooks", NULL, NULL, NULL, arena_i_extent_hooks_ctl},
    {"initialized", NULL, NULL, NULL, arena_i_initialized_ctl},
    {"purge", NULL, NULL, NULL, arena_i_purge_ctl},
    {"decay", NULL, NULL, NULL, arena_i_decay_ctl},
    {"dss", NULL, NULL, NULL, arena_i_dss_ctl},
    {"dirty_decay_ms", NULL, NULL, NULL, arena_i_dirty_decay_ms_ctl},
    {"muzzy_decay_ms", NULL, NULL, NULL, arena_i_muzzy_decay_ms_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t arena_i_node = {NULL, arena_i_children, NULL, NULL, NULL};

/* ---- arenas.* ------------------------------------------------------------------------------ */

CTL_RO(arenas_narenas_ctl, unsigned, ctl_narenas())
CTL_RO(arenas_quantum_ctl, size_t, QUANTUM)
CTL_RO(arenas_page_ctl, size_t, PAGE)
CTL_RO(arenas_tcache_max_ctl, size_t, tcache_nhbins() == 0 ? 0 : sz_index2size(tcache_nhbins() - 1))
CTL_RO(arenas_nbins_ctl, unsigned, SC_NBINS)
CTL_RO(arenas_nhbins_ctl, unsigned, tcache_nhbins())
CTL_RO(arenas_bin_i_size_ctl, size_t, bin_infos[mib[2]].reg_size)
CTL_RO(arenas_bin_i_nregs_ctl, uint32_t, bin_infos[mib[2]].nregs)
CTL_RO(arenas_bin_i_slab_size_ctl, size_t, bin_infos[mib[2]].slab_size)
CTL_RO(arenas_nlextents_ctl, unsigned, SC_NLARGE)
CTL_RO(arenas_lextent_i_size_ctl, size_t, sz_index2size(SC_NBINS + (unsigned)mib[2]))

/* Decay times for arenas created from now on (-2: not set, the options apply). */
static ssize_t arenas_decay_ms_default[2] = {-2, -2}; /* dirty, muzzy */

static int arenas_create_ctl(CTL_ARGS) {
    CTL_UNUSED();
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
    CTL_UNUSED();
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

static bool bin_index_ok(size_t i) { return i < SC_NBINS; }
static bool lextent_index_ok(size_t i) { return i < SC_NLARGE; }

static const ctl_node_t arenas_bin_i_children[] = {
    {"size", NULL, NULL, NULL, arenas_bin_i_size_ctl},
    {"nregs", NULL, NULL, NULL, arenas_bin_i_nregs_ctl},
    {"slab_size", NULL, NULL, NULL, arenas_bin_i_slab_size_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t arenas_bin_i_node = {NULL, arenas_bin_i_children, NULL, NULL, NULL};
static const ctl_node_t arenas_lextent_i_children[] = {
    {"size", NULL, NULL, NULL, arenas_lextent_i_size_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t arenas_lextent_i_node = {NULL, arenas_lextent_i_children, NULL, NULL, NULL};

static const ctl_node_t arenas_children[] = {
    {"narenas", NULL, NULL, NULL, arenas_narenas_ctl},
    {"dirty_decay_ms", NULL, NULL, NULL, arenas_dirty_decay_ms_ctl},
    {"muzzy_decay_ms", NULL, NULL, NULL, arenas_muzzy_decay_ms_ctl},
    {"quantum", NULL, NULL, NULL, arenas_quantum_ctl},
    {"page", NULL, NULL, NULL, arenas_page_ctl},
    {"tcache_max", NULL, NULL, NULL, arenas_tcache_max_ctl},
    {"nbins", NULL, NULL, NULL, arenas_nbins_ctl},
    {"nhbins", NULL, NULL, NULL, arenas_nhbins_ctl},
    {"bin", NULL, &arenas_bin_i_node, bin_index_ok, NULL},
    {"nlextents", NULL, NULL, NULL, arenas_nlextents_ctl},
    {"lextent", NULL, &arenas_lextent_i_node, lextent_index_ok, NULL},
    {"create", NULL, NULL, NULL, arenas_create_ctl},
    {"lookup", NULL, NULL, NULL, arenas_lookup_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- stats.* ------------------------------------------------------------------------------- */

/* A read-only statistic of the snapshot; the lock makes the snapshot stable while read. */
#define CTL_STAT(fn, t, expr)                                                                      \
    static int fn(CTL_ARGS) {                                                                      \
        CTL_UNUSED();                                                                              \
        READONLY();                                                                                \
        mutex_lock(&ctl_lock);                                                                     \
        ctl_snap_ensure();                                                                         \
        t v_ = (expr);                                                                             \
        mutex_unlock(&ctl_lock);                                                                   \
        READ(v_, t);                                                                               \
        return 0;                                                                                  \
    }

CTL_STAT(stats_allocated_ctl, size_t, ctl_totals.allocated)
CTL_STAT(stats_active_ctl, size_t, ctl_totals.active)
CTL_STAT(stats_metadata_ctl, size_t, ctl_totals.metadata)
CTL_STAT(stats_resident_ctl, size_t, ctl_totals.resident)
CTL_STAT(stats_mapped_ctl, size_t, ctl_totals.mapped)
CTL_STAT(stats_retained_ctl, size_t, ctl_totals.retained)
/* Background threads: read live (they change without an epoch). */
#define CTL_BGSTAT(fn, t, field)                                                                   \
    static int fn(CTL_ARGS) {                                                                      \
        CTL_UNUSED();                                                                              \
        READONLY();                                                                                \
        background_stats_t bs;                                                                     \
        background_stats_get(&bs);                                                                 \
        READ((t)bs.field, t);                                                                      \
        return 0;                                                                                  \
    }
CTL_BGSTAT(stats_bg_num_threads_ctl, size_t, num_threads)
CTL_BGSTAT(stats_bg_num_runs_ctl, uint64_t, num_runs)
CTL_BGSTAT(stats_bg_run_interval_ctl, uint64_t, run_interval_ns)

/* Per-arena statistics: A is the arena's snapshot (mib[2]); J a bin or lextent (mib[4]). */
#define CTL_ASTAT(fn, t, expr)                                                                     \
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

CTL_ASTAT(sa_nthreads_ctl, unsigned, A->nthreads)
CTL_ASTAT(sa_dss_ctl, const char *, opt_dss)
CTL_ASTAT(sa_dirty_decay_ms_ctl, ssize_t,
          mib[2] < ARENAS_MAX && arena_get((unsigned)mib[2]) != NULL
              ? arena_get((unsigned)mib[2])->ex.decay_dirty.ms
              : opt_dirty_decay_ms)
CTL_ASTAT(sa_muzzy_decay_ms_ctl, ssize_t,
          mib[2] < ARENAS_MAX && arena_get((unsigned)mib[2]) != NULL
              ? arena_get((unsigned)mib[2])->ex.decay_muzzy.ms
              : opt_muzzy_decay_ms)
CTL_ASTAT(sa_pactive_ctl, size_t, A->pactive)
CTL_ASTAT(sa_pdirty_ctl, size_t, A->pdirty)
CTL_ASTAT(sa_pmuzzy_ctl, size_t, A->pmuzzy)
CTL_ASTAT(sa_mapped_ctl, size_t, (A->pactive + A->pdirty + A->pmuzzy) << LG_PAGE)
CTL_ASTAT(sa_retained_ctl, size_t, A->pretained << LG_PAGE)
CTL_ASTAT(sa_dirty_npurge_ctl, uint64_t, A->purge_dirty.npurge)
CTL_ASTAT(sa_dirty_nmadvise_ctl, uint64_t, A->purge_dirty.nmadvise)
CTL_ASTAT(sa_dirty_purged_ctl, uint64_t, A->purge_dirty.purged)
CTL_ASTAT(sa_muzzy_npurge_ctl, uint64_t, A->purge_muzzy.npurge)
CTL_ASTAT(sa_muzzy_nmadvise_ctl, uint64_t, A->purge_muzzy.nmadvise)
CTL_ASTAT(sa_muzzy_purged_ctl, uint64_t, A->purge_muzzy.purged)
CTL_ASTAT(sa_small_allocated_ctl, size_t, A->small_allocated)
CTL_ASTAT(sa_small_nmalloc_ctl, uint64_t, BINSUM(nmalloc))
CTL_ASTAT(sa_small_ndalloc_ctl, uint64_t, BINSUM(ndalloc))
CTL_ASTAT(sa_small_nrequests_ctl, uint64_t, BINSUM(nrequests))
CTL_ASTAT(sa_small_nfills_ctl, uint64_t, BINSUM(nfills))
CTL_ASTAT(sa_small_nflushes_ctl, uint64_t, BINSUM(nflushes))
CTL_ASTAT(sa_large_allocated_ctl, size_t, A->large_allocated)
CTL_ASTAT(sa_large_nmalloc_ctl, uint64_t, LSUM(nmalloc))
CTL_ASTAT(sa_large_ndalloc_ctl, uint64_t, LSUM(ndalloc))
CTL_ASTAT(sa_large_nrequests_ctl, uint64_t, LSUM(nrequests))
CTL_ASTAT(sa_bins_j_nmalloc_ctl, uint64_t, A->bins[mib[4]].nmalloc)
CTL_ASTAT(sa_bins_j_ndalloc_ctl, uint64_t, A->bins[mib[4]].ndalloc)
CTL_ASTAT(sa_bins_j_nrequests_ctl, uint64_t, A->bins[mib[4]].nrequests)
CTL_ASTAT(sa_bins_j_curregs_ctl, size_t, A->bins[mib[4]].curregs)
CTL_ASTAT(sa_bins_j_nfills_ctl, uint64_t, A->bins[mib[4]].nfills)
CTL_ASTAT(sa_bins_j_nflushes_ctl, uint64_t, A->bins[mib[4]].nflushes)
CTL_ASTAT(sa_bins_j_nslabs_ctl, uint64_t, A->bins[mib[4]].nslabs)
CTL_ASTAT(sa_bins_j_nreslabs_ctl, uint64_t, A->bins[mib[4]].nreslabs)
CTL_ASTAT(sa_bins_j_curslabs_ctl, size_t, A->bins[mib[4]].curslabs)
CTL_ASTAT(sa_lextents_j_nmalloc_ctl, uint64_t, A->large[mib[4]].nmalloc)
CTL_ASTAT(sa_lextents_j_ndalloc_ctl, uint64_t, A->large[mib[4]].ndalloc)
CTL_ASTAT(sa_lextents_j_nrequests_ctl, uint64_t, A->large[mib[4]].nrequests)
CTL_ASTAT(sa_lextents_j_curlextents_ctl, size_t, A->large[mib[4]].curlextents)

static const ctl_node_t sa_small_children[] = {
    {"allocated", NULL, NULL, NULL, sa_small_allocated_ctl},
    {"nmalloc", NULL, NULL, NULL, sa_small_nmalloc_ctl},
    {"ndalloc", NULL, NULL, NULL, sa_small_ndalloc_ctl},
    {"nrequests", NULL, NULL, NULL, sa_small_nrequests_ctl},
    {"nfills", NULL, NULL, NULL, sa_small_nfills_ctl},
    {"nflushes", NULL, NULL, NULL, sa_small_nflushes_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t sa_large_children[] = {
    {"allocated", NULL, NULL, NULL, sa_large_allocated_ctl},
    {"nmalloc", NULL, NULL, NULL, sa_large_nmalloc_ctl},
    {"ndalloc", NULL, NULL, NULL, sa_large_ndalloc_ctl},
    {"nrequests", NULL, NULL, NULL, sa_large_nrequests_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t sa_bins_j_children[] = {
    {"nmalloc", NULL, NULL, NULL, sa_bins_j_nmalloc_ctl},
    {"ndalloc", NULL, NULL, NULL, sa_bins_j_ndalloc_ctl},
    {"nrequests", NULL, NULL, NULL, sa_bins_j_nrequests_ctl},
    {"curregs", NULL, NULL, NULL, sa_bins_j_curregs_ctl},
    {"nfills", NULL, NULL, NULL, sa_bins_j_nfills_ctl},
    {"nflushes", NULL, NULL, NULL, sa_bins_j_nflushes_ctl},
    {"nslabs", NULL, NULL, NULL, sa_bins_j_nslabs_ctl},
    {"nreslabs", NULL, NULL, NULL, sa_bins_j_nreslabs_ctl},
    {"curslabs", NULL, NULL, NULL, sa_bins_j_curslabs_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t sa_bins_j_node = {NULL, sa_bins_j_children, NULL, NULL, NULL};
static const ctl_node_t sa_lextents_j_children[] = {
    {"nmalloc", NULL, NULL, NULL, sa_lextents_j_nmalloc_ctl},
    {"ndalloc", NULL, NULL, NULL, sa_lextents_j_ndalloc_ctl},
    {"nrequests", NULL, NULL, NULL, sa_lextents_j_nrequests_ctl},
    {"curlextents", NULL, NULL, NULL, sa_lextents_j_curlextents_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t sa_lextents_j_node = {NULL, sa_lextents_j_children, NULL, NULL, NULL};

static const ctl_node_t stats_arenas_i_children[] = {
    {"nthreads", NULL, NULL, NULL, sa_nthreads_ctl},
    {"dss", NULL, NULL, NULL, sa_dss_ctl},
    {"dirty_decay_ms", NULL, NULL, NULL, sa_dirty_decay_ms_ctl},
    {"muzzy_decay_ms", NULL, NULL, NULL, sa_muzzy_decay_ms_ctl},
    {"pactive", NULL, NULL, NULL, sa_pactive_ctl},
    {"pdirty", NULL, NULL, NULL, sa_pdirty_ctl},
    {"pmuzzy", NULL, NULL, NULL, sa_pmuzzy_ctl},
    {"mapped", NULL, NULL, NULL, sa_mapped_ctl},
    {"retained", NULL, NULL, NULL, sa_retained_ctl},
    {"dirty_npurge", NULL, NULL, NULL, sa_dirty_npurge_ctl},
    {"dirty_nmadvise", NULL, NULL, NULL, sa_dirty_nmadvise_ctl},
    {"dirty_purged", NULL, NULL, NULL, sa_dirty_purged_ctl},
    {"muzzy_npurge", NULL, NULL, NULL, sa_muzzy_npurge_ctl},
    {"muzzy_nmadvise", NULL, NULL, NULL, sa_muzzy_nmadvise_ctl},
    {"muzzy_purged", NULL, NULL, NULL, sa_muzzy_purged_ctl},
    {"small", sa_small_children, NULL, NULL, NULL},
    {"large", sa_large_children, NULL, NULL, NULL},
    {"bins", NULL, &sa_bins_j_node, bin_index_ok, NULL},
    {"lextents", NULL, &sa_lextents_j_node, lextent_index_ok, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
static const ctl_node_t stats_arenas_i_node = {NULL, stats_arenas_i_children, NULL, NULL, NULL};

static const ctl_node_t stats_bg_children[] = {
    {"num_threads", NULL, NULL, NULL, stats_bg_num_threads_ctl},
    {"num_runs", NULL, NULL, NULL, stats_bg_num_runs_ctl},
    {"run_interval", NULL, NULL, NULL, stats_bg_run_interval_ctl},
    {NULL, NULL, NULL, NULL, NULL},
};

static const ctl_node_t stats_children[] = {
    {"allocated", NULL, NULL, NULL, stats_allocated_ctl},
    {"active", NULL, NULL, NULL, stats_active_ctl},
    {"metadata", NULL, NULL, NULL, stats_metadata_ctl},
    {"resident", NULL, NULL, NULL, stats_resident_ctl},
    {"mapped", NULL, NULL, NULL, stats_mapped_ctl},
    {"retained", NULL, NULL, NULL, stats_retained_ctl},
    {"background_thread", stats_bg_children, NULL, NULL, NULL},
    {"arenas", NULL, &stats_arenas_i_node, stats_arena_index_ok, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* ---- the root and the walkers -------------------------------------------------------------- */

static const ctl_node_t root_children[] = {
    {"version", NULL, NULL, NULL, version_ctl},
    {"epoch", NULL, NULL, NULL, epoch_ctl},
    {"background_thread", NULL, NULL, NULL, background_thread_ctl},
    {"max_background_threads", NULL, NULL, NULL, max_background_threads_ctl},
    {"config", config_children, NULL, NULL, NULL},
    {"opt", opt_children, NULL, NULL, NULL},
    {"thread", thread_children, NULL, NULL, NULL},
    {"tcache", tcache_children, NULL, NULL, NULL},
    {"arena", NULL, &arena_i_node, arena_index_ok, NULL},
    {"arenas", arenas_children, NULL, NULL, NULL},
    {"stats", stats_children, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
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
