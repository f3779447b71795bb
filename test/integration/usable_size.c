/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc_usable_size: NULL gives 0; a block's usable size is at least what was asked and every
 * usable byte can be written without harming other blocks; with liballocator the usable size is
 * exactly the size class (16-byte quantum, then four classes per doubling) and agrees with
 * nallocx and sallocx.
 */
#include "../test.h"

#include <malloc.h>

typedef size_t (*nallocx_fn)(size_t, int);
typedef size_t (*sallocx_fn)(const void *, int);

static nallocx_fn nallocx_f;
static sallocx_fn sallocx_f;

/* Allocates size bytes, writes all usable bytes, and checks the size class; returns the block. */
static void *check_size(size_t size, bool write_all) {
    unsigned char *p = test_launder(malloc(size));
    if (!test_check_(p != NULL)) {
        test_fail("malloc(%zu) returned NULL", size);
        return NULL;
    }
    size_t usable = malloc_usable_size(p);
    if (!test_check_(usable >= size)) {
        test_fail("malloc_usable_size(malloc(%zu)) = %zu, smaller than the request", size, usable);
    }
    if (nallocx_f != NULL) {
        size_t want = test_size_class(size);
        if (!test_check_(usable == want)) {
            test_fail("malloc_usable_size(malloc(%zu)) = %zu, expected size class %zu", size,
                      usable, want);
        }
        if (!test_check_(nallocx_f(size, 0) == usable && sallocx_f(p, 0) == usable)) {
            test_fail("size %zu: nallocx %zu, sallocx %zu, malloc_usable_size %zu disagree", size,
                      nallocx_f(size, 0), sallocx_f(p, 0), usable);
        }
    }
    if (write_all) {
        memset(p, 0xc3, usable);
    } else {
        /* One byte in every page, and the last usable byte. */
        for (size_t i = 0; i < usable; i += 4096) {
            p[i] = 0xc3;
        }
        p[usable - 1] = 0xc3;
    }
    return p;
}

static void test_null(void) { expect_zu_eq(malloc_usable_size(NULL), 0); }

static void test_known_classes(void) {
    if (nallocx_f == NULL) {
        return;
    }
    const size_t cases[][2] = {
        {0, 16},
        {1, 16},
        {16, 16},
        {17, 32},
        {100, 112},
        {128, 128},
        {129, 160},
        {160, 160},
        {161, 192},
        {256, 256},
        {257, 320},
        {1000, 1024},
        {1025, 1280},
        {4096, 4096},
        {4097, 5120},
        {5000, 5120},
        {8193, 10240},
        {14337, 16384},
        {16385, 20480},
        {65537, 81920},
        {(1 << 20) + 1, 1310720},
        {(8 << 20) + 1, 10 << 20},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        void *p = test_launder(malloc(cases[i][0]));
        require_ptr_not_null(p);
        if (!test_check_(malloc_usable_size(p) == cases[i][1])) {
            test_fail("malloc_usable_size(malloc(%zu)) = %zu, expected %zu", cases[i][0],
                      malloc_usable_size(p), cases[i][1]);
        }
        free(p);
    }
}

/* Sizes 0..20000 at an odd step, all live at once so an overrun into a neighbour shows. */
static void test_small_and_medium(void) {
    enum { STEP = 7, MAX = 20000, N = MAX / STEP + 1 };
    static unsigned char *blocks[N];
    static size_t usable[N];
    for (size_t i = 0; i < N; i++) {
        size_t size = i * STEP;
        blocks[i] = check_size(size, true);
        require_ptr_not_null(blocks[i]);
        usable[i] = malloc_usable_size(blocks[i]);
        /* Each block gets its own byte so that a neighbour written past its end is caught. */
        memset(blocks[i], (int)(i % 251) + 1, usable[i]);
    }
    for (size_t i = 0; i < N; i++) {
        if (!expect_all_bytes(blocks[i], usable[i], (i % 251) + 1)) {
            fprintf(stderr, "  (block of %zu bytes, usable %zu)\n", i * STEP, usable[i]);
            break;
        }
    }
    for (size_t i = 0; i < N; i++) {
        free(blocks[i]);
    }
}

static void test_pages_and_huge(void) {
    size_t page = test_page_size();
    for (size_t k = 1; k <= 64; k++) {
        for (int d = -1; d <= 1; d++) {
            free(check_size(k * page + (size_t)d, true));
        }
    }
    for (size_t mib = 1; mib <= 64; mib = mib < 8 ? mib + 1 : mib * 2) {
        size_t size = mib << 20;
        free(check_size(size, mib <= 16));
        free(check_size(size + 1, false));
        free(check_size(size - 1, false));
        free(check_size(size + size / 3, false));
    }
}

/* Usable size of blocks from the other allocation functions. */
static void test_other_sources(void) {
    for (size_t size = 1; size < 70000; size = size * 3 / 2 + 1) {
        char *p = test_launder(calloc(1, size));
        require_ptr_not_null(p);
        size_t u = malloc_usable_size(p);
        expect_zu_ge(u, size);
        memset(p, 1, u);
        char *q = test_launder(realloc(p, size * 2));
        require_ptr_not_null(q);
        u = malloc_usable_size(q);
        expect_zu_ge(u, size * 2);
        memset(q, 2, u);
        free(q);
        void *a = test_launder(aligned_alloc(64, size));
        require_ptr_not_null(a);
        u = malloc_usable_size(a);
        expect_zu_ge(u, size);
        memset(a, 3, u);
        free(a);
    }
}

int main(void) {
    if (test_allocator_active()) {
        nallocx_f = (nallocx_fn)test_sym("nallocx");
        sallocx_f = (sallocx_fn)test_sym("sallocx");
        require_ptr_not_null(nallocx_f);
        require_ptr_not_null(sallocx_f);
    }
    test_null();
    test_known_classes();
    test_small_and_medium();
    test_pages_and_huge();
    test_other_sources();
    return test_done();
}
