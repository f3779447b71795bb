/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl_experimental: the experimental.* subtree of the mallctl tree (ctl.c resolves it), which
 * holds jemalloc 5.3's experimental names:
 *   prof_recent.alloc_max reads and sets the capacity of the last-N allocation records,
 *   prof_recent.alloc_dump writes them as JSON through a callback (both in prof_recent.c); like
 *   jemalloc's, both are ENOENT unless the process profiles (config.prof and opt.prof);
 *   utilization.query and utilization.batch_query tell how full the slabs holding given blocks
 *   are (arena_util_query), which a program that moves its objects to compact its heap (active
 *   defragmentation) asks before moving one.
 * No ctl lock is taken: the stores have their own locks, and a dump's callback may call mallctl.
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/ctl_tree.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/prof_recent.h"

static bool ctl_prof_on(void) { return config_prof && opt_prof; }

/* experimental.prof_recent.alloc_max (ssize_t, read/write): -1 unlimited, 0 off. */
static int prof_recent_alloc_max_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (!ctl_prof_on())
        return ENOENT;
    WRITE_VALUE(v, ssize_t);
    if (has_v && v < -1)
        return EINVAL;
    /* A wrong *oldlenp fails before the new capacity takes effect (READ returns EINVAL). */
    if (oldp != NULL && oldlenp != NULL && *oldlenp != sizeof(ssize_t))
        READ(prof_recent_max_get(), ssize_t);
    ssize_t old = has_v ? prof_recent_max_set(v) : prof_recent_max_get();
    READ(old, ssize_t);
    return 0;
}

/* What jemalloc's alloc_dump takes: the write callback and its argument, in that order. */
typedef struct {
    io_write_cb_t *write_cb;
    void *cbopaque;
} ctl_write_cb_pair_t;

/* experimental.prof_recent.alloc_dump (write-only): the records through write_cb(cbopaque, s). */
static int prof_recent_alloc_dump_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (!ctl_prof_on())
        return ENOENT;
    WRITEONLY();
    if (newp == NULL || newlen != sizeof(ctl_write_cb_pair_t))
        return EINVAL;
    ctl_write_cb_pair_t pair;
    memcpy(&pair, newp, sizeof(pair));
    /* The sampling rate in force (prof.reset may have changed it), as jemalloc writes it. */
    prof_recent_dump((uint64_t)1 << atomic_load_relaxed(&prof_lg_sample), pair.write_cb,
                     pair.cbopaque);
    return 0;
}

/*
 * experimental.utilization.query: newp points to one address (a const void *); oldp takes an
 * arena_util_t (six words: nfree, nregs, size, bin_nfree, bin_nregs, slabcur_addr). Any other
 * length, or a NULL, is EINVAL with nothing written.
 */
static int utilization_query_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(arena_util_t) || newp == NULL ||
        newlen != sizeof(const void *))
        return EINVAL;
    const void *ptr;
    memcpy(&ptr, newp, sizeof(ptr));
    arena_util_t u;
    arena_util_query(ptr, &u);
    memcpy(oldp, &u, sizeof(u));
    return 0;
}

/*
 * experimental.utilization.batch_query: newp is an array of n addresses (newlen n pointers, n at
 * least 1); oldp takes n triples of size_t, each address's nfree, nregs and size as above (the
 * lengths must agree exactly, else EINVAL with nothing written).
 */
static int utilization_batch_query_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    enum { OUT_WORDS = 3 };
    if (oldp == NULL || oldlenp == NULL || newp == NULL || newlen == 0 ||
        newlen % sizeof(const void *) != 0)
        return EINVAL;
    size_t n = newlen / sizeof(const void *);
    if (*oldlenp % (OUT_WORDS * sizeof(size_t)) != 0 || *oldlenp / (OUT_WORDS * sizeof(size_t)) != n)
        return EINVAL;
    for (size_t i = 0; i < n; i++) {
        const void *ptr;
        memcpy(&ptr, (const char *)newp + i * sizeof(ptr), sizeof(ptr));
        arena_util_t u;
        arena_util_query(ptr, &u);
        size_t words[OUT_WORDS] = {u.nfree, u.nregs, u.size};
        memcpy((char *)oldp + i * sizeof(words), words, sizeof(words));
    }
    return 0;
}

#define UTILIZATION(X)                                                                             \
    X(FN, utilization, query, utilization_query_ctl, _)                                            \
    X(FN, utilization, batch_query, utilization_batch_query_ctl, _)
CTL_TABLE(utilization, UTILIZATION);

#define PROF_RECENT(X)                                                                             \
    X(FN, prof_recent, alloc_max, prof_recent_alloc_max_ctl, _)                                    \
    X(FN, prof_recent, alloc_dump, prof_recent_alloc_dump_ctl, _)
CTL_TABLE(prof_recent, PROF_RECENT);

#define EXPERIMENTAL(X)                                                                            \
    X(DIR, experimental, prof_recent, prof_recent_children, _)                                     \
    X(DIR, experimental, utilization, utilization_children, _)
const ctl_node_t ctl_experimental_children[] = {EXPERIMENTAL(CTL_ROW) CTL_END};
