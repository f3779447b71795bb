/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fastpath: the instruction-count probe.  ITERATIONS pairs of malloc(64)/free(); run.sh runs it
 * under callgrind for N and 2N iterations, and the difference divided by N is the cost of one
 * pair (plus the loop and the two calls through the PLT, a handful of instructions).
 *
 *     fastpath ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fastpath ITERATIONS\n");
        return 2;
    }
    unsigned long iters = strtoul(argv[1], NULL, 0);
    void *volatile keep;
    for (unsigned long i = 0; i < iters; i++) {
        void *p = malloc(64);
        keep = p;
        free(p);
    }
    (void)keep;
    return 0;
}
