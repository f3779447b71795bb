/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * realloc: resizing a block, for realloc, reallocarray, rallocx and xallocx. A block stays where
 * it is when its class does not change or a large extent can grow or shrink in place; a small
 * block of a cached class moving to another such class goes through the fast paths
 * (realloc_move_small); a huge one growing moves its pages (ralloc_move); anything else is
 * allocated anew, copied and freed the way the request allocates (realloc_impl). The slow bodies
 * it shares with the rest of the interface (alloc_slow, dalloc_slow, the mallocx flags) are
 * malloc.c's, declared in api.h. No lock is held on entry or exit.
 */
#include <errno.h>
#include <string.h>

#include "allocator.h"
#include "allocator/internal/api.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/io.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/stats.h"

/*
 * A block that realloc moves away from goes back to its slab, not to the thread's cache, from
 * this usable size on: the program is growing (or trimming) a buffer past the block's class, and
 * what waits in a cache keeps its slab in use; the classes of 512 bytes and up have slabs of 8
 * regions or fewer, a page or more each, which a few such blocks keep resident. bench/realloc
 * str (strings grown through every class): peak RSS 6.1 -> 4.7 MiB, time unchanged (medians of 5
 * runs; with tcache:false 4.8 MiB; with 1,024 bytes as the bound 5.0, with 4,096 bytes 5.2);
 * bench/script's peak 2% higher (8.4 -> 8.6 MiB); no other workload of bench/ moved.
 */
#define RALLOC_UNCACHED_MIN 512

/* realloc's end when the block moves: copy n bytes of ptr to ret, free ptr the way req allocates
 * (old_usize, ptr's usable size, at least RALLOC_UNCACHED_MIN: past the thread's cache). */
static ALWAYS_INLINE void *ralloc_copy(const char *op, void *ptr, size_t old_usize,
                                       const alloc_req_t *req, void *ret, size_t n) {
    memcpy(ret, ptr, n);
    bool no_tcache = req->no_tcache || (req->tcache == NULL && old_usize >= RALLOC_UNCACHED_MIN);
    if (no_tcache || req->tcache != NULL)
        dalloc_slow(op, ptr, no_tcache, req->tcache);
    else
        free_fastpath(ptr);
    return ret;
}

/* Blocks from this size on move their pages rather than being copied (doc/DESIGN.md, realloc). */
#define RALLOC_MOVE_MIN CHUNK

/*
 * realloc of a large block of RALLOC_MOVE_MIN bytes or more into *retp, a new larger block: move
 * its pages instead of copying them when *retp's are not resident (carved from retained pages or
 * a new chunk, where a copy would fault every page in), both are the default source's mappings,
 * and *retp's arena is never reset or destroyed (pages.h: a failed move may lose the new block's
 * first pages). Returns true when it moved: the old block is then freed, to its arena as retained
 * pages, never to a cache. Else *retp is the block to copy into: the same, or, when it was lost
 * (left allocated for good, since another thread may map there), another (NULL: none).
 */
static bool ralloc_move(const alloc_req_t *req, void *ptr, extent_t *old, size_t old_usize,
                        void **retp) {
    void *ret = *retp;
    rtree_entry_t entry = rtree_read(ret);
    extent_t *e = rtree_entry_extent(entry);
    if (rtree_entry_slab(entry) || rtree_entry_prof(entry) || arena_is_manual(e->arena_ind) ||
        arenas[e->arena_ind]->ex.hooks != &extent_hooks_default ||
        arenas[old->arena_ind]->ex.hooks != &extent_hooks_default || dss_contains(ret) ||
        dss_contains(ptr) || pages_resident_any(ret, RALLOC_MOVE_MIN))
        return false;
    pages_move_result_t r = pages_move(ptr, old_usize, ret);
    if (r == PAGES_MOVE_LOST)
        *retp = alloc_slow(req);
    if (r != PAGES_MOVE_MOVED)
        return false;
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tsd->thread_deallocated += old_usize;
    arena_dalloc_moved(old);
    return true;
}

/*
 * realloc_impl's last step for a large block of RALLOC_MOVE_MIN bytes or more growing into a new
 * block (kept out of realloc_impl, whose other calls it would slow): allocate, then move the pages
 * there (ralloc_move) or copy them, and free the old block.
 */
static PROF_FRAME void *realloc_huge(const char *op, void *ptr, const alloc_req_t *req,
                                     extent_t *old, size_t old_usize) {
    void *ret = alloc_slow(req);
    if (ret == NULL)
        return NULL;
    if (!opt_junk_free && ralloc_move(req, ptr, old, old_usize, &ret))
        return ret;
    if (ret == NULL)
        return NULL;
    return ralloc_copy(op, ptr, old_usize, req, ret, old_usize);
}

/*
 * Resize ptr as req says (size, alignment, zero, cache and arena choice): in place when the
 * class stays or a large extent can grow or shrink where it is; a huge block by moving its
 * pages (ralloc_move); else allocate, copy and free the old block the same way req allocates.
 */
