/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The bins' transfer arrays seen from the allocator (test/unit/bin.c tests the array itself): a
 * thread-cache flush puts blocks of an arena's bin into its array; the arena's statistics count
 * them free; malloc_iterate does not report them as live; freeing one of them again is caught as
 * a double free; arena.<i>.purge, and the arena's ticks once they stay unused, give them back
 * to their slabs; arena.<i>.reset empties the array with the rest of the arena; and a fill takes
 * them back first.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator.h"
#include "allocator/internal/heapwalk.h"
#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define N 24

static unsigned arena_ind;
static void *blocks[N];

static extent_t *slab_of(const void *p) { return rtree_entry_extent(rtree_read(p)); }

static bool slab_region_free(const void *p) {
    const extent_t *slab = slab_of(p);
    const bin_info_t *info = &bin_infos[slab->szind];
    unsigned ind = (unsigned)(((uintptr_t)p - slab->addr) / info->reg_size);
    return (slab->bitmap[ind / 64] >> (ind % 64)) & 1;
}

static void free_again(void *arg) {
    (void)arg;
    free(blocks[3]);
}

typedef struct seen_s {
    unsigned live; /* blocks[] reported */
} seen_t;

static void count_seen(uintptr_t base, size_t size, void *arg) {
    seen_t *s = arg;
    (void)size;
    for (unsigned i = 0; i < N; i++)
        s->live += base == (uintptr_t)blocks[i];
}

static unsigned reported(void) {
    seen_t s = {0};
    check_eq(heapwalk_iterate(0, UINTPTR_MAX, count_seen, &s), 0);
    return s.live;
}

/* N blocks of class ind from the test's arena, freed into this thread's cache, then flushed. */
static void fill_array(tcache_t *tc, unsigned ind) {
    arena_t *a = arena_get(arena_ind);
    bin_t *bin = &a->bins[ind];
    for (unsigned i = 0; i < N; i++) {
        blocks[i] = mallocx(sz_index2size(ind), MALLOCX_ARENA(arena_ind) | MALLOCX_TCACHE_NONE);
        check(blocks[i] != NULL);
    }
    check_eq(reported(), N);
    size_t curregs = bin->stats.curregs;
    check_eq(curregs, N);
    for (unsigned i = 0; i < N; i++)
        free(blocks[i]);
    tcache_flush_bin(tc, ind + 1, 0);
    check_eq(bin->nxfer, N);
    check_eq(bin->stats.curregs, 0);
    for (unsigned i = 0; i < N; i++) {
        check(bin_xfer_holds(bin, blocks[i]));
        check(!slab_region_free(blocks[i])); /* its slab still counts it allocated */
    }
}

int main(void) {
    free(malloc(1)); /* initialise the allocator and this thread's cache */
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    tcache_t *tc = &tsd->tcache;
    size_t sz = sizeof(arena_ind);
    check_eq(mallctl("arenas.create", &arena_ind, &sz, NULL, 0), 0);
    arena_t *a = arena_get(arena_ind);
    unsigned ind = sz_size2index(128);
    bin_t *bin = &a->bins[ind];
    check(N <= bin->xfer_max && N <= cache_bin_ncached_max(&tc->bins[ind + 1]));
    /* The arrays lie one after another in the arena's pool, inside it. */
    unsigned pool = 0;
    for (unsigned b = 0; b < SC_NBINS; b++) {
        check(a->bins[b].xfer == a->xfer_pool + pool);
        check_eq(a->bins[b].xfer_max, bin_xfer_slots(b)); /* the pool did not run short */
        pool += bin_xfer_slots(b);
    }
    check(pool <= ARENA_XFER_POOL);

    /* Blocks in the array are free: not reported, and a second free of one aborts. */
    fill_array(tc, ind);
    check_eq(reported(), 0);
    char want[96];
    snprintf(want, sizeof(want), "free(%p): double free", blocks[3]);
    check(unit_aborts_with(free_again, NULL, want));
    check_eq(bin->nxfer, N); /* the child changed nothing here */

    /* A fill from the arena takes them back, newest first. */
    void *p = mallocx(sz_index2size(ind), MALLOCX_ARENA(arena_ind) | MALLOCX_TCACHE_NONE);
    check(p == blocks[N - 1]);
    check_eq(bin->nxfer, N - 1);
    check_eq(bin->stats.curregs, 1);
    free(p);
    tcache_flush_bin(tc, ind + 1, 0);
    check_eq(bin->nxfer, N);

    /* arena.<i>.purge: back in their slabs (and the emptied slab gone with the spares). */
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "arena.%u.purge", arena_ind);
    check_eq(mallctl(cmd, NULL, NULL, NULL, 0), 0);
    check_eq(bin->nxfer, 0);
    check_eq(bin->stats.curregs, 0);
    check(bin->slabcur == NULL || bin->slabcur->nfree == bin_infos[ind].nregs);
    check_eq(reported(), 0);

    /* The arena's ticks visit every bin: two rounds give an idle array back to its slabs. */
    fill_array(tc, ind);
    for (unsigned k = 0; k < 2 * SC_NBINS; k++)
        arena_decay_tick(a);
    check_eq(bin->nxfer, 0);
    check_eq(bin->stats.curregs, 0);
    for (unsigned i = 0; i < N; i++)
        check(slab_region_free(blocks[i]));

    /* arena.<i>.reset: the array is emptied with the rest. */
    fill_array(tc, ind);
    snprintf(cmd, sizeof(cmd), "arena.%u.reset", arena_ind);
    check_eq(mallctl(cmd, NULL, NULL, NULL, 0), 0);
    check_eq(bin->nxfer, 0);
    check_eq(bin->stats.curregs, 0);
    check_eq(reported(), 0);
    /* The arena works on: a new block, which is not one of the array's old addresses' ghosts. */
    p = mallocx(sz_index2size(ind), MALLOCX_ARENA(arena_ind) | MALLOCX_TCACHE_NONE);
    check(p != NULL);
    check_eq(bin->stats.curregs, 1);
    dallocx(p, MALLOCX_TCACHE_NONE);
    check_eq(bin->nxfer, 0); /* a free without a cache goes to its slab */
    return unit_finish("bin_xfer");
}
