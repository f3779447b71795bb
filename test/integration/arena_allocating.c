/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Threads spread over the automatic arenas by the threads that allocate from them. A thread
 * joins an arena when it is made (the least loaded by threads of any kind), and its first
 * allocation moves it to the arena with the fewest threads that allocate; a thread that only
 * frees (a consumer of another thread's blocks) is counted by nobody's placement. Under
 * narenas:2 (arena_allocating.conf): main allocates (its arena m); thread F only frees one of
 * main's blocks and stays alive; then thread B allocates and must not share m, though F, made
 * first, took the other arena and left m the least loaded by the count of all threads. B
 * exits, and thread C, allocating while F lives, must not share m either: B's place is free
 * again. Counting every thread, B and C both joined m (bench/xfree's producers shared one
 * arena that way in about half of its runs, at twice the time).
 */
#include "../test.h"

#include <pthread.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static mallctl_fn ctl;
static pthread_barrier_t f_freed, f_may_exit;

static unsigned thread_arena(void) {
    unsigned ind = 9999;
    size_t len = sizeof(ind);
    if (ctl("thread.arena", &ind, &len, NULL, 0) != 0)
        return 9999;
    return ind;
}

static void *freer(void *block) {
    free(block);
    pthread_barrier_wait(&f_freed);
    pthread_barrier_wait(&f_may_exit); /* alive while B and C choose */
    return NULL;
}

static void *allocator(void *out) {
    void *p = malloc(100); /* the first allocation places the thread */
    *(unsigned *)out = p != NULL ? thread_arena() : 9999;
    free(p);
    return NULL;
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    ctl = (mallctl_fn)test_sym("mallctl");
    require_ptr_not_null(ctl);
    unsigned narenas = 0;
    size_t len = sizeof(narenas);
    require_true(ctl("opt.narenas", &narenas, &len, NULL, 0) == 0);
    if (narenas != 2)
        test_skip("needs 2 automatic arenas (narenas:2), has %u", narenas);

    void *block = malloc(100);
    require_ptr_not_null(block);
    unsigned m = thread_arena();
    require_true(m < 2);

    pthread_barrier_init(&f_freed, NULL, 2);
    pthread_barrier_init(&f_may_exit, NULL, 2);
    pthread_t f, b, c;
    require_true(pthread_create(&f, NULL, freer, block) == 0);
    pthread_barrier_wait(&f_freed);

    unsigned b_arena = 9999, c_arena = 9999;
    require_true(pthread_create(&b, NULL, allocator, &b_arena) == 0);
    pthread_join(b, NULL);
    expect_zu_lt(b_arena, 2);
    expect_zu_ne(b_arena, m);

    require_true(pthread_create(&c, NULL, allocator, &c_arena) == 0);
    pthread_join(c, NULL);
    expect_zu_lt(c_arena, 2);
    expect_zu_ne(c_arena, m);

    pthread_barrier_wait(&f_may_exit);
    pthread_join(f, NULL);
    /* The main thread stays where it was: it allocated first, alone in its arena. */
    expect_zu_eq(thread_arena(), m);
    return test_done();
}
