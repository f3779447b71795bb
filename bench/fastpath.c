/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fastpath: the instruction-count probe.  ITERATIONS pairs of malloc(SIZE)/free() (SIZE 64 by
 * default); run.sh runs it under callgrind for N and 2N iterations, and the difference divided
 * by N is the cost of one pair (plus the loop and the two calls through the PLT, a handful of
 * instructions).
 *
 * One block of the same size stays allocated around the loop, as in any real program: without
 * it, an allocator that returns an emptied page at every free (mimalloc) would be measured
 * doing that on every pair.
 *
 *     fastpath ITERATIONS [SIZE]
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: fastpath ITERATIONS [SIZE]\n");
        return 2;
    }
    unsigned long iters = strtoul(argv[1], NULL, 0);
    size_t size = argc == 3 ? strtoul(argv[2], NULL, 0) : 64;
    void *volatile live = malloc(size);
    void *volatile keep;
    for (unsigned long i = 0; i < iters; i++) {
        void *p = malloc(size);
        keep = p;
        free(p);
    }
    (void)keep;
    free(live);
    return 0;
}
