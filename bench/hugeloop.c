/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hugeloop: very large blocks allocated, filled and freed in a loop.  Each iteration allocates a
 * block of a uniformly random size in MIN..MAX, writes one byte in every page of it, keeps it
 * while the next LIVE - 1 blocks are allocated, and frees it.
 *
 *     hugeloop ITERATIONS MIN MAX LIVE [SEED]
 *
 * The program touches exactly the bytes it asked for, so the peak resident set beyond the sum of
 * LIVE requests is the allocator's: sizes rounded up past the request and backed by memory,
 * huge pages faulted in over untouched tails, freed blocks kept resident for reuse.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: hugeloop ITERATIONS MIN MAX LIVE [SEED]\n");
        return 2;
    }
    unsigned long iters = strtoul(argv[1], NULL, 0);
    size_t lo = strtoull(argv[2], NULL, 0), hi = strtoull(argv[3], NULL, 0);
    size_t live = strtoull(argv[4], NULL, 0);
    uint64_t rng = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (lo == 0 || hi < lo || live == 0 || live > 64) {
        fprintf(stderr, "hugeloop: bad arguments\n");
        return 2;
    }
    unsigned char *held[64] = {0};
    size_t held_size[64] = {0};
    unsigned long sum = 0;
    for (unsigned long i = 0; i < iters; i++) {
        size_t k = i % live;
        if (held[k] != NULL) {
            sum += held[k][held_size[k] - 1];
            free(held[k]);
        }
        size_t size = lo + rng_next(&rng) % (hi - lo + 1);
        unsigned char *p = malloc(size);
        if (p == NULL) {
            abort();
        }
        for (size_t off = 0; off < size; off += 4096) {
            p[off] = (unsigned char)i;
        }
        p[size - 1] = 1;
        held[k] = p;
        held_size[k] = size;
    }
    for (size_t k = 0; k < live; k++) {
        free(held[k]);
    }
    return sum == 1 ? 3 : 0;
}
