/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rtree: the radix tree from addresses to extents.
 *
 * Two levels over grain numbers: a flat root of RTREE_ROOT_N slots (in .bss; untouched slots
 * cost no memory) and leaves of RTREE_LEAF_N entries mapped on demand, each leaf covering
 * 1 GiB of address space. A root slot stores the leaf's address as an offset from
 * rtree.zero_leaf, a never-written all-zero leaf in .bss, so an empty slot (0) reads as that
 * leaf and a lookup is two dependent loads with no branch.
 *
 * A slot is 16 bytes. The entry packs: bits 6..47 the extent_t pointer (extent_t is cache-line
 * aligned), bit 0 set for a slab, bit 1 set for a sampled block (prof.h: a block promoted to a
 * large extent of its own), and bits 48..63 the size-class index + 1 of an allocated extent (0
 * for "no allocation here": free extents and unmapped pages) times 64, which is the byte offset
 * of the class's bin in a thread cache's bins[] (tcache.h): the free fast path reads those 16
 * bits alone and adds them to its cache's address. Then two 32-bit words: the low half of the
 * base (the address of the extent's first byte, its first region, for an allocated extent; 0
 * otherwise), negated, and the class's region-start constant (sc.h, sz_region_start; 0 for no
 * class and for sampled blocks, which nothing then passes): the free fast path tests that the
 * pointer starts a region from the slot alone (rtree_read_fast), without touching the extent_t
 * or waiting for the bin. The low half is enough: the slot is the page's, the page lies in the
 * extent, and extents that the test lets through are under 4 GiB, so the offset is exact on 32
 * bits (a pointer with bits above the address space never reaches a slot on the fast path: its
 * leaf key matches no leaf, and the lookup that follows rejects it, api.h). Slabs register every
 * page; large and free extents their first and last page. Sixteen bytes a page: the slots of a
 * heap that frees at random take half the cache lines four words did (2 MiB of leaf for 512 MiB
 * of slabs).
 *
 * The key is the address's grain, RTREE_LG_GRAIN bits: the smallest page the build serves, a
 * constant, so the free fast path shifts by an immediate whatever page size boot chose. With a
 * larger page, registering a page writes each of its grains (PAGE >> RTREE_LG_GRAIN slots: 16
 * for a 64 KiB page in a build that also serves 4 KiB), and a lookup anywhere in a registered
 * page finds its entry.
 * Readers are lock-free (relaxed loads: a slot is only read by a thread entitled to the address
 * it names); writers of an extent's slots hold that extent's arena lock; leaf creation takes
 * rtree_lock.
 */
#ifndef ALLOCATOR_INTERNAL_RTREE_H
#define ALLOCATOR_INTERNAL_RTREE_H

#include "allocator/internal/mutex.h"
#include "allocator/internal/sc.h"

#define RTREE_LG_GRAIN LG_PAGE_MIN
#define RTREE_GRAIN ((size_t)1 << RTREE_LG_GRAIN)
#define RTREE_LEAF_BITS (30 - RTREE_LG_GRAIN)
#define RTREE_LEAF_N ((size_t)1 << RTREE_LEAF_BITS)
#define RTREE_ROOT_BITS (LG_VADDR - 30)
#define RTREE_ROOT_N ((size_t)1 << RTREE_ROOT_BITS)
#define RTREE_BINOFF_SHIFT 48 /* entry >> this: (class index + 1) * 64 */
#define RTREE_SZIND_SHIFT 54  /* entry >> this: class index + 1 */
#define RTREE_SLAB_BIT ((uintptr_t)1 << 0)
#define RTREE_PROF_BIT ((uintptr_t)1 << 1)
#define RTREE_PTR_MASK ((((uintptr_t)1 << 48) - 1) & ~(uintptr_t)63)
_Static_assert(SC_NSIZES < 1024, "(the class index + 1) * 64 must fit the entry's top 16 bits");

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef uintptr_t rtree_entry_t;

