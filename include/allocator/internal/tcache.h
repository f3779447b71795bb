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
 * another thread's blocks; such a bin, when most of it was other arenas' blocks, is also cut
 * to TCACHE_FREER_BYTES), grouped by owning arena. Every TCACHE_GC_TICKS slow-path events, and
 * every TEVENT_TICK_BYTES the thread allocates (tevent.h), one bin is garbage collected: if it
 * did not run dry since the last visit, half its cached regions are flushed. And every
 * TCACHE_SWEEP_TICKS ticks every bin is swept: of the regions the last sweep left in a bin, those
 * not handed out since (fewer requests than regions left: a stack hands out its newest first, so
 * the oldest waited the whole interval) are half given back, unless the bin ran dry within the
 * last TCACHE_SWEEP_DRY sweeps (a class used in bursts longer than an interval). (The sweep
 * visits the active bins only: those of the classes the thread has used.) A class the
 * program has moved on from, or that the thread only frees, so empties within a few ticks of the
 * thread's allocation rather than after the GC's round of every bin (40 or more ticks).
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
 * budget halve for every doubling. A bin starts at the size shared when the thread first uses its
 * class (bins start inactive: tcache_t.active); the GC shrinks existing bins to it when it visits
 * them, as for any bin that did not run dry.
 */
#ifndef ALLOCATOR_INTERNAL_TCACHE_H
#define ALLOCATOR_INTERNAL_TCACHE_H

#include "allocator/internal/arena.h"

#define TCACHE_GC_TICKS 64
/* Ticks between two sweeps of every bin (tcache_sweep); sweeps that leave a bin alone after it
 * ran dry. */
#define TCACHE_SWEEP_TICKS 2
#define TCACHE_SWEEP_DRY 4
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
 * A bin of a class the thread only frees (tcache_bin_overflow) is cut to this many bytes (but at
 * least TCACHE_FREER_NSLOTS_MIN regions, and never above its size) when it is flushed whole.
 */
#define TCACHE_FREER_BYTES ((size_t)16 << 10)
#define TCACHE_FREER_NSLOTS_MIN 16
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
 * is reported (block.c, block_is_free): a live block whose first word happens to equal the tag
 * is freed as usual. The value fits a sign-extended 32-bit immediate, so the test and the store
 * are one instruction each. The free fast path tests only its first byte (block_maybe_tagged),
 * 0xa1: odd, so never a pointer's low byte; above ASCII, and never the first byte of UTF-8
 * text; not a small integer. A live block that starts with it takes the slow path.
 */
#define FREE_TAG ((uint64_t)(int64_t)(int32_t)0xcf7e10a1)
typedef uint64_t __attribute__((may_alias)) tag_word_t;

static ALWAYS_INLINE bool block_tagged(const void *ptr) { return *(const tag_word_t *)ptr == FREE_TAG; }
static ALWAYS_INLINE bool block_maybe_tagged(const void *ptr) {
    return *(const unsigned char *)ptr == (unsigned char)FREE_TAG;
}
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
     * The area index one past the last cached region (low when the bin is empty, low +
     * ncached). top, low and full are 32 bits, and the fast paths read and write top only at
     * that width: a narrower read of a wider store just made (the bin's next call reads what
     * the last one wrote) misses the store-forwarding fast path and waits for the store to
     * retire, which made a malloc+free loop twice as slow when top shared a 64-bit word with
     * the request count (read as 16 bits, updated as 64).
     */
    uint32_t top;
    uint32_t size; /* usable size of the class (for thread.allocated) */
    uint32_t full; /* low + the bin's size (cache_bin_ncached_max): the push test */
    uint32_t low;  /* the area index of stack[0] */
    /*
     * The requests (hits and misses) since the last merge into the arena are nreq_adj + npush -
     * ncached (cache_bin_nrequests): every pop is a request and lowers ncached by one, and no
     * fast path counts anything else. A fast free pushes and adds one to npush; everything else
     * that changes ncached (fills, flushes, the slow paths' pushes) adds the same change to
     * nreq_adj, and a request that pops nothing (a miss) adds one.
     */
    uint64_t nreq_adj;
    uint16_t nfill;     /* regions fetched by the next miss */
    uint8_t dried;      /* ran dry since the last GC visit */
    uint8_t missed;     /* ran dry since the last overflow */
    /* nrequests at the last sweep (low 32 bits), less what merges took since: nrequests - swept
     * is the requests since that sweep (tcache_sweep). */
    uint32_t swept;
    uint16_t swept_n; /* regions the last sweep left in the bin */
    uint8_t dry_sweeps; /* sweeps still to pass over the bin since it last ran dry */
    /*
     * The free fast path's pushes (since the last tcache_pushes_fold): the thread's deallocated
     * bytes are its state's count plus npush times size over its bins (tsd_thread_deallocated).
     */
    uint64_t npush;
} CACHE_ALIGNED cache_bin_t;
_Static_assert(sizeof(cache_bin_t) == SZ_CACHE_BIN_STRIDE, "sz_size2binoff_tab assumes this size");
_Static_assert((uint64_t)(SC_NSIZES + 1) * TCACHE_NSLOTS_SMALL_MAX < 0xffff &&
                   TCACHE_NSLOTS_LARGE <= TCACHE_NSLOTS_SMALL_MAX,
               "a cache's whole stack area must be indexable by 16 bits");