static PROF_FRAME void *realloc_impl(const char *op, void *ptr, const alloc_req_t *req) {
    rtree_entry_t entry = block_check(op, ptr, false);
    unsigned binid = rtree_entry_binid(entry);
    size_t align = req->align;
    size_t old_usize = sz_index2size(binid - 1);
    size_t usize = align == 0 ? sz_s2u(req->size) : sz_sa2u(req->size, align);
    if (unlikely(usize == 0 || usize > (size_t)PTRDIFF_MAX))
        return alloc_fail();
    bool aligned = align == 0 || ((uintptr_t)ptr & (align - 1)) == 0;
    bool arena_ok = req->arena == NULL || rtree_entry_extent(entry)->arena_ind == req->arena->ind;
    if (usize == old_usize && aligned && arena_ok)
        return ptr;
    /* A large block, sampled or not, resizes in place when it can (a sampled one that
     * reports a small class lives in a bigger extent and moves). */
    if (binid - 1 >= SC_NBINS && usize >= SC_LARGE_MINCLASS && aligned && arena_ok) {
        extent_t *e = rtree_entry_extent(entry);
        bool sampled = rtree_entry_prof(entry);
        if (!arena_ralloc_large_inplace(e, usize, req->zero, sampled)) {
            ralloc_inplace_done(e, sampled, req->size, old_usize, usize);
            return ptr;
        }
        if (old_usize >= RALLOC_MOVE_MIN && usize > old_usize && !sampled)
            return realloc_huge(op, ptr, req, e, old_usize);
    }
    void *ret = alloc_slow(req);
    if (ret == NULL)
        return NULL;
    return ralloc_copy(op, ptr, old_usize, req, ret, old_usize < usize ? old_usize : usize);
}

/*
 * realloc of ptr, a small block of a cached class that the free fast path's checks passed
 * (old_usize its usable size), to size, of another class the malloc fast path's table covers:
 * allocate as malloc does, copy, and free ptr as ralloc_copy does, with neither realloc_impl's
 * full check of ptr nor the allocation slow path's setup (a small block cannot grow in place).
 */
static PROF_FRAME void *realloc_move_small(void *ptr, size_t old_usize, size_t size) {
    void *ret = malloc_fastpath(size);
    if (unlikely(ret == NULL))
        return NULL;
    /* What realloc_impl keeps: the usable bytes both blocks have, not just size's. */
    size_t usize = sz_s2u(size);
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    ralloc_copy("realloc", ptr, old_usize, &req, ret, old_usize < usize ? old_usize : usize);
    /* A slow-path event for the cache's GC, as the move through realloc_impl counts one. */
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tcache_event(&tsd->tcache);
    return ret;
}

EXPORT PROF_ENTRY void *realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return malloc_fastpath(size);
    if (size == 0) {
        stats_zero_realloc_count();
        /* opt zero_realloc: "free" (glibc's behaviour), "alloc" (a minimal object), "abort". */
        if (opt_zero_realloc == ZERO_REALLOC_ABORT)
            io_fatal("realloc(%p, 0) with zero_realloc:abort\n", ptr);
        if (opt_zero_realloc == ZERO_REALLOC_FREE) {
            free_fastpath(ptr);
            return NULL;
        }
    }
    if (size <= SZ_FAST_MAXCLASS) {
        size_t old_usize = realloc_fastpath_class(ptr, size);
        if (likely(old_usize == 0))
            return ptr;
        if (old_usize < SC_LARGE_MINCLASS && sz_size2binoff_tab[size] != 0)
            return realloc_move_small(ptr, old_usize, size);
        /* The fast path's table is filled a page at a time by the slow paths that find it
         * empty: realloc's next call of this size can then be checked there. */
        (void)sz_size2binoff(size);
    }
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    return realloc_impl("realloc", ptr, &req);
}

EXPORT PROF_ENTRY void *reallocarray(void *ptr, size_t n, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

EXPORT PROF_ENTRY void *rallocx(void *ptr, size_t size, int flags) {
    alloc_req_t req;
    if (!mallocx_req(&req, size, flags))
        return NULL;
    /* With MALLOCX_ZERO, bytes past the old size are zero: in-place growth zeroes them and a
     * move copies into a region alloc_slow zeroed. */
    return realloc_impl("rallocx", ptr, &req);
}

EXPORT PROF_ENTRY size_t xallocx(void *ptr, size_t size, size_t extra, int flags) {
    rtree_entry_t entry = block_check("xallocx", ptr, false);
    unsigned binid = rtree_entry_binid(entry);
    size_t old_usize = sz_index2size(binid - 1);
    if (binid - 1 < SC_NBINS)
        return old_usize;
    extent_t *e = rtree_entry_extent(entry);
    bool sampled = rtree_entry_prof(entry);
    bool zero = (flags & MALLOCX_ZERO) != 0;
    size_t max = size + extra < size ? SC_LARGE_MAXCLASS : size + extra;
    if (size > SC_LARGE_MAXCLASS || max < SC_LARGE_MINCLASS)
        return old_usize; /* a large block never becomes small in place */
    size_t tries[2] = {sz_s2u(max > SC_LARGE_MAXCLASS ? SC_LARGE_MAXCLASS : max), sz_s2u(size)};
    for (int i = 0; i < 2; i++) {
        size_t usize = tries[i];
        if (usize < SC_LARGE_MINCLASS)
            usize = SC_LARGE_MINCLASS;
        if (usize == old_usize)
            return old_usize;
        if (!arena_ralloc_large_inplace(e, usize, zero, sampled)) {
            ralloc_inplace_done(e, sampled, i == 0 ? max : size, old_usize, usize);
            return usize;
        }
    }
    return old_usize;
}
