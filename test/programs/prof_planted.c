/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The heap profiler's planted program (prof_jeprof.sh): about 100 MB allocated from
 * plant_big and about 10 MB from plant_small, in blocks of mixed sizes, all kept live until
 * exit, so a profile taken at exit (prof_final) must attribute about 90% and 9% to the two.
 * Sizes cycle through small and large classes (64 B .. 24 KiB) so that promoted small blocks and
 * sampled large ones are both counted. With an argument it also dumps through prof.dump to that
 * file before exiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

static const size_t sizes[] = {64, 200, 1024, 3000, 8192, 24576};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

typedef struct keep_s {
    void **blocks;
    size_t n, cap;
} keep_t;

static void keep_push(keep_t *k, void *p) {
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 1024;
        k->blocks = realloc(k->blocks, k->cap * sizeof(void *));
        if (k->blocks == NULL)
            exit(2);
    }
    k->blocks[k->n++] = p;
}

/* Allocate about total bytes, touching each block. noinline: each must be a frame of its own. */
__attribute__((noinline)) void plant_big(keep_t *k, size_t total) {
    for (size_t done = 0, i = 0; done < total; i++) {
        size_t s = sizes[i % NSIZES];
        char *p = malloc(s);
        if (p == NULL)
            exit(2);
        memset(p, 1, 8);
        keep_push(k, p);
        done += s;
    }
}

__attribute__((noinline)) void plant_small(keep_t *k, size_t total) {
    for (size_t done = 0, i = 0; done < total; i++) {
        size_t s = sizes[i % NSIZES];
        char *p = malloc(s);
        if (p == NULL)
            exit(2);
        memset(p, 2, 8);
        keep_push(k, p);
        done += s;
    }
}

int main(int argc, char **argv) {
    keep_t big = {0}, small = {0};
    plant_big(&big, (size_t)100 << 20);
    plant_small(&small, (size_t)10 << 20);
    if (argc > 1) {
        const char *f = argv[1];
        if (mallctl("prof.dump", NULL, NULL, &f, sizeof(f)) != 0) {
            fprintf(stderr, "prof.dump failed\n");
            return 1;
        }
    }
    printf("%zu + %zu blocks\n", big.n, small.n);
    return 0;
}
