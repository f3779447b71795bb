/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mutex: the allocator's lock. A futex word (Linux's futex(2) through syscall(2): usable during
 * static startup, before libc's threads are set up, and reset in a forked child by storing 0)
 * plus a rank. Locks must be taken in increasing rank; debug builds check this with a per-thread
 * witness and abort on a reversal. The ranks are the lock order documented in doc/DESIGN.md.
 *
 * The word is 0 free, 1 taken, 2 taken with a thread asleep on it (or about to be). Taking a
 * free lock is one compare-and-swap inline; a taken one sleeps in the kernel (mutex.c). Letting go is one exchange, and a wake only when someone sleeps. A pthread mutex
 * cost about 55 instructions a lock and unlock through libc (two calls, the mutex kind's
 * dispatch), 5-7% of a loop of large allocations; this costs 6.
 */
#ifndef ALLOCATOR_INTERNAL_MUTEX_H
#define ALLOCATOR_INTERNAL_MUTEX_H

#include <stdint.h>
#include <time.h>

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

typedef struct mutex_s {
    uint32_t word;       /* 0 free, 1 taken, 2 taken with sleepers */
    mutex_rank_t rank;
    uint64_t ncontended; /* times lock() found it taken; guarded by the mutex itself */
} mutex_t;

#define MUTEX_INITIALIZER(r) {.word = 0, .rank = (r), .ncontended = 0}

/* A condition a thread sleeps on under a mutex (mutex_cond_wait): a count that every signal
 * advances, so a signal between the waiter's unlock and its sleep is not lost. */
typedef struct cond_s {
    uint32_t seq;
} cond_t;

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

/* The contended part of mutex_lock: sleep until the word is free, and take it. */
void mutex_lock_slow(mutex_t *mtx) NOINLINE;
/* Wake one sleeper of a word that was 2. */
void mutex_wake(mutex_t *mtx) NOINLINE;

static inline void mutex_lock(mutex_t *mtx) {
    if (config_debug)
        witness_acquire(mtx->rank);
    uint32_t expect = 0;
    if (unlikely(!__atomic_compare_exchange_n(&mtx->word, &expect, 1, false, __ATOMIC_ACQUIRE,
                                              __ATOMIC_RELAXED)))
        mutex_lock_slow(mtx);
}

/* Take the word if it is free; true if taken. */
static inline bool mutex_trylock_raw(mutex_t *mtx) {
    uint32_t expect = 0;
    return atomic_load_relaxed(&mtx->word) == 0 &&
           __atomic_compare_exchange_n(&mtx->word, &expect, 1, false, __ATOMIC_ACQUIRE,
                                       __ATOMIC_RELAXED);
}

/* Take the lock if it is free; true if taken. */
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
    if (unlikely(__atomic_exchange_n(&mtx->word, 0, __ATOMIC_RELEASE) == 2))
        mutex_wake(mtx);
}

/*
 * Sleep on cond, letting mtx (held) go meanwhile, until cond is signalled, the absolute
 * CLOCK_MONOTONIC time until passes (NULL: no limit), or spuriously; mtx is held again on
 * return. Callers recheck what they wait for.
 */
void mutex_cond_wait(mutex_t *mtx, cond_t *cond, const struct timespec *until);
/* Wake the thread sleeping on cond, if any (call with the mutex held). */
void mutex_cond_signal(cond_t *cond);

/* After fork, in the child: the lock is held by the forking thread's copy; make it fresh. */
static inline void mutex_postfork_child(mutex_t *mtx) {
    mtx->word = 0;
    if (config_debug)
        witness_release(mtx->rank);
}

#endif
