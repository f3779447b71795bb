/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc: the public allocation interface. Exported functions are one line each around the
 * fast paths (api.h) or the shared slow bodies here: alloc_slow() serves every allocating
 * entry point (malloc, calloc, the aligned family, mallocx) and dalloc_slow() every freeing one
 * (realloc.c, which resizes, uses both).
 * The slow paths own lazy initialisation: the first call of the process initialises the
 * allocator, the first call of a thread creates its state. They also check every pointer handed
 * back (block_check: ours, a region start, not free already; sizes for sized frees) and report
 * what fails in one line before abort(). No lock is held on entry or exit.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "allocator.h"
#include "allocator/internal/api.h"
#include "allocator/internal/background.h"
#include "allocator/internal/boot.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/prof_recent.h"
#include "allocator/internal/tevent.h"

#define JUNK_ALLOC_BYTE 0xa5
#define JUNK_FREE_BYTE 0x5a

COLD void *alloc_fail(void) {
    if (opt_xmalloc)
        io_fatal("out of memory (xmalloc:true)\n");
    errno = ENOMEM;
    return NULL;
}

/*
 * Count the block of e, just made sampled, in the stack table under bt and in the last-N
 * records (size as requested, usize, of class ind, as counted).
 */
static ALWAYS_INLINE void sampled_count(tsd_t *tsd, extent_t *e, const prof_bt_t *bt,
                                        size_t size, size_t usize, unsigned ind) {
    prof_sampled_alloc_bt(tsd, bt, e, usize, ind);
    if (prof_recent_max_get() != 0) {
        prof_tdata_t *td = tsd->prof_tdata;
        prof_recent_alloc(prof_thread_uid(tsd), td != NULL ? td->name : NULL, size, usize,
                          prof_bt_frames(bt), bt->n, &e->prof_recent);
    }
}

/*
 * A sampled allocation (prof.h): the backtrace (no lock held), its counts in the stack table,
 * and a large extent of its own registered so that its free leaves the fast path. NULL if
 * memory for it cannot be had (the caller then serves the request as usual, unsampled).
 */
static ALWAYS_INLINE void *alloc_sampled(tsd_t *tsd, const alloc_req_t *req, size_t usize,
                                         unsigned ind, arena_t *arena) {
    prof_bt_t bt;
    prof_backtrace(tsd, &bt);
    bool zero = req->zero || opt_zero;
    /*
     * The extent's class is usize's, at least SC_LARGE_MINCLASS. When the request may use the
     * thread's cache: a small block takes the extent the thread kept from its last sampled small
     * block (dalloc_sampled), as it is; else, if the cache holds the extent's class, a free large
     * block of it, registered as sampled. So a sample makes no extent, and a small one usually
     * changes no registration.
     */
    unsigned lind = usize < SC_LARGE_MINCLASS ? SC_NBINS : ind; /* ind: usize's */
    assert(ind == sz_size2index(usize) && sz_index2size(SC_NBINS) == SC_LARGE_MINCLASS);
    extent_t *e = NULL;
    bool cache_ok = req->tcache == NULL && !req->no_tcache && req->arena == NULL &&
                    req->align <= PAGE;
    prof_tdata_t *td = tsd->prof_tdata;
    if (cache_ok && usize < SC_LARGE_MINCLASS && td != NULL && td->nspare != 0 &&
        td->spare[td->nspare - 1]->arena_ind == arena->ind) {
        /* The thread's last spare (dalloc_sampled): registered already, perhaps for this class. */
        td->nspare--;
        e = td->spare[td->nspare];
        if (td->spare_report[td->nspare] != ind) {
            arena_large_mark_sampled(e, ind);
        } else {
            e->prof_tctx = NULL;
            e->prof_recent = NULL;
        }
        if (zero)
            memset((void *)e->addr, 0, usize);
    } else if (cache_ok && lind < tsd->tcache.nhbins) {
        cache_bin_t *cb = &tsd->tcache.bins[lind + 1];
        if (cache_bin_ncached(cb) != 0) {
            void *p = cache_bin_pop_slow(cb);
            e = arena_large_mark_sampled(rtree_entry_extent(rtree_read(p)), ind);
            if (zero)
                memset(p, 0, usize);
            else
                block_untag(p); /* cached free, so tagged */
        }
    }
    if (e == NULL) {
        e = arena_malloc_sampled(arena, usize, ind, req->align > PAGE ? req->align : PAGE, zero);
        if (e == NULL)
            return NULL;
    }
    sampled_count(tsd, e, &bt, req->size, usize, ind);
    tsd_peak_note_slow(tsd); /* (the thread event counter counted usize) */
    void *ret = (void *)e->addr;
    if (opt_junk_alloc && !zero)
        memset(ret, JUNK_ALLOC_BYTE, usize);
    return ret;
}

