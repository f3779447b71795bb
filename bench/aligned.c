/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * aligned: posix_memalign with alignments from 64 B to 2 MiB.  LIVE blocks are kept; each step
 * frees a random one and allocates a new one with a random power-of-two alignment in
 * 64..MAXALIGN (each equally likely) and a log-uniform size in 16 B..MAXSIZE, checks the
 * alignment and writes the first and last byte.  Prints "misaligned N", the number of results
 * that were not aligned as asked (the run goes on, so a faulty allocator is still timed).
 *
 *     aligned ITERATIONS LIVE MAXALIGN MAXSIZE [SEED]
 *
 * Small alignments come from size classes; page and larger alignments test how the allocator
 * carves an aligned extent out of free space and what it does with the trimmed-off parts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: aligned ITERATIONS LIVE MAXALIGN MAXSIZE [SEED]\n");
        return 2;
    }
    unsigned long iters = strtoul(argv[1], NULL, 0);
    size_t live = strtoull(argv[2], NULL, 0);
    size_t maxalign = strtoull(argv[3], NULL, 0), maxsize = strtoull(argv[4], NULL, 0);
    uint64_t rng = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (live == 0 || maxalign < 64 || maxsize < 16) {
        fprintf(stderr, "aligned: bad arguments\n");
        return 2;
    }
    int lgmax = 63 - __builtin_clzll(maxalign), lgsize = 63 - __builtin_clzll(maxsize);
    unsigned char **slot = calloc(live, sizeof *slot);
    if (slot == NULL) {
        return 1;
    }
    unsigned long sum = 0, misaligned = 0;
    for (unsigned long it = 0; it < iters; it++) {
        size_t i = rng_next(&rng) % live;
        if (slot[i] != NULL) {
            sum += slot[i][0];
            free(slot[i]);
        }
        size_t align = (size_t)1 << (6 + rng_next(&rng) % (uint64_t)(lgmax - 6 + 1));
        size_t band = (size_t)1 << (4 + rng_next(&rng) % (uint64_t)(lgsize - 4 + 1));
        size_t size = band + rng_next(&rng) % band;
        void *p;
        if (posix_memalign(&p, align, size) != 0) {
            return 1;
        }
        if ((uintptr_t)p & (align - 1)) {
            misaligned++;
        }
        slot[i] = p;
        slot[i][0] = 1;
        slot[i][size - 1] = 1;
    }
    for (size_t i = 0; i < live; i++) {
        free(slot[i]);
    }
    free(slot);
    printf("misaligned %lu\n", misaligned);
    return sum == 1 ? 3 : 0;
}
