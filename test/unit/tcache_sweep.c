/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The thread cache's sweep (tcache_sweep): of the regions the last sweep left in a bin, those not
 * handed out since go back to their slabs by halves (rounded up) at every sweep; a bin that
 * handed out as many as it held keeps everything, and so does one that was empty at the last
 * sweep (a burst of frees is kept for the next burst of allocations) or that ran dry within the
 * last TCACHE_SWEEP_DRY sweeps (a class used in bursts); a bin the thread only frees into
 * (blocks of another thread) empties the same way. And the tick sweeps every TCACHE_SWEEP_TICKS
 * ticks.
 */
#include <pthread.h>

#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define NBLOCKS 64
static void *blocks[NBLOCKS];

static void *make_blocks(void *arg) {
    size_t size = (size_t)arg;
    for (int i = 0; i < NBLOCKS; i++)
        blocks[i] = malloc(size);
    return NULL;
}

int main(void) {
    tcache_t *tc = unit_thread_cache();
    tcache_sweep(tc); /* start from a sweep: what came before is not counted */

    /* Class 512: take 32 blocks and give them back; the bin holds what it can of them. */
    unsigned ind = sz_size2index(512);
    cache_bin_t *cb = &tc->bins[ind + 1];
    bin_t *bin = &arena_get(0)->bins[ind];
    check(cache_bin_ncached_max(cb) >= 16);
    unsigned n = cache_bin_ncached_max(cb) < 32 ? cache_bin_ncached_max(cb) : 32;
    for (unsigned i = 0; i < n; i++)
        blocks[i] = malloc(512);
    for (unsigned i = 0; i < n; i++)
        free(blocks[i]);
    uint32_t held = cache_bin_ncached(cb);
    check(held >= n / 2);
    check(cb->dry_sweeps == TCACHE_SWEEP_DRY); /* the bin ran dry: its first fill */
    /*
     * The bin was empty at the last sweep, so none of these waited a whole interval; and it ran
     * dry just now, so the next TCACHE_SWEEP_DRY sweeps leave it alone whatever it did not use.
     */
    for (unsigned i = 0; i < TCACHE_SWEEP_DRY; i++) {
        tcache_sweep(tc);
        check_eq(cache_bin_ncached(cb), held);
    }
    /* Nothing handed out since: half of them go back to their slabs, at every sweep. */
    size_t curregs = bin->stats.curregs;
    tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb), held / 2);
    check_eq(bin->stats.curregs, curregs - (held + 1) / 2);
    uint32_t left = cache_bin_ncached(cb);
    tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb), left / 2);
    for (int i = 0; i < 8; i++)
        tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb), 0);

    /*
     * A working set that cycles through the cache between sweeps is not disturbed: 8 blocks
     * taken and given back 4 times between two sweeps, 32 regions handed out for 8 held.
     */
    for (int round = 0; round < 6; round++) {
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < 8; i++)
                blocks[i] = malloc(512);
            for (int i = 0; i < 8; i++)
                free(blocks[i]);
        }
        uint32_t before = cache_bin_ncached(cb);
        check(before >= 8);
        tcache_sweep(tc);
        check_eq(cache_bin_ncached(cb), before);
    }
    check_eq(cb->dry_sweeps, 0); /* served from the cache alone: it did not run dry */

    /* A class this thread only frees (another thread's blocks): the bin empties by halves. */
    unsigned ind2 = sz_size2index(96);
    cache_bin_t *cb2 = &tc->bins[ind2 + 1];
    pthread_t th;
    check(pthread_create(&th, NULL, make_blocks, (void *)(size_t)96) == 0);
    check(pthread_join(th, NULL) == 0);
    for (int i = 0; i < NBLOCKS; i++) {
        check(blocks[i] != NULL);
        free(blocks[i]);
    }
    uint32_t freed = cache_bin_ncached(cb2);
    check(freed > 1);
    tcache_sweep(tc); /* arrived since the last sweep: kept */
    check_eq(cache_bin_ncached(cb2), freed);
    tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb2), freed / 2);
    for (int i = 0; i < 10; i++)
        tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb2), 0);

    /* The tick sweeps every TCACHE_SWEEP_TICKS ticks. */
    for (unsigned i = 0; i < 16; i++)
        blocks[i] = malloc(512);
    for (unsigned i = 0; i < 16; i++)
        free(blocks[i]);
    tcache_sweep(tc); /* the bin was empty at the last sweep: kept */
    uint32_t ticked = cache_bin_ncached(cb);
    check(ticked >= 8);
    for (unsigned t = 0; t < TCACHE_SWEEP_TICKS * (TCACHE_SWEEP_DRY + 40); t++)
        tcache_tick(tc, NULL);
    check_eq(cache_bin_ncached(cb), 0);

    /* A bin that runs dry again is left alone again for TCACHE_SWEEP_DRY sweeps. */
    for (unsigned i = 0; i < 8; i++)
        blocks[i] = malloc(512); /* from an empty bin: a miss, a fill */
    check_eq(cb->dry_sweeps, TCACHE_SWEEP_DRY);
    for (unsigned i = 0; i < 8; i++)
        free(blocks[i]);
    uint32_t refilled = cache_bin_ncached(cb);
    check(refilled >= 8);
    for (unsigned i = 0; i < TCACHE_SWEEP_DRY; i++)
        tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb), refilled);
    tcache_sweep(tc);
    check_eq(cache_bin_ncached(cb), refilled / 2);
    return unit_finish("tcache_sweep");
}
