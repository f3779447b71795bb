/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Four threads allocate and free random sizes at the same time, each checking that its blocks
 * keep their contents; some blocks are handed to another thread through a shared exchange and
 * freed (or reallocated) there. A final check after join covers blocks that outlive their thread.
 */
#include "../test.h"

#include <malloc.h>
#include <pthread.h>

enum { NTHREADS = 4, SLOTS = 4096, OPS = 200000, EXCHANGE = 256 };

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} block_t;

/* Blocks passed between threads: any thread may take one and must free it. */
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static block_t exchange[EXCHANGE];

/* Blocks each thread leaves behind for the main thread to check and free after join. */
static block_t leftovers[NTHREADS][64];

static const test_size_band_t size_bands[] = {{900, 0, 512}, {95, 513, 32768}, {5, 32769, (size_t)2 << 20}};

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t rng = 1000 + (uint64_t)id;
    uint64_t next_seed = (uint64_t)id << 48;
    static _Thread_local block_t slots[SLOTS];
    for (int op = 0; op < OPS; op++) {
        block_t *b = &slots[test_rand(&rng) % SLOTS];
        if (b->p != NULL) {
            if (!expect_fill(b->p, b->size, b->seed)) {
                fprintf(stderr, "  (thread %d, op %d, %zu-byte block)\n", id, op, b->size);
                return NULL;
            }
            uint64_t what = test_rand(&rng) % 10;
            if (what < 6) {
                free(b->p);
                b->p = NULL;
                continue;
            }
            if (what < 8) {
                /* Hand it over; take whatever was in the exchange slot. */
                block_t mine = *b, theirs;
                size_t k = (size_t)(test_rand(&rng) % EXCHANGE);
                pthread_mutex_lock(&exchange_lock);
                theirs = exchange[k];
                exchange[k] = mine;
                pthread_mutex_unlock(&exchange_lock);
                *b = theirs;
                if (b->p != NULL && !expect_fill(b->p, b->size, b->seed)) {
                    return NULL;
                }
                continue;
            }
            size_t n = TEST_RAND_SIZE(&rng, size_bands) + 1; /* realloc to 0 would free */
            unsigned char *q = test_launder(realloc(b->p, n));
            require_ptr_not_null(q);
            size_t keep = n < b->size ? n : b->size;
            if (keep >= 8 && !expect_true(memcmp(q, &b->seed, 8) == 0)) {
                return NULL;
            }
            b->p = q;
            b->size = n;
            b->seed = next_seed++;
            test_fill(q, n, b->seed);
            continue;
        }
        b->size = TEST_RAND_SIZE(&rng, size_bands);
        b->seed = next_seed++;
        if (test_rand(&rng) % 8 == 0) {
            b->p = test_launder(calloc(1, b->size));
            require_ptr_not_null(b->p);
            if (!expect_all_bytes(b->p, b->size, 0)) {
                return NULL;
            }
        } else {
            b->p = test_launder(malloc(b->size));
            require_ptr_not_null(b->p);
        }
        if (!expect_ptr_aligned(b->p, 16)) {
            return NULL;
        }
        test_fill(b->p, b->size, b->seed);
    }
    /* Keep a few blocks alive past the thread's exit; free the rest here. */
    int kept = 0;
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p == NULL) {
            continue;
        }
        expect_fill(slots[i].p, slots[i].size, slots[i].seed);
        if (kept < 64) {
            leftovers[id][kept++] = slots[i];
        } else {
            free(slots[i].p);
        }
        slots[i].p = NULL;
    }
    return NULL;
}

int main(void) {
    test_allocator_active();
    pthread_t threads[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        require_true(pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        require_true(pthread_join(threads[i], NULL) == 0);
    }
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < 64; i++) {
            block_t *b = &leftovers[t][i];
            if (b->p != NULL) {
                expect_fill(b->p, b->size, b->seed);
                free(b->p);
            }
        }
    }
    for (int k = 0; k < EXCHANGE; k++) {
        if (exchange[k].p != NULL) {
            expect_fill(exchange[k].p, exchange[k].size, exchange[k].seed);
            free(exchange[k].p);
        }
    }
    return test_done();
}
