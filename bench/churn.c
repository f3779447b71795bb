/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * churn: a server's heap.  THREADS threads share one table of SLOTS blocks.  In each of ROUNDS
 * rounds every thread replaces PER_ROUND random slots: it allocates a block of a log-uniform
 * random size in MIN..MAX, writes it, swaps it into the slot and frees the block it took out,
 * which any thread may have allocated.  With ROUNDS > 1 the threads wait for each other at the
 * end of every round (a barrier: requests served in waves).
 *
 *     churn THREADS ROUNDS PER_ROUND SLOTS MIN MAX [SEED]
 *
 * Two threads, one round and a small table is the shape of two threads replacing one block at a
 * time: most frees are of the other thread's blocks, one at a time, with no batching to hide in.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "threads.h"

static _Atomic(unsigned char *) *table;
static size_t nslots, minsz, maxsz;
static unsigned long rounds, per_round;
static pthread_barrier_t barrier;

/* Log-uniform in [lo, hi]: a random power-of-two band, then uniform inside it. */
static size_t pick_size(uint64_t *rng) {
    int lglo = 63 - __builtin_clzll(minsz), lghi = 63 - __builtin_clzll(maxsz);
    int lg = lglo + (int)(rng_next(rng) % (uint64_t)(lghi - lglo + 1));
    size_t band = (size_t)1 << lg;
    size_t s = band + rng_next(rng) % band;
    return s < minsz ? minsz : s > maxsz ? maxsz : s;
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL;
    unsigned long sum = 0;
    for (unsigned long r = 0; r < rounds; r++) {
        for (unsigned long i = 0; i < per_round; i++) {
            size_t size = pick_size(&rng);
            unsigned char *p = malloc(size);
            if (p == NULL) {
                abort();
            }
            memset(p, (int)i, size < 64 ? size : 64);
            p[size - 1] = 1;
            unsigned char *old = atomic_exchange_explicit(&table[rng_next(&rng) % nslots], p,
                                                          memory_order_acq_rel);
            if (old != NULL) {
                sum += old[0];
                free(old);
            }
        }
        if (rounds > 1) {
            pthread_barrier_wait(&barrier);
        }
    }
    return (void *)(uintptr_t)(sum == 1);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: churn THREADS ROUNDS PER_ROUND SLOTS MIN MAX [SEED]\n");
        return 2;
    }
    int nthreads = atoi(argv[1]);
    rounds = strtoul(argv[2], NULL, 0);
    per_round = strtoul(argv[3], NULL, 0);
    nslots = strtoull(argv[4], NULL, 0);
    minsz = strtoull(argv[5], NULL, 0);
    maxsz = strtoull(argv[6], NULL, 0);
    uint64_t seed = argc > 7 ? strtoull(argv[7], NULL, 0) : 42;
    if (nthreads < 1 || nthreads > 256 || rounds == 0 || nslots == 0 || minsz == 0 ||
        maxsz < minsz) {
        fprintf(stderr, "churn: bad arguments\n");
        return 2;
    }
    table = calloc(nslots, sizeof(*table));
    if (table == NULL || pthread_barrier_init(&barrier, NULL, (unsigned)nthreads) != 0) {
        return 1;
    }
    if (threads_run(nthreads, worker, seed) != 0)
        return 1;
    for (size_t i = 0; i < nslots; i++) {
        free(atomic_load_explicit(&table[i], memory_order_relaxed));
    }
    free(table);
    pthread_barrier_destroy(&barrier);
    return 0;
}
