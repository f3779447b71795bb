/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mutex: lock acquisition with a contention counter (mutex.h), and the debug-only lock-order
 * witness.
 * The witness keeps a per-thread count of held locks per rank (debug builds only, so the
 * default build's static TLS stays one pointer); taking a lock whose rank is not above every
 * held rank is a lock-order reversal and aborts with both ranks named.
 */
#include "allocator/internal/mutex.h"

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
    pthread_mutex_init(&mtx->m, NULL);
    mtx->rank = rank;
    mtx->held = false;
    mtx->ncontended = 0;
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
