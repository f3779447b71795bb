/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc and free: malloc(0), alignment of every block, impossible sizes, free(NULL), blocks that
 * keep their contents and do not overlap, and reuse after free.
 */
#include "../test.h"

#include <malloc.h>

/* Every block is aligned to the 16-byte quantum, whatever its size. */
#define QUANTUM 16

static void test_malloc_zero(void) {
    void *a = test_launder(malloc(0));
    void *b = test_launder(malloc(0));
    expect_ptr_not_null(a);
    expect_ptr_not_null(b);
    expect_ptr_ne(a, b);
    expect_ptr_aligned(a, QUANTUM);
    expect_ptr_aligned(b, QUANTUM);
    if (test_allocator_active()) {
        expect_zu_eq(malloc_usable_size(a), 16);
    }
    free(a);
    free(b);

    /* Many at once are all distinct (a shared static block would pass the pair check). */
    enum { N = 1000 };
    static void *zero[N];
    for (int i = 0; i < N; i++) {
        zero[i] = test_launder(malloc(0));
        require_ptr_not_null(zero[i]);
        for (int j = 0; j < i && i < 50; j++) {
            expect_ptr_ne(zero[i], zero[j]);
        }
    }
    for (int i = 0; i < N; i++) {
        free(zero[i]);
    }
}

static void test_free_null(void) {
    free(NULL);
    errno = 0;
    free(NULL);
    expect_errno(0);
    /* The allocator still works after it. */
    void *p = test_launder(malloc(10));
    expect_ptr_not_null(p);
    free(p);
}

static void test_alignment_all_sizes(void) {
    /* Small sizes one by one, then larger ones at growing steps, up to 64 MiB. */
    for (size_t size = 0; size <= 70000; size += (size < 4200 ? 1 : 61)) {
        void *p = test_launder(malloc(size));
        if (!expect_ptr_not_null(p)) {
            return;
        }
        if (!expect_ptr_aligned(p, QUANTUM)) {
            free(p);
            return;
        }
        if (size > 0) {
            ((volatile char *)p)[0] = 1;
            ((volatile char *)p)[size - 1] = 2;
        }
        free(p);
    }
    for (size_t size = 65536; size <= ((size_t)64 << 20); size = size * 5 / 4 + 1) {
        void *p = test_launder(malloc(size));
        require_ptr_not_null(p);
        expect_ptr_aligned(p, QUANTUM);
        ((volatile char *)p)[size - 1] = 1;
        free(p);
    }
}

static void test_impossible_sizes(void) {
    const size_t sizes[] = {
        SIZE_MAX,
        SIZE_MAX - 1,
        SIZE_MAX - 4096,
        SIZE_MAX / 2,
        (size_t)PTRDIFF_MAX + 1,
        (size_t)PTRDIFF_MAX,
        (size_t)1 << 62,
        (size_t)1 << 50, /* representable, but past any x86_64 user address space */
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        errno = 0;
        void *p = test_launder(malloc(test_hide(sizes[i])));
        if (!test_check_(p == NULL && errno == ENOMEM)) {
            test_fail("malloc(%zu) = %p with errno %d, expected NULL with ENOMEM", sizes[i], p,
                      errno);
        }
        free(p);
    }
    /* A failure leaves the allocator usable. */
    void *p = test_launder(malloc(64));
    expect_ptr_not_null(p);
    free(p);
}

/* Blocks live at the same time keep their own contents: no overlap, no corruption by free. */
static void test_live_blocks_keep_contents(void) {
    enum { N = 20000 };
    static void *blocks[N];
    static size_t sizes[N];
    uint64_t rng = 1;
    for (int i = 0; i < N; i++) {
        sizes[i] = test_rand_range(&rng, 0, i % 100 == 0 ? 100000 : 600);
        blocks[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(blocks[i]);
        test_fill(blocks[i], sizes[i], (uint64_t)i);
    }
    /* Free every other one, allocate new ones into the holes, then check everything. */
    for (int i = 0; i < N; i += 2) {
        expect_fill(blocks[i], sizes[i], (uint64_t)i);
        free(blocks[i]);
    }
    for (int i = 0; i < N; i += 2) {
        sizes[i] = test_rand_range(&rng, 0, 600);
        blocks[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(blocks[i]);
        test_fill(blocks[i], sizes[i], (uint64_t)i + N);
    }
    for (int i = 0; i < N; i++) {
        if (!expect_fill(blocks[i], sizes[i], (uint64_t)i + (i % 2 == 0 ? N : 0))) {
            break;
        }
    }
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
    }
}

/* A freed small block is reused: a loop of malloc/free of one size does not grow the heap. */
static void test_reuse(void) {
    size_t before = test_rss_bytes();
    for (int i = 0; i < 2000000; i++) {
        char *p = test_launder(malloc(200));
        require_ptr_not_null(p);
        p[0] = (char)i;
        p[199] = (char)i;
        free(test_launder(p));
    }
    for (int i = 0; i < 2000; i++) {
        char *p = test_launder(malloc(256 * 1024));
        require_ptr_not_null(p);
        memset(p, i, 256 * 1024);
        free(test_launder(p));
    }
    size_t after = test_rss_bytes();
    /* Without reuse this would be 400 MB + 500 MB. */
    expect_zu_lt(after, before + ((size_t)64 << 20));
}

int main(void) {
    test_allocator_active();
    test_malloc_zero();
    test_free_null();
    test_alignment_all_sizes();
    test_impossible_sizes();
    test_live_blocks_keep_contents();
    test_reuse();
    return test_done();
}
