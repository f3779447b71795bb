/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * block: the check of every pointer handed back to the allocator (api.h, block_check): ours, the
 * start of a region of its class, not free already. A block whose first word holds the free tag
 * is confirmed free before it is reported (block_is_free: this thread's cache, the explicit
 * caches, other live threads' caches read racily, the slab's bitmap under its bin's lock), so a
 * live block that merely holds the tag's value is not. Part of the API layer: only its slow
 * paths call it, and what fails is reported in one line before abort().
 */
#include "allocator/internal/api.h"
#include "allocator/internal/io.h"
#include "allocator/internal/prof.h"

typedef struct block_find_s {
    const void *ptr;
    unsigned binid;
    bool found;
} block_find_t;

static COLD bool cache_bin_holds(const cache_bin_t *cb, const void *ptr) {
    uint32_t top = atomic_load_relaxed(&cb->top);
    uint32_t n = top > cb->low ? top - cb->low : 0;
    if (n > cache_bin_ncached_max(cb))
        n = cache_bin_ncached_max(cb); /* a racy read of another thread's bin */
    for (uint32_t i = 0; i < n; i++) {
        if (atomic_load_relaxed(&cb->stack[i]) == ptr)
            return true;
    }
    return false;
}

static COLD void block_find_in_thread(tsd_t *tsd, void *arg) {
    block_find_t *f = arg;
    if (!f->found && f->binid - 1 < tsd->tcache.nhbins)
        f->found = cache_bin_holds(&tsd->tcache.bins[f->binid], f->ptr);
}

/*
 * ptr (a region start of class binid - 1, in the extent of entry) is tagged free: is it really
 * free? It is if a thread cache holds it (this thread's, an explicit one, or, read racily, another
 * live thread's) or, in a slab, its bitmap bit says free. Otherwise the program wrote the tag
 * value into a live block, and the caller carries on.
 */
static COLD bool block_is_free(const void *ptr, rtree_entry_t entry) {
    block_find_t f = {ptr, rtree_entry_binid(entry), false};
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        block_find_in_thread(tsd, &f);
    for (unsigned i = 0; !f.found && i < TCACHES_MAX; i++) {
        tcache_t *tc = tcaches_get(i);
        if (tc != NULL && f.binid - 1 < tc->nhbins)
            f.found = cache_bin_holds(&tc->bins[f.binid], ptr);
    }
    if (!f.found)
        tsd_foreach(block_find_in_thread, &f);
    if (!f.found && rtree_entry_slab(entry)) {
        extent_t *slab = rtree_entry_extent(entry);
        unsigned szind = f.binid - 1;
        bin_t *bin = &arenas[slab->arena_ind]->bins[szind];
        unsigned ind = sz_region_index(&bin_infos[szind], slab->addr, (uintptr_t)ptr);
        mutex_lock(&bin->lock);
        f.found = (slab->bitmap[ind >> 6] >> (ind & 63)) & 1;
        mutex_unlock(&bin->lock);
    }
    return f.found;
}

/*
 * Check that ptr, handed to op, is the start of a live block of this allocator; abort with a
 * message naming op and ptr if not. freeing says whether op frees (a block found free is then a
 * double free, else a use after free). Returns the block's radix-tree entry.
 */
rtree_entry_t block_check(const char *op, const void *ptr, bool freeing) {
    if (unlikely(!rtree_addr_valid(ptr)))
        io_fatal("%s(%p): not a valid address (bits set above the %d-bit address space)\n", op,
                 ptr, LG_VADDR);
    rtree_slot_t *slot = rtree_slot_ptr((uintptr_t)ptr);
    rtree_entry_t entry = atomic_load_relaxed(&slot->entry);
    unsigned binid = rtree_entry_binid(entry);
    if (unlikely(binid == 0))
        io_fatal("%s(%p): not allocated by this allocator, or freed already\n", op, ptr);
    unsigned ind = binid - 1;
    size_t usize = sz_index2size(ind);
    if (unlikely(rtree_entry_prof(entry))) {
        /* A sampled block: its extent holds it alone, at the extent's start. */
        const extent_t *e = rtree_entry_extent(entry);
        uintptr_t start = e->addr;
        if (unlikely(e->prof_tctx == EXTENT_PROF_SPARE) && (uintptr_t)ptr == start) {
            if (freeing)
                io_fatal("%s(%p): double free (the %zu-byte block is free already)\n", op, ptr,
                         usize);
            io_fatal("%s(%p): the %zu-byte block was freed (use after free)\n", op, ptr, usize);
        }
        if ((uintptr_t)ptr != start)
            io_fatal("%s(%p): not the start of an allocation (inside the %zu-byte block at %p)\n",
                     op, ptr, usize, (void *)start);
        return entry;
    }
    /* A division, exact for every class (the fast path's test passes none of some: sc.h). */
    uintptr_t base = rtree_entry_extent(entry)->addr;
    uintptr_t off = (uintptr_t)ptr - base;
    if (unlikely(off % usize != 0 || off / usize >= sz_region_count(ind)))
        io_fatal("%s(%p): not the start of an allocation (inside the %zu-byte block at %p)\n",
                 op, ptr, usize, (void *)(base + off / usize * usize));
    if (unlikely(block_tagged(ptr)) && block_is_free(ptr, entry)) {
        if (freeing)
            io_fatal("%s(%p): double free (the %zu-byte block is free already)\n", op, ptr, usize);
        io_fatal("%s(%p): the %zu-byte block was freed (use after free)\n", op, ptr, usize);
    }
    return entry;
}