/*
 * The large block of e was resized in place from old_usize to usize (realloc, rallocx,
 * xallocx). Growth counts toward the thread's events as an allocation of the bytes gained
 * would: when it makes the sample countdown run out, the block becomes sampled where it is
 * (one sampled already stays so). Bytes are sampled as a Poisson process, so a block grown to
 * usize is then sampled with probability 1 - exp(-usize / period), as if allocated at usize. A
 * sampled block that shrinks stays sampled with the ratio of the two probabilities
 * (prof_sample_kept), which keeps that true for the smaller size too.
 */
PROF_FRAME void ralloc_inplace_done(extent_t *e, bool sampled, size_t size, size_t old_usize,
                                    size_t usize) {
    tsd_t *tsd = tsd_get();
    bool real = tsd_is_real(tsd);
    if (sampled) {
        /* (A thread without a state of its own keeps the block sampled: no generator.) */
        if (real && usize < old_usize && !prof_sample_kept(tsd, old_usize, usize))
            prof_sampled_free(e, old_usize);
        else
            prof_sampled_resize(e, old_usize, usize);
    }
    if (unlikely(!real))
        return;
    /* The bytes gained go through the event counter, which counts them as allocated. */
    size_t gained = usize > old_usize ? usize - old_usize : 0;
    tsd->thread_allocated += usize - gained;
    tsd->thread_deallocated += old_usize;
    if (gained != 0 && (tsd->event_left -= (int64_t)gained) < 0) {
        unsigned due = tevent_trigger(tsd);
        if (due & TEVENT_TICK)
            tevent_tick(tsd);
        if ((due & TEVENT_SAMPLE) && !sampled) {
            prof_bt_t bt;
            prof_backtrace(tsd, &bt);
            arena_large_mark_sampled(e, e->szind);
            sampled_count(tsd, e, &bt, size, usize, e->szind); /* usize's, since the resize */
        }
    }
}

