/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util: the macros and bit helpers every module uses. Lowest layer: includes only libc headers
 * and the generated build configuration.
 */
#ifndef ALLOCATOR_INTERNAL_UTIL_H
#define ALLOCATOR_INTERNAL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "allocator/internal/config.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE __attribute__((noinline))
#define COLD __attribute__((cold))
/*
 * A function every program runs, in a module most of whose code it does not (a boot step):
 * the shared library's link puts it with the code every program runs (Makefile.in, the
 * allocator_hot section), so that code shares as few of the kernel's 64 KiB fault-around
 * windows as it can.
 */
#define TEXT_HOT __attribute__((section("allocator_hot")))
#define NORETURN __attribute__((noreturn))
#define UNUSED __attribute__((unused))
#define EXPORT __attribute__((visibility("default")))
#define HIDDEN __attribute__((visibility("hidden")))
#define CACHELINE 64
#define CACHE_ALIGNED __attribute__((aligned(CACHELINE)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((uintptr_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uintptr_t)(a)-1))

/* Assertions: assert() in debug builds; assert_expensive() only where validate() is cheap enough. */
void util_assert_fail(const char *file, int line, const char *expr) NORETURN COLD;
#define assert(e)                                                                                  \
    do {                                                                                           \
        if (config_debug && unlikely(!(e)))                                                        \
            util_assert_fail(__FILE__, __LINE__, #e);                                              \
    } while (0)
#define assert_expensive(e) assert(e)
#define not_reached() util_assert_fail(__FILE__, __LINE__, "unreachable")

static inline unsigned lg_floor(size_t x) { return (unsigned)(63 - __builtin_clzl(x)); }
static inline unsigned lg_ceil(size_t x) { return x <= 1 ? 0 : lg_floor(x - 1) + 1; }
static inline bool is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }
static inline size_t pow2_ceil(size_t x) { return x <= 1 ? 1 : (size_t)1 << lg_ceil(x); }

/* Relaxed atomics for counters read by statistics; acquire/release where the comment says so. */
#define atomic_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define atomic_add_relaxed(p, v) __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define atomic_sub_relaxed(p, v) __atomic_sub_fetch((p), (v), __ATOMIC_RELAXED)

#endif
