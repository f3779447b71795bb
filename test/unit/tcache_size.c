/*
 * Thread-cache sizing: every cached class gets a stack, small classes keep up to twice a slab's
 * regions (20..200), and no bin may hold more than TCACHE_BIN_BYTES (or TCACHE_NSLOTS_BYTES_MIN
 * regions of a bigger class), so one thread's cache stays within a few hundred KiB.
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
    /* The default tcache_max (32 KiB) reaches the large classes only with pages below 16 KiB. */
    if (sz_index2size(SC_NBINS) <= opt_tcache_max)
        check(tc.nhbins > SC_NBINS);
    else
        check(tc.nhbins <= SC_NBINS);
    size_t total_bytes = 0, total_slots = 0;
    for (unsigned i = 0; i < tc.nhbins; i++) {
        const cache_bin_t *cb = &tc.bins[i + 1];
        size_t size = sz_index2size(i);
        check(cb->ncached_max >= 1);
        check(cb->ncached_max <= TCACHE_NSLOTS_SMALL_MAX);
        check((size_t)cb->ncached_max * size <= TCACHE_BIN_BYTES ||
              cb->ncached_max == TCACHE_NSLOTS_BYTES_MIN);
        if (i < SC_NBINS && size * TCACHE_NSLOTS_SMALL_MIN <= TCACHE_BIN_BYTES)
            check(cb->ncached_max >= TCACHE_NSLOTS_SMALL_MIN);
        check(cb->nfill >= 1 && cb->nfill <= cb->ncached_max);
        total_bytes += (size_t)cb->ncached_max * size;
        total_slots += cb->ncached_max;
    }
    check_eq(total_slots * sizeof(void *), need);
    check(tc.bins[0].ncached_max == 0); /* the always-empty bin */
    check(tc.bins[tc.nhbins + 1].ncached_max == 0); /* first uncached class */
    /* All bins full at once: under 2 MiB (without the byte cap, about 5 MiB). */
    check(total_bytes < ((size_t)2 << 20));
    fprintf(stderr, "tcache_size: %u classes cached, %zu slots, at most %zu KiB cached\n",
            tc.nhbins, total_slots, total_bytes >> 10);
    return unit_finish("tcache_size");
}
