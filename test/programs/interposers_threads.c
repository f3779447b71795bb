/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The threaded program interposers.sh runs behind the interposers: 8 threads allocate with
 * malloc, calloc and realloc, fill every block with a pattern, check the pattern before each
 * free, and hand a quarter of their blocks to the next thread to free (cross-thread frees). It
 * prints "threads: ok <checksum>" (the same for every allocator) and exits 0 when every check held.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NTHREADS = 8, SLOTS = 1024, OPS = 60000, HANDOFF = 256 };

static unsigned long bad;
static uint64_t checksum;
static void *handoff[NTHREADS][HANDOFF];
static size_t handoff_size[NTHREADS][HANDOFF];
static pthread_barrier_t barrier;

static unsigned char pattern(uintptr_t seed, size_t i) { return (unsigned char)(seed * 31 + i); }

static void fill(unsigned char *p, size_t n, uintptr_t seed) {
    for (size_t i = 0; i < n; i += 61) {
        p[i] = pattern(seed, i);
    }
    p[n - 1] = pattern(seed, n - 1);
}

static int intact(const unsigned char *p, size_t n, uintptr_t seed) {
    for (size_t i = 0; i < n; i += 61) {
        if (p[i] != pattern(seed, i)) {
            return 0;
        }
    }
    return p[n - 1] == pattern(seed, n - 1);
}

static void *worker(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    uint64_t x = id * 0x9e3779b97f4a7c15ULL + 7, sum = 0;
    unsigned char *blk[SLOTS] = {0};
    size_t sz[SLOTS] = {0};
    for (int op = 0; op < OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % SLOTS);
        size_t n = (x >> 24) % 64 == 0 ? (x >> 32) % 300000 + 1 : (x >> 32) % 2000 + 1;
        if (blk[k] != NULL) {
            if (!intact(blk[k], sz[k], k)) {
                __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            }
            if (op % 2 == 0) {
                unsigned char *r = realloc(blk[k], n);
                if (r == NULL) {
                    __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
                    continue;
                }
                size_t keep = n < sz[k] ? n : sz[k];
                if (!intact(r, keep, k) && keep == sz[k]) {
                    __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
                }
                blk[k] = r;
                sz[k] = n;
                fill(r, n, k);
                continue;
            }
            free(blk[k]);
        }
        blk[k] = op % 3 == 0 ? calloc(1, n) : malloc(n);
        if (blk[k] == NULL || malloc_usable_size(blk[k]) < n) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            blk[k] = NULL;
            continue;
        }
        if (op % 3 == 0 && (blk[k][0] != 0 || blk[k][n - 1] != 0)) {
            __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
        }
        sz[k] = n;
        fill(blk[k], n, k);
        sum += n;
    }
    /* Hand blocks to the next thread, which checks and frees them. */
    for (unsigned k = 0; k < HANDOFF; k++) {
        handoff[id][k] = blk[k];
        handoff_size[id][k] = sz[k];
        blk[k] = NULL;
    }
    pthread_barrier_wait(&barrier);
    unsigned from = (unsigned)((id + 1) % NTHREADS);
    for (unsigned k = 0; k < HANDOFF; k++) {
        if (handoff[from][k] != NULL) {
            if (!intact(handoff[from][k], handoff_size[from][k], k)) {
                __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
            }
            free(handoff[from][k]);
        }
    }
    for (unsigned k = 0; k < SLOTS; k++) {
        free(blk[k]);
    }
    __atomic_add_fetch(&checksum, sum, __ATOMIC_RELAXED);
    return NULL;
}

int main(void) {
    pthread_t t[NTHREADS];
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    for (uintptr_t i = 0; i < NTHREADS; i++) {
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
            return 2;
        }
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
    }
    if (bad != 0) {
        printf("threads: %lu checks failed\n", bad);
        return 1;
    }
    printf("threads: ok %llu\n", (unsigned long long)checksum);
    return 0;
}
