/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The life cycle of the heap profiler's stack table (prof_data.c), driven directly with made-up
 * backtraces and fake extents (prof_table.conf: prof on, inactive, so the test's own mallocs are
 * not sampled):
 * - a stack sampled and freed over and over keeps its tctx (the thread's cache holds it) and
 *   takes no memory after the first time;
 * - a stack that is the thread's last walk again is counted in its last tctx only while that
 *   tctx is still in the thread's cache, unchanged, and no prof.reset came between;
 * - rounds of 2,000 new stacks (1 to 128 frames), all live and then all freed: at most the
 *   thread's cache (64) of stacks stays, and neither the table's bytes nor base's grow after the
 *   second round (before stacks were freed, each round added about 1.3 MB);
 * - a dump after the churn lists exactly the stacks still live, with their counts;
 * - prof_accum: stacks whose blocks are all freed keep their cumulative counts, in the table and
 *   in the dump, until prof.reset, which empties the table;
 * - prof.reset with blocks live: the stacks go at once, their tctxs when the blocks are freed;
 * - a thread that leaves takes its cache's stacks with it, and its stacks with live blocks go
 *   when those are freed by another thread;
 * - a forked child drops the stacks that only other threads' caches held;
 * - a thread's pending counts (counted without the lock): in dumps, taken back by its frees,
 *   right after another thread's frees, a reset and the thread's exit.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"
#include "unit.h"

#define NSTACKS 2000
#define CACHE_SLOTS 64

static extent_t ext[NSTACKS];

/* Stack i of a family: 1 to PROF_BT_MAX frames, none shared with another (family, i). */
static prof_bt_t bt_of(unsigned family, unsigned i) {
    prof_bt_t bt;
    bt.n = 1 + i % PROF_BT_MAX;
    bt.same_as = 0; /* not from a walk record */
    bt.at = NULL;
    for (unsigned k = 0; k < bt.n; k++)
        bt.frames[k] = (void *)(((uintptr_t)family << 40) + ((uintptr_t)i << 16) + 16 * k + 0x1000);
    return bt;
}

static void sample(tsd_t *tsd, extent_t *e, unsigned family, unsigned i, size_t usize) {
    prof_bt_t bt = bt_of(family, i);
    e->prof_tctx = NULL;
    prof_sampled_alloc_bt(tsd, &bt, e, usize, sz_size2index(usize));
}

static prof_table_usage_t usage(void) {
    prof_table_usage_t u;
    prof_table_usage(&u);
    return u;
}

typedef struct {
    char data[4 << 20];
} text_t;
static text_t text;

static const char *dump_text(void) { return unit_prof_dump(text.data, sizeof(text.data)); }

static size_t count_records(const char *s) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\n@ ")) != NULL; p++)
        n++;
    return n;
}

/* The dump's record of stack (family, i) says t*: cur: ... [acc: ...]; false if it has none. */
static bool record_of(const char *s, unsigned family, unsigned i, unsigned long long *cur,
                      unsigned long long *acc) {
    prof_bt_t bt = bt_of(family, i);
    char head[64];
    snprintf(head, sizeof(head), "\n@ %p ", bt.frames[0]);
    if (bt.n == 1)
        snprintf(head, sizeof(head), "\n@ %p\n", bt.frames[0]);
    const char *p = strstr(s, head);
    if (p == NULL || (p = strstr(p, "\n  t*: ")) == NULL)
        return false;
    unsigned long long b1, b2;
    return sscanf(p, "\n  t*: %llu: %llu [%llu: %llu]", cur, &b1, acc, &b2) == 4;
}

static void test_same_stack(tsd_t *tsd) {
    sample(tsd, &ext[0], 1, 7, 64);
    prof_tctx_t *t = ext[0].prof_tctx;
    check(t != NULL);
    prof_sampled_free(&ext[0], 64);
    prof_table_usage_t u = usage();
    for (int k = 0; k < 100; k++) {
        sample(tsd, &ext[0], 1, 7, 64);
        check(ext[0].prof_tctx == t);
        prof_sampled_free(&ext[0], 64);
    }
    prof_table_usage_t v = usage();
    check_eq(v.bytes, u.bytes);
    check_eq(v.stacks, u.stacks);
}

