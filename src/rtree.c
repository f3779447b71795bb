/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rtree: leaf creation and range writes for the address -> extent map (layout in rtree.h).
 * rtree_lock serialises leaf creation only; root slots are published with release stores so a
 * reader that sees a slot sees the (zero-filled) leaf behind it. Leaves come straight from pages
 * and are never freed; their address space is counted as metadata by base.
 */
#include "allocator/internal/rtree.h"

#include "allocator/internal/base.h"
#include "allocator/internal/pages.h"

rtree_t rtree CACHE_ALIGNED;
static mutex_t rtree_lock = MUTEX_INITIALIZER(RANK_RTREE);

static bool rtree_leaf_create(size_t slot) {
    mutex_lock(&rtree_lock);
    if (rtree.root[slot] == 0) {
        size_t size = RTREE_LEAF_N * sizeof(rtree_slot_t);
        void *leaf = pages_map(size, PAGE);
        if (leaf == NULL) {
            mutex_unlock(&rtree_lock);
            return true;
        }
        base_account_mapped(size);
        atomic_store_release(&rtree.root[slot], (uintptr_t)leaf - (uintptr_t)rtree.zero_leaf);
    }
    mutex_unlock(&rtree_lock);
    return false;
}

bool rtree_ensure(uintptr_t addr, size_t size) {
    uintptr_t first = (addr >> RTREE_LG_GRAIN) >> RTREE_LEAF_BITS;
    uintptr_t last = ((addr + size - 1) >> RTREE_LG_GRAIN) >> RTREE_LEAF_BITS;
    for (uintptr_t slot = first; slot <= last; slot++) {
        if (slot >= RTREE_ROOT_N)
            return true;
        if (atomic_load_acquire(&rtree.root[slot]) == 0 && rtree_leaf_create(slot))
            return true;
    }
    return false;
}

void rtree_write_range(uintptr_t addr, size_t size, rtree_entry_t entry, uintptr_t base) {
    uint32_t c = rtree_entry_region_c(entry);
    rtree_slot_t *slot = NULL;
    for (uintptr_t a = addr; a < addr + size; a += RTREE_GRAIN, slot++) {
        /* Slots are consecutive within a leaf: look the slot up again only at a leaf's start. */
        if (slot == NULL || (a & (((uintptr_t)1 << 30) - 1)) == 0)
            slot = rtree_slot_ptr(a);
        rtree_slot_set(slot, entry, base, c);
    }
}

bool rtree_validate(uintptr_t addr) {
    uintptr_t key = (addr >> RTREE_LG_GRAIN) & ((RTREE_ROOT_N << RTREE_LEAF_BITS) - 1);
    return atomic_load_acquire(&rtree.root[key >> RTREE_LEAF_BITS]) != 0;
}

COLD void rtree_prefork(void) { mutex_lock(&rtree_lock); }
COLD void rtree_postfork_parent(void) { mutex_unlock(&rtree_lock); }
COLD void rtree_postfork_child(void) { mutex_postfork_child(&rtree_lock); }
