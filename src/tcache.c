/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tcache: fills, flushes and garbage collection of thread caches (see tcache.h). Runs on the
 * owning thread without a lock of its own; fills take one bin lock, flushes take the owning
 * arena's bin lock once per arena represented in the flushed batch.
 */
#include "allocator/internal/tcache.h"

#include <limits.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"
#include "allocator/internal/os.h"

unsigned tcache_nhbins(void) {
    if (opt_tcache_max < QUANTUM)
        return 0;
    unsigned n = sz_size2index(opt_tcache_max > SC_LARGE_MAXCLASS ? SC_LARGE_MAXCLASS
                                                                    : opt_tcache_max);
    /* tcache_max rounds down to a class. */
    if (sz_index2size(n) > opt_tcache_max)
        return n;
    return n + 1;
}

/* jemalloc's sizing: twice a slab's regions, 20..200 (20 for large classes). */
static uint32_t tcache_nslots_regs(unsigned ind) {
    if (ind >= SC_NBINS)
        return TCACHE_NSLOTS_LARGE;
    uint32_t n = bin_infos[ind].nregs * 2;
    if (n < TCACHE_NSLOTS_SMALL_MIN)
        n = TCACHE_NSLOTS_SMALL_MIN;
    if (n > TCACHE_NSLOTS_SMALL_MAX)
        n = TCACHE_NSLOTS_SMALL_MAX;
    return n;
}

uint32_t tcache_nslots_base(unsigned ind) {
    uint32_t n = tcache_nslots_regs(ind);
    /* Big classes: as many as TCACHE_BIN_BYTES hold, so a thread does not sit on megabytes. */
    size_t by_bytes = TCACHE_BIN_BYTES / sz_index2size(ind);
    if (by_bytes < TCACHE_NSLOTS_BYTES_MIN)
        by_bytes = TCACHE_NSLOTS_BYTES_MIN;
    return by_bytes < n ? (uint32_t)by_bytes : n;
}

/*
 * How far every thread's cache budget is halved (0..TCACHE_SHARE_SHIFT_MAX): 0 while the threads
 * are at most TCACHE_THREADS_PER_CPU per CPU, one more for each doubling past that. Only the
 * threads on a CPU at a time use their caches; the others sit on what they cached, so with 64
 * threads on 2 CPUs full-size caches held a third of the peak (bench/manythreads).
 */
static unsigned tcache_share_shift;

unsigned tcache_share_shift_for(size_t nthreads, unsigned ncpus) {
    size_t full = (size_t)TCACHE_THREADS_PER_CPU * (ncpus == 0 ? 1 : ncpus);
    unsigned shift = 0;
    while (shift < TCACHE_SHARE_SHIFT_MAX && (full << shift) < nthreads)
        shift++;
    return shift;
}

void tcache_threads_set(size_t nthreads) {
    static unsigned ncpus; /* read once: a system call, and callers hold tsd_list_lock */
    if (ncpus == 0)
        ncpus = os_ncpus();
    atomic_store_relaxed(&tcache_share_shift, tcache_share_shift_for(nthreads, ncpus));
}

unsigned tcache_share_shift_get(void) { return atomic_load_relaxed(&tcache_share_shift); }

/* tcache_nslots_base's answers, kept on first use (they are fixed once boot has run): the GC
 * asks at every tick, and the answer takes a division. Racing writers store the same value. */
static uint16_t tcache_base_memo[SC_NSIZES];

uint32_t tcache_nslots_share(unsigned ind) {
    uint32_t base = atomic_load_relaxed(&tcache_base_memo[ind]);
    if (unlikely(base == 0)) {
        base = tcache_nslots_base(ind);
        atomic_store_relaxed(&tcache_base_memo[ind], (uint16_t)base);
    }
    uint32_t n = base >> tcache_share_shift_get();
    return n == 0 ? 1 : n;
}

