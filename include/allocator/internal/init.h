/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * init: the allocator's one-time initialisation, run by the first call from any thread.
 *
 * States: UNINIT -> BOOTING (one thread, holding init_lock; arena 0 not ready) -> A0_READY
 * (same thread; arena 0 serves recursive calls made by the initialising thread itself, e.g. from
 * pthread_atfork) -> READY. Other threads block on init_lock until READY. Init reads no clock,
 * counts CPUs with a system call (os.h), not sysconf, parses options with a
 * ctype-free parser, and calls no stdio and no dlsym, so it is safe inside glibc's static
 * startup and under interposers.
 */
#ifndef ALLOCATOR_INTERNAL_INIT_H
#define ALLOCATOR_INTERNAL_INIT_H

#include "allocator/internal/util.h"

typedef enum { INIT_UNINIT = 0, INIT_BOOTING, INIT_A0_READY, INIT_READY, INIT_FAILED } init_state_t;

extern int init_state;

typedef enum { INIT_OK = 0, INIT_RECURSIVE, INIT_ERROR } init_result_t;

init_result_t init_slow(void);

/* INIT_OK once the allocator is ready; INIT_RECURSIVE inside the initialising thread. */
static ALWAYS_INLINE init_result_t init_ensure(void) {
    if (likely(atomic_load_acquire(&init_state) == INIT_READY))
        return INIT_OK;
    return init_slow();
}

#endif
