/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * init: the initialisation state machine (see init.h). init_lock is a plain pthread mutex held
 * by the initialising thread for the whole of the boot sequence; it ranks below every other
 * lock. init_state is written only under init_lock and read by anyone.
 */
#include "allocator/internal/init.h"

#include <pthread.h>

int init_state = INIT_UNINIT;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t init_owner;

void init_a0_ready(void) { atomic_store_release(&init_state, INIT_A0_READY); }

init_result_t init_slow(init_boot_t *boot) {
    int state = atomic_load_acquire(&init_state);
    if (state == INIT_READY)
        return INIT_OK;
    if ((state == INIT_BOOTING || state == INIT_A0_READY) &&
        pthread_equal(init_owner, pthread_self()))
        return state == INIT_A0_READY ? INIT_RECURSIVE : INIT_ERROR;
    if (state == INIT_FAILED)
        return INIT_ERROR;
    pthread_mutex_lock(&init_lock);
    state = atomic_load_acquire(&init_state);
    if (state == INIT_UNINIT) {
        init_owner = pthread_self();
        atomic_store_release(&init_state, INIT_BOOTING);
        bool failed = boot();
        atomic_store_release(&init_state, failed ? INIT_FAILED : INIT_READY);
        state = failed ? INIT_FAILED : INIT_READY;
    }
    pthread_mutex_unlock(&init_lock);
    return state == INIT_READY ? INIT_OK : INIT_ERROR;
}
