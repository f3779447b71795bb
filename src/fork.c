/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork: the one ordered list of the allocator's fork hooks (fork_hooks, below), and the
 * atfork handlers and malloc_disable's "every lock" that walk it. Prefork hooks run in the
 * list's order, which is the lock rank order (mutex.h), so taking every lock obeys the rule
 * every other path obeys; both postfork hooks run in the reverse order, so when a child hook
 * runs, every lock of higher rank is fresh already and the hook may take it as usual. Each
 * module's hooks know only its own locks and state; this file knows only their order.
 *
 * The walks run in the locking thread; the witness is told a fork is under way so it accepts
 * many locks of one rank. fork_owner (written only by the thread that holds every lock)
 * records who holds them between fork_lock_all and fork_unlock_all.
 */
#include "allocator/internal/fork.h"

#include <pthread.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/atfork.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/init.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/prof_recent.h"
#include "allocator/internal/rtree.h"
#include "allocator/internal/stats_print.h"
#include "allocator/internal/tsd.h"

typedef struct fork_hook_s {
    int rank; /* of the locks the hooks take (mutex.h); 0: outside the order */
    void (*prefork)(void);
    void (*postfork_parent)(void);
    void (*postfork_child)(void);
} fork_hook_t;

/* Lowest rank first. A NULL prefork takes nothing: its child hook only renews its locks. */
static const fork_hook_t fork_hooks[] = {
    /* print_lock: outside the order, as a report holds it while its callback runs. */
    {0, NULL, NULL, stats_print_postfork_child},
    {RANK_CTL_OUTER, ctl_prefork, ctl_postfork_parent, ctl_postfork_child},
    {RANK_BG_CTL, background_prefork_ctl, background_postfork_parent_ctl,
     background_postfork_child_ctl},
    {RANK_CTL, arenas_prefork_ctl, arenas_postfork_parent_ctl, arenas_postfork_child_ctl},
    {RANK_CTL, tcaches_prefork, tcaches_postfork_parent, tcaches_postfork_child},
    /* stats_lock, destroyed_lock: what they guard is rebuilt, or changes under ctl_lock. */
    {RANK_CTL, NULL, NULL, stats_postfork_child},
    {RANK_PROF_DUMP, prof_prefork, prof_postfork_parent, prof_postfork_child}, /* and RANK_PROF */
    {RANK_PROF_RECENT, prof_recent_prefork, prof_recent_postfork_parent,
     prof_recent_postfork_child},
    {RANK_TSD_LIST, tsd_prefork, tsd_postfork_parent, tsd_postfork_child},
    /* Every bin of every arena (RANK_BIN), then every arena's extents (RANK_EXTENTS). */
    {RANK_BIN, arenas_prefork, arenas_postfork_parent, arenas_postfork_child},
    {RANK_DSS, dss_prefork, dss_postfork_parent, dss_postfork_child},
    {RANK_BACKGROUND, background_prefork, background_postfork_parent, background_postfork_child},
    {RANK_RTREE, rtree_prefork, rtree_postfork_parent, rtree_postfork_child},
    {RANK_BASE, base_prefork, base_postfork_parent, base_postfork_child},
};
#define FORK_NHOOKS (sizeof(fork_hooks) / sizeof(fork_hooks[0]))

static pthread_t fork_owner;
static bool fork_owned; /* fork_lock_all holds every lock, on behalf of fork_owner */

static bool fork_held_by_self(void) {
    return atomic_load_acquire(&fork_owned) && pthread_equal(fork_owner, pthread_self());
}

static void fork_lock_sequence(void) {
    if (config_debug)
        witness_fork_begin();
    for (size_t i = 0; i < FORK_NHOOKS; i++) {
        if (fork_hooks[i].prefork != NULL)
            fork_hooks[i].prefork();
    }
}

static void fork_unlock_sequence(void) {
    for (size_t i = FORK_NHOOKS; i-- > 0;) {
        if (fork_hooks[i].postfork_parent != NULL)
            fork_hooks[i].postfork_parent();
    }
    if (config_debug)
        witness_fork_end();
}

static void fork_child_sequence(void) {
    for (size_t i = FORK_NHOOKS; i-- > 0;)
        fork_hooks[i].postfork_child();
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

static COLD void fork_prepare(void) {
    fork_locked = init_ready() && !fork_held_by_self();
    if (fork_locked)
        fork_lock_sequence();
}

static COLD void fork_parent(void) {
    if (fork_locked)
        fork_unlock_sequence();
}

static COLD void fork_child(void) {
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

/*
 * The handlers go to atfork, which registers them once the process has a second thread (atfork.h).
 * Heap profiling's child hooks renew what a single thread has too (the dump sequence a child's
 * file names restart from), so with opt.prof they are registered at once.
 */
void fork_boot(void) {
    for (size_t i = 1; i < FORK_NHOOKS; i++)
        assert(fork_hooks[i - 1].rank <= fork_hooks[i].rank);
    atfork_set(fork_prepare, fork_parent, fork_child, config_prof && opt_prof);
}

COLD void fork_lock_all(void) {
    /* A fork while every lock is held (malloc_disable, then fork) needs the child hook. */
    atfork_arm();
    fork_lock_sequence();
    fork_owner = pthread_self();
    atomic_store_release(&fork_owned, true);
}

COLD void fork_unlock_all(void) {
    atomic_store_release(&fork_owned, false);
    fork_unlock_sequence();
}
