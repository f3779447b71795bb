/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * larson: a server-like simulation.  Each thread owns an array of SLOTS live blocks and, in a
 * loop, frees a random slot and puts a new block of random size (MIN..MAX bytes) in its place.
 * Every SLOTS operations it swaps its whole array with one waiting on a shared shelf (there is
 * one array more than threads), so blocks allocated by one thread are later freed by another, as
 * when a server hands a request's objects from the thread that read it to the one that answers.
 *
 *     larson THREADS SLOTS TOTAL_OPS MIN MAX [SEED]
 *
 * TOTAL_OPS is shared equally between the threads, so with perfect scaling the time halves from
 * one to two threads (on two cores) and stays flat from two to four.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

typedef struct {
    unsigned char **slots;
} array_t;

static size_t nslots, minsz, maxsz;
static unsigned long ops_per_thread;
static pthread_mutex_t shelf_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char **shelf;

static unsigned char *new_block(uint64_t *rng) {
    size_t size = minsz + rng_next(rng) % (maxsz - minsz + 1);
    unsigned char *p = malloc(size);
    if (p == NULL) {
        abort();
    }
    p[0] = (unsigned char)size;
    p[size - 1] = 1;
    return p;
}

static unsigned char **new_array(uint64_t *rng) {
    unsigned char **a = malloc(nslots * sizeof *a);
    if (a == NULL) {
        abort();
    }
    for (size_t i = 0; i < nslots; i++) {
        a[i] = new_block(rng);
    }
    return a;
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
    unsigned char **mine = new_array(&rng);
    unsigned long sum = 0;
    for (unsigned long op = 0; op < ops_per_thread; op++) {
        size_t i = rng_next(&rng) % nslots;
        sum += mine[i][0];
        free(mine[i]);
        mine[i] = new_block(&rng);
        if ((op + 1) % nslots == 0) {
            pthread_mutex_lock(&shelf_lock);
            unsigned char **t = shelf;
            shelf = mine;
            mine = t;
            pthread_mutex_unlock(&shelf_lock);
        }
    }
    for (size_t i = 0; i < nslots; i++) {
        free(mine[i]);
    }
    free(mine);
    return (void *)(uintptr_t)(sum == 1);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: larson THREADS SLOTS TOTAL_OPS MIN MAX [SEED]\n");
        return 2;
    }
    int nthreads = atoi(argv[1]);
    nslots = strtoull(argv[2], NULL, 0);
    unsigned long total = strtoul(argv[3], NULL, 0);
    minsz = strtoull(argv[4], NULL, 0);
    maxsz = strtoull(argv[5], NULL, 0);
    uint64_t seed = argc > 6 ? strtoull(argv[6], NULL, 0) : 42;
    if (nthreads < 1 || nthreads > 256 || nslots == 0 || minsz == 0 || maxsz < minsz) {
        fprintf(stderr, "larson: bad arguments\n");
        return 2;
    }
    ops_per_thread = total / (unsigned long)nthreads;
    uint64_t rng = seed;
    shelf = new_array(&rng);

    pthread_t tid[256];
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)(seed + (uint64_t)t + 1))) {
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(tid[t], NULL);
    }
    for (size_t i = 0; i < nslots; i++) {
        free(shelf[i]);
    }
    free(shelf);
    return 0;
}
