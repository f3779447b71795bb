/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mutex: the allocator's lock. A pthread mutex (usable during static startup and across fork)
 * plus a rank. Locks must be taken in increasing rank; debug builds check this with a per-thread
 * witness and abort on a reversal. The ranks are the lock order documented in doc/DESIGN.md.
 */
#ifndef ALLOCATOR_INTERNAL_MUTEX_H
#define ALLOCATOR_INTERNAL_MUTEX_H

#include <pthread.h>

#include "allocator/internal/util.h"

typedef enum {
    RANK_INIT = 1,     /* init_lock: the initialisation state machine */
    RANK_CTL_OUTER,    /* ctl_lock: the mallctl snapshot and state-changing handlers */
    RANK_BG_CTL,       /* bg_ctl_lock: starting and stopping background threads */
    RANK_CTL,          /* arenas_lock, tcaches_lock, stats_lock */
    RANK_PROF_DUMP,    /* prof_dump_lock: one heap profile dump at a time, its sequence numbers */
    RANK_PROF,         /* prof_lock: the stack table, thread records and counts (prof.h) */
    RANK_PROF_RECENT,  /* prof_recent_lock: the last-N allocation records */
    RANK_TSD_LIST,     /* tsd_list_lock: the list of live thread states */
    RANK_BIN,          /* arena->bins[i].lock; never two at once outside fork */
    RANK_EXTENTS,      /* arena->extent_lock: free extent sets, chunks, large stats */
    RANK_DSS,          /* dss_lock: the program break, moved only under it */
    RANK_BACKGROUND,   /* a background thread's sleep lock (taken to wake it) */
    RANK_RTREE,        /* rtree leaf creation */
    RANK_BASE,         /* the metadata allocator */
    RANK_MAX
} mutex_rank_t;

/*
 * held is set by the holder after it takes m and cleared before it lets go: lock() looks at it
 * first to count contention (a racy look, for the statistics only). Taking m with
 * pthread_mutex_trylock first, which would say so exactly, costs every process a page-cache
 * window of libc: glibc's trylock dispatches on the mutex kind through a jump table in its
 * .rodata, and reading it maps a 64 KiB fault-around window (about 70 KiB of peak RSS for a
 * small program; pthread_mutex_lock's fast path reads none).
 */
typedef struct mutex_s {
    pthread_mutex_t m;
    mutex_rank_t rank;
    bool held;
    uint64_t ncontended; /* times lock() found it held; guarded by the mutex itself */
} mutex_t;

#define MUTEX_INITIALIZER(r) {.m = PTHREAD_MUTEX_INITIALIZER, .rank = (r), .held = false, .ncontended = 0}

void mutex_init(mutex_t *mtx, mutex_rank_t rank);
void witness_acquire(mutex_rank_t rank);
void witness_release(mutex_rank_t rank);
/* Count a lock as held without checking the order (a trylock, which cannot deadlock). */
void witness_note(mutex_rank_t rank);
/* Fork brackets: the witness permits taking many locks of one rank while forking. */
void witness_fork_begin(void);
void witness_fork_end(void);
/* Debug: assert the calling thread holds no allocator lock (used before user callbacks). */
void witness_assert_none(void);

static inline void mutex_lock(mutex_t *mtx) {
    if (config_debug)
        witness_acquire(mtx->rank);
    bool contended = atomic_load_relaxed(&mtx->held);
    pthread_mutex_lock(&mtx->m);
    atomic_store_relaxed(&mtx->held, true);
    if (unlikely(contended))
        mtx->ncontended++;
}

/* The pthread trylock behind both trylocks below, unless held says the lock is taken. */
static inline bool mutex_trylock_raw(mutex_t *mtx) {
    if (atomic_load_relaxed(&mtx->held) || pthread_mutex_trylock(&mtx->m) != 0)
        return false;
    atomic_store_relaxed(&mtx->held, true);
    return true;
}

/* Take the lock if it is free; true if taken. Real trylocks are rare (none in a program's
 * start), so glibc's jump table (above) stays unread unless one happens. */
static inline bool mutex_trylock(mutex_t *mtx) {
    if (!mutex_trylock_raw(mtx))
        return false;
    if (config_debug)
        witness_acquire(mtx->rank);
    return true;
}

/*
 * Take the lock if it is free, whatever the calling thread holds: a trylock never waits, so it
 * cannot close a cycle. For taking a second lock of one rank (another arena's extents lock).
 */
static inline bool mutex_trylock_unordered(mutex_t *mtx) {
    if (!mutex_trylock_raw(mtx))
        return false;
    if (config_debug)
        witness_note(mtx->rank);
    return true;
}

static inline void mutex_unlock(mutex_t *mtx) {
    if (config_debug)
        witness_release(mtx->rank);
    atomic_store_relaxed(&mtx->held, false);
    pthread_mutex_unlock(&mtx->m);
}

/* pthread_cond_wait on the held mutex: it lets m go while it sleeps, so held says so too. */
static inline int mutex_cond_wait(mutex_t *mtx, pthread_cond_t *cond, const struct timespec *until) {
    atomic_store_relaxed(&mtx->held, false);
    int r = until != NULL ? pthread_cond_timedwait(cond, &mtx->m, until) : pthread_cond_wait(cond, &mtx->m);
    atomic_store_relaxed(&mtx->held, true);
    return r;
}

/* After fork, in the child: the lock is held by the forking thread's copy; make it fresh. */
static inline void mutex_postfork_child(mutex_t *mtx) {
    pthread_mutex_init(&mtx->m, NULL);
    mtx->held = false;
    if (config_debug)
        witness_release(mtx->rank);
}

#endif
