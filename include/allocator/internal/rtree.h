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
 * A slot is four words. The entry packs: bits 6..47 the extent_t pointer (extent_t is cache-line
 * aligned), bit 0 set for a slab, bit 1 set for a sampled block (prof.h: a block promoted to a
 * large extent of its own), and bits 48..63 the size-class index + 1 of an allocated extent (0
 * for "no allocation here": free extents and unmapped pages) times 64, which is the byte offset
 * of the class's bin in a thread cache's bins[] (tcache.h): the free fast path reads those 16
 * bits alone and adds them to its cache's address. The base is the address of the extent's first
 * byte (its first region) for an allocated extent, 0 otherwise, and the last two words are the
 * class's region-start multiplier and shift (sc.h, sz_region_ordinal): the free fast path tests
 * that the pointer starts a region from the slot alone (rtree_read_fast) without touching the
 * extent_t or waiting for the bin. Slabs register every page; large and free extents their first
 * and last page.
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
    uintptr_t neg_base; /* the base, negated: the free fast path's offset is then one add */
    /*
     * The region-start test's constants of the entry's class (sc.h, sz_region_ordinal; 0 for
     * no class), here so that the free fast path loads them beside the entry instead of after
     * it, from the class's cache bin: a dependent load less in every free (a loop of 16-byte
     * pairs runs about 10% faster).
     */
    uint64_t region_mul;
    uint64_t region_shift;
} rtree_slot_t;
_Static_assert(sizeof(rtree_slot_t) == 32, "the slot index is a shift");

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
 * may see a non-canonical pointer reject it first (rtree_addr_valid), or, as the free fast path
 * does, check the pointer against the slot's base, which such a pointer cannot pass.
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
static ALWAYS_INLINE uintptr_t rtree_read_base(const void *addr) {
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
 * addr's region ordinal in the extent the slot names (sz_region_ordinal of addr - base with the
 * slot's class constants): addr starts one of the extent's regions iff the ordinal is below the
 * class's region count.
 */
static ALWAYS_INLINE void rtree_read_fast(uintptr_t addr, char *leaf, size_t *binoff,
                                          uint64_t *ordinal) {
    uintptr_t off = rtree_leaf_slot_off(addr);
#if defined(__x86_64__)
    /*
     * Every load of the slot addresses leaf + off, with no add to form the slot's address, and
     * the multiply takes its operand from memory: what the C below computes in 7 instructions
     * instead of 9 (compilers neither fold the relaxed atomic loads into the multiply nor keep
     * the two-register address).
     */
    uintptr_t b, ord, shift;
    __asm__("movzwl %c[e6](%[z],%[o]), %k[b]\n\t"
            "mov %c[nb](%[z],%[o]), %[ord]\n\t"
            "add %[a], %[ord]\n\t"
            "imul %c[mul](%[z],%[o]), %[ord]\n\t"
            "mov %c[sh](%[z],%[o]), %[sh_r]\n\t"
            "ror %%cl, %[ord]"
            : [b] "=&r"(b), [ord] "=&r"(ord), [sh_r] "=&c"(shift)
            : [z] "r"(leaf), [o] "r"(off), [a] "r"(addr),
              [e6] "i"(offsetof(rtree_slot_t, entry) + 6), [nb] "i"(offsetof(rtree_slot_t, neg_base)),
              [mul] "i"(offsetof(rtree_slot_t, region_mul)),
              [sh] "i"(offsetof(rtree_slot_t, region_shift))
            : "cc");
    (void)shift;
    *binoff = b;
    *ordinal = ord;
#else
    rtree_slot_t *slot = (rtree_slot_t *)(leaf + off);
    *binoff = rtree_slot_binoff(slot);
    *ordinal = sz_region_ordinal(addr + atomic_load_relaxed(&slot->neg_base),
                                 atomic_load_relaxed(&slot->region_mul),
                                 (unsigned)atomic_load_relaxed(&slot->region_shift));
#endif
}

static inline rtree_entry_t rtree_entry_make(struct extent_s *e, unsigned binid, bool slab) {
    return (uintptr_t)e | ((uintptr_t)binid << RTREE_SZIND_SHIFT) | (slab ? RTREE_SLAB_BIT : 0);
}

/* Make sure leaves exist for [addr, addr+size). Returns true on failure (out of memory). */
bool rtree_ensure(uintptr_t addr, size_t size);
/* The region-start test's constants of entry's class (0 for no class). */
static ALWAYS_INLINE uint64_t rtree_entry_region_mul(rtree_entry_t entry) {
    unsigned binid = rtree_entry_binid(entry);
    return binid != 0 ? sz_region_mul_tab[binid - 1] : 0;
}
static ALWAYS_INLINE uint64_t rtree_entry_region_shift(rtree_entry_t entry) {
    unsigned binid = rtree_entry_binid(entry);
    return binid != 0 ? sz_region_shift_tab[binid - 1] : 0;
}

/* One slot's four words: entry, base, and the region-start constants of entry's class. */
static ALWAYS_INLINE void rtree_slot_set(rtree_slot_t *slot, rtree_entry_t entry, uintptr_t base,
                                         uint64_t mul, uint64_t shift) {
    atomic_store_relaxed(&slot->entry, entry);
    atomic_store_relaxed(&slot->neg_base, -base);
    atomic_store_relaxed(&slot->region_mul, mul);
    atomic_store_relaxed(&slot->region_shift, shift);
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
        rtree_slot_set(rtree_slot_ptr(addr), entry, base, rtree_entry_region_mul(entry),
                       rtree_entry_region_shift(entry));
    else
        rtree_write_range(addr, PAGE, entry, base);
}

void rtree_prefork(void);
void rtree_postfork_parent(void);
void rtree_postfork_child(void);
/* Debug: check the leaf for addr is a real leaf, not the zero leaf. */
bool rtree_validate(uintptr_t addr);

#endif
