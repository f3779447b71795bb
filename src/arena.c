/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * arena: creation and choice of arenas, and the paths that reach an arena without a thread
 * cache (large allocations, tcache-less small allocations, frees routed by the rtree), and
 * the passing of wholly free chunks between automatic arenas (arena_chunk_adopt). arenas_lock
 * guards creation; each arena's bins and extents have their own locks.
 */
#include "allocator/internal/arena.h"

#include <limits.h>
#include <sched.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"

arena_t *arenas[ARENAS_MAX];
unsigned narenas_auto = 1;
unsigned narenas_total;
unsigned arena_huge_ind = UINT_MAX;
static mutex_t arenas_lock = MUTEX_INITIALIZER(RANK_CTL);

static arena_t *arenas_spare; /* destroyed arenas' structs, for reuse */

static unsigned arenas_auto_top(void);

/*
 * extents_adopt_hook: ex's arena (automatic, ex's lock held) would map a new chunk; take a wholly
 * free dirty chunk from another automatic arena whose extents lock is free instead. Threads are
 * spread over arenas, and a thread's blocks return to its arena wherever they are freed, so
 * without this an arena's freed pages serve only that arena: with producers feeding consumers,
 * each producer's arena keeps as much as it ever held, and the process the sum of those peaks
 * rather than the peak of their sum. A trylock, because ex's lock is held (same rank): a busy
 * arena is passed over. The oversize arena neither gives nor takes (its chunks are huge blocks').
 */
static extent_t *arena_chunk_adopt(extents_t *ex, size_t size, size_t align) {
    unsigned top = arenas_auto_top();
    if (ex->arena_ind >= top || ex->arena_ind == arena_huge_ind || size > CHUNK || align > CHUNK)
        return NULL;
    for (unsigned i = 0; i < top; i++) {
        arena_t *a = arena_get(i);
        if (a == NULL || &a->ex == ex || i == arena_huge_ind ||
            atomic_load_relaxed(&a->ex.dirty.npages) + atomic_load_relaxed(&a->ex.idle_pages) <
                (CHUNK >> LG_PAGE) ||
            !mutex_trylock_unordered(&a->ex.lock))
            continue;
        extents_idle_release(&a->ex); /* they may be all that keeps a chunk from being free */
        chunk_t *c;
        extent_t *e = chunk_detach_dirty(&a->ex, size, align, &c);
        mutex_unlock(&a->ex.lock);
        if (e != NULL) {
            chunk_attach(ex, c, e);
            return e;
        }
    }
    return NULL;
}

/* arenas_lock held. A reused struct keeps its recycled metadata (extent and chunk records). */
static arena_t *arena_new(unsigned ind) {
    arena_t *arena = arenas_spare;
    extent_t *spare_extents = NULL;
    chunk_t *spare_chunks = NULL;
    slab_bitmaps_t spare_bitmaps = {{NULL}, 0};
    if (arena != NULL) {
        arenas_spare = arena->next_spare;
        spare_extents = arena->ex.spare;
        spare_chunks = arena->ex.spare_chunks;
        spare_bitmaps = arena->ex.bitmaps;
        memset(arena, 0, sizeof(*arena));
    } else if ((arena = base_alloc(sizeof(arena_t), CACHELINE)) == NULL) {
        return NULL;
    }
    arena->ind = ind;
    arena->created_ns = nstime_stamp();
    extents_init(&arena->ex, ind, opt_dirty_decay_ms, opt_muzzy_decay_ms, opt_retain);
    arena->ex.spare = spare_extents;
    arena->ex.spare_chunks = spare_chunks;
    arena->ex.bitmaps = spare_bitmaps;
    arena->ex.thp = opt_thp == THP_ALWAYS ? 1 : opt_thp == THP_NEVER ? -1 : 0;
    arena->ex.lg_max_fit = (unsigned)opt_lg_extent_max_active_fit;
    for (unsigned i = 0; i < SC_NBINS; i++)
        bin_init(&arena->bins[i]);
    extents_adopt_hook = arena_chunk_adopt;
    return arena;
}

unsigned arenas_limit(void) {
    unsigned n = atomic_load_acquire(&narenas_total);
    unsigned min = arena_huge_ind != UINT_MAX ? arena_huge_ind + 1 : arenas_auto_top();
    return n > min ? n : min;
}

/*
 * The most automatic arenas there have been (written under arenas_lock, read atomically). A
 * lower M_ARENA_MAX only stops new threads from choosing the arenas past it: they stay automatic,
 * never reset, destroyed or reused as created arenas, and a higher limit reaches them again.
 */
