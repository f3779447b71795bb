/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * realloc and reallocarray: contents survive growth and shrinking across small, large and huge
 * sizes (up to 64 MiB) and back; realloc(NULL, n) allocates; realloc(p, 0) frees and returns NULL
 * (glibc); impossible sizes and reallocarray overflow give NULL with ENOMEM and leave the old
 * block intact; thousands of large and huge reallocs keep their contents without multiplying the
 * process's mappings; a block of 512 bytes or more that realloc moves away from goes back to its
 * slab, a smaller one to the thread's cache.
 */
#include "../test.h"

#include <fcntl.h>
#include <malloc.h>

static void test_null_and_zero(void) {
    /* realloc(NULL, n) is malloc(n). */
    char *p = test_launder(realloc(NULL, 100));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, 16);
    expect_zu_ge(malloc_usable_size(p), 100);
    memset(p, 1, 100);
    free(p);
    void *z1 = test_launder(realloc(NULL, 0));
    void *z2 = test_launder(realloc(NULL, 0));
    expect_ptr_not_null(z1);
    expect_ptr_not_null(z2);
    expect_ptr_ne(z1, z2);

    /* realloc(p, 0) frees p and returns NULL, as glibc does. */
    errno = 0;
    void *r = test_launder(realloc(z1, 0));
    expect_ptr_null(r);
    expect_errno(0);
    free(r);
    free(z2);

    /* It really frees: 30000 blocks of 10 kB dropped this way would hold 300 MB. */
    size_t before = test_rss_bytes();
    for (int i = 0; i < 30000; i++) {
        char *q = test_launder(malloc(10000));
        require_ptr_not_null(q);
        memset(q, i, 10000);
        q = test_launder(realloc(q, 0));
        if (!expect_ptr_null(q)) {
            free(q);
            break;
        }
    }
    expect_zu_lt(test_rss_bytes(), before + ((size_t)128 << 20));

    /* reallocarray(NULL, n, m) allocates; reallocarray(p, 0, m) behaves as realloc(p, 0). */
    p = test_launder(reallocarray(NULL, 10, 10));
    require_ptr_not_null(p);
    memset(p, 2, 100);
    errno = 0;
    r = test_launder(reallocarray(p, 0, 10));
    expect_ptr_null(r);
    expect_errno(0);
    free(r);
}

static void test_impossible(void) {
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1, (size_t)1 << 50};
    const size_t from[] = {1, 100, 5000, 100000, (size_t)3 << 20};
    for (size_t f = 0; f < sizeof(from) / sizeof(from[0]); f++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            char *p = test_launder(malloc(from[f]));
            require_ptr_not_null(p);
            test_fill(p, from[f], 42 + f);
            errno = 0;
            void *q = test_launder(realloc(test_launder(p), test_hide(sizes[i])));
            if (!test_check_(q == NULL && errno == ENOMEM)) {
                test_fail("realloc(%zu-byte block, %zu) = %p with errno %d, expected NULL with "
                          "ENOMEM",
                          from[f], sizes[i], q, errno);
                free(q);
                continue;
            }
            /* The old block is intact and still ours to use and free. */
            expect_fill(p, from[f], 42 + f);
            expect_zu_ge(malloc_usable_size(p), from[f]);
            free(p);
        }
    }

    /* reallocarray overflow: NULL with ENOMEM, old block intact. */
    char *p = test_launder(malloc(64));
    require_ptr_not_null(p);
    test_fill(p, 64, 9);
    const size_t n[][2] = {{SIZE_MAX / 2, 3},
                           {3, SIZE_MAX / 2},
                           {(size_t)1 << 32, (size_t)1 << 32},
                           {SIZE_MAX, SIZE_MAX}};
    for (size_t i = 0; i < sizeof(n) / sizeof(n[0]); i++) {
        errno = 0;
        void *q =
            test_launder(reallocarray(test_launder(p), test_hide(n[i][0]), test_hide(n[i][1])));
        if (!test_check_(q == NULL && errno == ENOMEM)) {
            test_fail("reallocarray(p, %zu, %zu) = %p with errno %d, expected NULL with ENOMEM",
                      n[i][0], n[i][1], q, errno);
            p = q;
            continue;
        }
        expect_fill(p, 64, 9);
    }
    errno = 0;
    void *q = test_launder(reallocarray(NULL, test_hide(SIZE_MAX / 2), test_hide(3)));
    expect_ptr_null(q);
    expect_errno(ENOMEM);
    /* A valid reallocarray keeps the contents. */
    p = test_launder(reallocarray(p, 100, 10));
    require_ptr_not_null(p);
    expect_fill(p, 64, 9);
    free(p);
}

