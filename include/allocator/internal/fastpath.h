/*
 * fastpath: the inline allocation and deallocation fast paths, and the slow paths they
 * tail-call. Call tree:
 *
 *   malloc(size) -> malloc_fastpath: class lookup, pop from the thread cache
 *                   `-> malloc_slow -> alloc_slow(size, align 0, ...) [init, fills, arenas]
 *   free(ptr)    -> free_fastpath: rtree lookup, push onto the thread cache
 *                   `-> free_slow -> dalloc_slow [NULL, flushes, no-cache, invalid pointers]
 *
 * The fast paths read one thread-local pointer, do no atomic read-modify-write, take no lock,
 * and have one unlikely branch each besides the table-range check.
 */
#ifndef ALLOCATOR_INTERNAL_FASTPATH_H
#define ALLOCATOR_INTERNAL_FASTPATH_H

#include "allocator/internal/heapwalk.h"
#include "allocator/internal/init.h"
#include "allocator/internal/tsd.h"

/*
 * The calling thread's state, creating it (and initialising the allocator) when needed:
 * tsd_dead inside init or after thread exit (arena 0, no cache), NULL if init failed. While
 * malloc_disable holds the heap, a thread it parked waits here for malloc_enable.
 */
static inline tsd_t *tsd_fetch(void) {
    tsd_t *tsd = tsd_get();
    if (likely(tsd_is_real(tsd)) || tsd == &tsd_dead)
        return tsd;
    if (tsd == &tsd_disabled) {
        tsd = heapwalk_wait();
        /* Parked again by a newer malloc_disable: serve like a departed thread (arena locks
         * stop it until that one ends). */
        return tsd == &tsd_disabled ? &tsd_dead : tsd;
    }
    switch (init_ensure()) {
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

void *malloc_slow(size_t size) NOINLINE;
void free_slow(void *ptr) NOINLINE;

static ALWAYS_INLINE void *malloc_fastpath(size_t size) {
    tsd_t *tsd = tsd_get();
    if (likely(size <= SC_LOOKUP_MAXCLASS)) {
        size_t off = sz_size2binoff_tab[(size + QUANTUM - 1) >> LG_QUANTUM];
        cache_bin_t *cb = (cache_bin_t *)((char *)tsd->tcache.bins + off);
        uint32_t n = cb->ncached;
        if (likely(n != 0)) {
            /* Read everything before writing: the stores cannot then force reloads. */
            void *ret = cb->stack[n - 1];
            uint64_t usize = cb->size;
            cb->ncached = n - 1;
            cb->nrequests++;
            tsd->thread_allocated += usize;
            return ret;
        }
    }
    return malloc_slow(size);
}

static ALWAYS_INLINE void free_fastpath(void *ptr) {
    tsd_t *tsd = tsd_get();
    rtree_entry_t entry = rtree_read(ptr);
    size_t off = (size_t)rtree_entry_binid(entry) * sizeof(cache_bin_t);
    cache_bin_t *cb = (cache_bin_t *)((char *)tsd->tcache.bins + off);
    uint32_t n = cb->ncached;
    if (likely(n < cb->ncached_max)) {
        /* Read everything before writing, as in malloc_fastpath. */
        void **stack = cb->stack;
        uint64_t usize = cb->size;
        cb->ncached = n + 1;
        stack[n] = ptr;
        tsd->thread_deallocated += usize;
        return;
    }
    free_slow(ptr);
}

#endif
