/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Run by cross_aarch64.sh under qemu-aarch64 with a 64 KiB page (-p 65536), linked with a
 * liballocator.so built for 4 KiB pages: the library must refuse to serve, with ENOMEM from every
 * allocation call (its message, printed at init, is checked by the script), and the program goes
 * on. Prints "page-mismatch: ok" and exits 0 when it does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad;

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        bad = 1;
    }
}

int main(void) {
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
