/*
 * malloc: the public allocation interface. Exported functions are one line each around the
 * fast paths (fastpath.h) or the shared slow bodies here: alloc_slow() serves every allocating
 * entry point (malloc, calloc, the aligned family, mallocx) and dalloc_slow() every freeing one.
 * The slow paths own lazy initialisation: the first call of the process initialises the
 * allocator, the first call of a thread creates its state. No lock is held on entry or exit.
 */
#include <errno.h>
#include <string.h>

#include "allocator.h"
#include "allocator/internal/background.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/fastpath.h"
#include "allocator/internal/heapwalk.h"
#include "allocator/internal/init.h"
#include "allocator/internal/io.h"
#include "allocator/internal/pages.h"

#define JUNK_ALLOC_BYTE 0xa5
#define JUNK_FREE_BYTE 0x5a

/* How a request picks its cache and arena: from the thread state, or as mallocx flags say. */
typedef struct alloc_req_s {
    size_t size;
    size_t align; /* 0: natural alignment */
    bool zero;
    bool no_tcache;
    tcache_t *tcache; /* an explicit cache (MALLOCX_TCACHE), or NULL */
    arena_t *arena;   /* NULL: the thread's */
} alloc_req_t;

static COLD void *alloc_fail(void) {
    if (opt_xmalloc)
        io_fatal("out of memory (xmalloc:true)\n");
    errno = ENOMEM;
    return NULL;
}

static void *alloc_slow(const alloc_req_t *req) {
    tsd_t *tsd = tsd_fetch();
    if (unlikely(tsd == NULL))
        return alloc_fail();
    background_maybe_start();
    size_t usize = req->align == 0 ? sz_s2u(req->size) : sz_sa2u(req->size, req->align);
    if (unlikely(usize == 0 || usize > (size_t)PTRDIFF_MAX))
        return alloc_fail();
    unsigned ind = sz_size2index(usize);
    bool zero = req->zero || opt_zero;
    arena_t *arena = req->arena != NULL ? req->arena : tsd->arena;
    if (req->arena == NULL && req->tcache == NULL && usize >= opt_oversize_threshold &&
        opt_oversize_threshold != 0) {
        arena_t *huge = arena_huge();
        if (huge != NULL)
            arena = huge;
    }
    if (arena == NULL)
        arena = arena_get(0);
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
        cache_bin_t *cb = &tc->bins[ind + 1];
        cb->nrequests++;
        if (cb->ncached != 0) {
            ret = cb->stack[--cb->ncached];
            if (zero)
                memset(ret, 0, usize);
        } else if (ind < SC_NBINS) {
            ret = tcache_alloc_small_miss(tc, ind);
            if (ret != NULL && zero)
                memset(ret, 0, usize);
        } else {
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
    if (unlikely(ret == NULL))
        return alloc_fail();
    if (tsd_is_real(tsd))
        tsd->thread_allocated += usize;
    if (opt_junk_alloc && !zero)
        memset(ret, JUNK_ALLOC_BYTE, usize);
    return ret;
}

void *malloc_slow(size_t size) {
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    return alloc_slow(&req);
}

static COLD NORETURN void invalid_free(void *ptr) {
    io_fatal("invalid free(%p): not allocated by this allocator, or already freed\n", ptr);
}

/* Free ptr into tc_explicit when given, else the thread's cache unless no_tcache. */
static void dalloc_slow(void *ptr, bool no_tcache, tcache_t *tc_explicit) {
    if (ptr == NULL)
        return;
    rtree_entry_t entry = rtree_read(ptr);
    unsigned binid = rtree_entry_binid(entry);
    if (unlikely(binid == 0))
        invalid_free(ptr);
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
            cache_bin_t *cb = &tc->bins[binid];
            if (cb->ncached >= cb->ncached_max)
                tcache_bin_overflow(tc, binid);
            cb->stack[cb->ncached++] = ptr;
            tcache_event(tc);
            return;
        }
    }
    arena_dalloc(ptr, entry);
}

void free_slow(void *ptr) { dalloc_slow(ptr, false, NULL); }

/* ---- the standard interface ---------------------------------------------------------------- */

static ALWAYS_INLINE void *alloc_aligned(size_t align, size_t size, bool zero) {
    alloc_req_t req = {size, align <= QUANTUM ? 0 : align, zero, false, NULL, NULL};
    return alloc_slow(&req);
}

EXPORT void *malloc(size_t size) { return malloc_fastpath(size); }

