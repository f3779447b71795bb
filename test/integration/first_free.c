/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Passive false sharing: a thread whose first allocator call frees a block another thread
 * allocated must not keep that block in its new cache and hand it out on its next malloc of the
 * size (its writes would land in cache lines the other thread packed). The block goes back to
 * its own arena; later frees are cached as usual (the same block comes back next).
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>

static void *given;
static void *got_first, *got_second;
static unsigned worker_arena, first_arena;

static void *worker(void *arg) {
    (void)arg;
    free(given); /* this thread's first call */
    got_first = malloc(8);
    size_t sz = sizeof(worker_arena);
    if (mallctl("thread.arena", &worker_arena, &sz, NULL, 0) != 0)
        worker_arena = UINT32_MAX;
    first_arena = test_arena_of(got_first);
    free(got_first);
    got_second = malloc(8); /* a block this thread freed: from its cache */
    free(got_second);
    return NULL;
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    bool tcache = true;
    size_t sz = sizeof(tcache);
    expect_d_eq(mallctl("opt.tcache", &tcache, &sz, NULL, 0), 0);
    for (int round = 0; round < 8; round++) {
        given = malloc(8);
        require_ptr_not_null(given);
        unsigned given_arena = test_arena_of(given);
        pthread_t t;
        require_true(pthread_create(&t, NULL, worker, NULL) == 0);
        pthread_join(t, NULL);
        /* Only meaningful when the worker has an arena of its own (not under narenas:1). */
        if (worker_arena != given_arena) {
            expect_ptr_ne(got_first, given);
            expect_zu_eq(first_arena, worker_arena);
        }
        if (tcache)
            expect_ptr_eq(got_second, got_first);
    }
    return test_done();
}
