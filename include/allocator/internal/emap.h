/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * emap: the address map, the one module that writes the radix tree (rtree.h). What an extent
 * registers depends on what it is:
 *   slab      every page: the slab, its class + 1, the slab bit, base = its first byte;
 *   large     first and last page: the extent, its class + 1, base = its first byte;
 *   sampled   a large extent holding one sampled block (prof.h): first and last page, the class
 *             the block reports + 1 (a small one for a promoted small request), the prof bit,
 *             and base = its first byte + 1, so the free fast path's region-start test (an odd
 *             offset never starts a region) sends its free to the slow path at no cost;
 *   free      first and last page: the extent, class 0, base 0 (so coalescing finds a free
 *             neighbour from the page just before or after it);
 * and an unregistered page reads as 0. Frees, size queries and heap walks read the tree
 * directly (rtree_read, rtree_slot_ptr); only registration goes through here. Writers hold the
 * extent's arena extents lock (a slab's registration is written under it too, when the slab is
 * made or given back), so an extent's entries change only with that lock held.
 */
#ifndef ALLOCATOR_INTERNAL_EMAP_H
#define ALLOCATOR_INTERNAL_EMAP_H

#include "allocator/internal/edata.h"
#include "allocator/internal/rtree.h"

/* Make sure the map can hold [addr, addr + size) (a new chunk). True on failure. */
bool emap_ensure(uintptr_t addr, size_t size);
/* Register an active slab of class binind on every page. */
void emap_register_slab(extent_t *slab, unsigned binind);
/* Clear every page of a slab that is being given back. */
void emap_deregister_slab(const extent_t *slab);
/* Register an active large extent of class szind on its first and last page. */
void emap_register_large(extent_t *e, unsigned szind);
/* Register a large extent holding a sampled block that reports class szind (see above). */
void emap_register_sampled(extent_t *e, unsigned szind);
/* Register a free extent's boundaries (first and last page). */
void emap_register_free(extent_t *e);
/* Clear an extent's boundary entries (first and last page). */
void emap_clear_boundaries(const extent_t *e);
/* Clear one page's entry (a large extent's old last page after it grew in place). */
void emap_clear_page(uintptr_t addr);

/* The extent registered at addr if it is free (class 0), else NULL. */
static inline extent_t *emap_free_extent_at(uintptr_t addr) {
    rtree_entry_t entry = rtree_read((void *)addr);
    return rtree_entry_binid(entry) == 0 ? rtree_entry_extent(entry) : NULL;
}
/* Debug: are e's boundaries registered as a free extent? */
bool emap_free_registered(const extent_t *e);

#endif
