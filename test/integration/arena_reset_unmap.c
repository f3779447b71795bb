/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * arena.<i>.reset and .destroy with retain:false and no decay delay (found by the fuzzer,
 * test/fuzz). The reset walks each chunk of the arena, freeing its extents; each free ran decay,
 * which purged at once and, once a chunk was wholly free, unmapped it and took it off the list
 * the walk was following: the walk then read the radix tree of an unmapped chunk and crashed.
 *
 * Each round fills a created arena with small and large blocks over several chunks, then resets
 * or destroys it; the arena (or a new one) must then serve and free blocks as before.
 */
#include "../test.h"

static unsigned arena_create(void) {
    unsigned ind = 0;
    size_t sz = sizeof(ind);
    require_true(mallctl("arenas.create", &ind, &sz, NULL, 0) == 0);
    return ind;
}

static void fill(unsigned ind) {
    int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
    /* Small blocks in many slabs, large ones in several chunks, and a few freed again. */
    for (int i = 0; i < 2000; i++) {
        void *p = mallocx(16 + (size_t)(i % 64) * 48, flags);
        require_ptr_not_null(p);
        memset(p, 0x33, 16);
        if (i % 3 == 0)
            dallocx(p, flags);
    }
    for (int i = 0; i < 12; i++) {
        size_t size = ((size_t)1 << 20) + (size_t)i * 100000;
        void *p = mallocx(size, flags);
        require_ptr_not_null(p);
        memset(p, 0x44, size);
        if (i % 4 == 0)
            dallocx(p, flags);
    }
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    char name[64];
    unsigned ind = arena_create();
    for (int round = 0; round < 6; round++) {
        fill(ind);
        if (round % 2 == 0) {
            snprintf(name, sizeof(name), "arena.%u.reset", ind);
            expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
        } else {
            snprintf(name, sizeof(name), "arena.%u.destroy", ind);
            expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
            ind = arena_create();
        }
        /* The arena serves again, and what it serves is whole. */
        void *p = mallocx(3 << 20, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
        require_ptr_not_null(p);
        memset(p, 0x55, 3 << 20);
        expect_all_bytes(p, 3 << 20, 0x55);
        dallocx(p, MALLOCX_TCACHE_NONE);
    }
    return test_done();
}
