/*
 * fork: the atfork handlers (see fork.h). They run in the forking thread; the witness is told a
 * fork is under way so it accepts many locks of one rank.
 */
#include "allocator/internal/fork.h"

#include <pthread.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/init.h"
#include "allocator/internal/rtree.h"
#include "allocator/internal/stats.h"
#include "allocator/internal/tsd.h"

static void fork_prepare(void) {
    if (atomic_load_acquire(&init_state) != INIT_READY)
        return;
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

static void fork_parent(void) {
    if (atomic_load_acquire(&init_state) != INIT_READY)
        return;
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

static void fork_child(void) {
    if (atomic_load_acquire(&init_state) != INIT_READY)
        return;
    base_postfork_child();
    rtree_postfork_child();
    arenas_postfork_child();
    background_postfork_child();
    tsd_postfork_child();
    tcaches_postfork_child();
    stats_postfork_child();
    ctl_postfork_child();
    if (config_debug)
        witness_fork_end();
}

void fork_boot(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }
