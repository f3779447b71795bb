/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab: where slab bitmaps come from when the lists (slab.h) have none of the length wanted. A
 * bitmap is taken when bin.c makes a slab and returned when extent.c frees one, both under the
 * arena's extents_t.lock, which guards the lists and the byte count. Lengths are powers of two words, so a bitmap freed by one class serves
 * any class of the same length; a bitmap of up to a cache line is aligned to its length and so
 * never straddles two lines.
 */
#include "allocator/internal/slab.h"

#include "allocator/internal/base.h"

uint64_t *slab_bitmap_new_base(slab_bitmaps_t *b, unsigned k) {
    size_t bytes = sizeof(uint64_t) << k;
    uint64_t *bitmap = base_alloc(bytes, bytes < CACHELINE ? bytes : CACHELINE);
    if (bitmap != NULL)
        b->bytes += bytes;
    return bitmap;
}
