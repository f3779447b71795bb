/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fixed: the single-thread fast path.  A loop of malloc(SIZE) immediately followed by free(),
 * with one byte written so the block is really used; every allocator serves this from its
 * per-thread cache, so the time is the cost of one cache pop and one push.
 *
 *     fixed SIZE ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: fixed SIZE ITERATIONS\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 0);
    unsigned long iters = strtoul(argv[2], NULL, 0);
    volatile unsigned char sink = 0;
    for (unsigned long i = 0; i < iters; i++) {
        unsigned char *p = malloc(size);
        if (p == NULL) {
            return 1;
        }
        p[size - 1] = (unsigned char)i;
        sink = p[size - 1];
        free(p);
    }
    (void)sink;
    return 0;
}
