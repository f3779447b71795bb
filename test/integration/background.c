/*
 * Background threads: enabled through mallctl "background_thread" (or, in background_lazy.c,
 * through MALLOC_CONF, when they start on a later allocator call), they bring an idle process
 * down: memory freed before a sleep with no allocator calls goes back within the decay time.
 * A forked child gets its own threads; disabling stops and joins them.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#ifndef BG_LAZY
#define BG_LAZY 0
#endif

#define NBLOCKS 8
#define BLOCK ((size_t)4 << 20)

static size_t resident(void *const *blocks) {
    static unsigned char vec[BLOCK / 4096];
    size_t page = test_page_size(), r = 0;
    for (int b = 0; b < NBLOCKS; b++) {
        if (mincore(blocks[b], BLOCK, vec) != 0)
            return SIZE_MAX;
        for (size_t i = 0; i < BLOCK / page; i++)
            r += vec[i] & 1;
    }
    return r * page;
}

static size_t bg_threads(void) {
    size_t n = 0, sz = sizeof(n);
    expect_d_eq(mallctl("stats.background_thread.num_threads", &n, &sz, NULL, 0), 0);
    return n;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void set_arena_decay(void) {
    unsigned a = 0;
    size_t sz = sizeof(a);
    expect_d_eq(mallctl("thread.arena", &a, &sz, NULL, 0), 0);
    char name[64];
    ssize_t ms = 300;
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", a);
    expect_d_eq(mallctl(name, NULL, NULL, &ms, sizeof(ms)), 0);
}

/*
 * Fill and free NBLOCKS blocks (returned for mincore) in a new thread, whose arena is usually
 * created after the background threads started: they must notice arenas born after them.
 */
static uint64_t churn_free_ms; /* when churn_thread began freeing */

static void *churn_thread(void *arg) {
    void **blocks = arg;
    set_arena_decay();
    for (int b = 0; b < NBLOCKS; b++) {
        blocks[b] = malloc(BLOCK);
        require_ptr_not_null(blocks[b]);
        memset(blocks[b], 0x77, BLOCK);
    }
    churn_free_ms = test_ms_now();
    for (int b = 0; b < NBLOCKS; b++)
        free(blocks[b]);
    return NULL;
}

static void churn(void **blocks) {
    pthread_t t;
    require_true(pthread_create(&t, NULL, churn_thread, blocks) == 0);
    pthread_join(t, NULL);
}

/*
 * The blocks go back while the process makes no allocator call at all: within 300 ms and an
 * epoch of the frees; 20 s is the margin for a machine whose cores are busy with other work.
 */
static bool idle_returns(void *const *blocks) {
    size_t before = resident(blocks);
    for (int i = 0; i < 200 && resident(blocks) != 0; i++)
        sleep_ms(100);
    size_t after = resident(blocks);
    if (after != 0)
        test_fail("idle: %zu of %zu bytes still resident after 20 s", after, before);
    return after == 0;
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    bool on = false;
    size_t sz = sizeof(on);
    expect_d_eq(mallctl("opt.background_thread", &on, &sz, NULL, 0), 0);
    expect_true(on == BG_LAZY);
    void *blocks[NBLOCKS];
    if (BG_LAZY) {
        /* Started by allocator activity once constructors have run, not at init. */
        for (int i = 0; i < 1000 && bg_threads() == 0; i++)
            free(malloc(100000));
    } else {
        expect_zu_eq(bg_threads(), 0);
        on = true;
        expect_d_eq(mallctl("background_thread", NULL, NULL, &on, sizeof(on)), 0);
    }
    on = false;
    sz = sizeof(on);
    expect_d_eq(mallctl("background_thread", &on, &sz, NULL, 0), 0);
    expect_true(on);
    size_t max = 0;
    sz = sizeof(max);
    expect_d_eq(mallctl("max_background_threads", &max, &sz, NULL, 0), 0);
    size_t n = bg_threads();
    expect_zu_ge(n, 1);
    expect_zu_le(n, max);

    churn(blocks);
    /*
     * The curve starts at once but slowly: 30 ms into a 300 ms window (plus an epoch and a tick
     * of the coarse clock) under 5% may be gone. Checked only when the check came that soon.
     */
    size_t early = resident(blocks);
    if (test_ms_now() - churn_free_ms < 30)
        expect_zu_ge(early, NBLOCKS * BLOCK * 9 / 10);
    idle_returns(blocks);
    uint64_t runs = 0;
    sz = sizeof(runs);
    expect_d_eq(mallctl("stats.background_thread.num_runs", &runs, &sz, NULL, 0), 0);
    expect_zu_ge(runs, 1);

    /* A forked child starts its own threads on its first allocator calls. */
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        churn(blocks);
        bool ok = bg_threads() >= 1 && idle_returns(blocks);
        _exit(ok && test_done() == 0 ? 0 : 1);
    }
    int status = 0;
    expect_d_eq(waitpid(pid, &status, 0), pid);
    expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Disabled: the threads are joined and freed memory stays until the next activity. */
    on = false;
    expect_d_eq(mallctl("background_thread", NULL, NULL, &on, sizeof(on)), 0);
    expect_zu_eq(bg_threads(), 0);
    churn(blocks);
    sleep_ms(700);
    expect_zu_eq(resident(blocks), NBLOCKS * BLOCK);
    return test_done();
}
