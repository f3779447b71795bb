/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mremap_cost: what moving a block's pages with mremap costs next to copying them, the
 * measurements behind doc/DESIGN.md's "realloc: resizing in place, copying, moving pages". It
 * uses no allocator: two private anonymous regions of 64 MiB, written once so that every page is
 * resident, stand for a chunk holding the old blocks and one holding the new ones.
 *
 *     mremap_cost [thp]       (thp: ask for transparent huge pages on both regions)
 *
 * For each block size from 4 KiB to 4 MiB it prints the mean time of
 *   copy-res    memcpy into resident pages (a destination reused from dirty pages);
 *   copy-fresh  memcpy into pages never touched (a destination carved from retained pages or a
 *               new chunk: every page faults);
 *   move-res    mremap(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) onto resident pages (the
 *               kernel first unmaps them);
 *   move-fresh  the same onto pages never touched;
 *   refault     writing one byte to each page of the range a move vacated, as reusing it does;
 * and the same per 4 KiB page. Then it moves 4,000 blocks of 16-256 KiB between random page
 * offsets of the two regions, as realloc would between extents, and prints how many mappings
 * /proc/self/maps holds before and after; and it tries a move whose source spans two mappings,
 * saying whether the kernel moved it, refused it leaving the destination mapped, or refused it
 * after unmapping the destination (which would leave a hole in a chunk that any thread's mmap may
 * take).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define REGION ((size_t)64 << 20)
#define MOVE_FLAGS (MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static char *region_new(int thp) {
    char *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mremap_cost: mmap");
        exit(1);
    }
    madvise(p, REGION, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    return p;
}

static void touch(char *p, size_t n, char v) {
    for (size_t o = 0; o < n; o += 4096) {
        p[o] = v;
    }
}

static void move_or_die(char *src, size_t n, char *dst) {
    if (mremap(src, n, n, MOVE_FLAGS, dst) != dst) {
        perror("mremap_cost: mremap");
        exit(1);
    }
}

static int maps_count(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) {
        return -1;
    }
    int c, lines = 0;
    while ((c = fgetc(f)) != EOF) {
        lines += c == '\n';
    }
    fclose(f);
    return lines;
}

/* Is [p, p + n) mapped? (msync fails with ENOMEM on an unmapped range.) */
static int is_mapped(void *p, size_t n) { return msync(p, n, MS_ASYNC) == 0; }

static void costs(char *a, char *b) {
    printf("%8s %11s %11s %11s %11s %11s   per page: %6s %6s %6s %6s %6s\n", "size", "copy-res",
           "copy-fresh", "move-res", "move-fresh", "refault", "copy-r", "copy-f", "move-r",
           "move-f", "refault");
    for (size_t n = 4096; n <= ((size_t)4 << 20); n *= 2) {
        int iters = (int)(REGION / n) < 128 ? (int)(REGION / n) : 128;
        double t[5] = {0, 0, 0, 0, 0};
        touch(a, REGION, 1);
        touch(b, REGION, 2);
        double t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            memcpy(b + (size_t)i * n, a + (size_t)i * n, n);
        }
        t[0] = now_ns() - t0;
        for (int i = 0; i < iters; i++) {
            double t1 = now_ns();
            move_or_die(a + (size_t)i * n, n, b + (size_t)i * n);
            double t2 = now_ns();
            touch(a + (size_t)i * n, n, 3);
            t[2] += t2 - t1;
            t[4] += now_ns() - t2;
        }
        madvise(b, REGION, MADV_DONTNEED);
        t0 = now_ns();
        for (int i = 0; i < iters; i++) {
            memcpy(b + (size_t)i * n, a + (size_t)i * n, n);
        }
        t[1] = now_ns() - t0;
        madvise(b, REGION, MADV_DONTNEED);
        for (int i = 0; i < iters; i++) {
            double t1 = now_ns();
            move_or_die(a + (size_t)i * n, n, b + (size_t)i * n);
            t[3] += now_ns() - t1;
        }
        double pages = (double)(n / 4096);
        printf("%8zu", n);
        for (int k = 0; k < 5; k++) {
            printf(" %9.0f ns", t[k] / iters);
        }
        printf("  ");
        for (int k = 0; k < 5; k++) {
            printf(" %6.0f", t[k] / iters / pages);
        }
        printf("\n");
    }
}

static void vma_growth(char *a, char *b) {
    touch(a, REGION, 1);
    touch(b, REGION, 2);
    int before = maps_count();
    uint64_t x = 88172645463325252ULL;
    int refused = 0;
    for (int i = 0; i < 4000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(4 + x % 61) << 12;
        size_t from = (size_t)((x >> 8) % ((REGION - n) >> 12)) << 12;
        size_t to = (size_t)((x >> 32) % ((REGION - n) >> 12)) << 12;
        /* A kernel that moves no source spanning two mappings refuses some of these. */
        refused += mremap(a + from, n, n, MOVE_FLAGS, b + to) == MAP_FAILED;
        /* The next move's source: the pages just moved, or the ones it left behind. */
        char *t = a;
        a = b;
        b = t;
    }
    printf("mappings in /proc/self/maps: %d before 4000 moves, %d after (%d moves refused)\n",
           before, maps_count(), refused);
}

static void split_source(void) {
    size_t m = (size_t)1 << 20;
    char *d = mmap(NULL, 4 * m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *s = mmap(NULL, 4 * m, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (d == MAP_FAILED || s == MAP_FAILED) {
        perror("mremap_cost: mmap");
        exit(1);
    }
    touch(d, 4 * m, 1);
    touch(s, 4 * m, 2);
    mprotect(s + m, m, PROT_READ); /* [s, s + 2m) is now two mappings */
    void *r = mremap(s, 2 * m, 2 * m, MOVE_FLAGS, d + m);
    int err = errno;
    if (r == d + m) {
        printf("a move whose source spans two mappings: moved\n");
    } else {
        printf("a move whose source spans two mappings: refused (%s), destination %s\n",
               strerror(err), is_mapped(d + m, 2 * m) ? "still mapped" : "LEFT UNMAPPED");
    }
}

int main(int argc, char **argv) {
    int thp = argc > 1 && strcmp(argv[1], "thp") == 0;
    char *a = region_new(thp), *b = region_new(thp);
    if (mremap(a, 4096, 4096, MOVE_FLAGS, b) == MAP_FAILED) {
        printf("mremap_cost: this kernel refuses MREMAP_DONTUNMAP (%s)\n", strerror(errno));
        return 77;
    }
    costs(a, b);
    vma_growth(a, b);
    split_source();
    return 0;
}