EXPORT void free(void *ptr) { free_fastpath(ptr); }

EXPORT void *calloc(size_t n, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    alloc_req_t req = {total, 0, true, false, NULL, NULL};
    return alloc_slow(&req);
}

static size_t usable_size_of(const void *ptr) {
    rtree_entry_t entry = rtree_read(ptr);
    unsigned binid = rtree_entry_binid(entry);
    return binid == 0 ? 0 : sz_index2size(binid - 1);
}

/*
 * Resize ptr as req says (size, alignment, zero, cache and arena choice): in place when the
 * class stays or a large extent can grow or shrink where it is, else allocate, copy and free
 * the old block the same way req allocates.
 */
static void *realloc_impl(void *ptr, const alloc_req_t *req) {
    rtree_entry_t entry = rtree_read(ptr);
    unsigned binid = rtree_entry_binid(entry);
    if (unlikely(binid == 0))
        io_fatal("invalid realloc(%p): not allocated by this allocator, or already freed\n", ptr);
    size_t align = req->align;
    size_t old_usize = sz_index2size(binid - 1);
    size_t usize = align == 0 ? sz_s2u(req->size) : sz_sa2u(req->size, align);
    if (unlikely(usize == 0 || usize > (size_t)PTRDIFF_MAX))
        return alloc_fail();
    bool aligned = align == 0 || ((uintptr_t)ptr & (align - 1)) == 0;
    bool arena_ok = req->arena == NULL || rtree_entry_extent(entry)->arena_ind == req->arena->ind;
    if (usize == old_usize && aligned && arena_ok)
        return ptr;
    if (binid - 1 >= SC_NBINS && usize >= SC_LARGE_MINCLASS && aligned && arena_ok) {
        if (!arena_ralloc_large_inplace(rtree_entry_extent(entry), usize, req->zero)) {
            tsd_t *tsd = tsd_get();
            if (tsd_is_real(tsd)) {
                tsd->thread_allocated += usize;
                tsd->thread_deallocated += old_usize;
            }
            return ptr;
        }
    }
    void *ret = alloc_slow(req);
    if (ret == NULL)
        return NULL;
    memcpy(ret, ptr, old_usize < usize ? old_usize : usize);
    if (req->no_tcache || req->tcache != NULL)
        dalloc_slow(ptr, req->no_tcache, req->tcache);
    else
        free_fastpath(ptr);
    return ret;
}

EXPORT void *realloc(void *ptr, size_t size) {
    if (ptr == NULL)
        return malloc_fastpath(size);
    if (size == 0) {
        /* opt zero_realloc: "free" (glibc's behaviour), "alloc" (a minimal object), "abort". */
        if (opt_zero_realloc[0] == 'a' && opt_zero_realloc[1] == 'b')
            io_fatal("realloc(%p, 0) with zero_realloc:abort\n", ptr);
        if (opt_zero_realloc[0] != 'a') {
            free_fastpath(ptr);
            return NULL;
        }
    }
    alloc_req_t req = {size, 0, false, false, NULL, NULL};
    return realloc_impl(ptr, &req);
}