/*
 * Grows a block step by step from 1 byte to max and shrinks it back, checking at each step that
 * the first min(old, new) bytes are unchanged and that the new size is fully usable.
 */
static void test_grow_shrink(size_t step_num, size_t step_den, size_t max) {
    static char *scratch;
    if (scratch == NULL) {
        scratch = test_launder(malloc((size_t)64 << 20));
        require_ptr_not_null(scratch);
    }
    require_true(max <= ((size_t)64 << 20));
    size_t size = 1;
    uint64_t seed = 1;
    char *p = test_launder(malloc(size));
    require_ptr_not_null(p);
    test_fill(p, size, seed);
    bool growing = true;
    for (;;) {
        size_t next;
        if (growing) {
            next = size * step_num / step_den + 1;
            if (next >= max) {
                next = max;
                growing = false;
            }
        } else {
            next = size * step_den / step_num;
            if (next >= size) {
                next = size - 1;
            }
            if (next == 0) {
                break;
            }
        }
        size_t keep = size < next ? size : next;
        memcpy(scratch, p, keep);
        char *q = test_launder(realloc(test_launder(p), next));
        if (!expect_ptr_not_null(q)) {
            free(p);
            return;
        }
        expect_ptr_aligned(q, 16);
        if (!expect_true(memcmp(q, scratch, keep) == 0)) {
            fprintf(stderr, "  (realloc from %zu to %zu bytes lost contents)\n", size, next);
        }
        expect_zu_ge(malloc_usable_size(q), next);
        seed++;
        test_fill(q, next, seed);
        p = q;
        size = next;
    }
    free(p);
}

static uint64_t thread_counter(const char *name) {
    uint64_t v = 0;
    size_t sz = sizeof(v);
    require_true(mallctl(name, &v, &sz, NULL, 0) == 0);
    return v;
}

/*
 * Realloc within one size class and to the same size keeps the block where it is, usable, with
 * its contents, and counts neither an allocation nor a free (the fast path, and the slow one for
 * sizes whose table page no malloc has filled yet, answer alike).
 */
static void test_same_size(void) {
    for (size_t size = 1; size < 20000; size += 97) {
        char *p = test_launder(malloc(size));
        require_ptr_not_null(p);
        test_fill(p, size, size);
        uint64_t allocated = thread_counter("thread.allocated");
        uint64_t deallocated = thread_counter("thread.deallocated");
        char *q = test_launder(realloc(p, size));
        expect_ptr_eq(q, p);
        expect_fill(q, size, size);
        size_t usable = malloc_usable_size(q);
        char *r = test_launder(realloc(q, usable));
        expect_ptr_eq(r, p);
        expect_fill(r, size, size);
        expect_true(thread_counter("thread.allocated") == allocated);
        expect_true(thread_counter("thread.deallocated") == deallocated);
        memset(r, 0x3c, usable);
        free(r);
    }
}

