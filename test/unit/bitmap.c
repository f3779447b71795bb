/* SPDX-License-Identifier: BSD-2-Clause */
/* Slab bitmaps: taking returns the lowest free region, give detects double frees. */
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
    /* The bitmap ends extent_t, as long as the page needs (edata.h). */
    static union {
        extent_t e;
        char bytes[sizeof(extent_t) + SLAB_BITMAP_WORDS_MAX * sizeof(uint64_t)];
    } storage;
    extent_t *slab = &storage.e;
    for (unsigned nregs = 1; nregs <= SLAB_MAXREGS; nregs++) {
        slab_bitmap_init(slab, nregs);
        check_eq(slab->nfree, nregs);
        for (unsigned i = 0; i < nregs; i++)
            if (slab_bitmap_take(slab) != i) {
                check(!"take did not return the lowest free region");
                break;
            }
        check_eq(slab->nfree, 0);
        for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++)
            check_eq(slab->bitmap[w], 0);
        /* Give back every third region, then take: the lowest comes first. */
        for (unsigned i = 0; i < nregs; i += 3)
            check(!slab_bitmap_give(slab, i));
        check(slab_bitmap_give(slab, 0)); /* a double free is reported */
        if (nregs > 3)
            check_eq(slab_bitmap_take(slab), 0);
    }
    return unit_finish("bitmap");
}
