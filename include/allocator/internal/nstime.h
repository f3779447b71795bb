/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nstime: the monotonic clock, read lazily. glibc's static startup calls malloc before the vDSO
 * is set up and before any constructor has run, so no allocator path reads the clock until
 * nstime_ready is set, by a constructor of this library; until then time-driven work (decay,
 * background threads) simply waits for a later call.
 */
#ifndef ALLOCATOR_INTERNAL_NSTIME_H
#define ALLOCATOR_INTERNAL_NSTIME_H

#include "allocator/internal/util.h"

/* Set once constructors run; read relaxed. */
extern bool nstime_ready;
/* nstime_now_precise() when it became readable (set just after nstime_ready). */
extern uint64_t nstime_ready_ns;
/* Test hook: when set, nstime_now() returns what it returns (a fake clock). */
extern uint64_t (*nstime_hook)(void);

/*
 * Monotonic nanoseconds. Only call when nstime_usable(). nstime_now() is CLOCK_MONOTONIC_COARSE
 * (a clock tick of resolution, a few ns to read: fine for decay epochs of tens of ms);
 * nstime_now_precise() is CLOCK_MONOTONIC, for deadlines given to mutex_cond_wait (mutex.h).
 */
uint64_t nstime_now(void);
uint64_t nstime_now_precise(void);

/*
 * Is the clock read through the vDSO's clock_gettime (found by the constructor), not the system
 * call? True on x86_64 and aarch64 wherever the kernel maps a vDSO.
 */
bool nstime_vdso_used(void);
/* Read the clock through the system call from now on (tests: the path of a process without a
 * vDSO). */
void nstime_vdso_forget(void);

/* May the clock be read now? */
static inline bool nstime_usable(void) {
    return atomic_load_relaxed(&nstime_ready) || nstime_hook != NULL;
}

/* A time stamp: nstime_now_precise() once the clock may be read, 0 (unknown) before. */
static inline uint64_t nstime_stamp(void) { return nstime_usable() ? nstime_now_precise() : 0; }

#endif
