/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Cross-thread frees: producer threads allocate, consumer threads check the contents and free, so
 * nearly every block is freed by a thread other than the one that allocated it. Two channels run
 * one after the other:
 *   - a mutex/condition-variable queue shared by all producers and consumers, in batches;
 *   - lock-free single-producer single-consumer rings, one per producer/consumer pair.
 * Millions of blocks of mixed sizes pass through; consumers sometimes realloc a block before
 * freeing it, and some blocks are freed with free_sized. At the end, the resident set must be
 * close to where it started: blocks freed remotely must become reusable.
 */
#include "../test.h"

#include <pthread.h>
#include <stdatomic.h>

enum { PRODUCERS = 2, CONSUMERS = 2, BATCH = 64 };
static const size_t PER_PRODUCER = 1000000;

typedef struct {
    unsigned char *p;
    uint32_t size;
    uint64_t seed;
} item_t;

typedef void (*free_sized_fn)(void *, size_t);
static free_sized_fn free_sized_f;

static const test_size_band_t size_bands[] = {{850, 1, 256}, {140, 257, 8192}, {10, 8193, 300000}};

static item_t produce_one(uint64_t *rng, uint64_t seed) {
    item_t it;
    it.size = (uint32_t)TEST_RAND_SIZE(rng, size_bands);
    it.seed = seed;
    it.p = test_launder(malloc(it.size));
    require_ptr_not_null(it.p);
    test_fill(it.p, it.size, seed);
    return it;
}

/* Checks and frees one block on the consumer side. */
static bool consume_one(item_t *it, uint64_t *rng) {
    if (!expect_fill(it->p, it->size, it->seed)) {
        return false;
    }
    uint64_t what = test_rand(rng) % 16;
    if (what == 0) {
        size_t n = TEST_RAND_SIZE(rng, size_bands);
        unsigned char *q = test_launder(realloc(it->p, n));
        require_ptr_not_null(q);
        size_t keep = n < it->size ? n : it->size;
        if (keep >= 8 && !expect_true(memcmp(q, &it->seed, 8) == 0)) {
            return false;
        }
        memset(q, 0x42, n);
        free(q);
    } else if (what == 1 && free_sized_f != NULL) {
        free_sized_f(it->p, it->size);
    } else {
        free(it->p);
    }
    return true;
}

/* ---- Channel 1: one mutex queue of batches ---- */

typedef struct {
    item_t items[BATCH];
    int n;
} batch_t;

enum { QUEUE_CAP = 256 };
static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    batch_t *ring[QUEUE_CAP];
    size_t head, tail;
    int producers_left;
} queue = {PTHREAD_MUTEX_INITIALIZER,
           PTHREAD_COND_INITIALIZER,
           PTHREAD_COND_INITIALIZER,
           {0},
           0,
           0,
           PRODUCERS};