PROF_FRAME void *alloc_slow(const alloc_req_t *req) {
    tsd_t *tsd = tsd_fetch();
    if (unlikely(tsd == NULL))
        return alloc_fail();
    background_maybe_start();
    if (opt_percpu_arena == PERCPU_ARENA_PERCPU)
        tsd_arena_percpu(tsd);
    else if (unlikely(req->arena == NULL && tsd_is_real(tsd) && !tsd->alloc_counted))
        tsd_arena_first_alloc(tsd);
    size_t usize = req->align == 0 ? sz_s2u(req->size) : sz_sa2u(req->size, req->align);
    if (unlikely(usize == 0 || usize > (size_t)PTRDIFF_MAX))
        return alloc_fail();
    unsigned ind = sz_size2index(usize);
    arena_t *arena = req->arena != NULL ? req->arena : tsd->arena;
    if (req->arena == NULL && req->tcache == NULL && usize >= opt_oversize_threshold &&
        opt_oversize_threshold != 0) {
        arena_t *huge = arena_huge();
        if (huge != NULL)
            arena = huge;
    }
    if (arena == NULL)
        arena = arena_get(0);
    /*
     * The tick runs once the allocation has succeeded: a call that fails changes nothing, and
     * a GC step run for it would move cached regions (and the statistics) all the same.
     */
    unsigned due = 0;
    if (likely(tsd_is_real(tsd)) && unlikely((tsd->event_left -= (int64_t)usize) < 0)) {
        due = tevent_trigger(tsd);
        if (due & TEVENT_SAMPLE) {
            void *ret = alloc_sampled(tsd, req, usize, ind, arena);
            if (ret != NULL) {
                if (due & TEVENT_TICK)
                    tevent_tick(tsd);
                return ret;
            }
        }
    }
    /*
     * The thread's own arena when a collision there may move the thread (tsd_arena_shared), to
     * learn whether another thread held its locks meanwhile; a single-threaded program reads
     * one count here.
     */
    bool zero = req->zero || opt_zero; /* (read here: not held across a sample's calls) */
    arena_t *home = NULL;
    if (req->arena == NULL && tsd_is_real(tsd) && tsd_arena_shared(tsd))
        home = tsd->arena;
    uint64_t waits = home != NULL ? arena_lock_waits(home, ind) : 0;
    tcache_t *tc = NULL;
    if (req->tcache != NULL) {
        tc = req->tcache;
        tc->arena = arena;
        if (ind >= tc->nhbins || (ind >= SC_NBINS && req->align > PAGE))
            tc = NULL;
    } else if (tsd_is_real(tsd) && !req->no_tcache && req->arena == NULL &&
               ind < tsd->tcache.nhbins && (ind < SC_NBINS || req->align <= PAGE)) {
        tc = &tsd->tcache;
    }
    size_t large_align = req->align > PAGE ? req->align : PAGE;
    void *ret;
    if (tc != NULL) {
        cache_bin_t *cb = tcache_bin_get(tc, ind + 1);
        if (cache_bin_ncached(cb) != 0) {
            ret = cache_bin_pop_slow(cb);
            if (zero)
                memset(ret, 0, usize);
        } else if (ind < SC_NBINS) {
            cache_bin_count_miss(cb);
            ret = tcache_alloc_small_miss(tc, ind);
            if (ret != NULL && zero)
                memset(ret, 0, usize);
        } else {
            cache_bin_count_miss(cb);
            ret = arena_malloc_large(arena, usize, PAGE, zero);
        }
        tcache_event(tc);
    } else if (ind < SC_NBINS) {
        ret = arena_malloc_small(arena, ind, zero);
    } else {
        ret = arena_malloc_large(arena, usize, large_align, zero);
    }
    if (unlikely(ret == NULL) && arenas_release_free_chunks() != 0) {
        /* Out of memory or address space: wholly free chunks went back; try once more. */
        ret = ind < SC_NBINS ? arena_malloc_small(arena, ind, zero)
                             : arena_malloc_large(arena, usize, large_align, zero);
    }
    if (unlikely(ret == NULL)) {
        if (tsd_is_real(tsd))
            tsd->thread_allocated -= usize; /* the event counter counted it */
        return alloc_fail();
    }
    if (tsd_is_real(tsd))
        tsd_peak_note_slow(tsd);
    if (home != NULL && unlikely(arena_lock_waits(home, ind) != waits))
        tsd_arena_collide(tsd);
    if (unlikely(due & TEVENT_TICK))
        tevent_tick(tsd); /* ret is out of the cache already: the GC may flush under it */
    if (opt_junk_alloc && !zero)
        memset(ret, JUNK_ALLOC_BYTE, usize);
    else if (!zero && (ind < SC_NBINS || tc != NULL)) /* else a large block from the arena: */
        block_untag(ret); /* arena_large_new cleared its word if its memory was used before */
    return ret;
}

PROF_FRAME void *malloc_slow(size_t size) {
    if (size <= SZ_FAST_MAXCLASS)
        (void)sz_size2binoff(size); /* fills its page: the fast path's next call of it hits */
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    return alloc_slow(&req);
}

/*
 * The fast path popped ret and took the thread event counter below zero (it has counted ret
 * already): run the events; if this allocation is to be sampled, ret goes back to its bin and a
 * sampled block is made here, where the unwinder has one allocator frame to walk.
 */
