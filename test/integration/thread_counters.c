/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * thread.allocated and thread.deallocated are exact: every allocation adds its usable size and
 * every free its block's, whichever path serves the call (a cache hit of the fast paths, a fill,
 * a large block, mallocx without the cache, a sized free, realloc to another class). The fast
 * paths count elsewhere (the thread event counter, the bins' push counts: tsd.h) and a read adds
 * it up. A thread that asks for thread.allocatedp and thread.deallocatedp reads the counters they
 * point to exact after every call, with no mallctl call between, the fast paths' sizes included;
 * the thread's other counts stay exact (a bin's requests, thread.peak). A new thread starts at 0.
 */
#include "../test.h"

#include <pthread.h>

static const size_t sizes[] = {8, 64, 100, 1000, 5000, 8192, 20000, 40000, 300000, 3 << 20};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static uint64_t allocated(void) { return test_ctl_u64("thread.allocated"); }
static uint64_t deallocated(void) { return test_ctl_u64("thread.deallocated"); }

/* One allocation and one free through the given calls, each checked exactly by a read. */
static void cycle(const char *what, size_t size, int flags) {
    uint64_t a0 = allocated(), d0 = deallocated();
    void *p = test_launder(flags < 0 ? malloc(size) : mallocx(size, flags));
    require_ptr_not_null(p);
    size_t usize = malloc_usable_size(p);
    uint64_t a1 = allocated();
    if (!test_check_(a1 - a0 == usize && deallocated() == d0))
        test_fail("%s(%zu): allocated +%ju, usable %zu", what, size, (uintmax_t)(a1 - a0), usize);
    if (flags < 0)
        free(p);
    else if (flags & MALLOCX_TCACHE_NONE)
        dallocx(p, flags);
    else
        sdallocx(p, size, flags);
    uint64_t d1 = deallocated();
    if (!test_check_(d1 - d0 == usize && allocated() == a1))
        test_fail("free after %s(%zu): deallocated +%ju, usable %zu", what, size,
                  (uintmax_t)(d1 - d0), usize);
}

static void *counted_thread(void *arg) {
    (void)arg;
    /* A new thread counts from 0 (its first call here is the mallctl's own read). */
    expect_zu_eq(allocated(), 0);
    expect_zu_eq(deallocated(), 0);
    for (size_t i = 0; i < NSIZES; i++) {
        for (int round = 0; round < 3; round++) { /* a miss, then cache hits */
            cycle("malloc", sizes[i], -1);
            cycle("mallocx", sizes[i], 0);
        }
        cycle("mallocx(TCACHE_NONE)", sizes[i], MALLOCX_TCACHE_NONE);
    }
    /* realloc to another class: the new block counts as allocated, the old as freed. */
    void *p = test_launder(malloc(100));
    require_ptr_not_null(p);
    for (size_t n = 200; n < ((size_t)1 << 20); n *= 3) {
        size_t old = malloc_usable_size(p);
        uint64_t a0 = allocated(), d0 = deallocated();
        p = test_launder(realloc(p, n));
        require_ptr_not_null(p);
        expect_zu_eq(allocated() - a0, malloc_usable_size(p));
        expect_zu_eq(deallocated() - d0, old);
    }
    free(p);
    /* Many fast-path pairs between two reads. */
    uint64_t a0 = allocated(), d0 = deallocated();
    size_t want = 0;
    for (int i = 0; i < 10000; i++) {
        void *q = test_launder(malloc(16 + (size_t)(i % 64) * 16));
        require_ptr_not_null(q);
        want += malloc_usable_size(q);
        free(q);
    }
    expect_zu_eq(allocated() - a0, want);
    expect_zu_eq(deallocated() - d0, want);

    /* prof.reset restarts the thread's event counter, and keeps what it counted. */
    bool prof = false;
    size_t blen = sizeof(prof);
    mallctl("opt.prof", &prof, &blen, NULL, 0);
    if (prof) {
        void *q = test_launder(malloc(64));
        require_ptr_not_null(q);
        a0 = allocated();
        size_t lg = 10;
        expect_d_eq(mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
        expect_zu_eq(allocated(), a0);
        free(q);
        cycle("malloc after prof.reset", 64, -1);
    }
    return NULL;
}

static unsigned bin_of(size_t size) {
    unsigned nbins = test_ctl_unsigned("arenas.nbins");
    for (unsigned j = 0; j < nbins; j++) {
        char name[64];
        snprintf(name, sizeof(name), "arenas.bin.%u.size", j);
        if (test_ctl_size(name) >= size)
            return j;
    }
    return nbins;
}

static void *live_thread(void *arg) {
    (void)arg;
    free(test_launder(malloc(64)));
    uint64_t *ap = NULL, *dp = NULL;
    size_t len = sizeof(ap);
    require_(expect_d_eq(mallctl("thread.allocatedp", &ap, &len, NULL, 0), 0));
    require_(expect_d_eq(mallctl("thread.deallocatedp", &dp, &len, NULL, 0), 0));
    require_ptr_not_null(ap);
    require_ptr_not_null(dp);
    volatile uint64_t *a = ap, *d = dp;
    expect_zu_eq(*a, allocated());
    expect_zu_eq(*d, deallocated());

    /* Each call moves its counter at once: no read between. */
    unsigned bad = 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NSIZES; i++) {
            uint64_t a0 = *a, d0 = *d;
            void *p = test_launder(malloc(sizes[i]));
            require_ptr_not_null(p);
            uint64_t a1 = *a;
            size_t usize = malloc_usable_size(p);
            free(p);
            uint64_t d1 = *d;
            if (a1 - a0 != usize || d1 - d0 != usize || *a != a1) {
                if (bad++ < 5)
                    test_fail("size %zu (usable %zu): *allocatedp +%ju, *deallocatedp +%ju",
                              sizes[i], usize, (uintmax_t)(a1 - a0), (uintmax_t)(d1 - d0));
                test_check_(false);
            }
        }
    }
    expect_zu_eq(*a, allocated());
    expect_zu_eq(*d, deallocated());

    /* A bin's requests stay exact when every free takes the slow path (with the profiler off:
     * a sampled allocation is not the bin's). */
    bool prof = false;
    size_t blen = sizeof(prof);
    mallctl("opt.prof", &prof, &blen, NULL, 0);
    unsigned arena = test_ctl_unsigned("thread.arena"), j = bin_of(1700);
    char name[96];
    snprintf(name, sizeof(name), "stats.arenas.%u.bins.%u.nrequests", arena, j);
    uint64_t epoch = 1;
    mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
    uint64_t r0 = test_ctl_u64(name);
    for (int i = 0; i < 1000; i++)
        free(test_launder(malloc(1700)));
    mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
    if (!prof)
        expect_zu_eq(test_ctl_u64(name) - r0, 1000);

    /* And thread.peak: a block that lasts to the read. */
    expect_d_eq(mallctl("thread.peak.reset", NULL, NULL, NULL, 0), 0);
    void *big = test_launder(malloc((size_t)1 << 20));
    require_ptr_not_null(big);
    uint64_t peak = 0;
    size_t plen = sizeof(peak);
    expect_d_eq(mallctl("thread.peak.read", &peak, &plen, NULL, 0), 0);
    expect_zu_eq(peak, malloc_usable_size(big));
    free(big);
    return NULL;
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    pthread_t t;
    require_(expect_d_eq(pthread_create(&t, NULL, counted_thread, NULL), 0));
    pthread_join(t, NULL);
    require_(expect_d_eq(pthread_create(&t, NULL, live_thread, NULL), 0));
    pthread_join(t, NULL);
    return test_done();
}
