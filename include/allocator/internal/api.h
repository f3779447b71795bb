/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api: the API layer's header (only malloc.c, compat.c and api_ctl.c include it): the inline
 * allocation and deallocation fast paths, the slow paths they tail-call, and tsd_fetch, which
 * may run the boot sequence or wait for malloc_enable. Call tree:
 *
 *   malloc(size) -> malloc_fastpath: class lookup (sizes up to SZ_FAST_MAXCLASS, small and
 *                   large classes alike), pop from the thread cache, count down the thread
 *                   event counter (tevent.h), which is also thread.allocated's count
 *                   `-> malloc_slow -> alloc_slow(size, align 0, ...) [init, fills, arenas,
 *                                      thread events: sampled allocations (prof.h)]
 *                   `-> malloc_event [an event due: run it; to sample: undo the pop,
 *                                     alloc_sampled]
 *   free(ptr)    -> free_fastpath: rtree lookup, region-start test, tag test, push, count
 *                   the push in the bin (thread.deallocated's count), tag
 *                   `-> free_slow -> dalloc_slow [NULL, flushes, no-cache, invalid pointers,
 *                                                 tagged blocks: confirm, then abort or carry on,
 *                                                 sampled blocks (their entries fail the
 *                                                 region-start test: emap.h)]
 *
 * The fast paths read one thread-local pointer, do no atomic read-modify-write, take no lock,
 * and have one unlikely branch each besides the table-range check (malloc) and the checks that
 * the pointer is a block of ours that is not free already (free: region start, tag).
 */
#ifndef ALLOCATOR_INTERNAL_API_H
#define ALLOCATOR_INTERNAL_API_H

#include "allocator/internal/atfork.h"
#include "allocator/internal/boot.h"
#include "allocator/internal/heapwalk.h"
#include "allocator/internal/tsd.h"

/*
 * The calling thread's state, creating it (and initialising the allocator) when needed:
 * tsd_dead inside init or after thread exit (arena 0, no cache), NULL if init failed. While
 * malloc_disable holds the heap, a thread it parked waits here for malloc_enable. Like
 * api_init, it is a gate of the slow paths: the fork handlers are armed here once the process
 * has a second thread, before the caller takes any lock (atfork.h).
 */
static inline tsd_t *tsd_fetch(void) {
    atfork_check();
    tsd_t *tsd = tsd_get();
    if (likely(tsd_is_real(tsd)) || tsd == &tsd_dead)
        return tsd;
    if (tsd == &tsd_disabled) {
        tsd = heapwalk_wait();
        /* Parked again by a newer malloc_disable: serve like a departed thread (arena locks
         * stop it until that one ends). */
        return tsd == &tsd_disabled ? &tsd_dead : tsd;
    }
    switch (init_ensure(boot_run)) {
    case INIT_OK:
        break;
    case INIT_RECURSIVE:
        return &tsd_dead;
    case INIT_ERROR:
        return NULL;
    }
    tsd = tsd_init_thread();
    return tsd != NULL ? tsd : &tsd_dead;
}

/*
 * init_ensure(boot_run) for the entry points that need no thread state (the fork handlers are
 * armed first if the process has a second thread: atfork.h).
 */
static inline init_result_t api_init(void) {
    atfork_check();
    return init_ensure(boot_run);
}

/*
 * Check that ptr, handed to op, is the start of a live block of this allocator; abort with a
 * message naming op and ptr if not (block.c). freeing says whether op frees (a block found free
 * is then a double free, else a use after free). Returns the block's radix-tree entry.
 */
rtree_entry_t block_check(const char *op, const void *ptr, bool freeing);

/*
 * The slow bodies the API layer's files share (malloc.c defines them; realloc.c calls them).
 * A request: its size and alignment, and how it picks its cache and arena (from the thread
 * state, or as mallocx flags say).
 */
typedef struct alloc_req_s {
    size_t size;
    size_t align; /* 0: natural alignment */
    bool zero;
    bool no_tcache;
    tcache_t *tcache; /* an explicit cache (MALLOCX_TCACHE), or NULL */
    arena_t *arena;   /* NULL: the thread's */
} alloc_req_t;

/* Allocate as req says: every allocating entry point's slow path (init, fills, arenas, events). */
void *alloc_slow(const alloc_req_t *req);
/* NULL with errno ENOMEM (xmalloc: abort). */
void *alloc_fail(void) COLD;
/*
 * Free ptr, handed to op: check it (block_check), then to the thread's cache, the explicit
 * tcache, or (no_tcache) straight to its arena.
 */
void dalloc_slow(const char *op, void *ptr, bool no_tcache, tcache_t *tcache);
/* Decode mallocx flags into req; false if they name an arena or cache that does not exist. */
bool mallocx_req(alloc_req_t *req, size_t size, int flags);
/* ptr's usable size, after op's check of ptr. */
size_t usable_size_of(const char *op, const void *ptr);
/*
 * A large block e resized in place from old_usize to usize (size asked): the thread's counters,
 * its events for the bytes gained (the block may become sampled), a sampled block's counts.
 */
void ralloc_inplace_done(extent_t *e, bool sampled, size_t size, size_t old_usize, size_t usize);

void *malloc_slow(size_t size) NOINLINE;
/* The fast path popped ret and found a thread event due: run it; ret, or a sampled block. */
void *malloc_event(void *ret, size_t size) NOINLINE COLD;
void free_slow(void *ptr) NOINLINE;

static ALWAYS_INLINE void *malloc_fastpath(size_t size) {
    tsd_t *tsd = tsd_get();
    if (likely(size <= SZ_FAST_MAXCLASS)) {
        size_t off = sz_size2binoff_tab[size]; /* 0 (bins[0], empty) until filled */
        cache_bin_t *cb = (cache_bin_t *)((char *)tsd->tcache.bins + off);
        unsigned long top = cb->top; /* size_t: stacks[top - 1] is then one addressing mode */
        if (likely(top != cb->low)) {
            /*
             * The bin's last use before the block is read: the compiler can then load the
             * block straight into the return register.
             */
            uint64_t usize = cb->size;
            cache_bin_top_dec(cb, top);
            /*
             * The thread event counter (tevent.h): one subtract, and the sign it leaves. It
             * also counts the thread's allocated bytes, and the pop the bin's requests: no
             * other count (tsd.h, tcache.h).
             */
            bool event = (tsd->event_left -= (int64_t)usize) < 0;
            void *ret = tsd_stacks(tsd)[top - 1];
            block_untag(ret);
            if (unlikely(event))
                return malloc_event(ret, size);
            return ret;
        }
    }
    return malloc_slow(size);
}

/*
 * The radix-tree leaf of a in the fast paths: the thread's copy when a is in the gigabyte it
 * maps, else the root's, kept unless it is the empty leaf (tsd.h, tsd_tls_t). With the copy, the
 * slot's loads wait on no load of the root, and neither do the addresses of free's stores into
 * the bin, which the next malloc's reads of the bin would otherwise be issued ahead of and
 * replayed: a malloc/free loop of one size (bench/fixed) 0.34 -> 0.18 s. A pointer with bits
 * above the address space matches no copy and gets the empty leaf (its slot's offset would be
 * its low 32 bits alone: rtree.h), and so does every pointer of a thread whose frees must all
 * take the slow path (TSD_LEAF_SLOW: tsd_counters_live).
 */
static ALWAYS_INLINE char *fastpath_leaf(tsd_tls_t *tls, uintptr_t a) {
    if (likely(a >> RTREE_LEAF_SHIFT == tls->leaf_key))
        return tls->leaf;
    /* Read again (an atomic load is not merged with the one above): the test above then
     * compares with memory, and the key takes no register in the fast path. */
    if (!rtree_addr_valid((void *)a) || atomic_load_relaxed(&tls->leaf_key) == TSD_LEAF_SLOW)
        return (char *)rtree.zero_leaf;
    char *leaf = rtree_leaf_of(a);
    if (leaf != (char *)rtree.zero_leaf) {
        tls->leaf_key = a >> RTREE_LEAF_SHIFT;
        tls->leaf = leaf;
    }
    return leaf;
}

/*
 * The fast paths' reading of a block handed back (free's and realloc's): the bin of the class
 * ptr's radix-tree slot names (bins[0], which caches nothing, for none), and whether ptr starts
 * one of its extent's regions (rtree_read_fast). *offp is the bin's byte offset in bins[].
 */
static ALWAYS_INLINE cache_bin_t *fastpath_block_bin(tsd_tls_t *tls, tsd_t *tsd, const void *ptr,
                                                     size_t *offp, bool *start) {
    uintptr_t a = (uintptr_t)ptr;
    rtree_read_fast(a, fastpath_leaf(tls, a), offp, start);
    return (cache_bin_t *)((char *)tsd->tcache.bins + *offp);
}

/*
 * ... and its test: ptr starts a region of a class this allocator has (which also rejects
 * sampled blocks and unknown pointers: their slots' constant is 0), and its first byte is not
 * the free tag's. With sized (a constant) the class must also be the one whose bin is at byte
 * offset want_off of bins[] (one compare of the entry's bin offset, no class index computed).
 * Whether the thread caches the class is the callers' test: a bin that caches nothing has no
 * room (tcache.h).
 */
static ALWAYS_INLINE bool fastpath_block_ok(const void *ptr, bool start, size_t off, bool sized,
                                            size_t want_off) {
    return likely((!sized || off == want_off) && start && !block_maybe_tagged(ptr));
}

/*
 * Push ptr onto the thread cache if fastpath_block_ok and its class's bin has room; then tag it
 * (sized frees: the class must be the one at want_off). Returns false, having changed nothing,
 * otherwise.
 */
static ALWAYS_INLINE bool free_fastpath_try(void *ptr, bool sized, size_t want_off) {
    tsd_tls_t *tls = &tsd_tls;
    tsd_t *tsd = tls->tsd;
    size_t off;
    bool start;
    cache_bin_t *cb = fastpath_block_bin(tls, tsd, ptr, &off, &start);
    /*
     * A sized free pushes onto want_off's bin, which fastpath_block_ok requires to be the
     * slot's: the same bin, but its address is known before the radix-tree load returns. The
     * pushes' stores then have their addresses early, and the next malloc's reads of the bin
     * are not issued ahead of them and replayed (a memory-ordering flush): a loop of malloc and
     * free_sized spends part of its time at 19 cycles a pair instead of 10 with the slot's bin.
     */
    if (sized)
        cb = (cache_bin_t *)((char *)tsd->tcache.bins + want_off);
    unsigned long top = cb->top;
    if (likely(fastpath_block_ok(ptr, start, off, sized, want_off) && top < cb->full)) {
        tsd_stacks(tsd)[top] = ptr;
        cache_bin_top_inc(cb);
        cb->npush++; /* the thread's deallocated bytes and the bin's requests (tcache.h) */
        block_tag(ptr);
        return true;
    }
    return false;
}

/*
 * realloc(ptr, size) with size at most SZ_FAST_MAXCLASS, checked as the free fast path checks a
 * pointer (fastpath_block_ok): 0 when size's class is ptr's (malloc's table names the same bin:
 * ptr is then the answer, with no counter changed, as realloc_impl returns it), else ptr's usable
 * size when ptr passed the checks (a block of a class the thread's cache may hold, another than
 * size's or one the table does not know yet), else SIZE_MAX. Classes the cache does not hold
 * (their bins, like bins[0], have full == 0: tcache.h), sampled blocks, states without a cache
 * and anything suspicious get SIZE_MAX, and realloc_impl's full check.
 */
static ALWAYS_INLINE size_t realloc_fastpath_class(void *ptr, size_t size) {
    size_t off;
    bool start;
    cache_bin_t *cb = fastpath_block_bin(&tsd_tls, tsd_get(), ptr, &off, &start);
    if (unlikely(!fastpath_block_ok(ptr, start, off, false, 0) || cb->full == 0))
        return SIZE_MAX;
    return off == sz_size2binoff_tab[size] ? 0 : cb->size;
}

static ALWAYS_INLINE void free_fastpath(void *ptr) {
    if (likely(free_fastpath_try(ptr, false, 0)))
        return;
    free_slow(ptr);
}

#endif
