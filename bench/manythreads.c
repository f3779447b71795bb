/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * manythreads: many more threads than processors, each churning mixed sizes up to large
 * objects.  THREADS threads each keep LIVE blocks; each step frees a random one of its own and
 * allocates a replacement of a log-uniform random size in 8..MAX, writing one byte per page.
 * STEPS is the total over all threads, so the work is the same at any thread count.  The
 * threads start together and free their last blocks only once all are done, so all THREADS sets
 * are live at the end.
 *
 *     manythreads THREADS STEPS LIVE MAX [SEED]
 *
 * The live data is THREADS * LIVE blocks whatever the allocator; what grows with the thread
 * count on top of it is per-thread and per-arena state: thread caches, partly used slabs in many
 * arenas, freed large blocks kept per arena.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"
#include "threads.h"

static unsigned long steps_each;
static pthread_barrier_t start, stop;
static size_t live, maxsz;

static size_t pick_size(uint64_t *rng) {
    int lghi = 63 - __builtin_clzll(maxsz);
    int lg = 3 + (int)(rng_next(rng) % (uint64_t)(lghi - 3 + 1));
    size_t band = (size_t)1 << lg;
    size_t s = band + rng_next(rng) % band;
    return s > maxsz ? maxsz : s;
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    unsigned char **held = calloc(live, sizeof(*held));
    unsigned long sum = 0;
    if (held == NULL) {
        abort();
    }
    pthread_barrier_wait(&start);
    for (unsigned long i = 0; i < steps_each; i++) {
        size_t k = rng_next(&rng) % live;
        if (held[k] != NULL) {
            sum += held[k][0];
            free(held[k]);
        }
        size_t size = pick_size(&rng);
        unsigned char *p = malloc(size);
        if (p == NULL) {
            abort();
        }
        for (size_t off = 0; off < size; off += 4096) {
            p[off] = (unsigned char)i;
        }
        held[k] = p;
    }
    pthread_barrier_wait(&stop);
    for (size_t k = 0; k < live; k++) {
        free(held[k]);
    }
    free(held);
    return (void *)(uintptr_t)(sum == 1);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: manythreads THREADS STEPS LIVE MAX [SEED]\n");
        return 2;
    }
    int nthreads = atoi(argv[1]);
    unsigned long steps = strtoul(argv[2], NULL, 0);
    live = strtoull(argv[3], NULL, 0);
    maxsz = strtoull(argv[4], NULL, 0);
    uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (nthreads < 1 || nthreads > 256 || live == 0 || maxsz < 16) {
        fprintf(stderr, "manythreads: bad arguments\n");
        return 2;
    }
    steps_each = steps / (unsigned long)nthreads;
    if (pthread_barrier_init(&start, NULL, (unsigned)nthreads) != 0 ||
        pthread_barrier_init(&stop, NULL, (unsigned)nthreads) != 0) {
        return 1;
    }
    if (threads_run(nthreads, worker, seed) != 0)
        return 1;
    return 0;
}
