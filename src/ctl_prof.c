/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl_prof: the heap profiler's mallctl names, prof.* and thread.prof.* (ctl.c reaches them
 * through ctl_prof_children and ctl_thread_prof_children), with jemalloc 5.3's types and
 * errors: without opt.prof, prof.dump, prof.prefix, prof.reset and thread.prof.* are ENOENT,
 * writing prof.active, prof.thread_active_init or prof.gdump is EPERM (their reads say false), and
 * prof.lg_sample and prof.interval read as they would. A dump that cannot be written is EFAULT.
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/ctl_tree.h"
#include "allocator/internal/prof.h"

/* prof.active, prof.thread_active_init, prof.gdump: a bool of the profiler's state. */
static int ctl_prof_flag(bool *flag, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    WRITE_VALUE(v, bool);
    if (has_v && !opt_prof)
        return EPERM;
    bool old = opt_prof && atomic_load_relaxed(flag);
    READ(old, bool);
    if (has_v)
        atomic_store_relaxed(flag, v);
    return 0;
}

static int prof_active_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    return ctl_prof_flag(&prof_active, oldp, oldlenp, newp, newlen);
}

static int prof_thread_active_init_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    return ctl_prof_flag(&prof_thread_active_init, oldp, oldlenp, newp, newlen);
}

static int prof_gdump_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    return ctl_prof_flag(&prof_gdump_on, oldp, oldlenp, newp, newlen);
}

static int prof_dump_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (!opt_prof)
        return ENOENT;
    WRITEONLY();
    WRITE_VALUE(name, const char *);
    (void)has_name;
    return prof_dump('m', name) ? EFAULT : 0;
}

/*
 * prof.prefix (const char *, write-only): the prefix of the dumps the allocator names from now on.
 * EINVAL for NULL or a prefix longer than opt.prof_prefix may be (255 bytes).
 */
static int prof_prefix_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (!opt_prof)
        return ENOENT;
    WRITEONLY();
    WRITE_VALUE(prefix, const char *);
    if (!has_prefix || prefix == NULL)
        return EINVAL;
    return prof_dump_prefix_set(prefix) ? EINVAL : 0;
}

static int prof_reset_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    if (!opt_prof)
        return ENOENT;
    WRITEONLY();
    WRITE_VALUE(lg, size_t);
    if (!has_lg)
        lg = atomic_load_relaxed(&prof_lg_sample);
    if (lg > 62)
        lg = 62;
    prof_reset(lg);
    return 0;
}

#define PROF(X)                                                                                    \
    X(FN, prof, thread_active_init, prof_thread_active_init_ctl, _)                                \
    X(FN, prof, active, prof_active_ctl, _)                                                        \
    X(FN, prof, dump, prof_dump_ctl, _)                                                            \
    X(FN, prof, gdump, prof_gdump_ctl, _)                                                          \
    X(FN, prof, prefix, prof_prefix_ctl, _)                                                        \
    X(FN, prof, reset, prof_reset_ctl, _)                                                          \
    X(RO, prof, interval, uint64_t, opt_prof ? prof_interval : 0)                                  \
    X(RO, prof, lg_sample, size_t,                                                                 \
      opt_prof ? atomic_load_relaxed(&prof_lg_sample) : opt_lg_prof_sample)
PROF(CTL_DEF)
const ctl_node_t ctl_prof_children[] = {PROF(CTL_ROW) CTL_END};

/*
 * The caller's thread record (the entry point fetched its state) into *td: 0, or ENOENT without
 * profiling, EAGAIN if the thread has no record.
 */
static int ctl_prof_tdata(prof_tdata_t **td) {
    if (!opt_prof)
        return ENOENT;
    tsd_t *tsd = tsd_get();
    *td = tsd_is_real(tsd) ? prof_tdata_get(tsd) : NULL;
    return *td == NULL ? EAGAIN : 0;
}

static int thread_prof_name_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    prof_tdata_t *td;
    int err = ctl_prof_tdata(&td);
    if (err != 0)
        return err;
    WRITE_VALUE(name, const char *);
    if (has_name) {
        /* jemalloc's rule: printable characters only; longer names are cut. */
        if (name == NULL)
            return EFAULT;
        for (const char *c = name; *c != '\0'; c++) {
            if (*c < ' ' || *c > '~')
                return EFAULT;
        }
    }
    READ(td->name, const char *); /* the old name: a thread's own, it changes only here */
    if (has_name) {
        char copy[PROF_THREAD_NAME_MAX];
        size_t n = strlen(name);
        if (n >= sizeof(copy))
            n = sizeof(copy) - 1;
        memcpy(copy, name, n);
        copy[n] = '\0';
        mutex_lock(&prof_lock);
        memcpy(td->name, copy, sizeof(copy));
        mutex_unlock(&prof_lock);
    }
    return 0;
}

static int thread_prof_active_ctl(CTL_ARGS) {
    (void)mib, (void)miblen;
    prof_tdata_t *td;
    int err = ctl_prof_tdata(&td);
    if (err != 0)
        return err;
    WRITE_VALUE(v, bool);
    READ(td->active, bool);
    if (has_v)
        td->active = v;
    return 0;
}

#define THREAD_PROF(X)                                                                             \
    X(FN, thread_prof, name, thread_prof_name_ctl, _)                                              \
    X(FN, thread_prof, active, thread_prof_active_ctl, _)
const ctl_node_t ctl_thread_prof_children[] = {THREAD_PROF(CTL_ROW) CTL_END};
