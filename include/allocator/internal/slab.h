/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab: the region bitmap of a slab, an extent holding the regions of one small class. A set bit
 * is a free region; nfree counts them. The bitmap belongs to the slab alone: extent_t.bitmap
 * (edata.h) points at it while the extent is a slab and is NULL otherwise. A slab of up to
 * EXTENT_BITS_INLINE * 64 regions (with 4 KiB pages, every class but 8, 16, 48, 80 and 112
 * bytes) keeps it in its descriptor's first line (extent_t.bits, 16 bytes the descriptor had as
 * padding), so a fill or a flush reads one line for the slab instead of following the pointer
 * to a second. A longer one is as long as the class's nregs needs, rounded up to a power of two
 * words (four words with 4 KiB pages, up to 64 with 64 KiB), from base and never freed: when its
 * slab goes back to the page allocator it goes to its arena's lists (slab_bitmaps_t, in
 * extents_t) for the next slab that needs that length. The slab's bin lock guards the bits and
 * nfree; the lists are guarded by the arena's extents_t.lock, held wherever a slab is made
 * (bin.c) or freed (extent.c).
 */
#ifndef ALLOCATOR_INTERNAL_SLAB_H
#define ALLOCATOR_INTERNAL_SLAB_H

#include "allocator/internal/edata.h"

/* Bitmap words of a slab of nregs regions. */
static inline unsigned slab_bitmap_words(unsigned nregs) { return (nregs + 63) / 64; }

/* Bitmap lengths: list k holds bitmaps of 2^k words, up to the slab with the most regions. */
#define SLAB_BITMAP_NLISTS (LG_PAGE_MAX - LG_QUANTUM - 6 + 1)

/* The list of the bitmaps long enough for nregs regions, k: they have 2^k words. */
static inline unsigned slab_bitmap_list(unsigned nregs) {
    unsigned words = slab_bitmap_words(nregs);
    unsigned k = words <= 1 ? 0 : 64 - (unsigned)__builtin_clzll((uint64_t)words - 1);
    assert(k < SLAB_BITMAP_NLISTS);
    return k;
}

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct slab_bitmaps_s {
    uint64_t *free[SLAB_BITMAP_NLISTS]; /* bitmaps no slab uses, linked through their word 0 */
    size_t bytes;                       /* every bitmap taken from base, in use or on a list */
} slab_bitmaps_t;

/* A new bitmap of 2^k words from base, counted in b, or NULL. Lock of b held. */
uint64_t *slab_bitmap_new_base(slab_bitmaps_t *b, unsigned k);

/* Does a slab of nregs regions keep its bitmap in its descriptor (extent_t.bits)? */
static inline bool slab_bitmap_inline(unsigned nregs) { return nregs <= EXTENT_BITS_INLINE * 64; }

/*
 * A bitmap for slab, of nregs regions: its descriptor's own words, or one from b's lists or from
 * base (its contents undefined until slab_bitmap_init), or NULL when base has no memory. Lock
 * of b held.
 */
static inline uint64_t *slab_bitmap_new(slab_bitmaps_t *b, extent_t *slab, unsigned nregs) {
    if (slab_bitmap_inline(nregs))
        return slab->bits;
    unsigned k = slab_bitmap_list(nregs);
    uint64_t *bitmap = b->free[k];
    if (bitmap == NULL)
        return slab_bitmap_new_base(b, k);
    b->free[k] = (uint64_t *)(uintptr_t)bitmap[0];
    return bitmap;
}

/* Put the bitmap of slab, of nregs regions, on b's lists unless it is the slab's own. Lock of b
 * held. */
static inline void slab_bitmap_delete(slab_bitmaps_t *b, extent_t *slab, unsigned nregs) {
    uint64_t *bitmap = slab->bitmap;
    if (slab_bitmap_inline(nregs))
        return;
    unsigned k = slab_bitmap_list(nregs);
    bitmap[0] = (uint64_t)(uintptr_t)b->free[k];
    b->free[k] = bitmap;
}

/* Every one of nregs regions free. Bin lock held (or the slab not yet published). */
static inline void slab_bitmap_init(extent_t *slab, unsigned nregs) {
    uint64_t *bitmap = slab->bitmap;
    unsigned words = slab_bitmap_words(nregs);
    for (unsigned w = 0; w + 1 < words; w++)
        bitmap[w] = ~(uint64_t)0;
    unsigned last = nregs - (words - 1) * 64;
    bitmap[words - 1] = last == 64 ? ~(uint64_t)0 : ((uint64_t)1 << last) - 1;
    slab->nfree = nregs;
}

/*
 * Take up to n free regions of reg_size bytes, lowest address first, marking them used and
 * writing their addresses to out[0], out[1], ... (or, down, to out[0], out[-1], ...). Returns
 * how many were taken (fewer only if the slab ran out). Works a bitmap word at a time: each set
 * bit is a free region.
 */
static ALWAYS_INLINE unsigned slab_regions_take_dir(extent_t *slab, size_t reg_size, void **out,
                                                    unsigned n, bool down) {
    uint64_t *bitmap = slab->bitmap;
    uintptr_t addr = slab->addr;
    unsigned want = n < slab->nfree ? n : slab->nfree;
    unsigned got = 0;
    for (unsigned w = 0; got < want; w++) {
        uint64_t bits = bitmap[w];
        if (bits == 0)
            continue;
        uintptr_t base = addr + (size_t)w * 64 * reg_size;
        if (bits == ~(uint64_t)0) {
            /*
             * A word of free regions (a fresh or emptied slab): consecutive addresses, no bit
             * search and no multiply: 5 instructions a region against the loop's 13 below
             * (bench/batch refills from emptied slabs every round).
             */
            unsigned k = want - got < 64 ? want - got : 64;
            for (unsigned i = 0; i < k; i++) {
                out[down ? -(ptrdiff_t)(got + i) : (ptrdiff_t)(got + i)] = (void *)base;
                /* Opaque to the optimiser: clang would vectorize the loop into 1.4 KiB of code
                 * that the hot text's one 64 KiB window has no room for (doc/DESIGN.md). */
                __asm__("" : "+r"(base));
                base += reg_size;
            }
            got += k;
            bitmap[w] = k == 64 ? 0 : ~(uint64_t)0 << k;
            continue;
        }
        do {
            unsigned bit = (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            out[down ? -(ptrdiff_t)got : (ptrdiff_t)got] = (void *)(base + (size_t)bit * reg_size);
            got++;
        } while (bits != 0 && got < want);
        bitmap[w] = bits;
    }
    slab->nfree -= got;
    return got;
}

static inline unsigned slab_regions_take(extent_t *slab, size_t reg_size, void **out, unsigned n) {
    return slab_regions_take_dir(slab, reg_size, out, n, false);
}

/* Mark region ind free. Returns true if it already was (a double free). */
static inline bool slab_bitmap_give(extent_t *slab, unsigned ind) {
    uint64_t *bitmap = slab->bitmap;
    uint64_t mask = (uint64_t)1 << (ind & 63);
    if (bitmap[ind >> 6] & mask)
        return true;
    bitmap[ind >> 6] |= mask;
    slab->nfree++;
    return false;
}

/* Free regions in the bitmap of a slab of nregs regions (its nfree, if they agree). */
static inline unsigned slab_bitmap_count(const extent_t *slab, unsigned nregs) {
    unsigned count = 0;
    for (unsigned w = 0; w < slab_bitmap_words(nregs); w++)
        count += (unsigned)__builtin_popcountll(slab->bitmap[w]);
    return count;
}

#endif
