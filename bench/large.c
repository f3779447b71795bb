/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * large: churn of large and huge blocks.  LIVE blocks are kept; each step frees a random one and
 * allocates a new one of a log-uniform random size in MIN..MAX, then writes one byte in each of
 * the first TOUCH percent of its pages (a buffer that is only partly used).
 *
 *     large ITERATIONS MIN MAX TOUCH_PERCENT LIVE [SEED]
 *
 * This is where a policy of returning freed pages to the OS shows: an allocator that unmaps or
 * purges a block on free and then hands the same address range out again pays a page fault and
 * a page of zeroing for every page touched; one that keeps freed pages for a while reuses them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

/* Log-uniform in [lo, hi]: a random power-of-two band, then uniform inside it. */
static size_t pick_size(uint64_t *rng, size_t lo, size_t hi) {
    int lglo = 63 - __builtin_clzll(lo), lghi = 63 - __builtin_clzll(hi);
    int lg = lglo + (int)(rng_next(rng) % (uint64_t)(lghi - lglo + 1));
    size_t band = (size_t)1 << lg;
    size_t s = band + rng_next(rng) % band;
    return s < lo ? lo : s > hi ? hi : s;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: large ITERATIONS MIN MAX TOUCH_PERCENT LIVE [SEED]\n");
        return 2;
    }
    unsigned long iters = strtoul(argv[1], NULL, 0);
    size_t lo = strtoull(argv[2], NULL, 0), hi = strtoull(argv[3], NULL, 0);
    unsigned touch = (unsigned)atoi(argv[4]);
    size_t live = strtoull(argv[5], NULL, 0);
    uint64_t rng = argc > 6 ? strtoull(argv[6], NULL, 0) : 42;
    if (lo == 0 || hi < lo || touch > 100 || live == 0 || live > 4096) {
        fprintf(stderr, "large: bad arguments\n");
        return 2;
    }
    unsigned char *slot[4096] = {0};
    unsigned long sum = 0;
    for (unsigned long it = 0; it < iters; it++) {
        size_t i = rng_next(&rng) % live;
        if (slot[i] != NULL) {
            sum += slot[i][0];
            free(slot[i]);
        }
        size_t size = pick_size(&rng, lo, hi);
        unsigned char *p = malloc(size);
        if (p == NULL) {
            return 1;
        }
        size_t end = size / 100 * touch;
        for (size_t off = 0; off < end; off += 4096) {
            p[off] = (unsigned char)off;
        }
        p[0] = 1;
        slot[i] = p;
    }
    for (size_t i = 0; i < live; i++) {
        free(slot[i]);
    }
    return sum == 1 ? 3 : 0;
}