/* Many live blocks reallocated in random order to random sizes keep their own contents. */
static void test_random_live(void) {
    enum { N = 2000, ROUNDS = 20 };
    static char *blocks[N];
    static size_t sizes[N];
    static uint64_t seeds[N];
    uint64_t rng = 3;
    for (int i = 0; i < N; i++) {
        sizes[i] = test_rand_range(&rng, 0, 3000);
        seeds[i] = (uint64_t)i;
        blocks[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(blocks[i]);
        test_fill(blocks[i], sizes[i], seeds[i]);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < N; k++) {
            int i = (int)test_rand_range(&rng, 0, N - 1);
            size_t n;
            uint64_t pick = test_rand(&rng) % 100;
            if (pick == 99 && test_rand(&rng) % 4 != 0) {
                pick = 0;
            }
            if (pick < 80) {
                n = test_rand_range(&rng, 1, 3000);
            } else if (pick < 99) {
                n = test_rand_range(&rng, 3000, 300000);
            } else {
                n = test_rand_range(&rng, 1 << 20, 4 << 20);
            }
            if (!expect_fill(blocks[i], sizes[i], seeds[i])) {
                r = ROUNDS;
                break;
            }
            char *q = test_launder(realloc(blocks[i], n));
            require_ptr_not_null(q);
            size_t keep = sizes[i] < n ? sizes[i] : n;
            if (keep >= 8) {
                expect_true(memcmp(q, &seeds[i], 8) == 0);
            }
            blocks[i] = q;
            sizes[i] = n;
            seeds[i] += N;
            test_fill(q, n, seeds[i]);
        }
    }
    for (int i = 0; i < N; i++) {
        expect_fill(blocks[i], sizes[i], seeds[i]);
        free(blocks[i]);
    }
}

/* One word a page (and the last word): cheap enough for thousands of blocks of megabytes. */
static void fill_pages(char *p, size_t n, uint64_t seed) {
    for (size_t o = 0; o + 8 <= n; o += 4096) {
        uint64_t v = seed ^ o;
        memcpy(p + o, &v, 8);
    }
    uint64_t v = ~seed;
    memcpy(p + n - 8, &v, 8);
}

/* Do the words fill_pages(p, n, seed) wrote below keep still hold? */
static bool pages_ok(const char *p, size_t n, size_t keep, uint64_t seed) {
    for (size_t o = 0; o + 8 <= keep; o += 4096) {
        uint64_t v;
        memcpy(&v, p + o, 8);
        if (v != (seed ^ o)) {
            fprintf(stderr,
                    "  (offset %zu of a %zu-byte block, %zu bytes kept by realloc: %#" PRIx64
                    ", expected %#" PRIx64 ")\n",
                    o, n, keep, v, seed ^ o);
            return false;
        }
    }
    return true;
}

/*
 * Blocks of 16 KiB to 4 MiB reallocated to random sizes, 3,000 times: each keeps its contents
 * across every move and in-place resize, and the process ends with about as many mappings as
 * after the first rounds. Moving pages between extents with mremap splits the chunks' mappings
 * (doc/DESIGN.md, "realloc: resizing in place, copying, moving pages"); done for every large
 * block, it would add mappings with almost every move, towards vm.max_map_count, past which the
 * program's own mmap calls fail.
 */
static void test_large_mappings(void) {
    enum { N = 8, ROUNDS = 3000, WARMUP = 300 };
    char *blocks[N];
    size_t sizes[N];
    uint64_t seeds[N];
    uint64_t rng = 11;
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)16 << 10;
        seeds[i] = test_rand(&rng);
        blocks[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(blocks[i]);
        fill_pages(blocks[i], sizes[i], seeds[i]);
    }
    size_t before = 0;
    for (int r = 0; r < ROUNDS; r++) {
        if (r == WARMUP) {
            before = test_maps_count();
        }
        int i = (int)test_rand_range(&rng, 0, N - 1);
        /* Log-uniform from 16 KiB to 4 MiB, in pages. */
        size_t lg = test_rand_range(&rng, 14, 21);
        size_t n = ((size_t)1 << lg) + (test_rand_range(&rng, 0, (size_t)1 << lg) & ~(size_t)4095);
        char *q = test_launder(realloc(blocks[i], n));
        require_ptr_not_null(q);
        size_t keep = sizes[i] < n ? sizes[i] : n;
        if (!expect_true(pages_ok(q, sizes[i], keep & ~(size_t)4095, seeds[i]))) {
            free(q);
            blocks[i] = NULL;
            break;
        }
        blocks[i] = q;
        sizes[i] = n;
        seeds[i] = test_rand(&rng);
        fill_pages(q, n, seeds[i]);
    }
    size_t after = test_maps_count();
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
    }
    if (before == 0) {
        return; /* no /proc */
    }
    /* Chunks mapped after the warm-up may add a few mappings; a split per move would add 1,000s. */
    if (!expect_zu_le(after, before + 64)) {
        fprintf(stderr, "  (%zu mappings after %d rounds, %zu after %d)\n", after, (int)ROUNDS,
                before, (int)WARMUP);
    }
}

