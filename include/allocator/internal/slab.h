/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab: the region bitmap of a slab, an extent holding the regions of one small class. A set bit
 * is a free region; nfree counts them. The bitmap's storage is extent_t.bitmap (edata.h), in the
 * cache line of the address and nfree that a slab free also reads (its first 40 bytes, the
 * whole of it with 4 KiB pages). The slab's bin lock
 * guards both.
 */
#ifndef ALLOCATOR_INTERNAL_SLAB_H
#define ALLOCATOR_INTERNAL_SLAB_H

#include "allocator/internal/edata.h"

/* Every one of nregs regions free. Bin lock held (or the slab not yet published). */
static inline void slab_bitmap_init(extent_t *slab, unsigned nregs) {
    for (unsigned w = 0; w < SLAB_BITMAP_WORDS; w++) {
        unsigned lo = w * 64;
        if (nregs >= lo + 64)
            slab->bitmap[w] = ~(uint64_t)0;
        else if (nregs > lo)
            slab->bitmap[w] = ((uint64_t)1 << (nregs - lo)) - 1;
        else
            slab->bitmap[w] = 0;
    }
    slab->nfree = nregs;
}

/*
 * Take up to n free regions of reg_size bytes, lowest address first, marking them used and
 * writing their addresses to out. Returns how many were taken (fewer only if the slab ran out).
 * Works a bitmap word at a time: each set bit is a free region.
 */
static inline unsigned slab_regions_take(extent_t *slab, size_t reg_size, void **out, unsigned n) {
    unsigned got = 0;
    for (unsigned w = 0; got < n && slab->nfree > 0; w++) {
        uint64_t bits = slab->bitmap[w];
        if (bits == 0)
            continue;
        uintptr_t base = slab->addr + (size_t)w * 64 * reg_size;
        unsigned took = 0;
        do {
            unsigned bit = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            out[got + took++] = (void *)(base + (size_t)bit * reg_size);
        } while (bits != 0 && got + took < n);
        slab->bitmap[w] = bits;
        slab->nfree -= took;
        got += took;
    }
    return got;
}

/* Mark region ind free. Returns true if it already was (a double free). */
static inline bool slab_bitmap_give(extent_t *slab, unsigned ind) {
    uint64_t mask = (uint64_t)1 << (ind & 63);
    if (slab->bitmap[ind >> 6] & mask)
        return true;
    slab->bitmap[ind >> 6] |= mask;
    slab->nfree++;
    return false;
}

#endif