EXPORT void *reallocarray(void *ptr, size_t n, size_t size) {
    size_t total;
    if (unlikely(__builtin_mul_overflow(n, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

EXPORT int posix_memalign(void **memptr, size_t align, size_t size) {
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

EXPORT void *aligned_alloc(size_t align, size_t size) {
    if (unlikely(!is_pow2(align))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_aligned(align, size, false);
}

EXPORT void *memalign(size_t align, size_t size) {
    if (unlikely(align > ((SIZE_MAX >> 1) + 1))) {
        errno = EINVAL; /* cannot be rounded up to a power of two */
        return NULL;
    }
    return alloc_aligned(pow2_ceil(align), size, false);
}

EXPORT void *valloc(size_t size) { return alloc_aligned(PAGE, size, false); }

EXPORT void *pvalloc(size_t size) {
    size_t rounded = ALIGN_UP(size == 0 ? 1 : size, PAGE);
    if (unlikely(rounded < size)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_aligned(PAGE, rounded, false);
}

EXPORT size_t malloc_usable_size(void *ptr) { return ptr == NULL ? 0 : usable_size_of(ptr); }

EXPORT void free_sized(void *ptr, size_t size) {
    (void)size;
    free_fastpath(ptr);
}

EXPORT void free_aligned_sized(void *ptr, size_t align, size_t size) {
    (void)align;
    (void)size;
    free_fastpath(ptr);
}

/* glibc's internal names, used by some programs and by glibc itself. */
EXPORT void *__libc_malloc(size_t size) { return malloc_fastpath(size); }
EXPORT void __libc_free(void *ptr) { free_fastpath(ptr); }
EXPORT void *__libc_calloc(size_t n, size_t size) { return calloc(n, size); }
EXPORT void *__libc_realloc(void *ptr, size_t size) { return realloc(ptr, size); }
EXPORT void *__libc_memalign(size_t align, size_t size) { return memalign(align, size); }
EXPORT void *__libc_valloc(size_t size) { return valloc(size); }
EXPORT void *__libc_pvalloc(size_t size) { return pvalloc(size); }
EXPORT int __posix_memalign(void **memptr, size_t align, size_t size) {
    return posix_memalign(memptr, align, size);
}

/* ---- the jemalloc-compatible extended interface -------------------------------------------- */

#define MALLOCX_LG_ALIGN_MASK 0x3f
#define MALLOCX_TCACHE_SHIFT 8
#define MALLOCX_ARENA_SHIFT 20

/* Decode flags into req; returns false if they name an arena that does not exist. */
static bool mallocx_req(alloc_req_t *req, size_t size, int flags) {
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
        if (init_ensure() == INIT_ERROR || a - 1 >= arenas_limit())
            return false;
        req->arena = arena_get_or_create(a - 1);
        if (req->arena == NULL)
            return false;
    }
    return true;
}

EXPORT void *mallocx(size_t size, int flags) {
    if (likely(flags == 0))
        return malloc_fastpath(size);
    alloc_req_t req;
    if (!mallocx_req(&req, size, flags))
        return NULL;
    return alloc_slow(&req);
}

EXPORT void *rallocx(void *ptr, size_t size, int flags) {
    alloc_req_t req;
    if (!mallocx_req(&req, size, flags))
        return NULL;
    /* With MALLOCX_ZERO, bytes past the old size are zero: in-place growth zeroes them and a
     * move copies into a region alloc_slow zeroed. */
    return realloc_impl(ptr, &req);
}

EXPORT size_t xallocx(void *ptr, size_t size, size_t extra, int flags) {
    rtree_entry_t entry = rtree_read(ptr);
    unsigned binid = rtree_entry_binid(entry);
    if (unlikely(binid == 0))
        io_fatal("invalid xallocx(%p)\n", ptr);
    size_t old_usize = sz_index2size(binid - 1);
    if (binid - 1 < SC_NBINS)
        return old_usize;
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
        if (!arena_ralloc_large_inplace(rtree_entry_extent(entry), usize, zero)) {
            tsd_t *tsd = tsd_get();
            if (tsd_is_real(tsd)) {
                tsd->thread_allocated += usize;
                tsd->thread_deallocated += old_usize;
            }
            return usize;
        }
    }
    return old_usize;
}

EXPORT size_t sallocx(const void *ptr, int flags) {
    (void)flags;
    return usable_size_of(ptr);
}

EXPORT void dallocx(void *ptr, int flags) {
    unsigned tc = ((unsigned)flags >> MALLOCX_TCACHE_SHIFT) & 0xfff;
    if (likely(tc == 0))
        free_fastpath(ptr);
    else
        dalloc_slow(ptr, true, tc >= 2 ? tcaches_get(tc - 2) : NULL);
}

EXPORT void sdallocx(void *ptr, size_t size, int flags) {
    (void)size;
    dallocx(ptr, flags);
}

EXPORT size_t nallocx(size_t size, int flags) {
    if (init_ensure() == INIT_ERROR)
        return 0;
    unsigned lg = (unsigned)flags & MALLOCX_LG_ALIGN_MASK;
    size_t usize = lg == 0 ? sz_s2u(size) : sz_sa2u(size, (size_t)1 << lg);
    return usize > (size_t)PTRDIFF_MAX ? 0 : usize;
}

/* ---- bionic's heap-walking interface ------------------------------------------------------ */

EXPORT void malloc_disable(void) { heapwalk_disable(); }
EXPORT void malloc_enable(void) { heapwalk_enable(); }
EXPORT int malloc_iterate(uintptr_t base, size_t size,
                          void (*callback)(uintptr_t base, size_t size, void *arg), void *arg) {
    return heapwalk_iterate(base, size, callback, arg);
}
