/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab: where slab bitmaps come from and go back to (see slab.h). A bitmap is taken when bin.c
 * makes a slab and returned when extent.c frees one, both under the arena's extents_t.lock,
 * which guards the lists. Lengths are powers of two words, so a bitmap freed by one class serves
 * any class of the same length; a bitmap of up to a cache line is aligned to its length and so
 * never straddles two lines.
 */
#include "allocator/internal/slab.h"

#include "allocator/internal/base.h"

uint64_t *slab_bitmap_new(slab_bitmaps_t *b, unsigned nregs) {
    unsigned k = slab_bitmap_list(nregs);
    uint64_t *bitmap = b->free[k];
    if (bitmap != NULL) {
        b->free[k] = (uint64_t *)(uintptr_t)bitmap[0];
        return bitmap;
    }
    size_t bytes = sizeof(uint64_t) << k;
    bitmap = base_alloc(bytes, bytes < CACHELINE ? bytes : CACHELINE);
    if (bitmap != NULL)
        b->bytes += bytes;
    return bitmap;
}

void slab_bitmap_delete(slab_bitmaps_t *b, uint64_t *bitmap, unsigned nregs) {
    unsigned k = slab_bitmap_list(nregs);
    bitmap[0] = (uint64_t)(uintptr_t)b->free[k];
    b->free[k] = bitmap;
}
