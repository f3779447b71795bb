/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heap walks while other threads churn: workers allocate, fill, hand blocks to each other and
 * free them all the time, while the main thread disables the heap, walks it, checks the walk,
 * and enables it again, many times, forking now and then in between. Each walk must see every
 * block a worker holds (published in a table the workers only touch between operations), with
 * its usable size, and no block twice; workers must keep making progress between walks.
 */
#include "../test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { WORKERS = 3, SLOTS = 512, WALKS = 150 };

typedef void iterate_cb_t(uintptr_t base, size_t size, void *arg);
static void (*p_disable)(void);
static void (*p_enable)(void);
static int (*p_iterate)(uintptr_t, size_t, iterate_cb_t *, void *);

/* Blocks held by the workers: slot owner writes, the walker reads while the heap is still. */
static _Atomic(uintptr_t) held[WORKERS][SLOTS];
static atomic_bool stop;
static atomic_long ops;

static const test_size_band_t size_bands[] = {{850, 1, 2048}, {140, 2049, 65536}, {10, 65537, (size_t)3 << 20}};

static void *worker(void *arg) {
    unsigned w = (unsigned)(uintptr_t)arg;
    uint64_t rng = 77 + w;
    while (!atomic_load(&stop)) {
        unsigned s = (unsigned)(test_rand(&rng) % SLOTS);
        /* Take a block from a neighbour's slot now and then: a cross-thread free. */
        unsigned from = test_rand(&rng) % 4 == 0 ? (w + 1) % WORKERS : w;
        uintptr_t old = atomic_exchange(&held[from][s], 0);
        if (old != 0)
            free((void *)old);
        if (from != w)
            continue;
        size_t n = TEST_RAND_SIZE(&rng, size_bands);
        void *p = malloc(n);
        if (p == NULL)
            abort();
        memset(p, (int)(n & 0xff), n < 64 ? n : 64);
        atomic_store(&held[w][s], (uintptr_t)p);
        atomic_fetch_add(&ops, 1);
    }
    return NULL;
}

/* The walk's results, preallocated: the callback may not allocate. */
#define MAX_SEEN (1u << 20)
static uintptr_t *seen;
static size_t *seen_size;
static size_t nseen;

static void record(uintptr_t base, size_t size, void *arg) {
    (void)arg;
    if (nseen < MAX_SEEN) {
        seen[nseen] = base;
        seen_size[nseen] = size;
    }
    nseen++;
}

static int cmp_uptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static uintptr_t sorted[MAX_SEEN];
static uintptr_t held_snap[WORKERS][SLOTS];

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    p_disable = (void (*)(void))test_sym("malloc_disable");
    p_enable = (void (*)(void))test_sym("malloc_enable");
    p_iterate = (int (*)(uintptr_t, size_t, iterate_cb_t *, void *))test_sym("malloc_iterate");
    require_true(p_disable != NULL && p_enable != NULL && p_iterate != NULL);
    seen = malloc(MAX_SEEN * sizeof(*seen));
    seen_size = malloc(MAX_SEEN * sizeof(*seen_size));
    require_true(seen != NULL && seen_size != NULL);

    pthread_t th[WORKERS];
    for (unsigned w = 0; w < WORKERS; w++)
        require_true(pthread_create(&th[w], NULL, worker, (void *)(uintptr_t)w) == 0);

    size_t missing = 0, twice = 0, badsize = 0, stalled = 0, child_failed = 0;
    long last_ops = -1;
    for (int walk = 0; walk < WALKS; walk++) {
        while (atomic_load(&ops) == last_ops)
            sched_yield(); /* the workers go on between walks */
        p_disable();
        long ops_at_disable = atomic_load(&ops);
        nseen = 0;
        p_iterate(0, (size_t)1 << 47, record, NULL);
        /* Nothing moved while the heap was still. */
        if (atomic_load(&ops) != ops_at_disable)
            stalled++;
        size_t n = nseen < MAX_SEEN ? nseen : MAX_SEEN;
        /* Snapshot what the workers hold; check after enabling (qsort may allocate). */
        memcpy(sorted, seen, n * sizeof(*seen));
        for (unsigned w = 0; w < WORKERS; w++) {
            for (unsigned s = 0; s < SLOTS; s++)
                held_snap[w][s] = atomic_load(&held[w][s]);
        }
        if (walk % 25 == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                p_enable();
                void *q = malloc(1000);
                free(q);
                _exit(q == NULL);
            }
            p_enable();
            int status = 0;
            if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
                WEXITSTATUS(status) != 0)
                child_failed++;
        } else {
            p_enable();
        }
        last_ops = ops_at_disable;
        qsort(sorted, n, sizeof(*sorted), cmp_uptr);
        for (size_t i = 1; i < n; i++)
            twice += sorted[i] == sorted[i - 1];
        for (unsigned w = 0; w < WORKERS; w++) {
            for (unsigned s = 0; s < SLOTS; s++) {
                uintptr_t p = held_snap[w][s];
                if (p != 0 && bsearch(&p, sorted, n, sizeof(*sorted), cmp_uptr) == NULL)
                    missing++;
            }
        }
    }
    atomic_store(&stop, true);
    for (unsigned w = 0; w < WORKERS; w++)
        pthread_join(th[w], NULL);
    /* Sizes of what a final still walk reports are the blocks' usable sizes. */
    nseen = 0;
    p_iterate(0, (size_t)1 << 47, record, NULL);
    for (size_t i = 0; i < nseen && i < MAX_SEEN; i++)
        badsize += malloc_usable_size((void *)seen[i]) != seen_size[i];
    expect_zu_eq(missing, 0);
    expect_zu_eq(twice, 0);
    expect_zu_eq(stalled, 0);
    expect_zu_eq(child_failed, 0);
    expect_zu_eq(badsize, 0);
    fprintf(stderr, "%d walks, %ld worker operations\n", WALKS, atomic_load(&ops));
    return test_done();
}
