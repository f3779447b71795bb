/*
 * rtree: the radix tree from addresses to extents.
 *
 * Two levels over page numbers: a flat root of RTREE_ROOT_N slots (in .bss; untouched slots
 * cost no memory) and leaves of RTREE_LEAF_N entries mapped on demand, each leaf covering
 * 1 GiB of address space. A root slot stores the leaf's address as an offset from
 * rtree_zero_leaf, a never-written all-zero leaf in .bss, so an empty slot (0) reads as that
 * leaf and a lookup is two dependent loads with no branch.
 *
 * An entry packs: bits 0..47 the extent_t pointer (bit 0 set for a slab), bits 48..63 the
 * size-class index + 1 of an allocated extent (0 for "no allocation here": free extents and
 * unmapped pages). Slabs register every page; large and free extents their first and last page.
 * Readers are lock-free (relaxed loads: an entry is only read by a thread entitled to the
 * address it names); writers of an extent's entries hold that extent's arena lock; leaf creation
 * takes rtree_lock.
 */
#ifndef ALLOCATOR_INTERNAL_RTREE_H
#define ALLOCATOR_INTERNAL_RTREE_H

#include "allocator/internal/mutex.h"

#define RTREE_LEAF_BITS (30 - LG_PAGE)
#define RTREE_LEAF_N ((size_t)1 << RTREE_LEAF_BITS)
#define RTREE_ROOT_BITS (LG_VADDR - 30)
#define RTREE_ROOT_N ((size_t)1 << RTREE_ROOT_BITS)
#define RTREE_SZIND_SHIFT 48
#define RTREE_PTR_MASK (((uintptr_t)1 << RTREE_SZIND_SHIFT) - 1)

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef uintptr_t rtree_entry_t;

extern uintptr_t rtree_root[RTREE_ROOT_N];
extern rtree_entry_t rtree_zero_leaf[RTREE_LEAF_N];

struct extent_s;

static ALWAYS_INLINE rtree_entry_t *rtree_entry_ptr(uintptr_t addr) {
    uintptr_t key = (addr >> LG_PAGE) & ((RTREE_ROOT_N << RTREE_LEAF_BITS) - 1);
    uintptr_t leaf = (uintptr_t)rtree_zero_leaf + atomic_load_acquire(&rtree_root[key >> RTREE_LEAF_BITS]);
    return (rtree_entry_t *)leaf + (key & (RTREE_LEAF_N - 1));
}

static ALWAYS_INLINE rtree_entry_t rtree_read(const void *addr) {
    return atomic_load_relaxed(rtree_entry_ptr((uintptr_t)addr));
}

static ALWAYS_INLINE unsigned rtree_entry_binid(rtree_entry_t e) {
    return (unsigned)(e >> RTREE_SZIND_SHIFT);
}
static ALWAYS_INLINE struct extent_s *rtree_entry_extent(rtree_entry_t e) {
    return (struct extent_s *)(e & RTREE_PTR_MASK & ~(uintptr_t)1);
}
static ALWAYS_INLINE bool rtree_entry_slab(rtree_entry_t e) { return (e & 1) != 0; }
static inline rtree_entry_t rtree_entry_make(struct extent_s *e, unsigned binid, bool slab) {
    return (uintptr_t)e | ((uintptr_t)binid << RTREE_SZIND_SHIFT) | (slab ? 1 : 0);
}

/* Make sure leaves exist for [addr, addr+size). Returns true on failure (out of memory). */
bool rtree_ensure(uintptr_t addr, size_t size);
/* Write entry to the pages [addr, addr+size) step PAGE; leaves must exist. */
void rtree_write_range(uintptr_t addr, size_t size, rtree_entry_t entry);
static inline void rtree_write(uintptr_t addr, rtree_entry_t entry) {
    atomic_store_relaxed(rtree_entry_ptr(addr), entry);
}

void rtree_prefork(void);
void rtree_postfork_parent(void);
void rtree_postfork_child(void);
/* Debug: check the leaf for addr is a real leaf, not the zero leaf. */
bool rtree_validate(uintptr_t addr);

#endif