/*
 * A stack given as the same walk record as the thread's last sample (prof_bt_t.same_as) is
 * counted in that sample's tctx without a lookup, but only while the thread's cache is as it
 * was: once lookups of other stacks have taken every slot, the first stack's tctx, empty and
 * evicted, is gone (its memory perhaps another stack's tctx now), and the stack must be looked
 * up again. Nor after prof.reset.
 */
static void test_same_as(tsd_t *tsd) {
    prof_bt_t a = bt_of(500, 1);
    a.same_as = 7;
    prof_sampled_alloc_bt(tsd, &a, &ext[0], 64, sz_size2index(64));
    prof_sampled_alloc_bt(tsd, &a, &ext[1], 64, sz_size2index(64));
    check(ext[0].prof_tctx != NULL && ext[1].prof_tctx == ext[0].prof_tctx);
    unsigned long long cur = 0, acc = 0;
    check(record_of(dump_text(), 500, 1, &cur, &acc) && cur == 2);
    prof_sampled_free(&ext[0], 64);
    prof_sampled_free(&ext[1], 64);
    /* Lookups that are not samples of the thread's: every slot taken (P(one missed) < 2e-7). */
    for (unsigned i = 0; i < 1000; i++) {
        prof_bt_t b = bt_of(600, i);
        check(prof_tctx_get(tsd, &b) != NULL);
    }
    /* A live block on a tctx made now, perhaps of the first stack's recycled memory. */
    prof_bt_t c = bt_of(601, 0);
    prof_sampled_alloc(&ext[3], prof_tctx_get(tsd, &c), 64);
    prof_sampled_alloc_bt(tsd, &a, &ext[0], 64, sz_size2index(64));
    check(ext[0].prof_tctx != ext[3].prof_tctx);
    const char *s = dump_text();
    check(record_of(s, 500, 1, &cur, &acc) && cur == 1);
    check(record_of(s, 601, 0, &cur, &acc) && cur == 1);
    prof_sampled_free(&ext[0], 64);
    prof_sampled_free(&ext[3], 64);
    /* And not after prof.reset either. */
    prof_sampled_alloc_bt(tsd, &a, &ext[0], 64, sz_size2index(64));
    prof_reset(19);
    prof_sampled_alloc_bt(tsd, &a, &ext[1], 64, sz_size2index(64));
    check(ext[1].prof_tctx != ext[0].prof_tctx);
    check(record_of(dump_text(), 500, 1, &cur, &acc) && cur == 1);
    prof_sampled_free(&ext[0], 64);
    prof_sampled_free(&ext[1], 64);
}

static void test_churn(tsd_t *tsd) {
    size_t bytes2 = 0, base2 = 0;
    for (unsigned round = 0; round < 10; round++) {
        size_t before = usage().stacks;
        for (unsigned i = 0; i < NSTACKS; i++)
            sample(tsd, &ext[i], 100 + round, i, 64);
        prof_table_usage_t u = usage();
        check(u.stacks >= NSTACKS && u.stacks <= NSTACKS + before);
        for (unsigned i = 0; i < NSTACKS; i++)
            prof_sampled_free(&ext[i], 64);
        u = usage();
        check(u.stacks <= CACHE_SLOTS);
        check(u.tctxs == u.stacks);
        if (round == 1) {
            bytes2 = u.bytes;
            base2 = base_allocated_bytes();
        }
    }
    /* One round's stacks take about 1.3 MB; after the second, only what cached stacks of the
     * round before can add (64 of at most 1,216 bytes). */
    prof_table_usage_t u = usage();
    check(u.bytes <= bytes2 + CACHE_SLOTS * 1216);
    check(base_allocated_bytes() - base2 <= 256 << 10);
    if (unit_failures != 0)
        fprintf(stderr, "table %zu -> %zu bytes, base %zu -> %zu, %zu stacks\n", bytes2, u.bytes,
                base2, base_allocated_bytes(), u.stacks);
}