uint32_t tcache_nslots_cap(unsigned ind) {
    uint32_t n = tcache_nslots_base(ind);
    if (ind < SC_NBINS) {
        /* Small classes may grow to TCACHE_BIN_BYTES_CAP, whatever their slab holds. */
        size_t by_bytes = TCACHE_BIN_BYTES_CAP / sz_index2size(ind);
        if (by_bytes > TCACHE_NSLOTS_SMALL_MAX)
            by_bytes = TCACHE_NSLOTS_SMALL_MAX;
        if (by_bytes > n)
            n = (uint32_t)by_bytes;
    }
    return n;
}

uint32_t tcache_nslots_freer(unsigned ind) {
    size_t by_bytes = TCACHE_FREER_BYTES / sz_index2size(ind);
    if (by_bytes < TCACHE_FREER_NSLOTS_MIN)
        by_bytes = TCACHE_FREER_NSLOTS_MIN;
    uint32_t n = tcache_nslots_share(ind);
    return by_bytes < n ? (uint32_t)by_bytes : n;
}

size_t tcache_stack_bytes(void) {
    size_t n = 0;
    unsigned nhbins = tcache_nhbins();
    for (unsigned i = 0; i < nhbins; i++)
        n += tcache_nslots_cap(i);
    return n * sizeof(void *);
}

void tcache_init(tcache_t *tc, arena_t *arena, void **stacks, bool enabled) {
    tc->nhbins = enabled ? tcache_nhbins() : 0;
    tc->gc_bin = 0;
    tc->gc_ticks = 0;
    tc->sweep_ticks = 0;
    tc->grown_bytes = 0;
    tc->arena = arena;
    tc->flushing = NULL;
    tc->nflushing = 0;
    memset(tc->active, 0, sizeof(tc->active));
    void **area = stacks;
    /*
     * Only the bins of classes a cache may hold (tcache_max's, fixed at boot) are written. The
     * others stay as they came, all zero (base memory, never written since): full 0 makes both
     * fast paths miss, as for bins[0]. Their 8 KiB of the thread state (with the default
     * tcache_max) then never becomes resident. The cached classes' bins start inactive
     * (top == low == full: tcache_bin_activate).
     */
    unsigned nwritten = tcache_nhbins();
    for (unsigned i = 0; i <= nwritten; i++) {
        cache_bin_t *cb = &tc->bins[i];
        *cb = (cache_bin_t){0};
        if (i == 0)
            continue;
        cb->size = (uint32_t)(sz_index2size(i - 1) > UINT32_MAX ? 0 : sz_index2size(i - 1));
        if (i - 1 < tc->nhbins) {
            cb->low = (uint32_t)(stacks - area);
            cb->top = cb->low;
            cb->full = cb->low;
            cb->nfill = 1;
            cb->stack = stacks;
            stacks += tcache_nslots_cap(i - 1);
        }
    }
}

void tcache_bin_activate(tcache_t *tc, unsigned bi) {
    assert(bi >= 1 && bi <= tc->nhbins && !tcache_bin_active(tc, bi));
    cache_bin_t *cb = &tc->bins[bi];
    cache_bin_set_max(cb, tcache_nslots_share(bi - 1));
    cb->nfill = (uint16_t)(cache_bin_ncached_max(cb) / 2 > 0 ? cache_bin_ncached_max(cb) / 2 : 1);
    tc->active[bi / 64] |= (uint64_t)1 << (bi % 64);
}