static unsigned narenas_auto_top;

static unsigned arenas_auto_top(void) {
    unsigned top = atomic_load_relaxed(&narenas_auto_top);
    return top > narenas_auto ? top : narenas_auto;
}

unsigned arenas_auto_set(unsigned n) {
    mutex_lock(&arenas_lock);
    /*
     * Automatic arenas are 0..top-1; the oversize arena and created ones come after. Raising
     * the count past either would let arena_choose() bind threads to them.
     */
    unsigned top = arenas_auto_top();
    unsigned limit = arena_huge_ind != UINT_MAX ? arena_huge_ind : ARENAS_MAX - 2;
    for (unsigned i = top; i < narenas_total && i < limit; i++) {
        if (arenas[i] != NULL)
            limit = i;
    }
    if (n > limit)
        n = limit;
    if (n < 1)
        n = 1;
    atomic_store_relaxed(&narenas_auto_top, n > top ? n : top);
    narenas_auto = n;
    mutex_unlock(&arenas_lock);
    return n;
}

arena_t *arena_get_or_create(unsigned ind) {
    if (ind >= ARENAS_MAX)
        return NULL;
    arena_t *arena = arena_get(ind);
    if (arena != NULL)
        return arena;
    mutex_lock(&arenas_lock);
    arena = arenas[ind];
    if (arena == NULL) {
        arena = arena_new(ind);
        if (arena != NULL) {
            atomic_store_release(&arenas[ind], arena);
            if (ind >= narenas_total)
                atomic_store_release(&narenas_total, ind + 1);
        }
    }
    mutex_unlock(&arenas_lock);
    return arena;
}

/*
 * The index of the automatic arena with the lowest count of threads (nalloc: of those that
 * allocate; else of all bound to it), the lowest index among equals; an arena not made yet
 * counts none.
 */
static unsigned arena_least(bool nalloc) {
    unsigned best = 0, best_n = UINT_MAX;
    for (unsigned i = 0; i < narenas_auto; i++) {
        arena_t *a = arena_get(i);
        unsigned n = a == NULL ? 0 : atomic_load_relaxed(nalloc ? &a->nalloc : &a->nthreads);
        if (n < best_n) {
            best = i;
            best_n = n;
            if (n == 0)
                break;
        }
    }
    return best;
}

arena_t *arena_choose(void) {
    arena_t *arena = arena_get_or_create(arena_least(false));
    if (arena == NULL)
        arena = arena_get(0);
    return arena;
}

arena_t *arena_choose_alloc(void) { return arena_get_or_create(arena_least(true)); }

COLD unsigned arenas_nalloc(void) {
    unsigned n = 0;
    for (unsigned i = 0; i < narenas_auto; i++) {
        arena_t *a = arena_get(i);
        n += a == NULL ? 0 : atomic_load_relaxed(&a->nalloc);
    }
    return n;
}

arena_t *arena_percpu(arena_t *cur) {
    int cpu = sched_getcpu();
    if (cpu < 0 || narenas_auto == 0)
        return cur;
    unsigned ind = (unsigned)cpu % narenas_auto;
    if (cur != NULL && cur->ind == ind)
        return cur;
    arena_t *arena = arena_get_or_create(ind);
    return arena != NULL ? arena : cur;
}

arena_t *arena_huge(void) {
    if (arena_huge_ind == UINT_MAX)
        return NULL;
    /* Same purging as other arenas: purging oversize extents at once would refault them. */
    return arena_get_or_create(arena_huge_ind);
}

static unsigned arena_first_manual(void) {
    unsigned first = arenas_auto_top();
    if (arena_huge_ind != UINT_MAX && first <= arena_huge_ind)
        first = arena_huge_ind + 1;
    return first;
}

bool arena_is_manual(unsigned ind) { return ind >= arena_first_manual() && ind < ARENAS_MAX; }

COLD unsigned arena_create_new(extent_hooks_t *hooks) {
    mutex_lock(&arenas_lock);
    unsigned ind = arena_first_manual();
    while (ind < narenas_total && arenas[ind] != NULL)
        ind++;
    arena_t *arena = ind < ARENAS_MAX ? arena_new(ind) : NULL;
    if (arena != NULL) {
        if (hooks != NULL)
            arena->ex.hooks = hooks;
        atomic_store_release(&arenas[ind], arena);
        if (ind >= narenas_total)
            atomic_store_release(&narenas_total, ind + 1);
    }
    mutex_unlock(&arenas_lock);
    return arena != NULL ? ind : UINT_MAX;
}