typedef struct rtree_slot_s {
    rtree_entry_t entry;
    /* The base's low 32 bits, negated: the free fast path's offset is then one 32-bit add. */
    uint32_t neg_base;
    /*
     * The region-start constant of the entry's class (sc.h, sz_region_start), here so that the
     * free fast path loads it beside the entry instead of after it, from the class's cache bin:
     * a dependent load less in every free (a loop of 16-byte pairs ran about 10% faster).
     */
    uint32_t region_c;
} rtree_slot_t;
_Static_assert(sizeof(rtree_slot_t) == 16, "the slot index is a shift");

/* One object, so that one address computation reaches both (the fast path saves a lea). */
typedef struct rtree_s {
    uintptr_t root[RTREE_ROOT_N];
    rtree_slot_t zero_leaf[RTREE_LEAF_N];
} rtree_t;
extern rtree_t rtree HIDDEN;

struct extent_s;

/*
 * The bits of an address that name its leaf (from 30 up), and the leaf's address (the zero leaf
 * for addresses never registered). Address bits above LG_VADDR are ignored here: callers that
 * may see a non-canonical pointer reject it first (rtree_addr_valid).
 */
#define RTREE_LEAF_SHIFT (RTREE_LG_GRAIN + RTREE_LEAF_BITS)
static ALWAYS_INLINE char *rtree_leaf_of(uintptr_t addr) {
    return (char *)rtree.zero_leaf +
           atomic_load_acquire(&rtree.root[(addr >> RTREE_LEAF_SHIFT) & (RTREE_ROOT_N - 1)]);
}
/* The byte offset of addr's slot in its leaf. */
static ALWAYS_INLINE uintptr_t rtree_leaf_slot_off(uintptr_t addr) {
    return ((addr >> RTREE_LG_GRAIN) & (RTREE_LEAF_N - 1)) * sizeof(rtree_slot_t);
}
/* The slot of addr. */
static ALWAYS_INLINE rtree_slot_t *rtree_slot_ptr(uintptr_t addr) {
    return (rtree_slot_t *)(rtree_leaf_of(addr) + rtree_leaf_slot_off(addr));
}

/* Can addr be in the tree at all (no bits set above LG_VADDR)? */
static ALWAYS_INLINE bool rtree_addr_valid(const void *addr) {
    return ((uintptr_t)addr >> LG_VADDR) == 0;
}

static ALWAYS_INLINE rtree_entry_t rtree_read(const void *addr) {
    return atomic_load_relaxed(&rtree_slot_ptr((uintptr_t)addr)->entry);
}
/* The low 32 bits of the base addr's slot holds (0 for no allocation). */
static ALWAYS_INLINE uint32_t rtree_read_base32(const void *addr) {
    return -atomic_load_relaxed(&rtree_slot_ptr((uintptr_t)addr)->neg_base);
}

static ALWAYS_INLINE unsigned rtree_entry_binid(rtree_entry_t e) {
    return (unsigned)(e >> RTREE_SZIND_SHIFT);
}
static ALWAYS_INLINE struct extent_s *rtree_entry_extent(rtree_entry_t e) {
    return (struct extent_s *)(e & RTREE_PTR_MASK);
}
static ALWAYS_INLINE bool rtree_entry_slab(rtree_entry_t e) { return (e & RTREE_SLAB_BIT) != 0; }
static ALWAYS_INLINE bool rtree_entry_prof(rtree_entry_t e) { return (e & RTREE_PROF_BIT) != 0; }
/* The entry's bin offset, (class index + 1) * 64, read as its own 16 bits (one load). */
static ALWAYS_INLINE size_t rtree_slot_binoff(rtree_slot_t *slot) {
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the offset is the entry's top half-word");
    typedef uint16_t __attribute__((may_alias)) half_t;
    return *((const half_t *)&slot->entry + 3);
}
/*
 * The fast paths' read of addr's slot in leaf, addr's leaf (rtree_leaf_of, or a copy of it the
 * caller kept: api.h): the entry's bin offset (its top 16 bits, see rtree_slot_binoff), and
 * whether addr starts one of the extent's regions (sz_region_start of the offset from the
 * slot's base, with the slot's constant).
 */
