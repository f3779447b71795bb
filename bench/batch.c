/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * batch: allocate a batch of blocks of mixed sizes (1 B to 4 KiB, small sizes more likely), then
 * free the whole batch in LIFO, FIFO or random order; repeat.  A batch holds more than a thread
 * cache keeps, so the cache fills and flushes against the shared bins, and the free order decides
 * how slabs empty and refill.
 *
 *     batch lifo|fifo|random BATCH ROUNDS [SEED]
 *
 * Sizes are drawn once; random order is one fixed permutation started at a different offset in
 * each round, so the benchmark spends its time in the allocator, not in the random generator.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: batch lifo|fifo|random BATCH ROUNDS [SEED]\n");
        return 2;
    }
    const char *order = argv[1];
    size_t n = strtoull(argv[2], NULL, 0);
    unsigned long rounds = strtoul(argv[3], NULL, 0);
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 42;
    int mode = strcmp(order, "lifo") == 0 ? 0 : strcmp(order, "fifo") == 0 ? 1 : 2;
    if (mode == 2 && strcmp(order, "random") != 0) {
        fprintf(stderr, "batch: unknown order %s\n", order);
        return 2;
    }

    /* The bookkeeping arrays are allocated once, before the loop. */
    unsigned char **ptrs = calloc(n, sizeof *ptrs);
    uint32_t *sizes = calloc(n, sizeof *sizes);
    uint32_t *perm = calloc(n, sizeof *perm);
    if (ptrs == NULL || sizes == NULL || perm == NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        /* Roughly log-uniform: pick a power of two up to 4096, then a size below it. */
        uint64_t r = rng_next(&seed);
        uint32_t cap = 1u << (r % 13);
        sizes[i] = 1 + (uint32_t)((r >> 8) % cap);
        perm[i] = (uint32_t)i;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rng_next(&seed) % (i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }

    unsigned long sum = 0;
    for (unsigned long round = 0; round < rounds; round++) {
        for (size_t i = 0; i < n; i++) {
            unsigned char *p = malloc(sizes[i]);
            if (p == NULL) {
                return 1;
            }
            p[0] = (unsigned char)i;
            ptrs[i] = p;
        }
        size_t off = (size_t)(round * 7919) % n;
        for (size_t k = 0; k < n; k++) {
            size_t i = mode == 0 ? n - 1 - k : mode == 1 ? k : perm[(k + off) % n];
            sum += ptrs[i][0];
            free(ptrs[i]);
        }
    }
    free(ptrs);
    free(sizes);
    free(perm);
    return sum == 1 ? 3 : 0;
}