COLD void arena_reset(arena_t *arena) {
    mutex_lock(&arena->ex.lock);
    extents_release_all(&arena->ex);
    memset(arena->lstats, 0, sizeof(arena->lstats));
    arena->large_allocated = 0;
    mutex_unlock(&arena->ex.lock);
    for (unsigned b = 0; b < SC_NBINS; b++) {
        bin_t *bin = &arena->bins[b];
        mutex_lock(&bin->lock);
        bin->slabcur = NULL;
        bin->nonfull = NULL;
        bin->spare = NULL;
        bin->spare_bytes = 0;
        bin->stats.curregs = 0;
        bin->stats.curslabs = 0;
        bin->stats.nonfull_slabs = 0;
        mutex_unlock(&bin->lock);
    }
}

COLD bool arena_destroy(arena_t *arena) {
    if (atomic_load_relaxed(&arena->nthreads) != 0)
        return false;
    arena_reset(arena);
    mutex_lock(&arenas_lock);
    atomic_store_release(&arenas[arena->ind], NULL);
    mutex_lock(&arena->ex.lock);
    extents_unmap_all(&arena->ex);
    mutex_unlock(&arena->ex.lock);
    arena->next_spare = arenas_spare;
    arenas_spare = arena;
    mutex_unlock(&arenas_lock);
    return true;
}

void *arena_malloc_small(arena_t *arena, unsigned binind, bool zero) {
    void *ret;
    bin_t *bin = &arena->bins[binind];
    if (bin_alloc_batch(bin, binind, &arena->ex, &ret, 1, 1) == 0)
        return NULL;
    if (zero)
        memset(ret, 0, bin_infos[binind].reg_size);
    return ret;
}

/* A large extent of class usize; registered as sampled, reporting class report, unless that is
 * UINT_MAX. */
static extent_t *arena_large_new(arena_t *arena, size_t usize, size_t align, bool zero,
                                 unsigned report) {
    unsigned szind = sz_size2index(usize);
    assert(szind >= SC_NBINS && sz_index2size(szind) == usize);
    bool zeroed;
    mutex_lock(&arena->ex.lock);
    align = align < PAGE ? PAGE : align;
    /* A sampled small block's extent stands in for a region: it leaves the idle slabs be. */
    extent_t *e = report < SC_NBINS ? extent_alloc_keep_idle(&arena->ex, usize, align, &zeroed)
                                    : extent_alloc(&arena->ex, usize, align, &zeroed);
    if (e == NULL) {
        mutex_unlock(&arena->ex.lock);
        return NULL;
    }
    e->szind = (uint16_t)szind;
    if (report == UINT_MAX)
        emap_register_large(e, szind);
    else
        emap_register_sampled(e, report);
    large_stats_t *ls = &arena->lstats[szind - SC_NBINS];
    ls->nmalloc++;
    ls->nrequests++;
    ls->curlextents++;
    arena->large_allocated += usize;
    mutex_unlock(&arena->ex.lock);
    if (zero && !zeroed)
        memset((void *)e->addr, 0, usize);
    else if (!zeroed) /* reused memory: no free tag left in its first word (tcache.h) */
        memset((void *)e->addr, 0, sizeof(uint64_t));
    return e;
}

void *arena_malloc_large(arena_t *arena, size_t usize, size_t align, bool zero) {
    extent_t *e = arena_large_new(arena, usize, align, zero, UINT_MAX);
    return e != NULL ? (void *)e->addr : NULL;
}

extent_t *arena_malloc_sampled(arena_t *arena, size_t usize, unsigned ind, size_t align,
                               bool zero) {
    assert(ind == sz_size2index(usize));
    size_t lsize = usize < SC_LARGE_MINCLASS ? SC_LARGE_MINCLASS : usize;
    extent_t *e = arena_large_new(arena, lsize, align, zero, ind);
    if (e != NULL) {
        e->prof_tctx = NULL;
        e->prof_recent = NULL;
    }
    return e;
}

extent_t *arena_large_mark_sampled(extent_t *e, unsigned report) {
    arena_t *arena = arenas[e->arena_ind];
    e->prof_tctx = NULL;
    e->prof_recent = NULL;
    mutex_lock(&arena->ex.lock);
    emap_register_sampled(e, report);
    mutex_unlock(&arena->ex.lock);
    return e;
}

