/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * atfork: registering the fork handlers once the process needs them (atfork.h). The state is one
 * word moved by compare-and-swap, so atfork_set (the booting thread) and atfork_arm (any thread:
 * a gate that finds a second thread, possibly while another thread boots, which leaves WANTED;
 * background threads and malloc_disable, after boot) agree on who registers.
 */
#include "allocator/internal/atfork.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

int64_t atfork_state = ATFORK_UNSET;
static void (*atfork_prepare)(void), (*atfork_parent)(void), (*atfork_child)(void);
/*
 * The thread inside pthread_atfork, which may allocate: its gates must not wait for itself. Read
 * (atomically) in state ARMING by threads comparing it with themselves; one that reads it
 * before the registering thread has written it sees another thread's id or none, never its own,
 * and so does a child's thread (the fork came from another thread than the one registering). (Not a thread-local flag: tsd.h keeps the library's
 * thread-local storage to one structure.)
 */
pthread_t atfork_registrar;

static bool atfork_move(int64_t from, int64_t to) {
    return __atomic_compare_exchange_n(&atfork_state, &from, to, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* Called by the thread that moved the state to ARMING: records itself, then registers. */
static void atfork_register(void) {
    atomic_store_relaxed(&atfork_registrar, pthread_self());
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    atomic_store_release(&atfork_state, ATFORK_ARMED);
}

void atfork_set(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                bool now) {
    atfork_prepare = prepare;
    atfork_parent = parent;
    atfork_child = child;
    if (now || atfork_threaded() || !atfork_move(ATFORK_UNSET, ATFORK_SET)) {
        /* UNSET (now, threaded) or WANTED: nobody else registers before SET. */
        atomic_store_release(&atfork_state, atfork_arming_word(getpid()));
        atfork_register();
    }
}

void atfork_arm(void) {
    for (;;) {
        int64_t word = atomic_load_acquire(&atfork_state);
        switch (atfork_state_of(word)) {
        case ATFORK_ARMED:
            return;
        case ATFORK_UNSET:
            if (atfork_move(ATFORK_UNSET, ATFORK_WANTED))
                return; /* atfork_set registers them */
            continue;
        case ATFORK_WANTED:
            return;
        case ATFORK_SET:
            /* Only the thread that wins the move writes atfork_registrar until ARMED. */
            if (atfork_move(ATFORK_SET, atfork_arming_word(getpid()))) {
                atfork_register();
                return;
            }
            continue;
        default: { /* ARMING */
            /* The registering thread's own gates (pthread_atfork may allocate): no system call. */
            if (pthread_equal(atomic_load_relaxed(&atfork_registrar), pthread_self()))
                return;
            /*
             * Inherited through a fork made while a thread of the parent registered, at any
             * point from its move to ARMING on: nobody here will finish. The copy of glibc's
             * list the child has holds the handlers or not, as the fork fell; take them as
             * registered, since registering twice would take every lock twice at the next fork.
             * (The creating thread registers them inside pthread_create, before any other
             * thread could fork: only a process whose second thread came otherwise can get
             * here.)
             */
            if ((pid_t)(word >> ATFORK_PID_SHIFT) != getpid()) {
                atfork_move(word, ATFORK_ARMED);
                return;
            }
            sched_yield();
        }
        }
    }
}
