/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Slab bitmaps: init writes only the words nregs needs, taking returns the lowest free region,
 * give detects double frees, count agrees with nfree.
 */
#include "allocator/internal/pages.h"
#include "allocator/internal/slab.h"
#include "unit.h"

/* The index of the next region slab_regions_take hands out (address 0, 1-byte regions). */
static unsigned slab_bitmap_take(extent_t *slab) {
    void *p = NULL;
    slab->addr = 0;
    slab_regions_take(slab, 1, &p, 1);
    return (unsigned)(uintptr_t)p;
}

int main(void) {
    pages_boot(); /* the page size (SLAB_MAXREGS): the kernel's, or the test-only setting's */
    /* The bitmap is the slab's, pointed to by the descriptor (slab.h); a guard word follows. */
    static uint64_t words[SLAB_MAXREGS_MAX / 64 + 1];
    static extent_t storage;
    extent_t *slab = &storage;
    slab->bitmap = words;
    for (unsigned nregs = 1; nregs <= SLAB_MAXREGS; nregs++) {
        unsigned nwords = slab_bitmap_words(nregs);
        check_eq(nwords, (nregs + 63) / 64);
        words[nwords] = 0x5a5a5a5a5a5a5a5a;
        slab_bitmap_init(slab, nregs);
        check_eq(words[nwords], 0x5a5a5a5a5a5a5a5a);
        check_eq(slab->nfree, nregs);
        check_eq(slab_bitmap_count(slab, nregs), nregs);
        for (unsigned i = 0; i < nregs; i++)
            if (slab_bitmap_take(slab) != i) {
                check(!"take did not return the lowest free region");
                break;
            }
        check_eq(slab->nfree, 0);
        for (unsigned w = 0; w < nwords; w++)
            check_eq(slab->bitmap[w], 0);
        check_eq(slab_bitmap_count(slab, nregs), 0);
        /* Give back every third region, then take: the lowest comes first. */
        for (unsigned i = 0; i < nregs; i += 3)
            check(!slab_bitmap_give(slab, i));
        check(slab_bitmap_give(slab, 0)); /* a double free is reported */
        check_eq(slab_bitmap_count(slab, nregs), (nregs + 2) / 3);
        check_eq(slab->nfree, (nregs + 2) / 3);
        if (nregs > 3)
            check_eq(slab_bitmap_take(slab), 0);
    }
    return unit_finish("bitmap");
}