/* The free regions of the slab holding p (experimental.utilization.query's first word). */
static size_t slab_nfree(const void *p) {
    size_t u[6] = {0};
    size_t len = sizeof(u);
    expect_d_eq(mallctl("experimental.utilization.query", u, &len, &p, sizeof(p)), 0);
    return u[0];
}

/*
 * A block realloc moves away from goes back to its slab, not to the thread's cache, when it is of
 * 512 bytes or more (malloc.c, RALLOC_UNCACHED_MIN): its slab counts one more free region at
 * once. A smaller one goes to the cache, as a free does (with tcache:false, to its slab too). A
 * second block of the class keeps the slab from emptying, so that the slab stays to be asked.
 */
static void test_moved_block_uncached(void) {
    bool tcache = false;
    size_t len = sizeof(tcache);
    expect_d_eq(mallctl("opt.tcache", &tcache, &len, NULL, 0), 0);
    static const size_t from[] = {500, 1000, 4000, 400, 100}, to[] = {700, 3000, 9000, 900, 300};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        char *pin = test_launder(malloc(from[i]));
        char *p = test_launder(malloc(from[i]));
        require_ptr_not_null(pin);
        require_ptr_not_null(p);
        memset(p, 7, from[i]);
        size_t before = slab_nfree(p);
        char *q = test_launder(realloc(p, to[i]));
        require_ptr_not_null(q);
        expect_ptr_ne(q, p);
        expect_all_bytes(q, from[i], 7);
        bool uncached = !tcache || test_size_class(from[i]) >= 512;
        expect_zu_eq(slab_nfree(p), before + (uncached ? 1 : 0));
        free(q);
        free(pin);
    }
}

/*
 * A block realloc moves keeps the usable bytes both blocks have, not only those asked for: a
 * program may use all of malloc_usable_size's answer. Small blocks shrunk to and grown from
 * another class, each filled to its usable size first (the small move, malloc.c's
 * realloc_move_small, once copied only the bytes asked for).
 */
static void test_moved_block_keeps_usable(void) {
    static const size_t from[] = {4000, 649, 100, 22, 40, 3000}, to[] = {24, 20, 17, 60, 300, 9000};
    for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
        for (int round = 0; round < 2; round++) { /* the second from the thread's cache */
            unsigned char *p = test_launder(malloc(from[i]));
            require_ptr_not_null(p);
            size_t old_us = malloc_usable_size(p);
            for (size_t j = 0; j < old_us; j++)
                p[j] = (unsigned char)(j * 7 + i);
            unsigned char *q = test_launder(realloc(p, to[i]));
            require_ptr_not_null(q);
            size_t us = malloc_usable_size(q), keep = old_us < us ? old_us : us;
            size_t bad = keep;
            for (size_t j = 0; j < keep && bad == keep; j++)
                if (q[j] != (unsigned char)(j * 7 + i))
                    bad = j;
            if (!test_check_(bad == keep))
                test_fail("realloc(%zu-byte block, %zu): byte %zu of the %zu kept changed",
                          old_us, to[i], bad, keep);
            free(q);
        }
    }
}

int main(void) {
    if (test_allocator_active())
        test_moved_block_uncached();
    test_moved_block_keeps_usable();
    test_null_and_zero();
    test_impossible();
    test_grow_shrink(2, 1, (size_t)64 << 20);
    test_grow_shrink(5, 4, (size_t)64 << 20);
    test_grow_shrink(17, 16, (size_t)1 << 20);
    test_same_size();
    test_random_live();
    test_large_mappings();
    return test_done();
}