static void test_dump_after_churn(tsd_t *tsd) {
    for (unsigned i = 0; i < NSTACKS; i++)
        sample(tsd, &ext[i], 200, i, 64);
    /* Five stay live, one of them with two blocks. */
    static extent_t extra;
    sample(tsd, &extra, 200, 1003, 64);
    const unsigned live[] = {3, 500, 1003, 1500, 1999};
    for (unsigned i = 0; i < NSTACKS; i++) {
        bool keep = false;
        for (unsigned k = 0; k < 5; k++)
            keep |= live[k] == i;
        if (!keep)
            prof_sampled_free(&ext[i], 64);
    }
    const char *s = dump_text();
    check(strncmp(s, "heap_v2/", 8) == 0);
    check_eq(count_records(s), 5);
    for (unsigned k = 0; k < 5; k++) {
        unsigned long long cur = 0, acc = 1;
        check(record_of(s, 200, live[k], &cur, &acc));
        check_eq(cur, live[k] == 1003 ? 2 : 1); /* one size: written as sampled (prof_unbias_out) */
        check_eq(acc, 0);
    }
    check(strstr(s, "\n\nMAPPED_LIBRARIES:\n") != NULL);
    for (unsigned k = 0; k < 5; k++)
        prof_sampled_free(&ext[live[k]], 64);
    prof_sampled_free(&extra, 64);
    check(usage().stacks <= CACHE_SLOTS);
}

static void test_accum(tsd_t *tsd) {
    opt_prof_accum = true;
    size_t before = usage().stacks;
    for (unsigned i = 0; i < 300; i++) {
        sample(tsd, &ext[i], 300, i, 64);
        prof_sampled_free(&ext[i], 64);
    }
    /* Evicted from the cache, kept for their cumulative counts. */
    check(usage().stacks >= 300 && usage().stacks <= 300 + before);
    const char *s = dump_text();
    check(count_records(s) >= 300);
    unsigned shown = 0;
    for (unsigned i = 0; i < 300; i++) {
        unsigned long long cur = 1, acc = 0;
        shown += record_of(s, 300, i, &cur, &acc) && cur == 0 && acc == 1;
    }
    check_eq(shown, 300);
    prof_reset(19);
    prof_table_usage_t u = usage();
    check_eq(u.stacks, 0);
    /* The tctx this thread's pending counts are for stays, retired, until the thread's next
     * locked step (the file's head in prof_data.c): here, its next sample. */
    check_eq(u.tctxs, 1);
    opt_prof_accum = false;
    sample(tsd, &ext[0], 301, 0, 64);
    prof_sampled_free(&ext[0], 64);
    check_eq(usage().tctxs, 1); /* the new sample's, cached */
}

static void test_reset_live(tsd_t *tsd) {
    for (unsigned i = 0; i < 100; i++)
        sample(tsd, &ext[i], 400, i, 64);
    size_t bytes = usage().bytes;
    prof_reset(19);
    prof_table_usage_t u = usage();
    check_eq(u.stacks, 0);
    check_eq(u.tctxs, 100); /* retired, their blocks live */
    check_eq(count_records(dump_text()), 0);
    for (unsigned i = 0; i < 100; i++)
        prof_sampled_free(&ext[i], 64);
    u = usage();
    check_eq(u.tctxs, 1); /* the last one sampled, pinned by this thread: see test_accum */
    /* The same stacks again take the memory they left. */
    for (unsigned i = 0; i < 100; i++)
        sample(tsd, &ext[i], 400, i, 64);
    check_eq(usage().bytes, bytes);
    for (unsigned i = 0; i < 100; i++)
        prof_sampled_free(&ext[i], 64);
}

/*
 * A thread's pending counts (prof_data.c's head): the stack it counted last, sampled again from
 * the same walk record, is counted in the thread's own record, without the lock; a dump adds
 * them, the thread's frees of its blocks take them back there, and frees by another thread, a
 * reset and the thread's exit leave every count and tctx right.
 */
static void *free_five(void *arg) {
    free(malloc(1));
    extent_t *e = arg;
    for (unsigned i = 0; i < 5; i++)
        prof_sampled_free_by(tsd_get(), &e[i], 64, sz_size2index(64));
    return NULL;
}

static void *sample_and_leave(void *arg) {
    free(malloc(1));
    prof_bt_t a = bt_of(710, 0);
    a.same_as = 424242;
    for (unsigned i = 0; i < 5; i++)
        prof_sampled_alloc_bt(tsd_get(), &a, &((extent_t *)arg)[i], 64, sz_size2index(64));
    check_eq(tsd_get()->prof_tdata->pend.curobjs, 4);
    return NULL;
}

static void test_pending(tsd_t *tsd) {
    unsigned ind = sz_size2index(64);
    prof_tdata_t *td = tsd->prof_tdata;
    prof_bt_t a = bt_of(700, 3);
    a.same_as = 9001;
    for (unsigned i = 0; i < 10; i++)
        prof_sampled_alloc_bt(tsd, &a, &ext[i], 64, ind);
    prof_tctx_t *t = ext[0].prof_tctx;
    check(t != NULL && td->pend_t == t && t->pinned);
    for (unsigned i = 0; i < 10; i++)
        check(ext[i].prof_tctx == t);
    check_eq(t->cnt.curobjs, 1); /* the first, under the lock; the other nine pending */
    check_eq(td->pend.curobjs, 9);
    check_eq(td->pend.curbytes, 9 * 64);
    unsigned long long cur = 0, acc = 0;
    check(record_of(dump_text(), 700, 3, &cur, &acc) && cur == 10);

    /* Its own frees: taken back from its pending counts. */
    for (unsigned i = 0; i < 5; i++)
        prof_sampled_free_by(tsd, &ext[i], 64, ind);
    check(ext[0].prof_tctx == NULL);
    check_eq(td->pend.curobjs, 4);
    check_eq(t->cnt.curobjs, 1);
    check(record_of(dump_text(), 700, 3, &cur, &acc) && cur == 5);

    /* Another thread frees the rest: from t's own counts, under the lock, which go below zero
     * (the pending ones hold the other part); t, pinned, stays. */
    pthread_t th;
    check(pthread_create(&th, NULL, free_five, &ext[5]) == 0);
    check(pthread_join(th, NULL) == 0);
    check_eq(t->cnt.curobjs, (uint64_t)-4);
    check(t->pinned && !t->retired);
    check(!record_of(dump_text(), 700, 3, &cur, &acc));

    /* The thread's next locked step (another stack) folds them in: t empty, still cached. */
    prof_bt_t b = bt_of(700, 4);
    prof_sampled_alloc_bt(tsd, &b, &ext[20], 64, ind);
    check(!t->pinned && t->cached && t->cnt.curobjs == 0 && t->cnt.curbytes == 0);
    check(td->pend_t == ext[20].prof_tctx && td->pend.curobjs == 0);
    prof_sampled_free_by(tsd, &ext[20], 64, ind);

    /* A reset while counts are pending: the pinned tctx is retired with the rest, not
     * recycled; its blocks are freed after; the thread's next sample recycles it. */
    for (unsigned i = 0; i < 4; i++)
        prof_sampled_alloc_bt(tsd, &a, &ext[i], 64, ind);
    t = ext[0].prof_tctx;
    check(t->pinned && td->pend_t == t && td->pend.curobjs == 3);
    prof_reset(19);
    check(t->pinned && t->retired);
    check_eq(count_records(dump_text()), 0);
    for (unsigned i = 0; i < 4; i++)
        prof_sampled_free_by(tsd, &ext[i], 64, ind);
    check(t->pinned && t->retired);
    prof_table_usage_t u = usage();
    prof_sampled_alloc_bt(tsd, &a, &ext[0], 64, ind);
    check_eq(usage().tctxs, u.tctxs); /* t recycled, one made for the new sample: its memory */
    check(ext[0].prof_tctx == t && !t->retired && t->pinned);
    prof_sampled_free_by(tsd, &ext[0], 64, ind);

    /* A thread that leaves with counts pending: folded in at its exit, shown under it; its
     * blocks freed here later. */
    check(pthread_create(&th, NULL, sample_and_leave, &ext[30]) == 0);
    check(pthread_join(th, NULL) == 0);
    t = ext[30].prof_tctx;
    check(t != NULL && !t->pinned && t->cnt.curobjs == 5);
    check(record_of(dump_text(), 710, 0, &cur, &acc) && cur == 5);
    for (unsigned i = 0; i < 5; i++)
        prof_sampled_free_by(tsd, &ext[30 + i], 64, ind);
    check(!record_of(dump_text(), 710, 0, &cur, &acc));
}

