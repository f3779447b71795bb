/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork: the atfork handlers (see fork.h), and the same "every lock, in rank order" sequence for
 * malloc_disable. They run in the locking thread; the witness is told a fork is under way so it
 * accepts many locks of one rank. fork_owner (written only by the thread that holds every lock)
 * records who holds them between fork_lock_all and fork_unlock_all.
 */
#include "allocator/internal/fork.h"

#include <pthread.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/init.h"
#include "allocator/internal/rtree.h"
#include "allocator/internal/stats_print.h"
#include "allocator/internal/tsd.h"

static pthread_t fork_owner;
static bool fork_owned; /* fork_lock_all holds every lock, on behalf of fork_owner */

static bool fork_held_by_self(void) {
    return atomic_load_acquire(&fork_owned) && pthread_equal(fork_owner, pthread_self());
}

static void fork_lock_sequence(void) {
    if (config_debug)
        witness_fork_begin();
    ctl_prefork();
    background_prefork_ctl();
    arenas_prefork_ctl();
    tcaches_prefork();
    tsd_prefork();
    arenas_prefork(); /* every bin, then every arena's extents */
    background_prefork();
    rtree_prefork();
    base_prefork();
}

static void fork_unlock_sequence(void) {
    base_postfork_parent();
    rtree_postfork_parent();
    tsd_postfork_parent();
    tcaches_postfork_parent();
    arenas_postfork_parent();
    background_postfork_parent();
    ctl_postfork_parent();
    if (config_debug)
        witness_fork_end();
}

static void fork_child_sequence(void) {
    base_postfork_child();
    rtree_postfork_child();
    arenas_postfork_child();
    background_postfork_child();
    tsd_postfork_child();
    tcaches_postfork_child();
    stats_postfork_child();
    stats_print_postfork_child();
    ctl_postfork_child();
    if (config_debug)
        witness_fork_end();
}

/*
 * The handlers. A fork between fork_lock_all and fork_unlock_all (malloc_disable, then fork, as
 * leak detectors do) finds every lock already held by the forking thread: the parent keeps them,
 * and the child re-initialises them like any child and then takes them all again, so each side
 * is still locked and releases with its own fork_unlock_all.
 */
/*
 * Whether fork_prepare took the locks: the parent releases by this, not by the init state again,
 * which may have become READY during the fork (written by the forking thread only).
 */
static bool fork_locked;

static void fork_prepare(void) {
    fork_locked = init_ready() && !fork_held_by_self();
    if (fork_locked)
        fork_lock_sequence();
}

static void fork_parent(void) {
    if (fork_locked)
        fork_unlock_sequence();
}

static void fork_child(void) {
    if (!init_ready())
        return;
    /* Re-initialising a lock is safe whether or not the forking thread took it. */
    bool held = fork_held_by_self();
    fork_child_sequence();
    if (held) {
        fork_owner = pthread_self();
        fork_lock_sequence();
    }
}

void fork_boot(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

void fork_lock_all(void) {
    fork_lock_sequence();
    fork_owner = pthread_self();
    atomic_store_release(&fork_owned, true);
}

void fork_unlock_all(void) {
    atomic_store_release(&fork_owned, false);
    fork_unlock_sequence();
}
