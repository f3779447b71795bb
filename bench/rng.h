/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rng.h: the benchmarks' pseudo-random numbers (xorshift64*), so that every allocator sees the
 * same sequence of sizes and choices for a given seed. State must start nonzero.
 */
#ifndef BENCH_RNG_H
#define BENCH_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

#endif