PROF_FRAME void *malloc_event(void *ret, size_t size) {
    tsd_t *tsd = tsd_get();
    unsigned due = tevent_trigger(tsd);
    if (!(due & TEVENT_SAMPLE)) {
        /* ret is out of its bin already: the GC may flush the bin under it. */
        if (due & TEVENT_TICK)
            tevent_tick(tsd);
        return ret;
    }
    cache_bin_t *cb = (cache_bin_t *)((char *)tsd->tcache.bins + sz_size2binoff_tab[size]);
    size_t usize = cb->size;
    block_tag(ret);
    tsd_stacks(tsd)[cb->top] = ret;
    cb->top++; /* the pop and its request, undone */
    if (due & TEVENT_TICK)
        tevent_tick(tsd); /* after the push: the GC may have shrunk the bin */
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    arena_t *arena = tsd->arena != NULL ? tsd->arena : arena_get(0);
    void *p = alloc_sampled(tsd, &req, usize, sz_size2index(usize), arena);
    if (p != NULL)
        return p;
    /* No memory for the sampled block: serve it as usual (the counter is armed again, and
     * counts usize a second time). */
    tsd->thread_allocated -= usize;
    return alloc_slow(&req);
}

/*
 * The last-N record of e's sampled block is told of its free, with this thread's backtrace
 * (none for a thread without a state of its own: after its exit, or inside the profiler).
 */
static PROF_FRAME void dalloc_sampled_recent(tsd_t *tsd, extent_t *e) {
    prof_bt_t bt;
    bt.n = 0;
    bt.at = NULL;
    bool real = tsd != NULL && tsd_is_real(tsd);
    if (real && !tsd->prof_busy)
        prof_backtrace(tsd, &bt);
    prof_tdata_t *td = real ? tsd->prof_tdata : NULL;
    prof_recent_dalloc_slow(real ? prof_thread_uid(tsd) : 0, td != NULL ? td->name : NULL,
                            &e->prof_recent, prof_bt_frames(&bt), bt.n);
}

/*
 * Free a sampled block (its entry has the prof bit): uncount it, give its extent back. When
 * cache_ok: a small block's extent of an automatic arena becomes one of the thread's spares if
 * it has fewer than PROF_SPARES (registration unchanged, prof_tctx EXTENT_PROF_SPARE; the
 * thread's next sampled small block takes the last one as it is); else the extent goes to the
 * thread's cache as a free large block of its class if that caches the class and has room
 * (alloc_sampled takes it from there, registered again); else to its arena.
 */
static PROF_FRAME void dalloc_sampled(void *ptr, rtree_entry_t entry, bool cache_ok) {
    extent_t *e = rtree_entry_extent(entry);
    unsigned ind = rtree_entry_binid(entry) - 1;
    size_t usize = sz_index2size(ind);
    tsd_t *tsd = tsd_fetch();
    tsd_t *real = tsd != NULL && tsd_is_real(tsd) ? tsd : NULL; /* a thread state of its own */
    if (real != NULL)
        real->thread_deallocated += usize;
    if (opt_junk_free)
        memset(ptr, JUNK_FREE_BYTE, usize);
    /* Whatever the capacity is now: a record made earlier may still link the block. */
    if (prof_recent_linked(&e->prof_recent))
        dalloc_sampled_recent(tsd, e);
    prof_sampled_free_by(real, e, usize, ind);
    if (!cache_ok || real == NULL) {
        arena_dalloc(ptr, entry);
        return;
    }
    prof_tdata_t *td = real->prof_tdata;
    if (usize < SC_LARGE_MINCLASS && td != NULL && td->nspare < PROF_SPARES &&
        !arena_is_manual(e->arena_ind)) {
        e->prof_tctx = EXTENT_PROF_SPARE;
        td->spare[td->nspare] = e;
        td->spare_report[td->nspare] = ind;
        td->nspare++;
        return;
    }
    if (e->szind < real->tcache.nhbins) {
        cache_bin_t *cb = &real->tcache.bins[e->szind + 1];
        if (cache_bin_ncached(cb) < cache_bin_ncached_max(cb)) {
            arena_sampled_unmark(e);
            block_tag(ptr);
            cache_bin_push_slow(cb, ptr);
            return;
        }
    }
    arena_dalloc(ptr, entry);
}

