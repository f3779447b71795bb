/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * init: the allocator's one-time initialisation as a state machine. It knows nothing of what
 * initialisation does: its caller hands it the boot sequence (boot.h's boot_run, which the API
 * layer passes), and it runs that once, in the first thread that asks, while every other thread
 * waits. Any module may read the state (init_ready); only the API layer runs it.
 *
 * States: UNINIT -> BOOTING (one thread, holding init_lock; arena 0 not ready) -> A0_READY
 * (same thread, once the boot sequence says so with init_a0_ready: arena 0 serves recursive
 * calls made by the initialising thread itself, e.g. from pthread_atfork) -> READY, or FAILED
 * when the boot sequence fails. Other threads block on init_lock until READY.
 */
#ifndef ALLOCATOR_INTERNAL_INIT_H
#define ALLOCATOR_INTERNAL_INIT_H

#include "allocator/internal/util.h"

typedef enum { INIT_UNINIT = 0, INIT_BOOTING, INIT_A0_READY, INIT_READY, INIT_FAILED } init_state_t;

extern int init_state;

typedef enum { INIT_OK = 0, INIT_RECURSIVE, INIT_ERROR } init_result_t;

/* The boot sequence: returns true on failure (every later call then fails). */
typedef bool init_boot_t(void);

init_result_t init_slow(init_boot_t *boot);

/*
 * INIT_OK once the allocator is ready, running boot first if nobody has; INIT_RECURSIVE inside
 * the initialising thread once arena 0 is ready; INIT_ERROR if boot failed (or is not that far).
 */
static ALWAYS_INLINE init_result_t init_ensure(init_boot_t *boot) {
    if (likely(atomic_load_acquire(&init_state) == INIT_READY))
        return INIT_OK;
    return init_slow(boot);
}

/* Has initialisation completed? (Any thread; never starts it.) */
static inline bool init_ready(void) { return atomic_load_acquire(&init_state) == INIT_READY; }

/* For the boot sequence: arena 0 is ready; recursive calls from the booting thread may use it. */
void init_a0_ready(void);

#endif