/* Run body with bi set to each active bin of tc, in order (continue goes to the next). */
#define TCACHE_FOREACH_ACTIVE(tc, bi, ...)                                                        \
    for (unsigned w_ = 0; w_ < sizeof((tc)->active) / sizeof((tc)->active[0]); w_++) {            \
        for (uint64_t m_ = (tc)->active[w_]; m_ != 0; m_ &= m_ - 1) {                              \
            unsigned bi = w_ * 64 + (unsigned)__builtin_ctzll(m_);                                 \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

uint64_t tcache_pushed_bytes(const tcache_t *tc) {
    uint64_t bytes = 0;
    TCACHE_FOREACH_ACTIVE(tc, bi, {
        const cache_bin_t *cb = &tc->bins[bi];
        bytes += atomic_load_relaxed(&cb->npush) * cb->size;
    })
    return bytes;
}

uint64_t tcache_pushes_fold(tcache_t *tc) {
    uint64_t bytes = 0;
    TCACHE_FOREACH_ACTIVE(tc, bi, {
        cache_bin_t *cb = &tc->bins[bi];
        bytes += cb->npush * cb->size;
        cb->nreq_adj += cb->npush;
        cb->npush = 0;
    })
    return bytes;
}

/* Set bin bi's size to n regions (at most its cap), keeping the account of grown bytes. */
static void tcache_bin_resize(tcache_t *tc, unsigned bi, uint32_t n) {
    cache_bin_t *cb = &tc->bins[bi];
    size_t size = sz_index2size(bi - 1);
    tc->grown_bytes = tc->grown_bytes + (size_t)n * size - (size_t)cache_bin_ncached_max(cb) * size;
    cache_bin_set_max(cb, n);
}

void tcache_bin_overflow(tcache_t *tc, unsigned bi) {
    cache_bin_t *cb = &tc->bins[bi];
    /*
     * Grow when the bin ran dry and then overflowed with few allocations between: the thread
     * allocates in runs and frees in runs (bench/batch, a producer's ring), and a bigger bin
     * takes a run in fewer fills and flushes. A bin that allocations and frees reach in turn, in
     * no order (two threads freeing each other's blocks, bench/churn), also runs dry and
     * overflows, but only after about as many allocations as the bin holds, squared: it takes
     * the bin locks seldom at any size, and a bigger bin would only keep more regions from their
     * slabs (churn_pair's peak RSS: 2,328 -> 2,200 KiB). A fill restarts the count of requests,
     * so here it counts the allocations since the bin last ran dry.
     */
    bool grow = cb->missed && cache_bin_nrequests(cb) < cache_bin_ncached_max(cb);
    cb->missed = 0;
    if (grow) {
        size_t size = sz_index2size(bi - 1);
        uint32_t cap = tcache_nslots_cap(bi - 1);
        uint32_t want = cache_bin_ncached_max(cb) * 2 < cap ? cache_bin_ncached_max(cb) * 2 : cap;
        /* grown_bytes counts from the sizes the bins started at; it goes below zero (wraps)
         * when the GC shrinks them further because more threads share the CPUs now. */
        ptrdiff_t budget = (ptrdiff_t)(TCACHE_GROW_BYTES >> tcache_share_shift_get());
        ptrdiff_t grown = (ptrdiff_t)tc->grown_bytes;
        size_t room = grown < budget ? (size_t)(budget - grown) / size : 0;
        if (want > cache_bin_ncached_max(cb) + room)
            want = cache_bin_ncached_max(cb) + (uint32_t)room;
        if (want > cache_bin_ncached_max(cb)) {
            tcache_bin_resize(tc, bi, want);
            return;
        }
    }
    /*
     * No allocation of the class since the last merge of the count (fills and flushes that
     * reach this thread's arena merge it), and no fill since the GC's last visit: the thread
     * only frees these blocks, which usually belong to other threads' slabs (a consumer of a
     * producer's blocks). Keeping half would only halve each flush's batch, and so double the
     * bin locks taken per block; keep none. (A fill resets the count, so the count alone would
     * also take a thread whose last allocation of the class missed for one that never
     * allocates it.)
     *
     * Nor is such a bin a cache when most of what it held came from other arenas: nothing
     * pops what waits in it, and every block waiting pins its slab in the arena of the thread
     * that made it, which cannot reuse it meanwhile (a consumer of 16..512-byte blocks held up
     * to 32 KiB per class, 300 KiB in all). So the bin is also cut to TCACHE_FREER_BYTES (at
     * least TCACHE_FREER_NSLOTS_MIN regions): 16 KiB, because every halving of the batch adds
     * bin locks (8 KiB doubled bench/prodcons' flushes and cost 3% more instructions, 16 KiB
     * 0.3%). The account of grown bytes goes down with it (it may go below zero, as when the GC
     * shrinks bins for more threads). If the thread starts allocating the class, the bin grows
     * back as any bin does: it runs dry, then overflows. Blocks of the thread's own arena do
     * not cut it: a thread that frees its own blocks in long runs (bench/batch) would fill a
     * smaller cache back from more slabs (its peak grew 3%).
     */
    bool freer = cache_bin_nrequests(cb) == 0 && !cb->dried;
    unsigned ncached = cache_bin_ncached(cb);
    unsigned nremote = tcache_flush_bin(tc, bi, freer ? 0 : cache_bin_ncached_max(cb) / 2);
    if (freer && nremote * 2 > ncached && cache_bin_ncached_max(cb) > tcache_nslots_freer(bi - 1))
        tcache_bin_resize(tc, bi, tcache_nslots_freer(bi - 1));
}

void *tcache_alloc_small_miss(tcache_t *tc, unsigned binind) {
    cache_bin_t *cb = &tc->bins[binind + 1];
    arena_t *arena = tc->arena;
    unsigned want = cb->nfill;
    if (want > cache_bin_ncached_max(cb))
        want = cache_bin_ncached_max(cb);
    void **top = cb->stack + cache_bin_ncached(cb);
    /*
     * The caller counted this request in the bin already. The batch comes highest address
     * first, so that the stack hands out the lowest first.
     */
    unsigned got = bin_alloc_batch_down(&arena->bins[binind], binind, &arena->ex, top, want,
                                        cache_bin_nrequests_take(cb));
    cb->dried = 1;
    cb->missed = 1;
    cb->dry_sweeps = TCACHE_SWEEP_DRY;
    if (got == 0)
        return NULL;
    cache_bin_set_ncached(cb, cache_bin_ncached(cb) + got - 1);
    return top[got - 1];
}

unsigned tcache_flush_bin(tcache_t *tc, unsigned bi, unsigned keep) {
    cache_bin_t *cb = &tc->bins[bi];
    if (cache_bin_ncached(cb) <= keep)
        return 0;
    unsigned nflush = cache_bin_ncached(cb) - keep;
    /*
     * Take the oldest nflush regions out of the bin first, keeping the newest at its bottom, and
     * publish them as the flush in progress (see tcache_t.flushing).
     */
    void *items[TCACHE_NSLOTS_SMALL_MAX];
    assert(nflush <= TCACHE_NSLOTS_SMALL_MAX);
    memcpy(items, cb->stack, nflush * sizeof(void *));
    memmove(cb->stack, cb->stack + nflush, keep * sizeof(void *));
    tc->flushing = items;
    atomic_store_release(&tc->nflushing, nflush);
    cache_bin_set_ncached(cb, keep);
    unsigned szind = bi - 1, nremote = 0;
    if (szind < SC_NBINS) {
        /*
         * Look every region up first: the lookups are independent loads, so their misses
         * overlap. A region in the same grain as the one before has its entry (a fill hands
         * out a slab's regions in address order, so runs of them come back together), and only
         * a new one is read and checked. Then group by owning arena: each pass returns
         * everything of the first region's arena under that arena's bin lock and keeps the
         * rest, in order, for the next.
         */
        rtree_entry_t ents[TCACHE_NSLOTS_SMALL_MAX + 1]; /* and the end's 0 (bin.h) */
        uintptr_t grain = 0; /* no region's: the grain at 0 is never mapped */
        rtree_entry_t ent = 0;
        for (unsigned i = 0; i < nflush; i++) {
            if ((uintptr_t)items[i] >> RTREE_LG_GRAIN != grain) {
                grain = (uintptr_t)items[i] >> RTREE_LG_GRAIN;
                ent = rtree_read(items[i]);
                if (unlikely(rtree_entry_binid(ent) != bi))
                    io_fatal("free(%p): cached with the wrong size class\n", items[i]);
            }
            ents[i] = ent;
        }
        ents[nflush] = 0;
        unsigned remaining = nflush;
        bool merged = false;
        while (remaining > 0) {
            arena_t *arena = arenas[rtree_entry_extent(ents[0])->arena_ind];
            bin_t *bin = &arena->bins[szind];
            atomic_store_release(&tc->nflushing, remaining);
            mutex_lock(&bin->lock);
            if (arena == tc->arena && !merged) {
                bin->stats.nrequests += cache_bin_nrequests_take(cb);
                merged = true;
            }
            bin->stats.nflushes++;
            unsigned left = bin_dalloc_batch(bin, szind, &arena->ex, items, ents, remaining);
            mutex_unlock(&bin->lock);
            if (arena != tc->arena)
                nremote += remaining - left;
            remaining = left;
        }
    } else {
        for (unsigned i = nflush; i-- > 0;) {
            atomic_store_release(&tc->nflushing, i + 1);
            rtree_entry_t e = rtree_read(items[i]);
            nremote += arenas[rtree_entry_extent(e)->arena_ind] != tc->arena;
            arena_dalloc(items[i], e);
        }
    }
    atomic_store_release(&tc->nflushing, 0);
    return nremote;
}

void tcache_flush_all(tcache_t *tc) {
    for (unsigned i = 1; i <= tc->nhbins; i++)
        tcache_flush_bin(tc, i, 0);
}

/* One step of the incremental GC: visit the next bin (a no-op without cached classes). */
static void tcache_gc(tcache_t *tc) {
    if (tc->nhbins == 0)
        return;
    unsigned bi = tc->gc_bin + 1;
    cache_bin_t *cb = &tc->bins[bi];
    if (!cb->dried) {
        /* Not used up since the last visit: give back half, and shrink toward the base. */
        uint32_t base = tcache_nslots_share(bi - 1);
        if (cache_bin_ncached_max(cb) > base)
            tcache_bin_resize(tc, bi, cache_bin_ncached_max(cb) / 2 > base ? cache_bin_ncached_max(cb) / 2 : base);
        uint32_t keep = cache_bin_ncached(cb) / 2;
        if (keep > cache_bin_ncached_max(cb) / 2)
            keep = cache_bin_ncached_max(cb) / 2;
        /* tcache_flush_bin returns at once when there is nothing to flush, but only after
         * setting up its 3 KiB frame: tested here, the 20 KB malloc/free loop's tick costs 0.4
         * instructions a pair less (most bins the GC visits are empty). */
        if (cache_bin_ncached(cb) > keep)
            tcache_flush_bin(tc, bi, keep);
        if (cb->nfill > 1)
            cb->nfill /= 2;
    } else if (cb->nfill < cache_bin_ncached_max(cb) / 2) {
        cb->nfill *= 2;
    }
    if (cb->nfill > cache_bin_ncached_max(cb) / 2 && cache_bin_ncached_max(cb) > 1)
        cb->nfill = (uint16_t)(cache_bin_ncached_max(cb) / 2);
    cb->dried = 0;
    tc->gc_bin = tc->gc_bin + 1 < tc->nhbins ? tc->gc_bin + 1 : 0;
}

/*
 * Of the regions the last sweep left in a bin, as many as were not handed out since have waited
 * the whole interval (the stack hands out its newest first, so they are its oldest, which a
 * flush takes first): give back half of them, rounded up. A bin the thread allocates from at
 * least as often as it held regions keeps everything, so a working set that cycles through the
 * cache is not disturbed; so does a bin that ran dry within the last TCACHE_SWEEP_DRY sweeps: a
 * class used in bursts longer than an interval (bench/batch: 20,000 blocks made, then all freed,
 * a round of about 1.5 intervals) would otherwise give back, early in each burst of
 * allocations, what the rest of the burst then fills back (662 flushes in a run of bench/batch
 * with 2 sweeps of protection, 52 with 4). A class the program has moved on from (a string grown
 * past it by realloc), or that the thread only frees (a consumer of another thread's blocks),
 * halves at every sweep until it is empty.
 */
void tcache_sweep(tcache_t *tc) {
    TCACHE_FOREACH_ACTIVE(tc, bi, {
        cache_bin_t *cb = &tc->bins[bi];
        uint32_t n = cache_bin_ncached(cb), left = cb->swept_n;
        /* Empty then and now: nothing waited, nothing to count from. */
        if ((n | left) == 0)
            continue;
        uint32_t nreq = (uint32_t)cache_bin_nrequests(cb);
        uint32_t used = nreq - cb->swept; /* since the last sweep */
        uint32_t idle = left > used ? left - used : 0;
        if (idle > n) /* overflows flushed some of them already */
            idle = n;
        if (cb->dry_sweeps > 0) { /* ran dry lately: in use, in bursts */
            cb->dry_sweeps--;
            idle = 0;
        }
        if (idle > 0) {
            tcache_flush_bin(tc, bi, n - (idle + 1) / 2);
            nreq = (uint32_t)cache_bin_nrequests(cb); /* the flush may have merged the count */
        }
        cb->swept = nreq;
        cb->swept_n = (uint16_t)cache_bin_ncached(cb);
    })
}

void tcache_tick(tcache_t *tc, arena_t *arena) {
    tcache_gc(tc);
    if (++tc->sweep_ticks >= TCACHE_SWEEP_TICKS) {
        tc->sweep_ticks = 0;
        tcache_sweep(tc);
    }
    if (arena != NULL)
        arena_decay_tick(arena);
}

void tcache_event(tcache_t *tc) {
    if (++tc->gc_ticks < TCACHE_GC_TICKS)
        return;
    tc->gc_ticks = 0;
    tcache_tick(tc, tc->arena);
}

/* ---- explicit caches ------------------------------------------------------------------------ */

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
static tcache_t *tcaches[TCACHES_MAX];
static tcache_t *tcaches_spare; /* destroyed caches, linked through arena (reused as a link) */
static mutex_t tcaches_lock = MUTEX_INITIALIZER(RANK_CTL);

COLD unsigned tcaches_create(arena_t *arena) {
    mutex_lock(&tcaches_lock);
    unsigned ind = UINT_MAX;
    for (unsigned i = 0; i < TCACHES_MAX; i++) {
        if (tcaches[i] == NULL) {
            ind = i;
            break;
        }
    }
    tcache_t *tc = NULL;
    if (ind != UINT_MAX) {
        tc = tcaches_spare;
        if (tc != NULL) {
            tcaches_spare = (tcache_t *)tc->arena;
        } else {
            size_t head = ALIGN_UP(sizeof(tcache_t), CACHELINE);
            tc = base_alloc(head + tcache_stack_bytes(), CACHELINE);
        }
    }
    if (tc != NULL) {
        size_t head = ALIGN_UP(sizeof(tcache_t), CACHELINE);
        tcache_init(tc, arena, (void **)((char *)tc + head), true);
        tcaches[ind] = tc;
    } else {
        ind = UINT_MAX;
    }
    mutex_unlock(&tcaches_lock);
    return ind;
}

COLD void tcaches_prefork(void) { mutex_lock(&tcaches_lock); }
COLD void tcaches_postfork_parent(void) { mutex_unlock(&tcaches_lock); }
COLD void tcaches_postfork_child(void) { mutex_postfork_child(&tcaches_lock); }

tcache_t *tcaches_get(unsigned ind) {
    return ind < TCACHES_MAX ? atomic_load_acquire(&tcaches[ind]) : NULL;
}

COLD bool tcaches_flush(unsigned ind) {
    tcache_t *tc = tcaches_get(ind);
    if (tc == NULL)
        return false;
    tcache_flush_all(tc);
    return true;
}

COLD bool tcaches_destroy(unsigned ind) {
    mutex_lock(&tcaches_lock);
    tcache_t *tc = ind < TCACHES_MAX ? tcaches[ind] : NULL;
    if (tc != NULL)
        atomic_store_release(&tcaches[ind], NULL);
    mutex_unlock(&tcaches_lock);
    if (tc == NULL)
        return false;
    tcache_flush_all(tc);
    mutex_lock(&tcaches_lock);
    tc->arena = (arena_t *)tcaches_spare;
    tcaches_spare = tc;
    mutex_unlock(&tcaches_lock);
    return true;
}

COLD void tcaches_foreach_locked(void (*fn)(tcache_t *tc, void *arg), void *arg) {
    for (unsigned i = 0; i < TCACHES_MAX; i++) {
        if (tcaches[i] != NULL)
            fn(tcaches[i], arg);
    }
}