static ALWAYS_INLINE void rtree_read_fast(uintptr_t addr, char *leaf, size_t *binoff,
                                          bool *start) {
    uintptr_t off = rtree_leaf_slot_off(addr);
#if defined(__x86_64__)
    /*
     * Every load of the slot addresses leaf + off, with no add to form the slot's address, and
     * the multiply and the compare take the constant from memory: 5 instructions, the test's
     * flag handed to the caller's branch (compilers neither fold the relaxed atomic loads into
     * the operands nor keep the two-register address).
     */
    uintptr_t b;
    uint32_t t;
    bool below;
    __asm__("movzwl %c[e6](%[z],%[o]), %k[b]\n\t"
            "mov %c[nb](%[z],%[o]), %k[t]\n\t"
            "add %k[a], %k[t]\n\t"
            "imul %c[c](%[z],%[o]), %k[t]\n\t"
            "cmp %c[c](%[z],%[o]), %k[t]"
            : [b] "=&r"(b), [t] "=&r"(t), "=@ccb"(below)
            : [z] "r"(leaf), [o] "r"(off), [a] "r"(addr),
              [e6] "i"(offsetof(rtree_slot_t, entry) + 6), [nb] "i"(offsetof(rtree_slot_t, neg_base)),
              [c] "i"(offsetof(rtree_slot_t, region_c)));
    *binoff = b;
    *start = below;
#else
    rtree_slot_t *slot = (rtree_slot_t *)(leaf + off);
    *binoff = rtree_slot_binoff(slot);
    *start = sz_region_start((uint32_t)addr + atomic_load_relaxed(&slot->neg_base),
                             atomic_load_relaxed(&slot->region_c));
#endif
}

static inline rtree_entry_t rtree_entry_make(struct extent_s *e, unsigned binid, bool slab) {
    return (uintptr_t)e | ((uintptr_t)binid << RTREE_SZIND_SHIFT) | (slab ? RTREE_SLAB_BIT : 0);
}

/* Make sure leaves exist for [addr, addr+size). Returns true on failure (out of memory). */
bool rtree_ensure(uintptr_t addr, size_t size);
/* The region-start constant of entry's class (0 for no class, and for a sampled block). */
static ALWAYS_INLINE uint32_t rtree_entry_region_c(rtree_entry_t entry) {
    unsigned binid = rtree_entry_binid(entry);
    return binid != 0 && !rtree_entry_prof(entry) ? sz_region_c_tab[binid - 1] : 0;
}

/* One slot: entry, base, and the region-start constant of entry's class. */
static ALWAYS_INLINE void rtree_slot_set(rtree_slot_t *slot, rtree_entry_t entry, uintptr_t base,
                                         uint32_t c) {
    atomic_store_relaxed(&slot->entry, entry);
    atomic_store_relaxed(&slot->neg_base, -(uint32_t)base);
    atomic_store_relaxed(&slot->region_c, c);
}

/* Write entry and base to the pages [addr, addr+size) (page aligned); leaves must exist. */
void rtree_write_range(uintptr_t addr, size_t size, rtree_entry_t entry, uintptr_t base);
/*
 * The same for the one page at addr (page aligned). Large and free extents register their first
 * and last page, and a split or merge rewrites them: about ten of these a large malloc and free,
 * so a page of one grain (the build's smallest page, the usual case) is one slot written here,
 * not a call of the range loop.
 */
static ALWAYS_INLINE void rtree_write(uintptr_t addr, rtree_entry_t entry, uintptr_t base) {
    if (likely(PAGE == RTREE_GRAIN))
        rtree_slot_set(rtree_slot_ptr(addr), entry, base, rtree_entry_region_c(entry));
    else
        rtree_write_range(addr, PAGE, entry, base);
}

void rtree_prefork(void);
void rtree_postfork_parent(void);
void rtree_postfork_child(void);
/* Debug: check the leaf for addr is a real leaf, not the zero leaf. */
bool rtree_validate(uintptr_t addr);

#endif
