/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * atfork: the fork handlers' registration with pthread_atfork, made only once the process may
 * need it. A fork needs the handlers (fork.c: every lock taken before, released or renewed
 * after) when a thread other than the forking one may hold an allocator lock, which takes a
 * second thread; a process that never creates one forks with every lock free and every list
 * true, as the hooks would leave them. And the registration costs memory: glibc's first
 * pthread_atfork reads a constant in libc's .rodata, whose 64 KiB fault-around window is then
 * resident in every program that never forks (16 pages; 120 KiB with the code it runs, measured
 * on a program that only registers a handler).
 *
 * So fork_boot hands the handlers over (atfork_set) and they are registered (armed) at once only
 * if the process already has a second thread or something else asks (heap profiling's child
 * hooks renew state a single thread has too). Otherwise every entry point's gate (api.h:
 * tsd_fetch, api_init) arms them when it finds the process multi-threaded, before it takes any
 * lock. While one thread runs, none can start while that thread is inside the allocator, so a
 * gate that saw one thread stays right until the call returns; glibc's pthread_create allocates
 * the new thread's TLS vector with calloc after it marks the process multi-threaded, so in
 * practice the creating thread arms them before the new one exists. The allocator arms them
 * itself before it starts a thread (background threads) or takes every lock (malloc_disable).
 *
 * Where the C library does not say whether the process is multi-threaded (before glibc 2.32,
 * musl), the handlers are armed at once, as they always were.
 */
#ifndef ALLOCATOR_INTERNAL_ATFORK_H
#define ALLOCATOR_INTERNAL_ATFORK_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "allocator/internal/util.h"

/* glibc's: false once the process has created a thread (2.32 on); NULL where absent. */
extern char __libc_single_threaded __attribute__((weak));

typedef enum {
    ATFORK_UNSET = 0, /* atfork_set not yet called */
    ATFORK_WANTED,    /* armed before atfork_set: registered when it comes */
    ATFORK_SET,       /* handlers known, not registered */
    ATFORK_ARMING,    /* a thread is in pthread_atfork (its process's pid in the word) */
    ATFORK_ARMED      /* registered */
} atfork_state_t;

/*
 * The state word: an atfork_state_t in the low ATFORK_PID_SHIFT bits and, in state ARMING, the
 * registering process's pid above them, so that the move to ARMING also says which process
 * will finish it: a child forked at any point of the registration sees a pid not its own.
 */
extern int64_t atfork_state;
#define ATFORK_PID_SHIFT 8
static inline int64_t atfork_arming_word(pid_t pid) {
    return ATFORK_ARMING | (int64_t)pid << ATFORK_PID_SHIFT;
}
static inline atfork_state_t atfork_state_of(int64_t word) {
    return (atfork_state_t)(word & (((int64_t)1 << ATFORK_PID_SHIFT) - 1));
}

/* Has the process (ever) had more than one thread? True when the C library cannot say. */
static inline bool atfork_threaded(void) {
    return &__libc_single_threaded == NULL || !__libc_single_threaded;
}

/*
 * The handlers to register (fork_boot, once, during boot); registered at once if now, if the
 * process is multi-threaded, or if atfork_arm came first.
 */
void atfork_set(void (*prepare)(void), void (*parent)(void), void (*child)(void), bool now);

/*
 * Register the handlers now (or as soon as atfork_set gives them); returns once they are, when
 * atfork_set has run. A thread that comes here while another registers waits for it, unless it
 * is that thread (pthread_atfork may allocate).
 */
void atfork_arm(void);

/* Which thread registers while the state is ARMING (atfork.c); for unit/atfork. */
extern pthread_t atfork_registrar;

/* The gates' test: arm if the process has become multi-threaded. One load once armed. */
static ALWAYS_INLINE void atfork_check(void) {
    if (unlikely(atomic_load_acquire(&atfork_state) != ATFORK_ARMED) && atfork_threaded())
        atfork_arm();
}

#endif
