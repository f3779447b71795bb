/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mutex: the contended paths of the futex lock and its condition (mutex.h), and the debug-only
 * lock-order witness.
 * The witness keeps a per-thread count of held locks per rank (debug builds only, so the
 * default build's static TLS stays one pointer); taking a lock whose rank is not above every
 * held rank is a lock-order reversal and aborts with both ranks named.
 */
#include "allocator/internal/mutex.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "allocator/internal/io.h"

#if ALLOCATOR_DEBUG
static __thread unsigned short witness_held[RANK_MAX];
static __thread bool witness_forking;
#else
/* Default builds keep no witness state, so the library's static TLS is the one tsd pointer. */
static unsigned short witness_held[RANK_MAX];
static const bool witness_forking = false;
#endif

void mutex_init(mutex_t *mtx, mutex_rank_t rank) {
    mtx->word = 0;
    mtx->rank = rank;
    mtx->ncontended = 0;
}

/* futex(2)'s operations, from the kernel's ABI (linux/futex.h is not in every libc's headers:
 * musl's lack it). The bitset wait takes an absolute CLOCK_MONOTONIC time. */
#define FUTEX_OP_WAIT 0
#define FUTEX_OP_WAKE 1
#define FUTEX_OP_WAIT_BITSET 9
#define FUTEX_OP_PRIVATE 128
#define FUTEX_BITSET_ANY 0xffffffffu

/* Sleep while *word == val (until the absolute monotonic time until, if given). */
static void futex_wait(uint32_t *word, uint32_t val, const struct timespec *until) {
    if (until == NULL)
        syscall(SYS_futex, word, FUTEX_OP_WAIT | FUTEX_OP_PRIVATE, val, NULL, NULL, 0);
    else
        syscall(SYS_futex, word, FUTEX_OP_WAIT_BITSET | FUTEX_OP_PRIVATE, val, until, NULL,
                FUTEX_BITSET_ANY);
}

static void futex_wake(uint32_t *word, int n) {
    syscall(SYS_futex, word, FUTEX_OP_WAKE | FUTEX_OP_PRIVATE, n, NULL, NULL, 0);
}

/*
 * No spin before the sleep: these locks are seldom found taken, and spins of 1-15 us measured
 * no gain (doc/DESIGN.md, Locks). The word becomes 2 (a sleeper) and stays 2 while this thread
 * holds it after sleeping, so its unlock wakes the next sleeper, if any.
 */
void mutex_lock_slow(mutex_t *mtx) {
    while (__atomic_exchange_n(&mtx->word, 2, __ATOMIC_ACQUIRE) != 0)
        futex_wait(&mtx->word, 2, NULL);
    mtx->ncontended++;
}

void mutex_wake(mutex_t *mtx) { futex_wake(&mtx->word, 1); }

COLD void mutex_cond_wait(mutex_t *mtx, cond_t *cond, const struct timespec *until) {
    uint32_t seq = atomic_load_relaxed(&cond->seq);
    mutex_unlock(mtx);
    futex_wait(&cond->seq, seq, until);
    mutex_lock(mtx);
}

COLD void mutex_cond_signal(cond_t *cond) {
    __atomic_add_fetch(&cond->seq, 1, __ATOMIC_RELEASE);
    futex_wake(&cond->seq, 1);
}

void witness_acquire(mutex_rank_t rank) {
    if (!config_debug)
        return;
    if (!witness_forking) {
        for (int r = rank; r < RANK_MAX; r++) {
            if (witness_held[r] != 0)
                io_fatal("lock order reversal: taking rank %d while holding rank %d\n", (int)rank,
                         r);
        }
    }
    witness_held[rank]++;
}

void witness_note(mutex_rank_t rank) {
    if (config_debug)
        witness_held[rank]++;
}

void witness_release(mutex_rank_t rank) {
    if (config_debug && witness_held[rank] > 0)
        witness_held[rank]--;
}

#if ALLOCATOR_DEBUG
void witness_fork_begin(void) { witness_forking = true; }
void witness_fork_end(void) { witness_forking = false; }
#else
void witness_fork_begin(void) {}
void witness_fork_end(void) {}
#endif

void witness_assert_none(void) {
    if (!config_debug)
        return;
    for (int r = 0; r < RANK_MAX; r++) {
        if (witness_held[r] != 0)
            io_fatal("lock of rank %d held where none may be\n", r);
    }
}
