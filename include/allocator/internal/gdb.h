/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gdb: what bin/allocator-gdb.py (the gdb command `heap`) needs besides the debug information.
 *
 * The script only reads memory: it finds arenas[], walks each arena's chunks through the radix
 * tree, reads extents, slab bitmaps, bins, bin_infos[], the thread states on tsd.c's live list
 * and their caches, the explicit caches and base's counters, all by field name through the
 * types in the debug information. What the types cannot say (the page size, the radix tree's
 * geometry) is in allocator_gdb_consts (and pages_lg_page, the page size read at boot, unless
 * --with-lg-page fixed it), and allocator_gdb_layout names the version of the whole layout: the
 * script refuses a version it does not know. Layout 7: a slab's bitmap is its own, pointed to by
 * extent_t.bitmap (slab.h), and each arena counts its bitmaps' bytes (extents_t.bitmaps).
 * Layout 8: an arena keeps idle slabs (extents_t.idle, idle_pages; extent.h), active extents
 * that npages_active counts and the statistics report as dirty pages. Layout 9: the thread-local
 * tsd_tls is a structure (tsd.h, tsd_tls_t) whose member tsd is the thread's state.
 *
 * Changing the layout or the meaning of a field of any structure the script reads (each says
 * so in a comment): bump ALLOCATOR_GDB_LAYOUT and update bin/allocator-gdb.py. Adding a field
 * the script does not read needs neither (it finds fields by name).
 *
 * Both objects are hidden (not in the dynamic symbol table); gdb finds them through the debug
 * information. They are defined in boot.c, which every program using the library links, static
 * programs included.
 */
#ifndef ALLOCATOR_INTERNAL_GDB_H
#define ALLOCATOR_INTERNAL_GDB_H

#include "allocator/internal/util.h"

#define ALLOCATOR_GDB_LAYOUT 9

typedef struct allocator_gdb_consts_s {
    unsigned lg_page;           /* --with-lg-page's value; 0: read pages_lg_page (pages.h) */
    unsigned lg_chunk;
    unsigned rtree_lg_grain;    /* a radix-tree key is the address >> rtree_lg_grain */
    unsigned rtree_leaf_bits;   /* a leaf maps 2^rtree_leaf_bits grains */
    unsigned rtree_root_bits;   /* the root has 2^rtree_root_bits slots */
    unsigned rtree_szind_shift; /* entry: class index + 1 from here up */
    unsigned rtree_slot_size;   /* bytes per radix-tree slot (the entry is its first word) */
    unsigned long long rtree_ptr_mask; /* entry & mask: the extent_t address */
    unsigned nsizes;            /* all classes (the small ones: 4 * (lg_page + 2) - 21) */
} allocator_gdb_consts_t;

extern const unsigned allocator_gdb_layout HIDDEN;
extern const allocator_gdb_consts_t allocator_gdb_consts HIDDEN;

#endif
