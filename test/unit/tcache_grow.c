/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Thread-cache growth: a bin whose working set cycles through more than it holds (it overflows
 * after running dry) doubles up to its cap, so the cycle stops flushing to the arena; the growth
 * of all bins together stays within TCACHE_GROW_BYTES and is accounted exactly; the GC shrinks
 * a bin that is no longer used back to its base size; a bin that overflows only after many
 * allocations since it ran dry (allocations and frees in turn) does not grow.
 */
#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

static void *blocks[TCACHE_NSLOTS_SMALL_MAX * 2];

/* Allocate n blocks of size, then free them all: one cycle of a batch workload. */
static void cycle(size_t size, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        blocks[i] = malloc(size);
    for (unsigned i = 0; i < n; i++)
        free(blocks[i]);
}

static size_t grown_sum(const tcache_t *tc) {
    size_t sum = 0;
    for (unsigned i = 0; i < tc->nhbins; i++)
        sum += (size_t)(cache_bin_ncached_max(&tc->bins[i + 1]) - tcache_nslots_base(i)) * sz_index2size(i);
    return sum;
}

int main(void) {
    tcache_t *tc = unit_thread_cache();

    unsigned ind = sz_size2index(512);
    cache_bin_t *cb = &tc->bins[ind + 1];
    uint32_t base = tcache_nslots_base(ind), cap = tcache_nslots_cap(ind);
    check(cap > base);
    check_eq(cache_bin_ncached_max(cb), base);
    bin_t *bin = &arena_get(0)->bins[ind];

    /* A working set of cap blocks: the bin grows, doubling, until the whole set fits. */
    unsigned cycles = 0;
    while (cache_bin_ncached_max(cb) < cap && cycles < 16) {
        uint32_t before = cache_bin_ncached_max(cb);
        cycle(512, cap);
        check(cache_bin_ncached_max(cb) == cap || cache_bin_ncached_max(cb) == before * 2);
        cycles++;
    }
    check_eq(cache_bin_ncached_max(cb), cap);
    check(cycles >= 2 && cycles <= 8);
    check_eq(tc->grown_bytes, grown_sum(tc));
    /*
     * A fill may overshoot what a cycle lacks, and the overflow it causes then flushes half:
     * within a few cycles the whole set sits in the cache, and from then on the cycle runs
     * from the cache alone: no flush and no fill.
     */
    for (int i = 0; i < 64 && cache_bin_ncached(cb) != cap; i++)
        cycle(512, cap);
    check_eq(cache_bin_ncached(cb), cap);
    uint64_t flushes = bin->stats.nflushes, fills = bin->stats.nfills;
    for (int i = 0; i < 10; i++)
        cycle(512, cap);
    check_eq(bin->stats.nflushes, flushes);
    check_eq(bin->stats.nfills, fills);

    /* Every class cycling at once: the growth stops at the thread's budget. */
    for (int round = 0; round < 8; round++) {
        for (unsigned i = 0; i < SC_NBINS && i < tc->nhbins; i++)
            cycle(sz_index2size(i), tcache_nslots_cap(i));
    }
    check(tc->grown_bytes <= TCACHE_GROW_BYTES);
    check(tc->grown_bytes > TCACHE_GROW_BYTES / 2);
    check_eq(tc->grown_bytes, grown_sum(tc));
    for (unsigned i = 0; i < tc->nhbins; i++) {
        check(cache_bin_ncached_max(&tc->bins[i + 1]) >= tcache_nslots_base(i));
        check(cache_bin_ncached_max(&tc->bins[i + 1]) <= tcache_nslots_cap(i));
        check(cache_bin_ncached(&tc->bins[i + 1]) <= cache_bin_ncached_max(&tc->bins[i + 1]));
    }

    /* Idle: each GC visit finds the bins unused, halves them back to base and flushes. */
    for (unsigned visit = 0; visit < 12; visit++) {
        for (unsigned t = 0; t < TCACHE_GC_TICKS * tc->nhbins; t++)
            tcache_event(tc);
    }
    check_eq(tc->grown_bytes, 0);
    for (unsigned i = 0; i < tc->nhbins; i++) {
        check_eq(cache_bin_ncached_max(&tc->bins[i + 1]), tcache_nslots_base(i));
        check(cache_bin_ncached(&tc->bins[i + 1]) <= cache_bin_ncached_max(&tc->bins[i + 1]) / 2);
    }

    /*
     * A bin that allocations and frees reach in turn does not grow: it ran dry, then the thread
     * allocated twice what the bin holds (each block freed at once, so the bin never ran dry
     * again) before the frees of what it held overflowed it. The overflow flushes.
     */
    check_eq(cache_bin_ncached_max(cb), base);
    unsigned held = 0;
    while (held < 2 * base)
        blocks[held++] = malloc(512);
    check(cb->missed);
    for (unsigned i = 0; i < 2 * base; i++)
        free(malloc(512));
    uint64_t flushes_turn = bin->stats.nflushes;
    while (held > 0 && bin->stats.nflushes == flushes_turn)
        free(blocks[--held]);
    check(bin->stats.nflushes > flushes_turn);
    check_eq(cache_bin_ncached_max(cb), base);
    while (held > 0)
        free(blocks[--held]);
    check_eq(cache_bin_ncached_max(cb), base);

    /*
     * Frees that overflow again before the bin runs dry do not grow it again: 3 * base blocks
     * are taken (the bin runs dry), then freed. The first overflow doubles the bin and clears
     * the flag; the frees after it overflow the doubled bin, which must flush, not grow.
     */
    unsigned m = 3 * base;
    check(m <= sizeof(blocks) / sizeof(blocks[0]));
    for (unsigned i = 0; i < m; i++)
        blocks[i] = malloc(512);
    unsigned freed = 0;
    while (cache_bin_ncached_max(cb) == base && freed < m)
        free(blocks[freed++]);
    uint32_t grown = cache_bin_ncached_max(cb);
    check(grown > base);
    uint64_t flushes_before = bin->stats.nflushes;
    while (freed < m)
        free(blocks[freed++]);
    check(bin->stats.nflushes > flushes_before); /* the second overflow did happen */
    check_eq(cache_bin_ncached_max(cb), grown);
    return unit_finish("tcache_grow");
}
