/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * calloc: memory is zero, including memory reused from freed dirty blocks of small, large and
 * huge sizes; overflow of nmemb * size and impossible sizes give NULL with ENOMEM; zero-sized
 * requests give unique freeable blocks.
 */
#include "../test.h"

#include <malloc.h>

static void test_overflow(void) {
    const struct {
        size_t nmemb, size;
    } cases[] = {
        {SIZE_MAX / 2, 3},
        {3, SIZE_MAX / 2},
        {SIZE_MAX, 2},
        {2, SIZE_MAX},
        {SIZE_MAX, SIZE_MAX},
        {(size_t)1 << 32, (size_t)1 << 32},
        {((size_t)1 << 32) + 1, ((size_t)1 << 32) - 1}, /* product just below 2^64: no overflow */
        {(size_t)1 << 31, (size_t)1 << 31},             /* 2^62: no overflow, still impossible */
        {SIZE_MAX, 1},
        {1, SIZE_MAX},
        {(size_t)PTRDIFF_MAX / 16 + 1, 16},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errno = 0;
        void *p = test_launder(calloc(test_hide(cases[i].nmemb), test_hide(cases[i].size)));
        if (!test_check_(p == NULL && errno == ENOMEM)) {
            test_fail("calloc(%zu, %zu) = %p with errno %d, expected NULL with ENOMEM",
                      cases[i].nmemb, cases[i].size, p, errno);
        }
        free(p);
    }
}

static void test_zero_sizes(void) {
    void *a = test_launder(calloc(0, 0));
    void *b = test_launder(calloc(0, 16));
    void *c = test_launder(calloc(16, 0));
    expect_ptr_not_null(a);
    expect_ptr_not_null(b);
    expect_ptr_not_null(c);
    expect_ptr_ne(a, b);
    expect_ptr_ne(b, c);
    expect_ptr_ne(a, c);
    free(a);
    free(b);
    free(c);
    /* Zero times a huge count is still zero bytes, not an overflow. */
    void *d = test_launder(calloc(test_hide(0), test_hide(SIZE_MAX)));
    expect_ptr_not_null(d);
    free(d);
}

/* Fills blocks with 0xff, frees them, and checks that calloc of the same size returns zeros. */
static void check_dirty_reuse(size_t size, int rounds, int batch) {
    void *blocks[64];
    require_true(batch <= 64);
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < batch; i++) {
            blocks[i] = test_launder(malloc(size));
            require_ptr_not_null(blocks[i]);
            memset(blocks[i], 0xff, malloc_usable_size(blocks[i]));
        }
        for (int i = 0; i < batch; i++) {
            free(test_launder(blocks[i]));
        }
        for (int i = 0; i < batch; i++) {
            blocks[i] = test_launder(calloc(1, size));
            require_ptr_not_null(blocks[i]);
            if (!expect_all_bytes(blocks[i], size, 0)) {
                fprintf(stderr, "  (calloc(1, %zu) after a dirty free, round %d)\n", size, r);
                r = rounds;
            }
            /* Dirty them again for the next round. */
            memset(blocks[i], 0xff, malloc_usable_size(blocks[i]));
        }
        for (int i = 0; i < batch; i++) {
            free(test_launder(blocks[i]));
        }
    }
}

static void test_dirty_reuse(void) {
    for (size_t size = 1; size <= 4096; size += size < 256 ? 1 : 37) {
        check_dirty_reuse(size, 3, 16);
    }
    const size_t sizes[] = {5000,    14336,         16384,   20000,   65536,           100000,
                            1 << 20, (1 << 20) + 1, 3 << 20, 8 << 20, (8 << 20) + 4096};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check_dirty_reuse(sizes[i], sizes[i] > (1 << 20) ? 3 : 8, 4);
    }
    /* nmemb * size form, not just calloc(1, n). */
    for (int r = 0; r < 20; r++) {
        char *p = test_launder(malloc(1000 * 24));
        require_ptr_not_null(p);
        memset(p, 0xa5, 1000 * 24);
        free(test_launder(p));
        p = test_launder(calloc(1000, 24));
        require_ptr_not_null(p);
        expect_all_bytes(p, 1000 * 24, 0);
        free(p);
    }
}

/* Zeroed blocks that are live at the same time, mixed with dirty ones, stay zero. */
static void test_interleaved(void) {
    enum { N = 5000 };
    static char *zeroed[N], *dirty[N];
    uint64_t rng = 7;
    for (int i = 0; i < N; i++) {
        size_t n = test_rand_range(&rng, 1, i % 50 == 0 ? 200000 : 2000);
        dirty[i] = test_launder(malloc(n));
        require_ptr_not_null(dirty[i]);
        memset(dirty[i], 0xee, n);
        if (i % 3 == 0) {
            free(dirty[i]);
            dirty[i] = NULL;
        }
        zeroed[i] = test_launder(calloc(n, 1));
        require_ptr_not_null(zeroed[i]);
        expect_ptr_aligned(zeroed[i], 16);
        if (!expect_all_bytes(zeroed[i], n, 0)) {
            break;
        }
    }
    for (int i = 0; i < N; i++) {
        free(zeroed[i]);
        free(dirty[i]);
    }
}

static void test_huge(void) {
    size_t n = (size_t)64 << 20;
    for (int r = 0; r < 2; r++) {
        unsigned char *p = test_launder(calloc(n / 8, 8));
        require_ptr_not_null(p);
        expect_ptr_aligned(p, 16);
        expect_all_bytes(p, n, 0);
        memset(p, 0x77, n);
        free(test_launder(p));
    }
}

int main(void) {
    test_allocator_active();
    test_overflow();
    test_zero_sizes();
    test_dirty_reuse();
    test_interleaved();
    test_huge();
    return test_done();
}
