/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Thread churn: thousands of short-lived threads, a few at a time, each allocating and freeing,
 * freeing blocks made by other (often dead) threads, and allocating and freeing during its own
 * teardown:
 *   - in thread-local destructors registered with __cxa_thread_atexit_impl (what C++ and C11
 *     thread_local destructors use), which run first at thread exit;
 *   - in destructors of several pthread keys, each of which allocates a new value and sets its key
 *     again a few times, so glibc runs more than one destructor round;
 *   - in a key destructor of a thread that never allocated before, so the allocator sets up its
 *     per-thread state while the thread is being torn down;
 *   - likewise, but only in the last destructor round glibc runs (the key re-arms itself without
 *     allocating until PTHREAD_DESTRUCTOR_ITERATIONS), so no round is left to run the allocator's
 *     own key destructor for the state that call creates.
 * Some threads start with a free of a block from their parent as their very first call. Some are
 * detached. Afterwards the resident set must not have grown much beyond a warm-up round: per-thread
 * state (caches, arenas) left behind by dead threads would show as growth, and so must
 * stats.metadata (thread states are recycled, so after the warm-up round no new ones are needed),
 * and the threads counted by stats.arenas.<all>.nthreads must come back to about the live ones.
 */
#include "../test.h"

#include <allocator.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

enum { NKEYS = 4, CONCURRENT = 8, WARMUP_THREADS = 400, CHURN_THREADS = 20000, HANDOFF = 512 };

extern int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso_symbol);
extern void *__dso_handle;

static pthread_key_t keys[NKEYS];
static pthread_key_t quiet_key; /* set by threads that make no allocator call before exit */
static pthread_key_t late_key;  /* likewise, but their first call is in the last round */

static atomic_long key_dtor_calls, quiet_dtor_calls, late_dtor_calls, tls_dtor_calls, threads_done;
static atomic_int failures_in_dtors;

/* Blocks handed from one thread to a later one. */
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} handoff[HANDOFF];

typedef struct {
    int key;
    int remaining; /* how many more times the destructor sets the key again */
    uint64_t seed;
    size_t size;
    unsigned char payload[];
} keyval_t;

static keyval_t *keyval_new(int key, int remaining, uint64_t seed, size_t size) {
    keyval_t *v = test_launder(malloc(sizeof(*v) + size));
    require_ptr_not_null(v);
    v->key = key;
    v->remaining = remaining;
    v->seed = seed;
    v->size = size;
    test_fill(v->payload, size, seed);
    return v;
}

/* Some allocation traffic for teardown code: mixed sizes, all freed. */
static void churn_a_little(uint64_t seed) {
    void *p[8];
    for (int i = 0; i < 8; i++) {
        size_t n = (size_t)((seed >> (i * 4)) & 0xf) * 97 + (i == 7 ? 40000 : 1);
        p[i] = test_launder(malloc(n));
        require_ptr_not_null(p[i]);
        memset(p[i], i, n);
    }
    for (int i = 0; i < 8; i++) {
        free(p[i]);
    }
}

static void key_dtor(void *arg) {
    keyval_t *v = arg;
    atomic_fetch_add(&key_dtor_calls, 1);
    if (test_check_fill(v->payload, v->size, v->seed) != v->size) {
        atomic_fetch_add(&failures_in_dtors, 1);
    }
    churn_a_little(v->seed);
    int key = v->key, remaining = v->remaining;
    uint64_t seed = v->seed;
    free(v);
    if (remaining > 0) {
        keyval_t *again = keyval_new(key, remaining - 1, seed * 31 + 7, (size_t)(seed % 5000));
        if (pthread_setspecific(keys[key], again) != 0) {
            atomic_fetch_add(&failures_in_dtors, 1);
            free(again);
        }
    }
}

typedef struct {
    uint64_t id;
    void *first_free; /* freed as the thread's first allocator call, if not NULL */
    int rounds;       /* late threads: destructor rounds seen so far */
} start_t;

static void quiet_dtor(void *arg) {
    start_t *st = arg;
    atomic_fetch_add(&quiet_dtor_calls, 1);
    /* The first allocations this thread ever makes. */
    churn_a_little(st->id);
    void *p = test_launder(calloc(100, 10));
    if (p == NULL || test_find_not(p, 1000, 0) != 1000) {
        atomic_fetch_add(&failures_in_dtors, 1);
    }
    free(p);
    free(st); /* allocated by the parent */
}