/*
 * Free ptr into tc_explicit when given, else the thread's cache unless no_tcache. In the
 * profiler's section, as are the freeing entry points: a sampled block's free takes a backtrace
 * below them (dalloc_sampled_recent), which must start at the program's call even when a build
 * without tail calls or inlining keeps their frames.
 */
PROF_ENTRY void dalloc_slow(const char *op, void *ptr, bool no_tcache,
                                   tcache_t *tc_explicit) {
    if (ptr == NULL)
        return;
    rtree_entry_t entry = block_check(op, ptr, true);
    if (unlikely(rtree_entry_prof(entry))) {
        dalloc_sampled(ptr, entry, tc_explicit == NULL && !no_tcache);
        return;
    }
    unsigned binid = rtree_entry_binid(entry);
    bool had_state = tsd_is_real(tsd_get());
    tsd_t *tsd = tsd_fetch();
    background_maybe_start();
    size_t usize = sz_index2size(binid - 1);
    if (opt_junk_free)
        memset(ptr, JUNK_FREE_BYTE, usize);
    if (tsd != NULL && tsd_is_real(tsd))
        tsd->thread_deallocated += usize;
    /*
     * A thread whose first call is a free got the block from another thread: it goes back to
     * its arena rather than into this thread's new cache, whose next malloc would hand it out
     * again, keeping the thread's writes in cache lines the other thread packed (passive false
     * sharing). Later frees are cached as usual.
     */
    if (tc_explicit != NULL || (tsd != NULL && tsd_is_real(tsd) && !no_tcache && had_state)) {
        tcache_t *tc = tc_explicit != NULL ? tc_explicit : &tsd->tcache;
        if (binid - 1 < tc->nhbins) {
            cache_bin_t *cb = tcache_bin_get(tc, binid);
            if (cache_bin_ncached(cb) >= cache_bin_ncached_max(cb))
                tcache_bin_overflow(tc, binid);
            block_tag(ptr);
            cache_bin_push_slow(cb, ptr);
            tcache_event(tc);
            return;
        }
    }
    /* A region stays registered in its slab while free: tag it (a large extent is unregistered). */
    if (rtree_entry_slab(entry))
        block_tag(ptr);
    arena_dalloc(ptr, entry);
}

PROF_FRAME void free_slow(void *ptr) { dalloc_slow("free", ptr, false, NULL); }

/* ---- the standard interface ---------------------------------------------------------------- */

static ALWAYS_INLINE void *alloc_aligned(size_t align, size_t size, bool zero) {
    alloc_req_t req = {size, align <= QUANTUM ? 0 : align, zero, false, NULL, NULL};
    return alloc_slow(&req);
}

EXPORT PROF_ENTRY void *malloc(size_t size) { return malloc_fastpath(size); }

EXPORT PROF_ENTRY void free(void *ptr) { free_fastpath(ptr); }

EXPORT PROF_ENTRY void *calloc(size_t n, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    alloc_req_t req = {total, 0, true, false, NULL, NULL};
    return alloc_slow(&req);
}

size_t usable_size_of(const char *op, const void *ptr) {
    return sz_index2size(rtree_entry_binid(block_check(op, ptr, false)) - 1);
}

EXPORT PROF_ENTRY int posix_memalign(void **memptr, size_t align, size_t size) {
    if (unlikely(align < sizeof(void *) || !is_pow2(align)))
        return EINVAL;
    int saved = errno;
    void *p = alloc_aligned(align, size, false);
    if (p == NULL) {
        errno = saved;
        return ENOMEM;
    }
    *memptr = p;
    return 0;
}

EXPORT PROF_ENTRY void *aligned_alloc(size_t align, size_t size) {
    if (unlikely(!is_pow2(align))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size, false);
}

EXPORT PROF_ENTRY void *memalign(size_t align, size_t size) {
    if (unlikely(align > ((SIZE_MAX >> 1) + 1))) {
        errno = EINVAL; /* cannot be rounded up to a power of two */
        return NULL;
    }
    return alloc_aligned(pow2_ceil(align), size, false);
}

