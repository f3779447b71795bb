/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The address map writes exactly the entries the readers expect: a slab on every page (class
 * + 1, slab bit, region shift, base its first byte), a large extent on its first and last page
 * only, a free extent on its boundaries with class 0 and base 0; clearing leaves zero behind and
 * nothing outside the extent is touched.
 */
#include "allocator/internal/emap.h"
#include "allocator/internal/pages.h"
#include "unit.h"

static extent_t ext __attribute__((aligned(64)));

/* Every page of [from, to) reads entry with base's low half (and the slot around it is
 * untouched). */
static void check_span(uintptr_t from, uintptr_t to, rtree_entry_t entry, uintptr_t base) {
    for (uintptr_t a = from; a < to; a += PAGE) {
        check_eq(rtree_read((void *)a), entry);
        check_eq(rtree_read((void *)(a + PAGE - 1)), entry);
        check_eq(rtree_read_base32((void *)a), (uint32_t)base);
    }
}

int main(void) {
    pages_boot();
    sc_boot();
    uintptr_t chunk = (uintptr_t)3 << 40;
    check(!emap_ensure(chunk, CHUNK));
    uintptr_t addr = chunk + 4 * PAGE, end = addr + 8 * PAGE;
    ext.addr = addr;
    ext.size = 8 * PAGE;

    unsigned binind = sz_size2index(48);
    emap_register_slab(&ext, binind);
    rtree_entry_t slab = rtree_read((void *)addr);
    check(rtree_entry_extent(slab) == &ext);
    check(rtree_entry_slab(slab));
    check_eq(rtree_entry_binid(slab), binind + 1);
    check_eq(rtree_slot_binoff(rtree_slot_ptr(addr + 3 * PAGE)), (binind + 1) * 64);
    check_span(addr, end, slab, addr);
    check_span(addr - PAGE, addr, 0, 0);
    check_span(end, end + PAGE, 0, 0);
    emap_deregister_slab(&ext);
    check_span(addr - PAGE, end + PAGE, 0, 0);

    unsigned szind = sz_size2index(8 * PAGE);
    check(szind >= SC_NBINS);
    emap_register_large(&ext, szind);
    rtree_entry_t large = rtree_read((void *)addr);
    check(rtree_entry_extent(large) == &ext && !rtree_entry_slab(large));
    check_eq(rtree_entry_binid(large), szind + 1);
    check_eq(rtree_slot_binoff(rtree_slot_ptr(end - PAGE)), (szind + 1) * 64);
    check_span(addr, addr + PAGE, large, addr);
    check_span(end - PAGE, end, large, addr);
    check_span(addr + PAGE, end - PAGE, 0, 0);
    check(emap_free_extent_at(addr) == NULL); /* allocated, not free */

    /* Grown in place by two pages: the old last page is cleared, the new one written. */
    uintptr_t old_last = end - PAGE;
    ext.size += 2 * PAGE;
    emap_clear_page(old_last);
    emap_register_large(&ext, sz_size2index(10 * PAGE));
    check_span(old_last, old_last + PAGE, 0, 0);
    check_eq(rtree_read_base32((void *)(end + PAGE)), (uint32_t)addr);
    emap_clear_boundaries(&ext);
    check_span(addr - PAGE, end + 3 * PAGE, 0, 0);

    emap_register_free(&ext);
    rtree_entry_t free_entry = rtree_read((void *)addr);
    check_eq(free_entry, (uintptr_t)&ext);
    check_span(addr, addr + PAGE, free_entry, 0);
    check_span(extent_last_page(&ext), extent_last_page(&ext) + PAGE, free_entry, 0);
    check(emap_free_registered(&ext));
    check(emap_free_extent_at(addr) == &ext);
    check(emap_free_extent_at(extent_last_page(&ext)) == &ext);
    check(emap_free_extent_at(addr + PAGE) == NULL);
    emap_clear_boundaries(&ext);
    check(!emap_free_registered(&ext));
    check_span(chunk, chunk + CHUNK, 0, 0);
    return unit_finish("emap");
}