static inline uint32_t cache_bin_ncached(const cache_bin_t *cb) { return (uint32_t)(cb->top - cb->low); }
/* ncached becomes n by a fill or a flush: no request (nreq_adj absorbs the change). */
static inline void cache_bin_set_ncached(cache_bin_t *cb, uint32_t n) {
    cb->nreq_adj += (uint64_t)n - cache_bin_ncached(cb);
    cb->top = cb->low + n;
}
/* The slow paths' push: not a request, and not a fast free (the caller counts its bytes). */
static inline void cache_bin_push_slow(cache_bin_t *cb, void *ptr) {
    cb->stack[cache_bin_ncached(cb)] = ptr;
    cb->top++;
    cb->nreq_adj++;
}
/* The slow paths' pop of a request (the bin is not empty). */
static inline void *cache_bin_pop_slow(cache_bin_t *cb) {
    cb->top--;
    return cb->stack[cache_bin_ncached(cb)];
}
/* A request the bin did not serve with a pop (a miss: the fill's pop then counts nothing). */
static inline void cache_bin_count_miss(cache_bin_t *cb) { cb->nreq_adj++; }
/* The most regions the bin may hold now (it grows and shrinks, tcache.c). */
static inline uint32_t cache_bin_ncached_max(const cache_bin_t *cb) { return (uint32_t)(cb->full - cb->low); }
static inline void cache_bin_set_max(cache_bin_t *cb, uint32_t n) { cb->full = cb->low + n; }

/*
 * The fast paths' writes of top after reading it (top is then in a register). free adds one in
 * memory: one read-modify-write. malloc stores top - 1 computed from the register: a
 * read-modify-write there costs a malloc+free loop 10% (its second read of top waits on the
 * previous free's store once more), and compilers left alone copy the register, subtract and
 * store (one instruction more than this). x86_64 gets each form from one asm statement; other
 * targets, plain C.
 */
static ALWAYS_INLINE void cache_bin_top_inc(cache_bin_t *cb) {
#if defined(__x86_64__)
    __asm__ volatile("addl $1, %c1(%0)" : : "r"(cb), "i"(offsetof(cache_bin_t, top)) : "memory", "cc");
#else
    cb->top++;
#endif
}
/* top = (old top, read into a register) - 1. */
static ALWAYS_INLINE void cache_bin_top_dec(cache_bin_t *cb, unsigned long top) {
#if defined(__x86_64__)
    uint32_t scratch;
    __asm__ volatile("leal -1(%q[t]), %k[n]\n\tmovl %k[n], %c[o](%[cb])"
            : [n] "=&r"(scratch)
            : [cb] "r"(cb), [t] "r"(top), [o] "i"(offsetof(cache_bin_t, top))
            : "memory");
#else
    cb->top = (uint32_t)top - 1;
#endif
}

/*
 * Requests since the last merge. Relaxed reads, so statistics may read another thread's: its
 * words are then read at different moments, and a count that comes out below zero is 0.
 */
