/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A million live objects of random sizes 1..4096 (log-uniform: as many below 64 bytes as between
 * 2 and 4 kB, as in real programs, and 300 MB in all rather than 2 GB), each filled with its own
 * pattern, all checked, then freed in random order; a second generation is allocated into the holes
 * of the first and checked again, so reuse of freed memory is covered too.
 */
#include "../test.h"

#include <malloc.h>

enum { N = 1000000 };

static unsigned char *objects[N];
static uint32_t sizes[N];
static uint32_t order[N];

/* A size in 1..4096 whose binary logarithm is uniform. */
static uint32_t random_size(uint64_t *rng) {
    unsigned lg = (unsigned)test_rand_range(rng, 0, 12);
    return (uint32_t)test_rand_range(rng, ((size_t)1 << lg) / 2 + 1, (size_t)1 << lg);
}

static void shuffle(uint32_t *a, size_t n, uint64_t *rng) {
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(test_rand(rng) % (i + 1));
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static bool check_all(uint64_t generation) {
    for (size_t i = 0; i < N; i++) {
        if (objects[i] != NULL && !expect_fill(objects[i], sizes[i], i + generation * N)) {
            fprintf(stderr, "  (object %zu of %u bytes, generation %ju)\n", i, (unsigned)sizes[i],
                    (uintmax_t)generation);
            return false;
        }
    }
    return true;
}

int main(void) {
    test_allocator_active();
    uint64_t rng = 12345;
    for (size_t i = 0; i < N; i++) {
        sizes[i] = random_size(&rng);
        objects[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(objects[i]);
        if (((uintptr_t)objects[i] & 15) != 0) {
            expect_ptr_aligned(objects[i], 16);
        }
        test_fill(objects[i], sizes[i], i);
        order[i] = (uint32_t)i;
    }
    check_all(0);

    /* Free a random half, refill those slots with new sizes, check everything. */
    shuffle(order, N, &rng);
    for (size_t k = 0; k < N / 2; k++) {
        uint32_t i = order[k];
        free(objects[i]);
        objects[i] = NULL;
    }
    for (size_t k = 0; k < N / 2; k++) {
        uint32_t i = order[k];
        sizes[i] = random_size(&rng);
        objects[i] = test_launder(malloc(sizes[i]));
        require_ptr_not_null(objects[i]);
        test_fill(objects[i], sizes[i], i + N);
    }
    for (size_t k = 0; k < N / 2; k++) {
        uint32_t i = order[k];
        if (!expect_fill(objects[i], sizes[i], i + N)) {
            break;
        }
    }
    for (size_t k = N / 2; k < N; k++) {
        uint32_t i = order[k];
        if (!expect_fill(objects[i], sizes[i], i)) {
            break;
        }
    }

    /* Free everything in a fresh random order. */
    shuffle(order, N, &rng);
    for (size_t k = 0; k < N; k++) {
        free(objects[order[k]]);
    }
    /* The allocator is sound afterwards. */
    void *p = test_launder(malloc(4096));
    expect_ptr_not_null(p);
    free(p);
    return test_done();
}
