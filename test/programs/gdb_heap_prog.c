/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gdb_heap_prog: a heap of known shape for test/programs/gdb_heap.sh. The main thread and three
 * threads allocate blocks of classes nothing else in the process uses, free some of them (some
 * of those stay in the threads' caches), then the threads park and the main thread writes the
 * expected numbers to the file named by argv[1] and calls heap_ready(), where the test stops it
 * with gdb (or, with argv[2] "abort", it aborts to leave a core).
 *
 * Expected file, one item a line:
 *   class SIZE COUNT      live blocks of class SIZE (exactly what `heap json` must report)
 *   large SIZE COUNT      live large/huge blocks of SIZE
 *   cached_min SIZE N     at least N blocks of class SIZE are in some thread cache
 *   threads N             thread states with caches (main + 3)
 *   stats_allocated N     mallctl's stats.allocated (= heap json's allocated + tcached)
 *   live ADDR, live_inner ADDR   a live block's start, an address 1000 bytes into one
 *   freed ADDR            an address in a freed block (one a line)
 *   top SIZE              the largest live block
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"

#define NTHREADS 3

static pthread_barrier_t ready;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;

/* Sizes and counts of each thread's blocks: the same classes in every thread, so counts add. */
#define T_SMALL 448
#define T_MID 2560
#define T_CACHED 6 /* freed last by each thread: they stay in its cache */

static unsigned t_small_live(unsigned k) { return 100 * (k + 1); }
static unsigned t_mid_live(unsigned k) { return 20 + 5 * k; }

static void touch(void *p, size_t n) { memset(p, 0x11, n); }

static void *worker(void *arg) {
    unsigned k = (unsigned)(uintptr_t)arg;
    unsigned n_small = t_small_live(k) + T_CACHED, n_mid = t_mid_live(k) + 10;
    static void *smalls[NTHREADS][400], *mids[NTHREADS][64];
    void **small = smalls[k], **mid = mids[k];
    for (unsigned i = 0; i < n_small; i++)
        touch(small[i] = malloc(T_SMALL), T_SMALL);
    for (unsigned i = 0; i < n_mid; i++)
        touch(mid[i] = malloc(T_MID), T_MID);
    /* Ten mid blocks go back, the oldest first; the last T_CACHED small ones stay cached. */
    for (unsigned i = 0; i < 10; i++)
        free(mid[i]);
    for (unsigned i = t_small_live(k); i < n_small; i++)
        free(small[i]);
    pthread_barrier_wait(&ready);
    pthread_mutex_lock(&park_lock);
    for (;;)
        pthread_cond_wait(&park_cond, &park_lock);
    return NULL;
}

/* The expected numbers, gathered without allocating (no stdio stream) and written at the end. */
static char expect[4096];
static size_t expect_len;

static void put(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(expect + expect_len, sizeof(expect) - expect_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        expect_len += (size_t)n;
}

void heap_ready(void) __attribute__((noinline));
void heap_ready(void) { __asm__ volatile("" ::: "memory"); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s EXPECTED_FILE [abort]\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 2;
    }
    pthread_barrier_init(&ready, NULL, NTHREADS + 1);
    pthread_t th[NTHREADS];
    for (unsigned k = 0; k < NTHREADS; k++) {
        if (pthread_create(&th[k], NULL, worker, (void *)(uintptr_t)k) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }
    /*
     * The workers have made their blocks before this thread frees any: a worker sharing this
     * thread's arena (one per CPU) would otherwise take a freed extent for its slabs, and the
     * "freed" addresses below would be live again.
     */
    pthread_barrier_wait(&ready);

    /* 1000 x 80 B, every fifth freed; 300 x 1280 B, the first 100 freed. */
    static void *b80[1000], *b1280[300], *b64k[10], *b20k[4];
    for (unsigned i = 0; i < 1000; i++)
        touch(b80[i] = malloc(80), 80);
    for (unsigned i = 0; i < 300; i++)
        touch(b1280[i] = malloc(1280), 1280);
    for (unsigned i = 0; i < 1000; i += 5)
        free(b80[i]);
    for (unsigned i = 0; i < 100; i++)
        free(b1280[i]);
    /* Large: 10 x 64 KiB (above tcache_max), 3 freed; 4 x 20 KiB (cached class), 2 freed. */
    for (unsigned i = 0; i < 10; i++)
        touch(b64k[i] = malloc(65536), 65536);
    for (unsigned i = 0; i < 4; i++)
        touch(b20k[i] = malloc(20480), 20480);
    free(b64k[1]);
    free(b64k[4]);
    free(b64k[7]);
    free(b20k[0]);
    free(b20k[3]);
    /* Huge: one 5 MiB block (a chunk of its own). */
    void *huge = malloc(5 << 20);
    touch(huge, 4096);

    unsigned t_small = 0, t_mid = 0;
    for (unsigned k = 0; k < NTHREADS; k++) {
        t_small += t_small_live(k);
        t_mid += t_mid_live(k);
    }
    put("class 80 %u\n", 800);
    put("class 1280 %u\n", 200);
    put("class %u %u\n", T_SMALL, t_small);
    put("class %u %u\n", T_MID, t_mid);
    put("large 65536 7\n");
    put("large 20480 2\n");
    put("large %u 1\n", 5u << 20);
    put("cached_min %u %u\n", T_SMALL, NTHREADS * T_CACHED);
    put("cached_min 80 1\n");
    put("cached_min 20480 2\n");
    put("threads %u\n", NTHREADS + 1);
    put("live %p\n", b80[1]);
    put("live_inner %p\n", (char *)b64k[2] + 1000);
    put("freed %p\n", b80[0]);
    put("freed %p\n", b1280[0]);
    put("freed %p\n", (char *)b64k[1] + 4096);
    put("top %u\n", 5u << 20);

    uint64_t epoch = 1;
    size_t allocated, sz = sizeof(allocated);
    if (mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) != 0 ||
        mallctl("stats.allocated", &allocated, &sz, NULL, 0) != 0) {
        fprintf(stderr, "mallctl failed\n");
        return 2;
    }
    put("stats_allocated %zu\n", allocated);
    if (write(fd, expect, expect_len) != (ssize_t)expect_len || close(fd) != 0) {
        perror(argv[1]);
        return 2;
    }

    if (argc > 2 && strcmp(argv[2], "abort") == 0)
        abort();
    heap_ready();
    return 0;
}
