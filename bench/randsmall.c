/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * randsmall: a tight single-threaded loop of malloc and free of random small sizes.  WINDOW
 * blocks are live; each step frees the oldest and allocates one of a size drawn uniformly from
 * MIN..MAX (from a table of 4096 sizes made up front, so the loop costs little besides the
 * allocator), and writes its first byte.
 *
 *     randsmall STEPS MIN MAX WINDOW [SEED]
 *
 * Unlike fixed.c, every step moves between size classes: the fast path's size-to-class lookup
 * and the per-class caches' working set are what is measured.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

enum { NSIZES = 4096, MAXWIN = 1024 };

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: randsmall STEPS MIN MAX WINDOW [SEED]\n");
        return 2;
    }
    unsigned long steps = strtoul(argv[1], NULL, 0);
    size_t lo = strtoull(argv[2], NULL, 0), hi = strtoull(argv[3], NULL, 0);
    size_t win = strtoull(argv[4], NULL, 0);
    uint64_t rng = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (lo == 0 || hi < lo || win == 0 || win > MAXWIN || (win & (win - 1)) != 0) {
        fprintf(stderr, "randsmall: bad arguments (WINDOW: a power of two up to %d)\n", MAXWIN);
        return 2;
    }
    static size_t sizes[NSIZES];
    static unsigned char *held[MAXWIN];
    for (size_t i = 0; i < NSIZES; i++) {
        sizes[i] = lo + rng_next(&rng) % (hi - lo + 1);
    }
    unsigned long sum = 0;
    for (unsigned long i = 0; i < steps; i++) {
        size_t k = i & (win - 1);
        if (held[k] != NULL) {
            sum += held[k][0];
            free(held[k]);
        }
        unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
        if (p == NULL) {
            abort();
        }
        p[0] = (unsigned char)i;
        held[k] = p;
    }
    for (size_t k = 0; k < win; k++) {
        free(held[k]);
    }
    return sum == 1 ? 3 : 0;
}
