/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * emap: every write to the radix tree (what each kind of extent registers is in emap.h). Called
 * by bin (slabs), arena (large extents) and the page allocator (free extents, chunks), with the
 * extent's arena extents lock held; leaf creation for a new chunk takes rtree_lock (rtree.c).
 */
#include "allocator/internal/emap.h"

bool emap_ensure(uintptr_t addr, size_t size) { return rtree_ensure(addr, size); }

void emap_register_slab(extent_t *slab, unsigned binind) {
    rtree_write_range(slab->addr, slab->size, rtree_entry_make(slab, binind + 1, true), slab->addr);
}

void emap_deregister_slab(const extent_t *slab) { rtree_write_range(slab->addr, slab->size, 0, 0); }

void emap_register_large(extent_t *e, unsigned szind) {
    rtree_entry_t entry = rtree_entry_make(e, szind + 1, false);
    rtree_write(e->addr, entry, e->addr);
    rtree_write(extent_last_page(e), entry, e->addr);
}

void emap_register_sampled(extent_t *e, unsigned szind) {
    rtree_entry_t entry = rtree_entry_make(e, szind + 1, false) | RTREE_PROF_BIT;
    rtree_write(e->addr, entry, e->addr + 1);
    rtree_write(extent_last_page(e), entry, e->addr + 1);
}

void emap_register_free(extent_t *e) {
    rtree_entry_t entry = rtree_entry_make(e, 0, false);
    rtree_write(e->addr, entry, 0);
    rtree_write(extent_last_page(e), entry, 0);
}

void emap_clear_boundaries(const extent_t *e) {
    rtree_write(e->addr, 0, 0);
    rtree_write(extent_last_page(e), 0, 0);
}

void emap_clear_page(uintptr_t addr) { rtree_write(addr, 0, 0); }

bool emap_free_registered(const extent_t *e) {
    rtree_entry_t entry = rtree_entry_make((extent_t *)e, 0, false);
    return rtree_read((void *)e->addr) == entry &&
           rtree_read((void *)extent_last_page(e)) == entry &&
           rtree_read_base32((void *)e->addr) == 0;
}
