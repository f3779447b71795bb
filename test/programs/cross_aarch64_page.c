/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Run by cross_aarch64.sh under qemu-aarch64 with a 64 KiB page (-p 65536).
 *   `page refused`: linked with a liballocator.so built with --with-lg-page=12, the library must
 *   refuse to serve, with ENOMEM from every allocation call (its message, printed at init, is
 *   checked by the script), and the program goes on. Prints "page-mismatch: ok" and exits 0.
 *   `page N`: linked with a build that reads the page size at boot, allocations of every kind
 *   succeed and arenas.page is N. Prints what it saw and exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"

static int bad;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        bad = 1;
    }
}

/* The library read the page size at boot: everything is served, from pages of `want` bytes. */
static int served(size_t want) {
    size_t page = 0, len = sizeof(page);
    check(mallctl("arenas.page", &page, &len, NULL, 0) == 0 && page == want, "arenas.page");
    void *small = malloc(100), *large = malloc(5 * want), *al = NULL;
    check(small != NULL && large != NULL, "malloc small and large");
    check(posix_memalign(&al, want, 100) == 0 && ((size_t)al & (want - 1)) == 0,
          "posix_memalign to the page");
    memset(small, 1, 100);
    memset(large, 2, 5 * want);
    free(small);
    free(large);
    free(al);
    printf("page %zu: malloc, a 5-page block and a page-aligned block served\n", page);
    return bad;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "refused") != 0)
        return served((size_t)strtoul(argv[1], NULL, 10));
    errno = 0;
    void *p = malloc(100);
    check(p == NULL && errno == ENOMEM, "malloc(100) returns NULL with ENOMEM");
    errno = 0;
    p = calloc(3, 1000);
    check(p == NULL && errno == ENOMEM, "calloc returns NULL with ENOMEM");
    errno = 0;
    p = realloc(NULL, 5000);
    check(p == NULL && errno == ENOMEM, "realloc(NULL, n) returns NULL with ENOMEM");
    p = NULL;
    check(posix_memalign(&p, 4096, 100) == ENOMEM && p == NULL, "posix_memalign returns ENOMEM");
    free(NULL);
    if (bad == 0) {
        /* stdio's own buffer cannot be had from malloc either: write through a fixed one. */
        static char buf[256];
        setvbuf(stdout, buf, _IOFBF, sizeof(buf));
        printf("page-mismatch: ok\n");
    }
    return bad;
}
