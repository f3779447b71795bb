/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heap profiling's pending counts under load (prof_data.c's head): a thread that samples the
 * stack of its last sample counts it, and frees its blocks, without prof_lock. Here every
 * allocation of 512 bytes and more is sampled (prof_pending.conf: a sample every 64 bytes on
 * average), from one call site per thread so that nearly every sample takes the pending path,
 * while
 *   - each thread frees half of its blocks itself and hands the other half to the next thread,
 *     which frees them (the locked path, on a tctx that its owner has pinned);
 *   - one thread dumps the profile and resets it over and over (a reset retires tctxs that
 *     other threads are counting in at that moment);
 *   - threads come and go (each leaves with counts pending, folded in at its exit).
 * At the end every block is freed: the profile must show no live sample, so no count was lost or
 * doubled, and nothing may crash (debug builds check every tctx recycled has nothing pinned on
 * it and no live block).
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *mallctl_f;

enum { THREADS = 4, ROUNDS = 3, STEPS = 400000, HANDOFF = 256 };

/* One mailbox per thread: blocks handed to it by the thread before it in the ring. */
typedef struct {
    pthread_mutex_t mu;
    void *blocks[HANDOFF];
    unsigned n;
} mailbox_t;

static mailbox_t boxes[THREADS];
static atomic_bool stop_dumper;

static void box_put(mailbox_t *b, void *p) {
    pthread_mutex_lock(&b->mu);
    if (b->n < HANDOFF) {
        b->blocks[b->n++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&b->mu);
    free(p); /* full: freed here instead */
}

static void box_drain(mailbox_t *b) {
    void *mine[HANDOFF];
    pthread_mutex_lock(&b->mu);
    unsigned n = b->n;
    memcpy(mine, b->blocks, n * sizeof(void *));
    b->n = 0;
    pthread_mutex_unlock(&b->mu);
    for (unsigned i = 0; i < n; i++)
        free(mine[i]);
}

/* The one call site every sample of a thread comes from. */
static __attribute__((noinline)) void *alloc_here(size_t size) {
    void *p = test_launder(malloc(size));
    require_ptr_not_null(p);
    memset(p, 0x5a, size < 64 ? size : 64);
    return p;
}

static void *worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    uint64_t rng = 77 + id;
    enum { KEEP = 64 };
    void *kept[KEEP] = {NULL};
    for (unsigned s = 0; s < STEPS; s++) {
        void *p = alloc_here(test_rand_range(&rng, 512, 8192));
        unsigned k = (unsigned)(test_rand(&rng) % KEEP);
        void *old = kept[k];
        kept[k] = p;
        if (old != NULL) {
            if (test_rand(&rng) & 1)
                free(old);
            else
                box_put(&boxes[(id + 1) % THREADS], old);
        }
        if (s % 64 == 0)
            box_drain(&boxes[id]);
    }
    for (unsigned k = 0; k < KEEP; k++)
        free(kept[k]);
    return NULL;
}

static void *dumper(void *arg) {
    const char *path = arg;
    unsigned n = 0;
    while (!atomic_load(&stop_dumper)) {
        if (n++ % 2 == 0) {
            expect_d_eq(mallctl_f("prof.dump", NULL, NULL, &path, sizeof(path)), 0);
        } else {
            size_t lg = 6;
            expect_d_eq(mallctl_f("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
        }
        usleep(2000);
    }
    return NULL;
}

/* The live-object count of the header's "t*:" line, or -1. */
static long live_count(const char *text) {
    const char *t = strstr(text, "\n  t*: ");
    return t == NULL ? -1 : strtol(t + 7, NULL, 10);
}

int main(void) {
    mallctl_f = (mallctl_fn *)test_sym("mallctl");
    require_true(mallctl_f != NULL);
    bool prof = false;
    size_t sz = sizeof(prof);
    require_(expect_d_eq(mallctl_f("opt.prof", &prof, &sz, NULL, 0), 0));
    if (!prof)
        test_skip("profiling is off (prof_pending.conf not applied)");
    const char *dir = getenv("TEST_TMPDIR");
    require_true(dir != NULL && chdir(dir) == 0);
    static char path[] = "pending.heap";
    for (unsigned t = 0; t < THREADS; t++)
        pthread_mutex_init(&boxes[t].mu, NULL);

    pthread_t dump_th;
    require_true(pthread_create(&dump_th, NULL, dumper, path) == 0);
    for (unsigned round = 0; round < ROUNDS; round++) { /* threads come and go */
        pthread_t th[THREADS];
        for (unsigned t = 0; t < THREADS; t++)
            require_true(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t) == 0);
        for (unsigned t = 0; t < THREADS; t++)
            pthread_join(th[t], NULL);
        for (unsigned t = 0; t < THREADS; t++)
            box_drain(&boxes[t]);
    }
    atomic_store(&stop_dumper, true);
    pthread_join(dump_th, NULL);

    /* Everything freed: no live sample left in the profile. */
    const char *name = path;
    require_(expect_d_eq(mallctl_f("prof.dump", NULL, NULL, &name, sizeof(name)), 0));
    char *text = test_read_file(path);
    require_ptr_not_null(text);
    expect_true(strncmp(text, "heap_v2/", 8) == 0);
    long live = live_count(text);
    if (!expect_d_eq(live, 0))
        fprintf(stderr, "%.400s\n", text);
    free(text);
    size_t lg = 19;
    expect_d_eq(mallctl_f("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
    return test_done();
}
