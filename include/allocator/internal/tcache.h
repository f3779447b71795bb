/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tcache: a thread's cache of free regions, one LIFO stack per size class up to tcache_max.
 * Owned by one thread (or, for explicit caches made by mallctl "tcache.create", by whoever uses
 * that index under the caller's own synchronisation); no locks, no atomics.
 *
 * bins[] is indexed by size-class index + 1 so that the rtree entry's class field addresses it
 * directly; bins[0] and the bins of classes that are not cached have full == 0, so the
 * free fast path's single "is there room" test also rejects unknown pointers and big classes.
 * Misses fill a small bin in one batch under one bin lock; overflows flush the oldest half
 * (all of it when the class was neither allocated since the request count's last merge nor
 * filled since the GC's last visit: a thread that only frees the class, such as a consumer of
 * another thread's blocks), grouped by owning
 * arena. Every TCACHE_GC_TICKS slow-path events, and every TEVENT_TICK_BYTES the thread
 * allocates (tevent.h), one bin is garbage collected: if it did not run dry since the last
 * visit, half its cached regions are flushed.
 *
 * A bin starts at its base size (at most TCACHE_BIN_BYTES) and grows, doubling up to its cap
 * (tcache_nslots_cap), when it overflows after running dry since its last overflow: the
 * thread's working set of that class cycles through more than the bin holds, so every cycle
 * would otherwise flush to the arena and fill back from it. All of a thread's bins together
 * grow by at most TCACHE_GROW_BYTES; the GC shrinks a bin that did not run dry back toward its
 * base size and gives the bytes back.
 *
 * Threads that outnumber the CPUs share them: only those running use their caches, the others
 * sit on what they cached. So the sizes scale with the live thread count (tsd.c reports it):
 * past TCACHE_THREADS_PER_CPU per CPU, the base sizes (tcache_nslots_share) and the growth
 * budget halve for every doubling. New caches start at the shared size; the GC shrinks existing
 * bins to it when it visits them, as for any bin that did not run dry.
 */
#ifndef ALLOCATOR_INTERNAL_TCACHE_H
#define ALLOCATOR_INTERNAL_TCACHE_H

#include "allocator/internal/arena.h"

#define TCACHE_GC_TICKS 64
#define TCACHE_NSLOTS_SMALL_MIN 20
#define TCACHE_NSLOTS_SMALL_MAX 200
#define TCACHE_NSLOTS_LARGE 20
/* A bin caches at most this many bytes (but at least TCACHE_NSLOTS_BYTES_MIN regions). */
#define TCACHE_BIN_BYTES ((size_t)32 << 10)
#define TCACHE_NSLOTS_BYTES_MIN 4
/* What one small bin may grow to, in bytes (or TCACHE_NSLOTS_SMALL_MAX regions). */
#define TCACHE_BIN_BYTES_CAP ((size_t)128 << 10)
/* What all the bins of one thread may grow beyond their base sizes, together. */
#define TCACHE_GROW_BYTES ((size_t)512 << 10)
/*
 * Up to this many threads per CPU, each cache has the sizes above; past it, bins start at half
 * their base size, and the growth budget is half, for every doubling of the thread count, down
 * to 1 / 2^TCACHE_SHARE_SHIFT_MAX (at least one region per bin).
 */
#define TCACHE_THREADS_PER_CPU 4
#define TCACHE_SHARE_SHIFT_MAX 3

/*
 * A freed block's first word holds FREE_TAG while the block is free: the free fast path pushes
 * a block only if its first word is not the tag, and writes the tag; every path that hands a
 * block out clears it (or junks or zeroes the block). A tag seen on free is confirmed before it
 * is reported (malloc.c, block_is_free): a live block whose first word happens to equal the tag
 * is freed as usual. The value fits a sign-extended 32-bit immediate, so the test and the store
 * are one instruction each.
 */
#define FREE_TAG ((uint64_t)(int64_t)(int32_t)0xa110cf7e)
typedef uint64_t __attribute__((may_alias)) tag_word_t;

static ALWAYS_INLINE bool block_tagged(const void *ptr) { return *(const tag_word_t *)ptr == FREE_TAG; }
static ALWAYS_INLINE void block_tag(void *ptr) { *(tag_word_t *)ptr = FREE_TAG; }
static ALWAYS_INLINE void block_untag(void *ptr) { *(tag_word_t *)ptr = 0; }

/*
 * A bin's stack is slots [low, full) of its cache's stack area, the memory that
 * follows the cache's owner (tsd.h, TSD_STACKS_OFFSET, for a thread's own cache). The fast paths
 * index the area from the thread state with the bin's absolute top: no stack pointer to load.
 */
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct cache_bin_s {
    void **stack; /* area + low: the bin's first slot (for the slow paths) */
    /*
     * One 64-bit word (cache_bin_word): top in bits 0..15, the area index one past the last
     * cached region (low when the bin is empty, low + ncached), and in bits 16..63 the requests
     * (hits and misses) since the last merge into the arena. A pop adds 0xffff to the word,
     * which takes one from top (never 0 then: top > low >= 0) and carries one into the count; a
     * push adds 1 (top stays below full, at most 0xffff). So the fast paths keep the count
     * exact with the one read-modify-write that moves top. 48 bits of requests take years to
     * wrap, and the count is merged at every fill and flush.
     */
    uint16_t top;
    uint16_t nrequests_lo; /* bits 16..31 of the word: use cache_bin_nrequests */
    uint32_t nrequests_hi; /* bits 32..63 */
    uint32_t size;         /* usable size of the class (for thread.allocated) */
    uint16_t full;         /* low + the bin's size (cache_bin_ncached_max): the push test */
    uint16_t low;          /* the area index of stack[0] */
    uint16_t nfill;        /* regions fetched by the next miss */
    uint8_t dried;         /* ran dry since the last GC visit */
    uint8_t missed;        /* ran dry since the last overflow */
    /*
     * The class's region count for the free fast path's region-start test (its multiplier and
     * shift are in the radix-tree slot: rtree_read_fast): a pointer starts a region iff its
     * ordinal is below region_count. bins[0] has region_count 0: nothing passes.
     */
    uint64_t region_count;
} CACHE_ALIGNED cache_bin_t;
_Static_assert(sizeof(cache_bin_t) == SZ_CACHE_BIN_STRIDE, "sz_size2binoff_tab assumes this size");
_Static_assert((uint64_t)(SC_NSIZES + 1) * TCACHE_NSLOTS_SMALL_MAX < 0xffff &&
                   TCACHE_NSLOTS_LARGE <= TCACHE_NSLOTS_SMALL_MAX,
               "a cache's whole stack area must be indexable by 16 bits");
_Static_assert(offsetof(cache_bin_t, top) % 8 == 0 &&
                   offsetof(cache_bin_t, nrequests_hi) == offsetof(cache_bin_t, top) + 4,
               "top and the request count must share one aligned word");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "top is the word's low bits");

static inline uint32_t cache_bin_ncached(const cache_bin_t *cb) { return (uint32_t)(cb->top - cb->low); }
static inline void cache_bin_set_ncached(cache_bin_t *cb, uint32_t n) {
    cb->top = (uint16_t)(cb->low + n);
}
/* The most regions the bin may hold now (it grows and shrinks, tcache.c). */
static inline uint32_t cache_bin_ncached_max(const cache_bin_t *cb) { return (uint32_t)(cb->full - cb->low); }
static inline void cache_bin_set_max(cache_bin_t *cb, uint32_t n) { cb->full = (uint16_t)(cb->low + n); }

typedef uint64_t __attribute__((may_alias)) cache_bin_word_t;
static ALWAYS_INLINE cache_bin_word_t *cache_bin_word(cache_bin_t *cb) {
    return (cache_bin_word_t *)&cb->top;
}
#define CACHE_BIN_POP ((uint64_t)0xffff) /* top - 1, requests + 1 */
#define CACHE_BIN_PUSH ((uint64_t)1)
#define CACHE_BIN_REQUEST ((uint64_t)1 << 16)
/* Requests since the last merge; a relaxed read, so statistics may read another thread's. */
static inline uint64_t cache_bin_nrequests(const cache_bin_t *cb) {
    return atomic_load_relaxed((const cache_bin_word_t *)&cb->top) >> 16;
}
/* The requests since the last merge, which start again from zero (the owner only). */
static inline uint64_t cache_bin_nrequests_take(cache_bin_t *cb) {
    uint64_t w = *cache_bin_word(cb);
    *cache_bin_word(cb) = w & 0xffff;
    return w >> 16;
}

/* The radix-tree entry's top 16 bits are the class index + 1 times sizeof(cache_bin_t). */
_Static_assert(sizeof(cache_bin_t) == 64 && RTREE_SZIND_SHIFT - RTREE_BINOFF_SHIFT == 6,
               "the entry's bin offset assumes 64-byte bins");
_Static_assert((RTREE_SLAB_BIT | RTREE_PROF_BIT | RTREE_PTR_MASK) < ((uintptr_t)1 << RTREE_BINOFF_SHIFT),
               "the entry's flags and pointer must stay below its bin offset");

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct tcache_s {
    cache_bin_t bins[SC_NSIZES + 1];
    unsigned nhbins; /* classes 0..nhbins-1 are cached */
    unsigned gc_bin;
    unsigned gc_ticks;
    size_t grown_bytes; /* sum over bins of (cache_bin_ncached_max - base size) * class size */
    arena_t *arena;     /* where fills come from */
    /*
     * A flush in progress: the regions it took out of a bin and has not yet returned to their
     * arenas are flushing[0, nflushing). Both are written before each lock the flush takes, so
     * whoever holds every lock (malloc_disable) finds each region in exactly one place.
     */
    void **flushing;
    unsigned nflushing;
} tcache_t;

/* Number of classes cached for opt_tcache_max, and the stack memory a tcache needs. */
unsigned tcache_nhbins(void);
/* A bin's starting size and the most it may grow to, in regions, for size-class index ind. */
uint32_t tcache_nslots_base(unsigned ind);
uint32_t tcache_nslots_cap(unsigned ind);
/* The number of live threads changed (tsd.c): rescale every cache's sizes. */
void tcache_threads_set(size_t nthreads);
/* The halvings for nthreads threads on ncpus CPUs (0..TCACHE_SHARE_SHIFT_MAX). */
unsigned tcache_share_shift_for(size_t nthreads, unsigned ncpus);
unsigned tcache_share_shift_get(void);
/* A bin's starting size now: its base size after the halvings, at least 1. */
uint32_t tcache_nslots_share(unsigned ind);
size_t tcache_stack_bytes(void);
/* Set up tc; stacks is tcache_stack_bytes() of memory (NULL with enabled false). */
void tcache_init(tcache_t *tc, arena_t *arena, void **stacks, bool enabled);
/* Refill bin binind+1 from the arena and pop one region; NULL when out of memory. */
void *tcache_alloc_small_miss(tcache_t *tc, unsigned binind);
/* Flush bin (index into bins[]) until keep regions remain. */
void tcache_flush_bin(tcache_t *tc, unsigned bi, unsigned keep);
/* Bin bi is full and a region is to be pushed: grow it or flush half of it. */
void tcache_bin_overflow(tcache_t *tc, unsigned bi);
void tcache_flush_all(tcache_t *tc);
/*
 * Called on slow-path events (fills, flushes, cache misses and slow frees): every
 * TCACHE_GC_TICKS of them, one step of the GC and the arena's decay tick. The thread event
 * counter (tevent.h) runs the same step for every TEVENT_TICK_BYTES allocated, so a thread
 * whose calls all hit the fast path still collects and decays.
 */
void tcache_event(tcache_t *tc);
/* One step of the incremental GC: visit the next bin (a no-op without cached classes). */
void tcache_gc(tcache_t *tc);

/*
 * Explicit caches (mallctl "tcache.create", flags MALLOCX_TCACHE(tc)): a table of caches that
 * any thread may use under the application's own synchronisation. tcaches_lock (rank CTL)
 * guards the table; a cache in use is only touched by its user.
 */
#define TCACHES_MAX 4096
/* Index of a new explicit cache, or UINT_MAX when out of memory or indices. */
unsigned tcaches_create(arena_t *arena);
/* The explicit cache at ind, or NULL if none. */
tcache_t *tcaches_get(unsigned ind);
/* Flush, or flush and release, explicit cache ind. Return false if there is none. */
bool tcaches_flush(unsigned ind);
bool tcaches_destroy(unsigned ind);
/* Call fn on every explicit cache; the caller holds tcaches_lock (through fork_lock_all). */
void tcaches_foreach_locked(void (*fn)(tcache_t *tc, void *arg), void *arg);
void tcaches_prefork(void);
void tcaches_postfork_parent(void);
void tcaches_postfork_child(void);

#endif
