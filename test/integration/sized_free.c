/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * free_sized and free_aligned_sized (C23): with the size (and alignment) the block was allocated
 * with, they free it like free. Looked up with dlsym, since glibc 2.36 has neither and the test is
 * also built without -lallocator; liballocator must export both.
 */
#include "../test.h"

#include <malloc.h>

typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

static free_sized_fn free_sized_f;
static free_aligned_sized_fn free_aligned_sized_f;

static void test_basic(void) {
    free_sized_f(NULL, 0);
    free_sized_f(NULL, 100);
    free_aligned_sized_f(NULL, 64, 0);

    enum { N = 4000 };
    static void *blocks[N];
    static size_t sizes[N];
    uint64_t rng = 11;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            sizes[i] = test_rand_range(&rng, 0, i % 40 == 0 ? 1000000 : 5000);
            blocks[i] = test_launder(malloc(sizes[i]));
            require_ptr_not_null(blocks[i]);
            test_fill(blocks[i], sizes[i], (uint64_t)i);
        }
        for (int i = 0; i < N; i++) {
            if (!expect_fill(blocks[i], sizes[i], (uint64_t)i)) {
                break;
            }
        }
        /* Free half sized, half plain, interleaved, so both paths meet the same slabs. */
        for (int i = 0; i < N; i++) {
            if (i % 2 == round % 2) {
                free_sized_f(blocks[i], sizes[i]);
            } else {
                free(blocks[i]);
            }
        }
    }
    /* From calloc the size is nmemb * size; from realloc, the last size. */
    for (size_t n = 1; n < 100000; n = n * 2 + 3) {
        char *p = test_launder(calloc(n, 3));
        require_ptr_not_null(p);
        expect_all_bytes(p, n * 3, 0);
        free_sized_f(p, n * 3);
        p = test_launder(malloc(n));
        require_ptr_not_null(p);
        p = test_launder(realloc(p, n * 5));
        require_ptr_not_null(p);
        memset(p, 1, n * 5);
        free_sized_f(p, n * 5);
    }
}

static void test_aligned(void) {
    for (size_t alignment = 16; alignment <= ((size_t)4 << 20); alignment <<= 1) {
        const size_t sizes[] = {alignment, 2 * alignment, 5 * alignment};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            void *p = test_launder(aligned_alloc(alignment, sizes[i]));
            require_ptr_not_null(p);
            expect_ptr_aligned(p, alignment);
            memset(p, 7, sizes[i] < 65536 ? sizes[i] : 65536);
            free_aligned_sized_f(p, alignment, sizes[i]);
        }
    }
}

/* The blocks really are freed: a loop that dropped them would grow the heap by gigabytes. */
static void test_really_frees(void) {
    size_t before = test_rss_bytes();
    for (int i = 0; i < 100000; i++) {
        char *p = test_launder(malloc(5000));
        require_ptr_not_null(p);
        memset(p, i, 5000);
        free_sized_f(p, 5000);
    }
    for (int i = 0; i < 5000; i++) {
        char *p = test_launder(aligned_alloc(65536, 65536));
        require_ptr_not_null(p);
        memset(p, i, 65536);
        free_aligned_sized_f(p, 65536, 65536);
    }
    size_t after = test_rss_bytes();
    /* Dropping them would hold 500 MB + 330 MB. */
    expect_zu_lt(after, before + ((size_t)128 << 20));
}

/* Stand-ins so a developer can check this test's logic against glibc (TEST_ALLOW_GLIBC=1). */
static void plain_free_sized(void *p, size_t size) {
    (void)size;
    free(p);
}
static void plain_free_aligned_sized(void *p, size_t alignment, size_t size) {
    (void)alignment;
    (void)size;
    free(p);
}

int main(void) {
    free_sized_f = (free_sized_fn)test_sym("free_sized");
    free_aligned_sized_f = (free_aligned_sized_fn)test_sym("free_aligned_sized");
    if (free_sized_f == NULL || free_aligned_sized_f == NULL) {
        if (!test_allocator_active() && test_glibc_allowed()) {
            free_sized_f = plain_free_sized;
            free_aligned_sized_f = plain_free_aligned_sized;
        } else {
            expect_ptr_not_null(free_sized_f);
            expect_ptr_not_null(free_aligned_sized_f);
            return test_done();
        }
    }
    test_allocator_active();
    test_basic();
    test_aligned();
    test_really_frees();
    return test_done();
}
