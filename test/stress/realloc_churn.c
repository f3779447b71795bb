/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Realloc churn: two threads keep a table of live blocks and resize them at random between small,
 * large and huge sizes (so blocks move between slabs, page runs and their own mappings, grow in
 * place and shrink in place), mixed with aligned allocations, calloc and frees. Every block's
 * contents are checked before each resize and the kept prefix after it. Blocks also change hands:
 * a shared slot table lets a thread realloc or free a block the other thread made.
 */
#include "../test.h"

#include <malloc.h>
#include <pthread.h>

enum { THREADS = 2, SLOTS = 512, SHARED = 64, OPS = 200000 };

typedef struct {
    unsigned char *p;
    size_t size;
    uint64_t seed;
} block_t;

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static block_t shared[SHARED];

static const test_size_band_t size_bands[] = {{700, 1, 1024}, {250, 1025, 65536}, {48, 65537, (size_t)1 << 20}, {2, (size_t)1 << 20, (size_t)16 << 20}};

/* Resizes b to n bytes, checking the kept prefix; returns false on a failed check. */
static bool resize(block_t *b, size_t n, uint64_t new_seed) {
    unsigned char *q = test_launder(realloc(b->p, n));
    if (!expect_ptr_not_null(q)) {
        return false;
    }
    if (!expect_ptr_aligned(q, 16)) {
        return false;
    }
    size_t keep = n < b->size ? n : b->size;
    /* The old head seed survives, and the old fill byte up to the kept length (minus the tail). */
    if (keep >= 8 && !expect_true(memcmp(q, &b->seed, 8) == 0)) {
        return false;
    }
    unsigned char fill = (unsigned char)(b->seed * 0x9d + 0x5b);
    size_t body_end = b->size >= 16 ? b->size - 8 : b->size;
    size_t check_end = keep < body_end ? keep : body_end;
    if (check_end > 8 && !expect_zu_eq(test_find_not(q + 8, check_end - 8, fill), check_end - 8)) {
        return false;
    }
    if (!expect_zu_ge(malloc_usable_size(q), n)) {
        return false;
    }
    b->p = q;
    b->size = n;
    b->seed = new_seed;
    test_fill(q, n, new_seed);
    return true;
}

static void *worker(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t rng = 0xfeed + id;
    uint64_t seed = id << 48;
    static _Thread_local block_t slots[SLOTS];
    for (int op = 0; op < OPS; op++) {
        block_t *b = &slots[test_rand(&rng) % SLOTS];
        if (b->p == NULL) {
            size_t n = TEST_RAND_SIZE(&rng, size_bands);
            uint64_t how = test_rand(&rng) % 4;
            if (how == 0) {
                size_t alignment = (size_t)16 << (test_rand(&rng) % 10);
                void *p = NULL;
                if (!expect_d_eq(posix_memalign(&p, alignment, n), 0) ||
                    !expect_ptr_aligned(p, alignment)) {
                    return NULL;
                }
                b->p = p;
            } else if (how == 1) {
                b->p = test_launder(calloc(n, 1));
                require_ptr_not_null(b->p);
                if (!expect_all_bytes(b->p, n, 0)) {
                    return NULL;
                }
            } else {
                b->p = test_launder(malloc(n));
                require_ptr_not_null(b->p);
            }
            b->size = n;
            b->seed = seed++;
            test_fill(b->p, n, b->seed);
            continue;
        }
        if (!expect_fill(b->p, b->size, b->seed)) {
            return NULL;
        }
        uint64_t what = test_rand(&rng) % 20;
        if (what < 12) {
            /* Small steps (in place, usually) or a jump to a random size. */
            size_t n = what < 6 && b->size < ((size_t)1 << 20) ? b->size + b->size / 8 + 1
                       : what < 9                              ? b->size / 2 + 1
                                                               : TEST_RAND_SIZE(&rng, size_bands);
            if (!resize(b, n, seed++)) {
                return NULL;
            }
        } else if (what < 16) {
            free(b->p);
            b->p = NULL;
        } else {
            /* Swap with the shared table: the other thread may resize or free this block. */
            size_t k = (size_t)(test_rand(&rng) % SHARED);
            pthread_mutex_lock(&shared_lock);
            block_t theirs = shared[k];
            shared[k] = *b;
            pthread_mutex_unlock(&shared_lock);
            *b = theirs;
            if (b->p != NULL && !resize(b, TEST_RAND_SIZE(&rng, size_bands), seed++)) {
                return NULL;
            }
        }
        /* Keep huge blocks from piling up: shrink anything past 1 MiB right away. */
        if (b->p != NULL && b->size > ((size_t)1 << 20)) {
            if (!resize(b, test_rand_range(&rng, 1, 4096), seed++)) {
                return NULL;
            }
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p != NULL) {
            expect_fill(slots[i].p, slots[i].size, slots[i].seed);
            free(slots[i].p);
            slots[i].p = NULL;
        }
    }
    return NULL;
}

int main(void) {
    test_allocator_active();
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) {
        require_true(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }
    for (int k = 0; k < SHARED; k++) {
        if (shared[k].p != NULL) {
            expect_fill(shared[k].p, shared[k].size, shared[k].seed);
            free(shared[k].p);
        }
    }
    return test_done();
}
