/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl_experimental: the experimental.* subtree of the mallctl tree (ctl.c resolves it), which
 * holds jemalloc 5.3's experimental.prof_recent names: alloc_max reads and sets the capacity of
 * the last-N allocation records, alloc_dump writes them as JSON through a callback (both in
 * prof_recent.c). Like jemalloc's, both are ENOENT unless the process profiles (config.prof and
 * opt.prof). No ctl lock is taken: the store has its own, and a dump's callback may call mallctl.
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

#define PROF_RECENT(X)                                                                             \
    X(FN, prof_recent, alloc_max, prof_recent_alloc_max_ctl, _)                                    \
    X(FN, prof_recent, alloc_dump, prof_recent_alloc_dump_ctl, _)
CTL_TABLE(prof_recent, PROF_RECENT);

#define EXPERIMENTAL(X) X(DIR, experimental, prof_recent, prof_recent_children, _)
const ctl_node_t ctl_experimental_children[] = {EXPERIMENTAL(CTL_ROW) CTL_END};
