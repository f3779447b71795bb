/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * thread.peak.read and thread.peak.reset (jemalloc 5.3): the highest net bytes (allocated less
 * deallocated) of the calling thread since its last reset. After a reset the answer is exact for
 * a peak that lasts to the read, and misses at most TSD_PEAK_BYTES (64 KiB) of one that came and
 * went: 512 KiB in blocks of 1 to 8 KiB, all taken from the thread's cache (warmed up so that its
 * bins hold them) and freed again, reads between 448 and 512 KiB (the thread events that the fast
 * path counts down note it: without their 64 KiB bound the burst read 65 KiB). Frees of another
 * thread's blocks take the net below the reset point, never the peak below 0. A thread that never
 * reset reads its peak since it began (one large block, whose allocation notes it). Wrong uses:
 * a write, or a read of the wrong size.
 */
#include "../test.h"

#include <pthread.h>

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
/* The burst: 128 KiB in each of four classes. */
#define NCLASSES 4
#define NBURST (128 + 64 + 32 + 16)
static const size_t burst_size[NCLASSES] = {1024, 2048, 4096, 8192};
static const int burst_count[NCLASSES] = {128, 64, 32, 16};

static void burst(void **blocks) {
    int n = 0;
    for (int c = 0; c < NCLASSES; c++)
        for (int i = 0; i < burst_count[c]; i++)
            require_ptr_not_null(blocks[n++] = test_launder(malloc(burst_size[c])));
    for (int i = n; i-- > 0;)
        free(blocks[i]);
}

static uint64_t peak(void) {
    uint64_t v = UINT64_MAX;
    size_t len = sizeof(v);
    expect_d_eq(mallctl("thread.peak.read", &v, &len, NULL, 0), 0);
    return v;
}

static void reset(void) { expect_d_eq(mallctl("thread.peak.reset", NULL, NULL, NULL, 0), 0); }

static void *make_block(void *arg) {
    *(void **)arg = malloc(100 * KIB);
    return NULL;
}

/* A thread that never asks until the end: one 8 MiB block, freed before the read. */
static void *fresh_thread(void *arg) {
    void *p = test_launder(malloc(8 * MIB));
    if (p != NULL)
        memset(p, 1, 4096);
    free(p);
    *(uint64_t *)arg = peak();
    return NULL;
}

int main(void) {
    if (!test_allocator_active())
        return test_done();

    reset();
    expect_zu_eq(peak(), 0);

    /* A peak that lasts to the read is exact. */
    void *big = test_launder(malloc(MIB));
    require_ptr_not_null(big);
    size_t big_size = malloc_usable_size(big);
    expect_zu_eq(peak(), big_size);
    free(big);
    expect_zu_eq(peak(), big_size); /* the highest, not the current */
    reset();
    expect_zu_eq(peak(), 0);

    /* One that came and went between reads, made on the fast path: the bins grow to hold the
     * burst in the first rounds. */
    static void *blocks[NBURST];
    for (int warm = 0; warm < 8; warm++)
        burst(blocks);
    reset();
    burst(blocks);
    uint64_t got = peak();
    expect_zu_ge(got, 512 * KIB - 64 * KIB);
    expect_zu_le(got, 512 * KIB);

    /* Freeing another thread's block takes the net below the reset point; the peak stays 0. */
    void *theirs = NULL;
    pthread_t t;
    require_(expect_d_eq(pthread_create(&t, NULL, make_block, &theirs), 0));
    pthread_join(t, NULL);
    require_ptr_not_null(theirs);
    reset();
    free(theirs);
    expect_zu_eq(peak(), 0);
    void *mine = test_launder(malloc(50 * KIB));
    require_ptr_not_null(mine);
    expect_zu_eq(peak(), 0); /* the net is still below the reset point */
    free(mine);

    /* A thread that never reset: its peak since it began. */
    uint64_t fresh = 0;
    require_(expect_d_eq(pthread_create(&t, NULL, fresh_thread, &fresh), 0));
    pthread_join(t, NULL);
    expect_zu_ge(fresh, 8 * MIB);
    expect_zu_le(fresh, 8 * MIB + 64 * KIB);

    /* Wrong uses. */
    uint32_t small = 0;
    size_t len = sizeof(small);
    expect_d_eq(mallctl("thread.peak.read", &small, &len, NULL, 0), EINVAL);
    uint64_t v = 0;
    expect_d_eq(mallctl("thread.peak.read", NULL, NULL, &v, sizeof(v)), EPERM);
    len = sizeof(v);
    expect_d_eq(mallctl("thread.peak.reset", &v, &len, NULL, 0), EPERM);
    expect_d_eq(mallctl("thread.peak.reset", NULL, NULL, &v, sizeof(v)), EPERM);
    return test_done();
}
