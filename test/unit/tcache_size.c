/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Thread-cache sizing: every cached class gets a stack, small classes start at up to twice a
 * slab's regions (20..200), and no bin starts with room for more than TCACHE_BIN_BYTES (or
 * TCACHE_NSLOTS_BYTES_MIN regions of a bigger class), so one thread's cache starts within a few
 * hundred KiB. The stacks have room for each bin's cap, which is at least its base size and at
 * most TCACHE_NSLOTS_SMALL_MAX regions and TCACHE_BIN_BYTES_CAP bytes (or the base).
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/tcache.h"
#include "unit.h"

static void *stacks[1 << 16];

int main(void) {
    sc_boot();
    size_t need = tcache_stack_bytes();
    check(need <= sizeof(stacks));
    static tcache_t tc;
    tcache_init(&tc, NULL, stacks, true);
    unit_tcache_activate_all(&tc);
    /* The default tcache_max (32 KiB) reaches the large classes only with pages below 16 KiB. */
    if (sz_index2size(SC_NBINS) <= opt_tcache_max)
        check(tc.nhbins > SC_NBINS);
    else
        check(tc.nhbins <= SC_NBINS);
    size_t total_bytes = 0, total_slots = 0;
    for (unsigned i = 0; i < tc.nhbins; i++) {
        const cache_bin_t *cb = &tc.bins[i + 1];
        size_t size = sz_index2size(i);
        check(cache_bin_ncached_max(cb) >= 1);
        check(cache_bin_ncached_max(cb) <= TCACHE_NSLOTS_SMALL_MAX);
        check((size_t)cache_bin_ncached_max(cb) * size <= TCACHE_BIN_BYTES ||
              cache_bin_ncached_max(cb) == TCACHE_NSLOTS_BYTES_MIN);
        if (i < SC_NBINS && size * TCACHE_NSLOTS_SMALL_MIN <= TCACHE_BIN_BYTES)
            check(cache_bin_ncached_max(cb) >= TCACHE_NSLOTS_SMALL_MIN);
        check(cb->nfill >= 1 && cb->nfill <= cache_bin_ncached_max(cb));
        check_eq(cache_bin_ncached_max(cb), tcache_nslots_base(i));
        uint32_t cap = tcache_nslots_cap(i);
        check(cap >= cache_bin_ncached_max(cb));
        check(cap <= TCACHE_NSLOTS_SMALL_MAX);
        check((size_t)cap * size <= TCACHE_BIN_BYTES_CAP || cap == cache_bin_ncached_max(cb));
        if (i + 1 < tc.nhbins)
            check_eq(tc.bins[i + 2].stack - cb->stack, cap);
        total_bytes += (size_t)cache_bin_ncached_max(cb) * size;
        total_slots += cap;
    }
    check_eq(total_slots * sizeof(void *), need);
    check(cache_bin_ncached_max(&tc.bins[0]) == 0); /* the always-empty bin */
    check(cache_bin_ncached_max(&tc.bins[tc.nhbins + 1]) == 0); /* first uncached class */
    /* All bins full at once: under 2 MiB (without the byte cap, about 5 MiB). */
    check(total_bytes < ((size_t)2 << 20));
    fprintf(stderr, "tcache_size: %u classes cached, %zu slots, at most %zu KiB cached\n",
            tc.nhbins, total_slots, total_bytes >> 10);
    return unit_finish("tcache_size");
}