void arena_sampled_unmark(extent_t *e) {
    arena_t *arena = arenas[e->arena_ind];
    mutex_lock(&arena->ex.lock);
    emap_register_large(e, e->szind);
    mutex_unlock(&arena->ex.lock);
}

/* Free the large block of e to arena: its pages dirty, or (moved) gone, as retained pages. */
static void arena_dalloc_large(arena_t *arena, extent_t *e, bool moved) {
    mutex_lock(&arena->ex.lock);
    /* e->szind: a sampled block's entry names the class it reports */
    large_stats_t *ls = &arena->lstats[e->szind - SC_NBINS];
    ls->ndalloc++;
    ls->curlextents--;
    arena->large_allocated -= e->size;
    if (moved)
        extent_dalloc_moved(&arena->ex, e);
    else
        extent_dalloc(&arena->ex, e);
    if (config_debug)
        extents_validate(&arena->ex);
    mutex_unlock(&arena->ex.lock);
}

void arena_dalloc(void *ptr, rtree_entry_t entry) {
    extent_t *e = rtree_entry_extent(entry);
    arena_t *arena = arenas[e->arena_ind];
    unsigned szind = rtree_entry_binid(entry) - 1;
    if (rtree_entry_slab(entry)) {
        bin_t *bin = &arena->bins[szind];
        mutex_lock(&bin->lock);
        bin_dalloc_locked(bin, szind, &arena->ex, e, ptr);
        mutex_unlock(&bin->lock);
        return;
    }
    if (unlikely((uintptr_t)ptr != e->addr))
        io_fatal("free(%p): not the start of an allocation\n", ptr);
    arena_dalloc_large(arena, e, false);
}

bool arena_ralloc_large_inplace(extent_t *e, size_t usize, bool zero, bool sampled) {
    arena_t *arena = arenas[e->arena_ind];
    size_t old = e->size;
    if (usize == old)
        return false;
    unsigned szind = sz_size2index(usize);
    bool zeroed = true;
    mutex_lock(&arena->ex.lock);
    uintptr_t old_last = e->addr + old - PAGE;
    if (usize > old) {
        if (extent_expand(&arena->ex, e, usize, &zeroed)) {
            mutex_unlock(&arena->ex.lock);
            return true;
        }
    } else {
        extent_shrink(&arena->ex, e, usize);
        if (e->size != usize) {
            mutex_unlock(&arena->ex.lock);
            return true;
        }
    }
    if (usize > old)
        emap_clear_page(old_last);
    large_stats_t *ls = &arena->lstats[e->szind - SC_NBINS];
    ls->ndalloc++;
    ls->curlextents--;
    ls = &arena->lstats[szind - SC_NBINS];
    ls->nmalloc++;
    ls->nrequests++;
    ls->curlextents++;
    arena->large_allocated += usize;
    arena->large_allocated -= old;
    e->szind = (uint16_t)szind;
    if (sampled)
        emap_register_sampled(e, szind);
    else
        emap_register_large(e, szind);
    mutex_unlock(&arena->ex.lock);
    /* The pages gained read zero when asked, and under zero:true, which zeroes every byte
     * when it is first allocated, resizes included. */
    if ((zero || opt_zero) && usize > old && !zeroed)
        memset((void *)(e->addr + old), 0, usize - old);
    return false;
}

void arena_dalloc_moved(extent_t *e) { arena_dalloc_large(arenas[e->arena_ind], e, true); }

/*
 * The slab's fields and its bin's counts are read under the bin's lock, as they are written; a
 * large extent's size needs none while its block is live.
 */
COLD void arena_util_query(const void *ptr, arena_util_t *out) {
    *out = (arena_util_t){0};
    if (!rtree_addr_valid(ptr))
        return;
    rtree_entry_t entry = rtree_read(ptr);
    extent_t *e = rtree_entry_extent(entry);
    if (e == NULL || rtree_entry_binid(entry) == 0) /* unregistered, or a free extent */
        return;
    if (!rtree_entry_slab(entry)) {
        out->nregs = 1;
        out->size = e->size;
        return;
    }
    unsigned binind = rtree_entry_binid(entry) - 1;
    const bin_info_t *info = &bin_infos[binind];
    bin_t *bin = &arenas[e->arena_ind]->bins[binind];
    mutex_lock(&bin->lock);
    out->nfree = e->nfree;
    out->nregs = info->nregs;
    out->size = e->size;
    out->bin_nregs = (size_t)info->nregs * bin->stats.curslabs;
    out->bin_nfree = out->bin_nregs - bin->stats.curregs;
    out->slabcur_addr = bin->slabcur != NULL ? (void *)bin->slabcur->addr : NULL;
    mutex_unlock(&bin->lock);
}