EXPORT PROF_ENTRY void *valloc(size_t size) { return alloc_aligned(PAGE, size, false); }

EXPORT PROF_ENTRY void *pvalloc(size_t size) {
    size_t rounded = ALIGN_UP(size == 0 ? 1 : size, PAGE);
    if (unlikely(rounded < size)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(PAGE, rounded, false);
}

EXPORT size_t malloc_usable_size(void *ptr) {
    return ptr == NULL ? 0 : usable_size_of("malloc_usable_size", ptr);
}

/*
 * Sized frees: the size (and alignment) must name the block's class, as any size from the one
 * requested up to the usable size does (jemalloc's rule for sdallocx). sized_binid gives the
 * class index + 1 they name, UINT_MAX for none. The fast path (sized_free_fast) compares the bin
 * offset that the malloc fast path's table gives for an unaligned size up to SZ_FAST_MAXCLASS
 * with the radix-tree entry's; other sizes (aligned ones, and those above the table, cached
 * when tcache_max is raised), and a mismatch, go to sized_free_slow, which checks the size
 * against the block's class and frees it as free's slow path does (to the thread cache if its
 * class is cached), or reports a mismatch.
 */
static unsigned sized_binid(size_t size, size_t align) {
    if (align != 0 && !is_pow2(align))
        return UINT_MAX;
    size_t usize = align == 0 ? sz_s2u(size) : sz_sa2u(size, align);
    return usize == 0 ? UINT_MAX : sz_size2index(usize) + 1;
}

/* An unaligned sized free by the table (an unfilled 0 matches no entry: the slow path). */
static ALWAYS_INLINE bool sized_free_fast(void *ptr, size_t size) {
    return likely(size <= SZ_FAST_MAXCLASS) &&
           likely(free_fastpath_try(ptr, true, sz_size2binoff_tab[size]));
}

static PROF_FRAME void sized_free_slow(const char *op, void *ptr, size_t size, size_t align,
                                       bool no_tcache, tcache_t *tc) {
    if (ptr == NULL)
        return;
    if (align == 0 && size <= SZ_FAST_MAXCLASS)
        (void)sz_size2binoff(size); /* an unfilled page sent it here: fill it for the next */
    unsigned binid = rtree_entry_binid(block_check(op, ptr, true));
    unsigned want = sized_binid(size, align);
    if (unlikely(want != binid)) {
        char rounds[64];
        if (want == UINT_MAX)
            io_format(rounds, sizeof(rounds), "no size class");
        else
            io_format(rounds, sizeof(rounds), "%zu", sz_index2size(want - 1));
        if (align == 0)
            io_fatal("%s(%p, %zu): size %zu does not match the %zu-byte block (it rounds to %s)\n",
                     op, ptr, size, size, sz_index2size(binid - 1), rounds);
        io_fatal("%s(%p, %zu, %zu): size %zu at alignment %zu does not match the %zu-byte block "
                 "(it rounds to %s)\n",
                 op, ptr, align, size, size, align, sz_index2size(binid - 1), rounds);
    }
    dalloc_slow(op, ptr, no_tcache, tc);
}

EXPORT PROF_ENTRY void free_sized(void *ptr, size_t size) {
    if (sized_free_fast(ptr, size))
        return;
    sized_free_slow("free_sized", ptr, size, 0, false, NULL);
}

EXPORT PROF_ENTRY void free_aligned_sized(void *ptr, size_t align, size_t size) {
    size_t a = align <= QUANTUM && align != 0 && is_pow2(align) ? 0 : align;
    if (a == 0 && sized_free_fast(ptr, size))
        return;
    sized_free_slow("free_aligned_sized", ptr, size, a == 0 ? 0 : align, false, NULL);
}

/* glibc's internal names, used by some programs and by glibc itself. */
EXPORT PROF_ENTRY void *__libc_malloc(size_t size) { return malloc_fastpath(size); }
EXPORT PROF_ENTRY void __libc_free(void *ptr) { free_fastpath(ptr); }
EXPORT PROF_ENTRY void *__libc_calloc(size_t n, size_t size) { return calloc(n, size); }
EXPORT PROF_ENTRY void *__libc_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
EXPORT PROF_ENTRY void *__libc_memalign(size_t align, size_t size) { return memalign(align, size); }
EXPORT PROF_ENTRY void *__libc_valloc(size_t size) { return valloc(size); }
EXPORT PROF_ENTRY void *__libc_pvalloc(size_t size) { return pvalloc(size); }
EXPORT PROF_ENTRY int __posix_memalign(void **memptr, size_t align, size_t size) {
    return posix_memalign(memptr, align, size);
}

/* ---- the jemalloc-compatible extended interface -------------------------------------------- */

#define MALLOCX_LG_ALIGN_MASK 0x3f
#define MALLOCX_TCACHE_SHIFT 8
#define MALLOCX_ARENA_SHIFT 20

/* Decode flags into req; returns false if they name an arena that does not exist. */
bool mallocx_req(alloc_req_t *req, size_t size, int flags) {
    unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
    req->size = size;
    req->align = lg == 0 ? 0 : (size_t)1 << lg;
    if (req->align != 0 && req->align <= QUANTUM)
        req->align = 0;
    req->zero = (flags & MALLOCX_ZERO) != 0;
    unsigned tc = ((unsigned)flags >> MALLOCX_TCACHE_SHIFT) & 0xfff;
    req->no_tcache = tc != 0;
    req->tcache = NULL;
    if (tc >= 2) {
        req->tcache = tcaches_get(tc - 2);
        if (req->tcache == NULL)
            return false;
    }
    unsigned a = (unsigned)flags >> MALLOCX_ARENA_SHIFT;
    req->arena = NULL;
    if (a != 0) {
        if (api_init() == INIT_ERROR || a - 1 >= arenas_limit())
            return false;
        req->arena = arena_get_or_create(a - 1);
        if (req->arena == NULL)
            return false;
    }
    return true;
}

EXPORT PROF_ENTRY void *mallocx(size_t size, int flags) {
    if (likely(flags == 0))
        return malloc_fastpath(size);
    alloc_req_t req;
    if (!mallocx_req(&req, size, flags))
        return NULL;
    return alloc_slow(&req);
}

EXPORT size_t sallocx(const void *ptr, int flags) {
    (void)flags;
    return usable_size_of("sallocx", ptr);
}

EXPORT PROF_ENTRY void dallocx(void *ptr, int flags) {
    unsigned tc = ((unsigned)flags >> MALLOCX_TCACHE_SHIFT) & 0xfff;
    if (likely(tc == 0) && likely(free_fastpath_try(ptr, false, 0)))
        return;
    dalloc_slow("dallocx", ptr, tc != 0, tc >= 2 ? tcaches_get(tc - 2) : NULL);
}

/* sdallocx with flags: an alignment, or a cache choice (which skips the fast path). */
static NOINLINE void sdallocx_flags(void *ptr, size_t size, int flags) {
    unsigned tc = ((unsigned)flags >> MALLOCX_TCACHE_SHIFT) & 0xfff;
    unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
    size_t align = lg == 0 || ((size_t)1 << lg) <= QUANTUM ? 0 : (size_t)1 << lg;
    if (likely(tc == 0) && align == 0 && sized_free_fast(ptr, size))
        return;
    sized_free_slow("sdallocx", ptr, size, align, tc != 0, tc >= 2 ? tcaches_get(tc - 2) : NULL);
}

EXPORT PROF_ENTRY void sdallocx(void *ptr, size_t size, int flags) {
    if (unlikely(flags != 0)) {
        sdallocx_flags(ptr, size, flags);
        return;
    }
    if (sized_free_fast(ptr, size))
        return;
    sized_free_slow("sdallocx", ptr, size, 0, false, NULL);
}

EXPORT size_t nallocx(size_t size, int flags) {
    if (api_init() == INIT_ERROR)
        return 0;
    unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
    size_t usize = lg == 0 ? sz_s2u(size) : sz_sa2u(size, (size_t)1 << lg);
    return usize > (size_t)PTRDIFF_MAX ? 0 : usize;
}
