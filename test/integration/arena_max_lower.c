/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mallopt(M_ARENA_MAX) lowered, then raised again (found by the fuzzer, test/fuzz): the
 * automatic arenas past a lowered limit stay automatic. Lowering the count once moved where
 * automatic arenas end, so with no oversize arena (oversize_threshold:0, the .conf sidecar)
 * those past the new limit counted as created ones, and arena.<i>.reset accepted one that
 * threads were bound to, discarding their blocks; and raising the limit again stopped at the
 * first of them, so threads stayed on arena 0 for good.
 */
#include "../test.h"

#include <malloc.h>
#include <pthread.h>

/* The highest arena among n threads alive at once, started one after another (each has chosen
 * its arena before the next starts), so least-loaded placement uses every arena it may. */
static unsigned spread(unsigned n) {
    unsigned got[64], max = 0;
    test_thread_arenas(n, got);
    for (unsigned i = 0; i < n; i++) {
        if (got[i] > max)
            max = got[i];
    }
    return max;
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    unsigned nauto;
    size_t sz = sizeof(nauto);
    require_true(mallctl("opt.narenas", &nauto, &sz, NULL, 0) == 0);
    if (nauto < 2 || nauto > 16)
        test_skip("needs 2 to 16 automatic arenas, has %u", nauto);
    /* Every automatic arena in use. */
    expect_zu_eq(spread(2 * nauto), nauto - 1);

    expect_d_eq(mallopt(M_ARENA_MAX, 1), 1);
    expect_zu_eq(spread(4), 0);
    /* The automatic arenas past the limit are still not the program's to reset. */
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.reset", nauto - 1);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), EFAULT);
    snprintf(name, sizeof(name), "arena.%u.destroy", nauto - 1);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), EFAULT);

    /* Raised again, the limit reaches every automatic arena. */
    expect_d_eq(mallopt(M_ARENA_MAX, (int)nauto), 1);
    expect_zu_eq(spread(2 * nauto), nauto - 1);

    /* A created arena is still the program's. */
    unsigned created;
    sz = sizeof(created);
    require_true(mallctl("arenas.create", &created, &sz, NULL, 0) == 0);
    expect_zu_ge(created, nauto);
    snprintf(name, sizeof(name), "arena.%u.reset", created);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
    return test_done();
}
