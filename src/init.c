/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * init: the initialisation state machine (see init.h). init_lock is a plain pthread mutex held
 * by the initialising thread for the whole of init; it ranks below every other lock.
 */
#include "allocator/internal/init.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/fork.h"
#include "allocator/internal/gdb.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/os.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/stats_print.h"
#include "allocator/internal/tsd.h"

int init_state = INIT_UNINIT;

/* For bin/allocator-gdb.py (gdb.h): here because every program that uses the library links init.o. */
const unsigned allocator_gdb_layout = ALLOCATOR_GDB_LAYOUT;
const allocator_gdb_consts_t allocator_gdb_consts = {
    .lg_page = LG_PAGE,
    .lg_chunk = LG_CHUNK,
    .rtree_leaf_bits = RTREE_LEAF_BITS,
    .rtree_root_bits = RTREE_ROOT_BITS,
    .rtree_szind_shift = RTREE_SZIND_SHIFT,
    .rtree_slot_size = sizeof(rtree_slot_t),
    .rtree_ptr_mask = RTREE_PTR_MASK,
    .nbins = SC_NBINS,
    .nsizes = SC_NSIZES,
};
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t init_owner;

static bool init_boot(void) {
    if (pages_boot()) {
        /*
         * The kernel's page is larger than the build's: no memory can be handed out. After
         * constructors the program hears ENOMEM and decides; before them (glibc's static startup,
         * which dies on the first NULL) nobody can, so end the process cleanly here.
         */
        if (!atomic_load_relaxed(&nstime_ready)) {
            io_printf("<allocator>: cannot start the program without memory; exiting\n");
            _exit(127);
        }
        return true;
    }
    sc_boot();
    conf_boot();
    io_abort_on_warning = opt_abort;
    base_thp_mode = opt_metadata_thp[0] == 'a' ? (opt_metadata_thp[1] == 'u' ? 1 : 2) : 0;
    if (arena_get_or_create(0) == NULL)
        return true;
    atomic_store_release(&init_state, INIT_A0_READY);
    /* From here a recursive call from this thread is served by arena 0. */
    unsigned n = opt_narenas != 0 ? opt_narenas : 4 * os_ncpus();
    narenas_auto = n > ARENAS_MAX - 2 ? ARENAS_MAX - 2 : n;
    arena_huge_ind = opt_oversize_threshold != 0 ? narenas_auto : UINT_MAX;
    if (opt_confirm_conf)
        conf_confirm(narenas_auto);
    if (tsd_boot())
        return true;
    background_boot();
    fork_boot();
    stats_print_boot();
    return false;
}

init_result_t init_slow(void) {
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
        bool failed = init_boot();
        atomic_store_release(&init_state, failed ? INIT_FAILED : INIT_READY);
        state = failed ? INIT_FAILED : INIT_READY;
    }
    pthread_mutex_unlock(&init_lock);
    return state == INIT_READY ? INIT_OK : INIT_ERROR;
}