/* The other thread: 10 stacks live (family 500), then 30 sampled and freed (family 501). */
static pthread_mutex_t other_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t other_cv = PTHREAD_COND_INITIALIZER;
static int other_state; /* 1: sampled, 2: may leave */

static void *other_thread(void *arg) {
    (void)arg;
    free(malloc(1));
    tsd_t *tsd = tsd_get();
    for (unsigned i = 0; i < 10; i++)
        sample(tsd, &ext[i], 500, i, 64);
    for (unsigned i = 0; i < 30; i++) {
        sample(tsd, &ext[100 + i], 501, i, 64);
        prof_sampled_free(&ext[100 + i], 64);
    }
    pthread_mutex_lock(&other_mu);
    other_state = 1;
    pthread_cond_broadcast(&other_cv);
    while (other_state != 2)
        pthread_cond_wait(&other_cv, &other_mu);
    pthread_mutex_unlock(&other_mu);
    return NULL;
}

static void test_thread_exit_and_fork(void) {
    size_t s0 = usage().stacks;
    pthread_t th;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_mutex_lock(&other_mu);
    while (other_state != 1)
        pthread_cond_wait(&other_cv, &other_mu);
    pthread_mutex_unlock(&other_mu);
    size_t s1 = usage().stacks;
    check(s1 > s0 + 10); /* the other thread's cache keeps some of its freed stacks */
    /* A forked child: only this thread lives on, so the other's cached stacks go. */
    pid_t pid = fork();
    if (pid == 0)
        _exit(usage().stacks == s0 + 10 ? 0 : 1);
    int status = -1;
    check(waitpid(pid, &status, 0) == pid);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_eq(usage().stacks, s1);
    pthread_mutex_lock(&other_mu);
    other_state = 2;
    pthread_cond_broadcast(&other_cv);
    pthread_mutex_unlock(&other_mu);
    pthread_join(th, NULL);
    /* It left: its cache's stacks went, its live ones stay until freed (here, by this thread). */
    check_eq(usage().stacks, s0 + 10);
    const char *s = dump_text();
    for (unsigned i = 0; i < 10; i++) {
        unsigned long long cur = 0, acc = 1;
        check(record_of(s, 500, i, &cur, &acc) && cur == 1);
    }
    for (unsigned i = 0; i < 10; i++)
        prof_sampled_free(&ext[i], 64);
    check_eq(usage().stacks, s0);
}

int main(void) {
    free(malloc(1));
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    check(opt_prof && !opt_prof_accum);
    if (!opt_prof)
        return unit_finish("prof_table");
    atomic_store_relaxed(&prof_lg_sample, 19);
    prof_unbias_init(19);
    test_same_stack(tsd);
    test_same_as(tsd);
    test_churn(tsd);
    test_dump_after_churn(tsd);
    test_accum(tsd);
    test_reset_live(tsd);
    test_pending(tsd);
    test_thread_exit_and_fork();
    return unit_finish("prof_table");
}
