/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heap profiling's stack table over a long run whose stacks keep changing (prof_stacks.conf:
 * every allocation sampled). Each round allocates from 2,048 stacks never seen before: a
 * recursion 16 levels deep that goes through one of two call sites at each level, by the bits of
 * a number new to each (round, allocation); a quarter of the blocks stay live until the round
 * ends. Then:
 * - stats.metadata stays flat from the third round to the twelfth (when stacks were never freed,
 *   every round added about 0.9 MB: 2,048 stacks of 35 frames and their per-thread counts);
 * - a dump after the last round, with 4 of its blocks kept live, lists exactly 4 of the
 *   recursion's stacks, each with one live object, in heap_v2 with MAPPED_LIBRARIES.
 * Then 4 threads do the same on stacks of their own while this one dumps over and over; each
 * leaves half of its blocks live when it exits, and this thread frees them: every dump is
 * well formed, and the last, after those frees, lists none of the recursion's stacks.
 * The dumps go to the test's scratch directory.
 */
#include "../test.h"

#include <fcntl.h>

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *mallctl_f;
#define mallctl mallctl_f

#define LEVELS 16
#define PER_ROUND 2048
#define ROUNDS 12

static volatile unsigned sink;

static void *step(unsigned v, unsigned depth);

/* Two call sites per level; the stores after each call keep them from being tail calls, and
 * the different stores keep the two from being folded into one. */
static __attribute__((noinline)) void *via0(unsigned v, unsigned depth) {
    void *p = step(v, depth);
    sink += 1;
    return p;
}

static __attribute__((noinline)) void *via1(unsigned v, unsigned depth) {
    void *p = step(v, depth);
    sink += 2;
    return p;
}

static __attribute__((noinline)) void *step(unsigned v, unsigned depth) {
    void *p = depth == 0 ? malloc(48) : (v & 1) ? via1(v >> 1, depth - 1) : via0(v >> 1, depth - 1);
    sink += 3;
    return p;
}

static size_t metadata(void) {
    uint64_t e = 1;
    expect_d_eq(mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
    size_t m = 0, sz = sizeof(m);
    expect_d_eq(mallctl("stats.metadata", &m, &sz, NULL, 0), 0);
    return m;
}

static void *kept[PER_ROUND];

static void round_of(unsigned r, unsigned keep_every) {
    unsigned n = 0;
    for (unsigned i = 0; i < PER_ROUND; i++) {
        void *p = test_launder(step(r * PER_ROUND + i, LEVELS));
        require_ptr_not_null(p);
        if (i % keep_every == 0)
            kept[n++] = p;
        else
            free(p);
    }
    if (keep_every > PER_ROUND / 4) /* the last round: the caller dumps first */
        return;
    for (unsigned k = 0; k < n; k++)
        free(kept[k]);
}

/* Records of the dump with a frame in step (the recursion's stacks); each has one live object. */
static unsigned recursion_records(const char *text, unsigned *live_one) {
    uintptr_t lo = (uintptr_t)step, hi = lo + 256;
    unsigned n = 0;
    *live_one = 0;
    for (const char *p = strstr(text, "\n@ "); p != NULL; p = strstr(p + 1, "\n@ ")) {
        const char *end = strchr(p + 1, '\n');
        bool ours = false;
        for (const char *f = p + 2; f != NULL && f < end; f = strchr(f + 1, ' ')) {
            uintptr_t a = (uintptr_t)strtoull(f + 1, NULL, 16);
            ours |= a > lo && a <= hi;
        }
        if (ours) {
            n++;
            *live_one += strncmp(end, "\n  t*: 1: ", 10) == 0;
        }
    }
    return n;
}

#define NTHREADS 4
#define PER_THREAD 512
static void *left[NTHREADS][PER_THREAD];
static int running;

static void *worker(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg, base = ROUNDS * PER_ROUND + id * 4 * PER_THREAD;
    for (unsigned r = 0; r < 4; r++) {
        for (unsigned i = 0; i < PER_THREAD; i++) {
            void *p = test_launder(step(base + r * PER_THREAD + i, LEVELS));
            if (r == 3 && i % 2 == 0)
                left[id][i] = p;
            else
                free(p);
        }
    }
    __atomic_sub_fetch(&running, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_threads(void) {
    pthread_t th[NTHREADS];
    running = NTHREADS;
    for (unsigned id = 0; id < NTHREADS; id++)
        require_(expect_d_eq(pthread_create(&th[id], NULL, worker, (void *)(uintptr_t)id), 0));
    const char *name = "prof_stacks_threads.heap";
    unsigned dumps = 0;
    do {
        expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
        char *text = test_read_file(name);
        require_ptr_not_null(text);
        expect_true(strncmp(text, "heap_v2/1\n", 10) == 0);
        expect_str_contains(text, "\nMAPPED_LIBRARIES:\n");
        unsigned live_one;
        recursion_records(text, &live_one);
        free(text);
        dumps++;
    } while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) != 0);
    for (unsigned id = 0; id < NTHREADS; id++)
        pthread_join(th[id], NULL);
    for (unsigned id = 0; id < NTHREADS; id++) {
        for (unsigned i = 0; i < PER_THREAD; i++)
            free(left[id][i]);
    }
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    char *text = test_read_file(name);
    require_ptr_not_null(text);
    unsigned live_one;
    expect_zu_eq(recursion_records(text, &live_one), 0);
    free(text);
    expect_zu_ge(dumps, 1);
}

int main(void) {
    if (!test_allocator_active())
        test_skip("the stack table is liballocator's");
    mallctl_f = (mallctl_fn *)test_sym("mallctl");
    require_true(mallctl_f != NULL);
    bool prof = false;
    size_t sz = sizeof(prof);
    require_(expect_d_eq(mallctl("opt.prof", &prof, &sz, NULL, 0), 0));
    require_true(prof);
    const char *dir = getenv("TEST_TMPDIR"); /* the dumps go there */
    require_true(dir != NULL && chdir(dir) == 0);

    size_t m2 = 0;
    for (unsigned r = 0; r < ROUNDS - 1; r++) {
        round_of(r, 4);
        if (r == 1)
            m2 = metadata();
    }
    size_t m = metadata();
    expect_zu_le(m, m2 + (256 << 10));
    if (m > m2 + (256 << 10))
        fprintf(stderr, "stats.metadata: %zu after round 2, %zu after round %d\n", m2, m,
                ROUNDS - 1);

    round_of(ROUNDS - 1, PER_ROUND / 4 + 1); /* keeps 0, 513, 1026, 1539 */
    const char *name = "prof_stacks.heap";
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    char *text = test_read_file(name);
    require_ptr_not_null(text);
    expect_true(strncmp(text, "heap_v2/1\n", 10) == 0);
    unsigned live_one = 0;
    expect_zu_eq(recursion_records(text, &live_one), 4);
    expect_zu_eq(live_one, 4);
    expect_str_contains(text, "\nMAPPED_LIBRARIES:\n");
    free(text);
    for (unsigned k = 0; k < 4; k++)
        free(kept[k]);
    test_threads();
    return test_done();
}