static inline uint64_t cache_bin_nrequests(const cache_bin_t *cb) {
    uint64_t n = atomic_load_relaxed(&cb->nreq_adj) + atomic_load_relaxed(&cb->npush) -
                 (uint32_t)(atomic_load_relaxed(&cb->top) - atomic_load_relaxed(&cb->low));
    return (int64_t)n < 0 ? 0 : n;
}
/* The requests since the last merge, which start again from zero (the owner only). */
static inline uint64_t cache_bin_nrequests_take(cache_bin_t *cb) {
    uint64_t n = cache_bin_nrequests(cb);
    cb->nreq_adj -= n;
    cb->swept -= (uint32_t)n; /* the sweep's count since its last visit goes on */
    return n;
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
    unsigned sweep_ticks; /* ticks since the last sweep */
    size_t grown_bytes; /* sum over bins of (cache_bin_ncached_max - base size) * class size */
    arena_t *arena;     /* where fills come from */
    /*
     * A flush in progress: the regions it took out of a bin and has not yet returned to their
     * arenas are flushing[0, nflushing). Both are written before each lock the flush takes, so
     * whoever holds every lock (malloc_disable) finds each region in exactly one place.
     */
    void **flushing;
    unsigned nflushing;
    /*
     * A cached class's bin starts inactive: nothing cached and no room (top == low == full), so
     * both fast paths send the class's first malloc and first free to the slow path, which
     * activates it (tcache_bin_activate). active[] has a bit per active bin: the sweep and the sum
     * of the fast frees' bytes visit those only (a thread uses a few of its 40-odd classes).
     */
    uint64_t active[(SC_NSIZES + 1 + 63) / 64];
} tcache_t;

/* Number of classes cached for opt_tcache_max, and the stack memory a tcache needs. */
unsigned tcache_nhbins(void);
/* A bin's starting size and the most it may grow to, in regions, for size-class index ind. */
uint32_t tcache_nslots_base(unsigned ind);
uint32_t tcache_nslots_cap(unsigned ind);
/* The size a bin of class ind is cut to when the thread only frees the class (tcache.c). */
uint32_t tcache_nslots_freer(unsigned ind);
/* The number of live threads changed (tsd.c): rescale every cache's sizes. */
void tcache_threads_set(size_t nthreads);
/* The halvings for nthreads threads on ncpus CPUs (0..TCACHE_SHARE_SHIFT_MAX). */
unsigned tcache_share_shift_for(size_t nthreads, unsigned ncpus);
unsigned tcache_share_shift_get(void);
/* Sweep every bin of tc once (normally every TCACHE_SWEEP_TICKS ticks; tests call it). */
void tcache_sweep(tcache_t *tc);
/* A bin's starting size now: its base size after the halvings, at least 1. */
uint32_t tcache_nslots_share(unsigned ind);
size_t tcache_stack_bytes(void);
/* Set up tc; stacks is tcache_stack_bytes() of memory (NULL with enabled false). */
void tcache_init(tcache_t *tc, arena_t *arena, void **stacks, bool enabled);
static inline bool tcache_bin_active(const tcache_t *tc, unsigned bi) {
    return (tc->active[bi / 64] >> (bi % 64)) & 1;
}
/* Give bin bi (a cached class: bi <= nhbins) its starting size, once. */
void tcache_bin_activate(tcache_t *tc, unsigned bi);
/* Bin bi of a class tc caches, active. */
static inline cache_bin_t *tcache_bin_get(tcache_t *tc, unsigned bi) {
    if (unlikely(!tcache_bin_active(tc, bi)))
        tcache_bin_activate(tc, bi);
    return &tc->bins[bi];
}
/*
 * The bytes of the fast frees counted in tc's bins (npush times the class size); fold: and
 * restart those counts from zero (the caller adds the bytes to its own count).
 */
uint64_t tcache_pushed_bytes(const tcache_t *tc);
uint64_t tcache_pushes_fold(tcache_t *tc);
/* Refill bin binind+1 from the arena and pop one region; NULL when out of memory. */
void *tcache_alloc_small_miss(tcache_t *tc, unsigned binind);
/* Flush bin (index into bins[]) until keep regions remain; returns how many of the regions
 * flushed belonged to arenas other than tc->arena. */
unsigned tcache_flush_bin(tcache_t *tc, unsigned bi, unsigned keep);
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
/* One step of the incremental GC (the next bin's visit), then arena's decay tick (if any). */
void tcache_tick(tcache_t *tc, arena_t *arena);

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
