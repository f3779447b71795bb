/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * frag: fragmentation.  Phase 1 allocates COUNT blocks of small sizes (16..512 B, log-uniform);
 * phase 2 frees nine in ten of them in random order; phase 3 allocates COUNT/20 blocks of other,
 * larger sizes (600..6000 B), which cannot reuse the holes left in the small size classes unless
 * the allocator gets whole pages back from the sparse slabs.  The survivors of phase 1 stay live
 * to the end, pinning the slabs they sit in.
 *
 *     frag COUNT [SEED]
 *
 * Prints "final_rss_kib N" (resident set at the end, from /proc/self/statm) on standard output;
 * the harness measures the peak.  Ideal final size: the bytes still live, about 0.1 x phase 1
 * plus phase 3.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rng.h"

static long rss_kib(void) {
    long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) {
        return -1;
    }
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static unsigned char *block(size_t size) {
    unsigned char *p = malloc(size);
    if (p == NULL) {
        abort();
    }
    /* Touch every page of the block, as a program filling it would. */
    for (size_t off = 0; off < size; off += 4096) {
        p[off] = 1;
    }
    p[size - 1] = 1;
    return p;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: frag COUNT [SEED]\n");
        return 2;
    }
    size_t count = strtoull(argv[1], NULL, 0);
    uint64_t rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 42;
    if (count < 16) {
        fprintf(stderr, "frag: bad arguments\n");
        return 2;
    }
    unsigned char **small = malloc(count * sizeof *small);
    uint32_t *order = malloc(count * sizeof *order);
    size_t nbig = count / 20;
    unsigned char **big = malloc(nbig * sizeof *big);
    if (small == NULL || order == NULL || big == NULL) {
        return 1;
    }

    for (size_t i = 0; i < count; i++) {
        size_t band = (size_t)16 << (rng_next(&rng) % 5); /* 16..256 */
        small[i] = block(band + rng_next(&rng) % band);
        order[i] = (uint32_t)i;
    }
    for (size_t i = count - 1; i > 0; i--) {
        size_t j = rng_next(&rng) % (i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t nfree = count / 10 * 9;
    for (size_t k = 0; k < nfree; k++) {
        free(small[order[k]]);
        small[order[k]] = NULL;
    }
    for (size_t i = 0; i < nbig; i++) {
        big[i] = block(600 + rng_next(&rng) % 5401);
    }

    printf("final_rss_kib %ld\n", rss_kib());
    for (size_t i = 0; i < count; i++) {
        free(small[i]);
    }
    for (size_t i = 0; i < nbig; i++) {
        free(big[i]);
    }
    free(small);
    free(order);
    free(big);
    return 0;
}
