/* Slab bitmaps: take returns the lowest free region, give detects double frees. */
#include "allocator/internal/extent.h"
#include "unit.h"

int main(void) {
    extent_t slab;
    for (unsigned nregs = 1; nregs <= SLAB_MAXREGS; nregs++) {
        slab_bitmap_init(&slab, nregs);
        check_eq(slab.nfree, nregs);
        for (unsigned i = 0; i < nregs; i++)
            if (slab_bitmap_take(&slab) != i) {
                check(!"take did not return the lowest free region");
                break;
            }
        check_eq(slab.nfree, 0);
        for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++)
            check_eq(slab.bitmap[w], 0);
        /* Give back every third region, then take: the lowest comes first. */
        for (unsigned i = 0; i < nregs; i += 3)
            check(!slab_bitmap_give(&slab, i));
        check(slab_bitmap_give(&slab, 0)); /* a double free is reported */
        if (nregs > 3)
            check_eq(slab_bitmap_take(&slab), 0);
    }
    return unit_finish("bitmap");
}
