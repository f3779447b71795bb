/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * boot: the boot sequence (see boot.h), run once by init's state machine with init_lock held:
 * the page size, size classes, options, arena 0 (from then on, recursive calls from this thread
 * are served by it), the arena count, the thread-state key, background threads (pending only),
 * the atfork handlers and the stats_print:true report at exit. Each step is its module's X_boot,
 * or the wiring of an option into the module that reads it.
 *
 * Also here, because every program that uses the library links boot.o (static ones included):
 * the constants of bin/allocator-gdb.py (gdb.h).
 */
#include "allocator/internal/boot.h"

#include <limits.h>
#include <unistd.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/background.h"
#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/fork.h"
#include "allocator/internal/gdb.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/os.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/prof_recent.h"
#include "allocator/internal/stats_print.h"
#include "allocator/internal/tsd.h"

const unsigned allocator_gdb_layout = ALLOCATOR_GDB_LAYOUT;
const allocator_gdb_consts_t allocator_gdb_consts = {
    .lg_page = ALLOCATOR_LG_PAGE,
    .lg_chunk = LG_CHUNK,
    .rtree_lg_grain = RTREE_LG_GRAIN,
    .rtree_leaf_bits = RTREE_LEAF_BITS,
    .rtree_root_bits = RTREE_ROOT_BITS,
    .rtree_szind_shift = RTREE_SZIND_SHIFT,
    .rtree_slot_size = sizeof(rtree_slot_t),
    .rtree_ptr_mask = RTREE_PTR_MASK,
    .nsizes = SC_NSIZES,
};

bool boot_run(void) {
    if (pages_boot()) {
        /*
         * The kernel's page is larger than any this build serves: no memory can be handed out. After
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
    dss_boot();
    io_abort_on_warning = opt_abort;
    base_thp_mode = opt_metadata_thp == METADATA_THP_AUTO     ? 1
                    : opt_metadata_thp == METADATA_THP_ALWAYS ? 2
                                                              : 0;
    prof_recent_boot();
    if (arena_get_or_create(0) == NULL)
        return true;
    init_a0_ready();
    /* From here a recursive call from this thread is served by arena 0. */
    /* One automatic arena per CPU (percpu_arena chooses by the CPU a thread runs on; otherwise
     * threads move there when they collide: tsd_arena_shared). */
    unsigned n = opt_narenas != 0 ? opt_narenas : os_ncpus();
    narenas_auto = n > ARENAS_MAX - 2 ? ARENAS_MAX - 2 : n;
    arena_huge_ind = opt_oversize_threshold != 0 ? narenas_auto : UINT_MAX;
    if (opt_confirm_conf)
        conf_confirm(narenas_auto);
    if (tsd_boot())
        return true;
    background_boot();
    fork_boot();
    stats_print_boot();
    prof_boot();
    return false;
}
