/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Producers and consumers of one small size: four threads only allocate, filling batches of
 * blocks they push on a shared bounded stack; four threads only pop and free them. Every block
 * is freed by a thread that did not allocate it, into a thread cache of a class that thread
 * never allocates, and each producer's share of the blocks in flight shifts all the time. The
 * memory must stay bounded by what is in flight: the main thread samples stats.active and
 * stats.resident while the blocks move, and each must stay below three times the most that can
 * be in flight plus a fixed slack (chunks, caches, spare slabs, metadata). Afterwards every
 * block is accounted for (stats.allocated back to where it started) and a purge gives the pages
 * back. Two phases: 64 B (a slab holds 64) and 1 KiB (a slab holds 4, so consumers empty slabs
 * the producers just made). No timing is asserted; the sampling only looks.
 */
#include "../test.h"

#include <pthread.h>

enum { PAIRS = 4, BATCH = 1024 };

typedef struct batch_s {
    struct batch_s *next;
    uint64_t seed;
    unsigned char *blocks[BATCH];
} batch_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static batch_t *stack;
static unsigned depth, limit;
static unsigned to_produce, to_consume;
static size_t block_size;

static void *producer(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg * 7919;
    for (;;) {
        pthread_mutex_lock(&lock);
        if (to_produce == 0) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        to_produce--;
        pthread_mutex_unlock(&lock);
        batch_t *b = malloc(sizeof(*b));
        require_ptr_not_null(b);
        b->seed = ++seed;
        for (unsigned i = 0; i < BATCH; i++) {
            b->blocks[i] = test_launder(malloc(block_size));
            require_ptr_not_null(b->blocks[i]);
            test_fill(b->blocks[i], block_size, b->seed + i);
        }
        pthread_mutex_lock(&lock);
        while (depth >= limit)
            pthread_cond_wait(&not_full, &lock);
        b->next = stack;
        stack = b;
        depth++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
}

static void *consumer(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (stack == NULL && to_consume > 0)
            pthread_cond_wait(&not_empty, &lock);
        if (to_consume == 0) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        batch_t *b = stack;
        stack = b->next;
        depth--;
        if (--to_consume == 0)
            pthread_cond_broadcast(&not_empty);
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
        for (unsigned i = 0; i < BATCH; i++) {
            expect_fill(b->blocks[i], block_size, b->seed + i);
            free(b->blocks[i]);
        }
        free(b);
    }
}

static size_t stat_size(const char *name) {
    uint64_t epoch = 1;
    size_t v = 0, sz = sizeof(v);
    require_true(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) == 0);
    require_true(mallctl(name, &v, &sz, NULL, 0) == 0);
    return v;
}

static void phase(size_t size, unsigned nbatches, unsigned max_depth) {
    block_size = size;
    limit = max_depth;
    to_produce = to_consume = nbatches;
    size_t base_allocated = stat_size("stats.allocated");
    size_t base_active = stat_size("stats.active");
    size_t base_resident = stat_size("stats.resident");
    /* Batches on the stack, one being filled by each producer, one being freed by each consumer. */
    size_t in_flight = (size_t)(max_depth + 2 * PAIRS) * (BATCH * size + sizeof(batch_t));
    size_t slack = (size_t)32 << 20;
    size_t peak_active = 0, peak_resident = 0;

    pthread_t t[2 * PAIRS];
    for (unsigned i = 0; i < PAIRS; i++) {
        require_true(pthread_create(&t[2 * i], NULL, consumer, NULL) == 0);
        require_true(pthread_create(&t[2 * i + 1], NULL, producer, (void *)(uintptr_t)(i + 1)) == 0);
    }
    for (;;) {
        pthread_mutex_lock(&lock);
        unsigned left = to_consume;
        pthread_mutex_unlock(&lock);
        size_t active = stat_size("stats.active"), resident = stat_size("stats.resident");
        if (active > peak_active)
            peak_active = active;
        if (resident > peak_resident)
            peak_resident = resident;
        if (left == 0)
            break;
        usleep(2000);
    }
    for (unsigned i = 0; i < 2 * PAIRS; i++)
        pthread_join(t[i], NULL);
    fprintf(stderr, "%zu B: in flight at most %zu KiB; peak active %zu KiB, resident %zu KiB\n",
            size, in_flight >> 10, (peak_active - base_active) >> 10,
            (peak_resident - base_resident) >> 10);
    expect_zu_le(peak_active, base_active + 3 * in_flight + slack);
    expect_zu_le(peak_resident, base_resident + 3 * in_flight + slack);

    /* Every block came back (the threads' caches were flushed as they exited). */
    expect_zu_le(stat_size("stats.allocated"), base_allocated + ((size_t)1 << 20));
    /* A purge returns the freed pages: the resident set is back near where it started. */
    require_true(mallctl("arena.4096.purge", NULL, NULL, NULL, 0) == 0);
    expect_zu_le(stat_size("stats.resident"), base_resident + ((size_t)8 << 20));
    expect_zu_le(stat_size("stats.active"), base_active + ((size_t)4 << 20));
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the malloc in use");
    phase(64, 600, 48);
    phase(1024, 200, 12);
    return test_done();
}
