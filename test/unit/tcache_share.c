/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Thread caches shrink when threads outnumber the CPUs: up to TCACHE_THREADS_PER_CPU threads per
 * CPU every cache keeps its base sizes; each doubling past that halves the sizes new caches start
 * at (never below one region) and the growth budget, down to 1/2^TCACHE_SHARE_SHIFT_MAX. The GC
 * shrinks a bin of an existing cache to the shared size as it visits it, and a bin shrunk below
 * where it started can still grow within the smaller budget, not past it.
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/tcache.h"
#include "unit.h"

static void *stacks[1 << 16];

static void test_shift(void) {
    unsigned per = TCACHE_THREADS_PER_CPU;
    check_eq(tcache_share_shift_for(0, 2), 0);
    check_eq(tcache_share_shift_for(1, 2), 0);
    check_eq(tcache_share_shift_for(2 * per, 2), 0);
    check_eq(tcache_share_shift_for(2 * per + 1, 2), 1);
    check_eq(tcache_share_shift_for(4 * per, 2), 1);
    check_eq(tcache_share_shift_for(4 * per + 1, 2), 2);
    check_eq(tcache_share_shift_for(64, 2), TCACHE_SHARE_SHIFT_MAX);
    check_eq(tcache_share_shift_for(100000, 2), TCACHE_SHARE_SHIFT_MAX);
    check_eq(tcache_share_shift_for(64, 32), 0);
    check_eq(tcache_share_shift_for(5, 0), tcache_share_shift_for(5, 1)); /* unknown: one CPU */
}

/* Bytes a cache holds with every bin full. */
static size_t full_bytes(const tcache_t *tc) {
    size_t n = 0;
    for (unsigned i = 0; i < tc->nhbins; i++)
        n += (size_t)cache_bin_ncached_max(&tc->bins[i + 1]) * sz_index2size(i);
    return n;
}

static void test_new_caches(void) {
    static tcache_t few, many;
    tcache_threads_set(1);
    check_eq(tcache_share_shift_get(), 0);
    tcache_init(&few, NULL, stacks, true);
    unit_tcache_activate_all(&few); /* each at the size shared then */
    for (unsigned i = 0; i < few.nhbins; i++)
        check_eq(cache_bin_ncached_max(&few.bins[i + 1]), tcache_nslots_base(i));
    tcache_threads_set(100000);
    check_eq(tcache_share_shift_get(), TCACHE_SHARE_SHIFT_MAX);
    tcache_init(&many, NULL, stacks, true);
    unit_tcache_activate_all(&many);
    for (unsigned i = 0; i < many.nhbins; i++) {
        uint32_t want = tcache_nslots_base(i) >> TCACHE_SHARE_SHIFT_MAX;
        check_eq(cache_bin_ncached_max(&many.bins[i + 1]), want == 0 ? 1 : want);
        check(many.bins[i + 1].nfill >= 1 && many.bins[i + 1].nfill <= cache_bin_ncached_max(&many.bins[i + 1]));
    }
    /* A full cache holds several times less (bins of one region cannot halve further). */
    check(full_bytes(&many) * 4 < full_bytes(&few));
    tcache_threads_set(1);
}

static void test_gc_and_growth(void) {
    static tcache_t tc;
    tcache_threads_set(1);
    tcache_init(&tc, NULL, stacks, true);
    unit_tcache_activate_all(&tc);
    unsigned ind = sz_size2index(64);
    cache_bin_t *cb = &tc.bins[ind + 1];
    uint32_t base = tcache_nslots_base(ind);
    check_eq(cache_bin_ncached_max(cb), base);
    /* Many threads now: the GC's visits (every TCACHE_GC_TICKS events, bin after bin) bring the
     * bin, unused since, down to the shared size and no further. */
    tcache_threads_set(100000);
    uint32_t share = tcache_nslots_share(ind);
    check(share < base);
    for (unsigned k = 0; k < 8 * TCACHE_GC_TICKS * tc.nhbins; k++)
        tcache_event(&tc);
    check_eq(cache_bin_ncached_max(cb), share);
    /* Running dry and then overflowing grows it, within the smaller budget only. */
    size_t size = sz_index2size(ind);
    size_t budget = TCACHE_GROW_BYTES >> TCACHE_SHARE_SHIFT_MAX;
    for (int k = 0; k < 64; k++) {
        cb->missed = 1;
        tcache_bin_overflow(&tc, ind + 1);
    }
    check(cache_bin_ncached_max(cb) > share);
    check((size_t)(cache_bin_ncached_max(cb) - share) * size <= budget + (size_t)(base - share) * size);
    check(cache_bin_ncached_max(cb) <= tcache_nslots_cap(ind));
    tcache_threads_set(1);
}

int main(void) {
    sc_boot();
    check(tcache_stack_bytes() <= sizeof(stacks));
    test_shift();
    test_new_caches();
    test_gc_and_growth();
    return unit_finish("tcache_share");
}
