/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Sized frees of cached classes go to the thread cache whichever path takes them: the fast path
 * for unaligned sizes up to SZ_FAST_MAXCLASS (the malloc table names the bin), the slow path's
 * push for the others (an alignment, or a size above the table where sized_free_cache.conf
 * raises tcache_max), which computes the bin's offset first. Each freed block is then the next
 * one its class hands out, and the bin holds one more block; a size of another class is caught.
 */
#include <allocator.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

static const cache_bin_t *bin_of(size_t usize) {
    return &unit_thread_cache()->bins[sz_size2index(usize) + 1];
}

static void cycle(const char *how, size_t size, unsigned lg_align) {
    int flags = lg_align == 0 ? 0 : MALLOCX_LG_ALIGN(lg_align);
    void *p = mallocx(size, flags);
    check(p != NULL);
    size_t usize = sallocx(p, 0);
    const cache_bin_t *cb = bin_of(usize);
    unsigned before = cb->top - cb->low;
    if (how[0] == 's')
        sdallocx(p, size, flags);
    else if (flags == 0)
        free_sized(p, size);
    else
        free_aligned_sized(p, (size_t)1 << lg_align, size);
    check_eq(cb->top - cb->low, before + 1);
    void *q = mallocx(size, flags);
    check(q == p);
    if (q != p)
        fprintf(stderr, "%s(%zu, lg_align %u): not the block freed\n", how, size, lg_align);
    free(q);
}

static void mismatch(void *p) { sdallocx(p, 5000, 0); }

int main(void) {
    free(malloc(1)); /* the allocator reads its options */
    check(opt_tcache_max >= 100000);
    const size_t sizes[] = {16, 64, 1000, 4096, 20000, 32768, 40000, 100000};
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        cycle("sdallocx", sizes[i], 0);
        cycle("free_sized", sizes[i], 0);
        cycle("sdallocx", sizes[i], 6);
        cycle("free_aligned_sized", sizes[i], 6);
    }
    cycle("sdallocx", 4096, 12);
    cycle("free_aligned_sized", 4096, 12);
    void *p = malloc(64);
    check(unit_aborts_with(mismatch, p, "does not match"));
    free(p);
    return unit_finish("sized_free_cache");
}