/* Re-arms (allocation-free below 32 keys) until glibc's last round, then allocates. */
static void late_dtor(void *arg) {
    start_t *st = arg;
    if (++st->rounds < PTHREAD_DESTRUCTOR_ITERATIONS) {
        if (pthread_setspecific(late_key, st) != 0) {
            atomic_fetch_add(&failures_in_dtors, 1);
        }
        return;
    }
    atomic_fetch_add(&late_dtor_calls, 1);
    churn_a_little(st->id);
    void *p = test_launder(calloc(10, 100));
    if (p == NULL || test_find_not(p, 1000, 0) != 1000) {
        atomic_fetch_add(&failures_in_dtors, 1);
    }
    free(p);
    free(st);
}

static void tls_dtor(void *arg) {
    atomic_fetch_add(&tls_dtor_calls, 1);
    keyval_t *v = arg;
    if (test_check_fill(v->payload, v->size, v->seed) != v->size) {
        atomic_fetch_add(&failures_in_dtors, 1);
    }
    free(v);
    churn_a_little(0x123456789abcdefULL);
    /* A TLS destructor may still set a key; its destructor runs later in the same exit. */
    keyval_t *old = pthread_getspecific(keys[0]);
    keyval_t *late = keyval_new(0, 0, 99, 300);
    if (pthread_setspecific(keys[0], late) != 0) {
        atomic_fetch_add(&failures_in_dtors, 1);
        free(late);
        return;
    }
    if (old == NULL || test_check_fill(old->payload, old->size, old->seed) != old->size) {
        atomic_fetch_add(&failures_in_dtors, 1);
    }
    free(old);
}

static void *thread_main(void *arg) {
    start_t *st = arg;
    uint64_t id = st->id;
    if (id % 5 == 0) {
        /* A quiet thread: no allocator call until its key destructor runs (the last round). */
        pthread_setspecific(id % 10 == 0 ? late_key : quiet_key, st);
        atomic_fetch_add(&threads_done, 1);
        return NULL;
    }
    free(st->first_free);
    free(st);

    uint64_t rng = id * 2654435761u + 1;
    void *blocks[64];
    int nblocks = (int)test_rand_range(&rng, 8, 64);
    for (int i = 0; i < nblocks; i++) {
        size_t n = test_rand(&rng) % 16 == 0 ? test_rand_range(&rng, 4096, 200000)
                                             : test_rand_range(&rng, 1, 1024);
        blocks[i] = test_launder(malloc(n));
        require_ptr_not_null(blocks[i]);
        memset(blocks[i], (int)i, n);
    }
    /* Swap one block with the hand-off table: free a block some earlier thread made. */
    size_t slot = (size_t)(test_rand(&rng) % HANDOFF);
    size_t n = test_rand_range(&rng, 1, 3000);
    unsigned char *mine = test_launder(malloc(n));
    require_ptr_not_null(mine);
    test_fill(mine, n, id);
    pthread_mutex_lock(&handoff_lock);
    unsigned char *theirs = handoff[slot].p;
    size_t theirs_size = handoff[slot].size;
    uint64_t theirs_seed = handoff[slot].seed;
    handoff[slot].p = mine;
    handoff[slot].size = n;
    handoff[slot].seed = id;
    pthread_mutex_unlock(&handoff_lock);
    if (theirs != NULL) {
        expect_fill(theirs, theirs_size, theirs_seed);
        free(theirs);
    }
    for (int i = 0; i < nblocks; i++) {
        free(blocks[i]);
    }

    /* Teardown work: keys with values that re-arm themselves, and a thread-local destructor. */
    for (int k = 0; k < NKEYS; k++) {
        /* k re-arms: the destructor runs k + 1 times, at most PTHREAD_DESTRUCTOR_ITERATIONS. */
        keyval_t *v =
            keyval_new(k, k, id * 10 + (uint64_t)k, (size_t)test_rand_range(&rng, 0, 700));
        require_true(pthread_setspecific(keys[k], v) == 0);
    }
    if (id % 2 == 0) {
        keyval_t *v = keyval_new(-1, 0, id, 2000);
        require_true(__cxa_thread_atexit_impl(tls_dtor, v, &__dso_handle) == 0);
    }
    atomic_fetch_add(&threads_done, 1);
    return NULL;
}

/* Runs `count` threads, at most CONCURRENT at a time; every fourth one is detached. */
static void run_threads(uint64_t first_id, int count) {
    pthread_t joinable[CONCURRENT];
    int njoinable = 0;
    long target = atomic_load(&threads_done) + count;
    for (int i = 0; i < count; i++) {
        uint64_t id = first_id + (uint64_t)i;
        start_t *st = test_launder(malloc(sizeof(*st)));
        require_ptr_not_null(st);
        st->id = id;
        st->rounds = 0;
        st->first_free =
            id % 3 == 0 && id % 5 != 0 ? test_launder(malloc((size_t)(id % 700) + 1)) : NULL;
        pthread_t t;
        int err = pthread_create(&t, NULL, thread_main, st);
        if (!test_check_(err == 0)) {
            test_fail("pthread_create failed: %s", strerror(err));
            return;
        }
        if (id % 4 == 3) {
            pthread_detach(t);
        } else {
            joinable[njoinable++] = t;
        }
        if (njoinable == CONCURRENT) {
            for (int j = 0; j < njoinable; j++) {
                pthread_join(joinable[j], NULL);
            }
            njoinable = 0;
        }
    }
    for (int j = 0; j < njoinable; j++) {
        pthread_join(joinable[j], NULL);
    }
    /* Detached threads: wait until they have finished their work. */
    while (atomic_load(&threads_done) < target) {
        usleep(1000);
    }
}

/* Waits up to 60 s (a margin for busy cores) for a counter bumped by destructors of detached
 * threads to reach a value; returns as soon as it does. */
static long wait_for(atomic_long *counter, long value) {
    for (int i = 0; i < 60000 && atomic_load(counter) < value; i++) {
        usleep(1000);
    }
    return atomic_load(counter);
}

/* Threads counted by the arenas: the live ones holding an allocator state. */
static unsigned stat_nthreads(void) {
    uint64_t epoch = 1;
    unsigned v = 0;
    size_t len = sizeof(v);
    require_true(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) == 0);
    /* 4096: MALLCTL_ARENAS_ALL, the merge of every arena. */
    require_true(mallctl("stats.arenas.4096.nthreads", &v, &len, NULL, 0) == 0);
    return v;
}

int main(void) {
    test_allocator_active();
    /*
     * Initialise the allocator before creating the keys: its key then precedes them, so in each
     * destructor round glibc visits it before theirs (the order that leaves a state created by
     * late_dtor without a round to clean it up).
     */
    free(test_launder(malloc(1)));
    for (int k = 0; k < NKEYS; k++) {
        require_true(pthread_key_create(&keys[k], key_dtor) == 0);
    }
    require_true(pthread_key_create(&quiet_key, quiet_dtor) == 0);
    require_true(pthread_key_create(&late_key, late_dtor) == 0);

    run_threads(0, WARMUP_THREADS);
    size_t rss_warm = test_rss_bytes();
    size_t metadata_warm = test_stat_size("stats.metadata");
    run_threads(WARMUP_THREADS, CHURN_THREADS);
    size_t rss_after = test_rss_bytes();
    size_t metadata_after = test_stat_size("stats.metadata");

    long total = WARMUP_THREADS + CHURN_THREADS, quiet = 0, late = 0, busy = 0, with_tls = 0;
    for (long id = 0; id < total; id++) {
        if (id % 10 == 0) {
            late++;
        } else if (id % 5 == 0) {
            quiet++;
        } else {
            busy++;
            with_tls += id % 2 == 0;
        }
    }
    expect_d_eq(atomic_load(&threads_done), total);
    /* Every destructor ran as often as expected: keys k = 0..3 run k + 1 times each. */
    expect_d_eq(wait_for(&quiet_dtor_calls, quiet), quiet);
    expect_d_eq(wait_for(&late_dtor_calls, late), late);
    expect_d_eq(wait_for(&key_dtor_calls, busy * 10), busy * 10);
    expect_d_eq(wait_for(&tls_dtor_calls, with_tls), with_tls);
    expect_d_eq(atomic_load(&failures_in_dtors), 0);

    pthread_mutex_lock(&handoff_lock);
    for (int i = 0; i < HANDOFF; i++) {
        if (handoff[i].p != NULL) {
            expect_fill(handoff[i].p, handoff[i].size, handoff[i].seed);
            free(handoff[i].p);
        }
    }
    pthread_mutex_unlock(&handoff_lock);

    printf("resident: after %d warm-up threads %zu MB, after %d more %zu MB\n", WARMUP_THREADS,
           rss_warm >> 20, CHURN_THREADS, rss_after >> 20);
    expect_zu_le(rss_after, 2 * rss_warm + ((size_t)64 << 20));
    /*
     * A state set up in the last destructor round never meets the allocator's key destructor; it
     * must still be recycled once its thread is gone (each one is tens of KiB of metadata, and
     * 2,000 such threads run after the warm-up). The arenas must not count dead threads either.
     */
    printf("metadata: after the warm-up %zu KiB, after the rest %zu KiB\n", metadata_warm >> 10,
           metadata_after >> 10);
    expect_zu_le(metadata_after, metadata_warm + ((size_t)2 << 20));
    unsigned nthreads = stat_nthreads();
    printf("threads counted by the arenas at the end: %u\n", nthreads);
    expect_zu_le(nthreads, 1 + 2 * 64);
    return test_done();
}