static void queue_push(batch_t *b) {
    pthread_mutex_lock(&queue.lock);
    while (queue.tail - queue.head == QUEUE_CAP) {
        pthread_cond_wait(&queue.not_full, &queue.lock);
    }
    queue.ring[queue.tail++ % QUEUE_CAP] = b;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

/* Returns NULL when all producers are done and the queue is empty. */
static batch_t *queue_pop(void) {
    pthread_mutex_lock(&queue.lock);
    while (queue.tail == queue.head && queue.producers_left > 0) {
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    }
    batch_t *b = NULL;
    if (queue.tail != queue.head) {
        b = queue.ring[queue.head++ % QUEUE_CAP];
        pthread_cond_signal(&queue.not_full);
    }
    pthread_mutex_unlock(&queue.lock);
    return b;
}

static void *queue_producer(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t rng = 77 + id;
    uint64_t seed = id << 40;
    for (size_t done = 0; done < PER_PRODUCER;) {
        /* The batch itself is allocated here and freed by the consumer as well. */
        batch_t *b = test_launder(malloc(sizeof(*b)));
        require_ptr_not_null(b);
        b->n = 0;
        while (b->n < BATCH && done < PER_PRODUCER) {
            b->items[b->n++] = produce_one(&rng, seed++);
            done++;
        }
        queue_push(b);
    }
    pthread_mutex_lock(&queue.lock);
    queue.producers_left--;
    pthread_cond_broadcast(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static atomic_size_t consumed;

static void *queue_consumer(void *arg) {
    uint64_t rng = 991 + (uint64_t)(uintptr_t)arg;
    batch_t *b;
    bool ok = true;
    while ((b = queue_pop()) != NULL) {
        for (int i = 0; i < b->n; i++) {
            if (ok) {
                ok = consume_one(&b->items[i], &rng);
            } else {
                free(b->items[i].p);
            }
        }
        atomic_fetch_add_explicit(&consumed, (size_t)b->n, memory_order_relaxed);
        free(b);
    }
    return NULL;
}

/* ---- Channel 2: lock-free single-producer single-consumer rings ---- */

enum { RING_CAP = 1024 };
typedef struct {
    _Alignas(64) atomic_size_t head; /* written by the consumer */
    _Alignas(64) atomic_size_t tail; /* written by the producer */
    _Alignas(64) item_t slots[RING_CAP];
    atomic_bool done;
} spsc_t;

static spsc_t rings[PRODUCERS];

static void *ring_producer(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    spsc_t *r = &rings[id];
    uint64_t rng = 5555 + id;
    uint64_t seed = (id + 8) << 40;
    for (size_t done = 0; done < PER_PRODUCER; done++) {
        item_t it = produce_one(&rng, seed++);
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
        while (tail - atomic_load_explicit(&r->head, memory_order_acquire) == RING_CAP) {
            sched_yield();
        }
        r->slots[tail % RING_CAP] = it;
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    }
    atomic_store_explicit(&r->done, true, memory_order_release);
    return NULL;
}

static void *ring_consumer(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    spsc_t *r = &rings[id];
    uint64_t rng = 8888 + id;
    bool ok = true;
    for (;;) {
        size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
        size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == tail) {
            if (atomic_load_explicit(&r->done, memory_order_acquire) &&
                atomic_load_explicit(&r->tail, memory_order_acquire) == head) {
                break;
            }
            sched_yield();
            continue;
        }
        size_t start = head;
        for (; head != tail; head++) {
            item_t *it = &r->slots[head % RING_CAP];
            if (ok) {
                ok = consume_one(it, &rng);
            } else {
                free(it->p);
            }
        }
        atomic_fetch_add_explicit(&consumed, tail - start, memory_order_relaxed);
        atomic_store_explicit(&r->head, tail, memory_order_release);
    }
    return NULL;
}

static void run(void *(*producer)(void *), void *(*consumer)(void *)) {
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (uintptr_t i = 0; i < PRODUCERS; i++) {
        require_true(pthread_create(&p[i], NULL, producer, (void *)i) == 0);
    }
    for (uintptr_t i = 0; i < CONSUMERS; i++) {
        require_true(pthread_create(&c[i], NULL, consumer, (void *)i) == 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(p[i], NULL);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
    }
}

int main(void) {
    _Static_assert(PRODUCERS == CONSUMERS, "one ring per producer/consumer pair");
    test_allocator_active();
    free_sized_f = (free_sized_fn)test_sym("free_sized");

    /* A warm-up pass through the queue sets the baseline footprint. */
    size_t rss_start = test_rss_bytes();
    run(queue_producer, queue_consumer);
    expect_zu_eq(atomic_load(&consumed), PRODUCERS * PER_PRODUCER);
    size_t rss_queue = test_rss_bytes();

    run(ring_producer, ring_consumer);
    expect_zu_eq(atomic_load(&consumed), 2 * PRODUCERS * PER_PRODUCER);
    size_t rss_rings = test_rss_bytes();

    /*
     * The second channel moves as many bytes as the first: if remotely freed blocks were never
     * reused, the footprint would grow by the whole volume (gigabytes), not stay near the first.
     */
    expect_zu_le(rss_rings, 2 * rss_queue + ((size_t)64 << 20));
    printf("resident: start %zu MB, after queue %zu MB, after rings %zu MB\n", rss_start >> 20,
           rss_queue >> 20, rss_rings >> 20);
    return test_done();
}
