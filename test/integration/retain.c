/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * retain: with retain:true (the default) freed address space is kept for reuse and shows in
 * stats.retained; with retain:false (retain_off.c) a chunk that becomes wholly free and purged is
 * unmapped, and stats.mapped falls by its size.
 */
#include "../test.h"

#include <allocator.h>
#include <sys/mman.h>

#ifndef RETAIN_OFF
#define RETAIN_OFF 0
#endif

#define HUGE ((size_t)24 << 20)

static void purge_all(void) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    bool retain = true;
    size_t sz = sizeof(retain);
    expect_d_eq(mallctl("opt.retain", &retain, &sz, NULL, 0), 0);
    expect_true(retain == !RETAIN_OFF);
    unsigned char vec[1];
    for (int round = 0; round < 3; round++) {
        char *p = malloc(HUGE);
        require_ptr_not_null(p);
        memset(p, 1, HUGE);
        size_t mapped = test_stat_size("stats.mapped"), retained = test_stat_size("stats.retained");
        free(p);
        purge_all();
        size_t mapped2 = test_stat_size("stats.mapped"), retained2 = test_stat_size("stats.retained");
        expect_zu_le(mapped2 + HUGE, mapped);
        if (RETAIN_OFF) {
            /* Gone from the address space. */
            expect_d_eq(mincore(p, test_page_size(), vec), -1);
            expect_zu_lt(retained2, retained + HUGE);
        } else {
            expect_d_eq(mincore(p, test_page_size(), vec), 0);
            expect_true((vec[0] & 1) == 0);
            expect_zu_ge(retained2, retained + HUGE);
        }
    }
    return test_done();
}
