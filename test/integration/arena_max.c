/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mallopt(M_ARENA_MAX) above the arenas chosen at start (found by the fuzzer, test/fuzz): the
 * indices past the automatic arenas belong to the oversize arena and to arenas made with
 * "arenas.create", so raising the limit must not hand those to new threads, nor take away a
 * created arena's right to arena.<i>.reset and arena.<i>.destroy. It once did both: a created
 * arena became "automatic", reset and destroy failed with EFAULT, and new threads were bound to
 * it (where a reset would have discarded their blocks).
 */
#include "../test.h"

#include <malloc.h>

int main(void) {
    if (!test_allocator_active())
        return test_done();
    unsigned nauto;
    size_t sz = sizeof(nauto);
    require_true(mallctl("opt.narenas", &nauto, &sz, NULL, 0) == 0);
    unsigned created;
    sz = sizeof(created);
    require_true(mallctl("arenas.create", &created, &sz, NULL, 0) == 0);
    expect_zu_ge(created, nauto);

    expect_d_eq(mallopt(M_ARENA_MAX, (int)(created + 16)), 1);
    sz = sizeof(unsigned);
    unsigned n2;
    expect_d_eq(mallctl("opt.narenas", &n2, &sz, NULL, 0), 0);
    expect_zu_eq(n2, nauto);

    /* New threads spread over the automatic arenas only. */
    enum { NTHREADS = 48 };
    unsigned got[NTHREADS];
    /* More threads alive at once than the raised limit: least-loaded placement reaches every
     * arena it allows. */
    test_thread_arenas(NTHREADS, got);
    for (int i = 0; i < NTHREADS; i++) {
        if (!expect_zu_lt(got[i], nauto))
            test_fail("thread %d bound to arena %u; the automatic arenas are 0..%u, %u was "
                      "created", i, got[i], nauto - 1, created);
    }

    /* The created arena is still the program's to reset and destroy. */
    char name[64];
    void *p = mallocx(100, MALLOCX_ARENA(created) | MALLOCX_TCACHE_NONE);
    require_ptr_not_null(p);
    snprintf(name, sizeof(name), "arena.%u.reset", created);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
    snprintf(name, sizeof(name), "arena.%u.destroy", created);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);

    /* A lower limit still applies: one arena for every new thread. */
    expect_d_eq(mallopt(M_ARENA_MAX, 1), 1);
    test_thread_arenas(4, got);
    for (int i = 0; i < 4; i++)
        expect_zu_eq(got[i], 0);
    return test_done();
}