size_t arena_purge(arena_t *arena) {
    for (unsigned b = 0; b < SC_NBINS; b++)
        bin_spare_release(&arena->bins[b], &arena->ex);
    mutex_lock(&arena->ex.lock);
    size_t n = extents_purge_all(&arena->ex);
    mutex_unlock(&arena->ex.lock);
    return n;
}

COLD size_t arenas_release_free_chunks(void) {
    size_t released = 0;
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arena_get(i);
        if (a == NULL)
            continue;
        mutex_lock(&a->ex.lock);
        released += extents_release_free_chunks(&a->ex);
        mutex_unlock(&a->ex.lock);
    }
    return released;
}

void arena_decay_now(arena_t *arena) {
    mutex_lock(&arena->ex.lock);
    if (nstime_usable())
        extents_decay(&arena->ex, nstime_now());
    mutex_unlock(&arena->ex.lock);
}

static bool arena_decay_pending(const arena_t *arena) {
    const extents_t *ex = &arena->ex;
    return atomic_load_relaxed(&ex->dirty.npages) != 0 || atomic_load_relaxed(&ex->muzzy.npages) != 0 ||
           atomic_load_relaxed(&ex->idle_pages) != 0;
}

static void arena_decay_try(arena_t *arena, uint64_t now) {
    extents_t *ex = &arena->ex;
    if (!mutex_trylock(&ex->lock))
        return; /* someone else is working on it and will tick it */
    extents_decay_step(ex, now);
    mutex_unlock(&ex->lock);
}

void arena_decay_tick(arena_t *arena) {
    if (!nstime_usable())
        return;
    /* The clock is read only when some pages are waiting for it. */
    arena_t *huge = arena_huge_ind != UINT_MAX ? arena_get(arena_huge_ind) : NULL;
    bool mine = arena_decay_pending(arena);
    bool theirs = huge != NULL && huge != arena && arena_decay_pending(huge);
    if (!mine && !theirs)
        return;
    uint64_t now = nstime_now();
    if (mine)
        arena_decay_try(arena, now);
    if (theirs)
        arena_decay_try(huge, now);
}

COLD void arenas_prefork_ctl(void) { mutex_lock(&arenas_lock); }

COLD void arenas_prefork(void) {
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arenas[i];
        if (a == NULL)
            continue;
        for (unsigned b = 0; b < SC_NBINS; b++)
            bin_prefork(&a->bins[b]);
    }
    for (unsigned i = 0; i < n; i++) {
        if (arenas[i] != NULL)
            extents_prefork(&arenas[i]->ex);
    }
}

COLD void arenas_postfork_parent(void) {
    unsigned n = narenas_total;
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arenas[i];
        if (a == NULL)
            continue;
        extents_postfork_parent(&a->ex);
        for (unsigned b = 0; b < SC_NBINS; b++)
            bin_postfork_parent(&a->bins[b]);
    }
}

COLD void arenas_postfork_parent_ctl(void) { mutex_unlock(&arenas_lock); }

COLD void arenas_postfork_child(void) {
    unsigned n = narenas_total;
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arenas[i];
        if (a == NULL)
            continue;
        extents_postfork_child(&a->ex);
        for (unsigned b = 0; b < SC_NBINS; b++)
            bin_postfork_child(&a->bins[b]);
        a->nthreads = 0;
        a->nalloc = 0;
    }
}

COLD void arenas_postfork_child_ctl(void) { mutex_postfork_child(&arenas_lock); }

COLD void arenas_validate(void) {
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arena_get(i);
        if (a == NULL)
            continue;
        for (unsigned b = 0; b < SC_NBINS; b++) {
            mutex_lock(&a->bins[b].lock);
            bin_validate(&a->bins[b], b);
            mutex_unlock(&a->bins[b].lock);
        }
        mutex_lock(&a->ex.lock);
        extents_validate(&a->ex);
        mutex_unlock(&a->ex.lock);
    }
}

size_t arenas_mapped_estimate(void) {
    size_t sum = 0;
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arena_get(i);
        if (a != NULL)
            sum += atomic_load_relaxed(&a->ex.mapped);
    }
    return sum;
}
