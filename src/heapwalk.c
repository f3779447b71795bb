/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * heapwalk: malloc_disable, malloc_enable and malloc_iterate (see heapwalk.h). Called by the
 * application, typically a leak detector. heapwalk_lock (a plain pthread mutex, outside the rank
 * order because it is held across calls) is taken first and held from disable to enable; every
 * allocator lock is held in that interval too, by the disabling thread, through fork_lock_all.
 */
#include "allocator/internal/heapwalk.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "allocator/internal/fork.h"
#include "allocator/internal/io.h"
#include "allocator/internal/os.h"
#include "allocator/internal/pages.h"

static pthread_mutex_t heapwalk_lock = PTHREAD_MUTEX_INITIALIZER;
static bool heapwalk_disabled; /* atomic; written under heapwalk_lock */
static pthread_t heapwalk_owner;

static bool heapwalk_disabled_by_self(void) {
    return atomic_load_acquire(&heapwalk_disabled) &&
           pthread_equal(heapwalk_owner, pthread_self());
}

tsd_t *heapwalk_wait(void) {
    if (heapwalk_disabled_by_self())
        io_fatal("malloc called between malloc_disable and malloc_enable by the thread that "
                 "disabled it\n");
    pthread_mutex_lock(&heapwalk_lock);
    pthread_mutex_unlock(&heapwalk_lock);
    return tsd_get();
}

/* ---- stopping the fast paths ---------------------------------------------------------------- */

/*
 * A state whose thread exited without our key destructor (it waits for tsd_reap) names TLS that
 * may now be another thread's: it is neither parked nor unparked.
 */
static void heapwalk_park(tsd_t *tsd, void *arg) {
    (void)arg;
    if (!tsd_owner_gone(tsd))
        atomic_store_release(tsd->tls_slot, &tsd_disabled);
}

static void heapwalk_unpark(tsd_t *tsd, void *arg) {
    (void)arg;
    if (!tsd_owner_gone(tsd))
        atomic_store_release(tsd->tls_slot, tsd);
}

/*
 * Wait until thread tsd cannot still be inside an allocator call it entered before its tsd_tls
 * was pointed at tsd_disabled (a fast path, or the lock-free part of a slow path: a few dozen
 * instructions). It cannot if it is asleep in the kernel, since that code makes no system call;
 * or if it has since been scheduled in at least three times, or has had 20 ms more CPU time
 * (the kernel updates a running thread's time only at its ticks, up to 10 ms late): either way it
 * has run on, uninterrupted, far longer than that code takes. A thread that stays stopped (a
 * debugger) is given up on after a second.
 */
#define QUIESCE_RUN_NS 20000000
#define QUIESCE_SLICES 3
static void heapwalk_quiesce(tsd_t *tsd, void *arg) {
    int self = *(int *)arg;
    int tid = tsd_owner_tid(tsd);
    if (tid == self || tsd->owner_tid == 0)
        return;
    os_thread_t first = os_thread_probe(tid), now = first;
    for (unsigned waited_us = 0; waited_us < 1000000; waited_us += 50) {
        if (now.state == 0 || now.state == 'S' || now.state == 'Z' || now.state == 'X' ||
            now.run_ns >= first.run_ns + QUIESCE_RUN_NS ||
            (first.slices != 0 && now.slices >= first.slices + QUIESCE_SLICES))
            return;
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
        now = os_thread_probe(tid);
    }
}

void heapwalk_disable(void) {
    if (heapwalk_disabled_by_self())
        io_fatal("malloc_disable called twice without malloc_enable\n");
    pthread_mutex_lock(&heapwalk_lock);
    fork_lock_all();
    heapwalk_owner = pthread_self();
    atomic_store_release(&heapwalk_disabled, true);
    tsd_foreach_locked(heapwalk_park, NULL);
    int self = os_gettid();
    tsd_foreach_locked(heapwalk_quiesce, &self);
}

void heapwalk_enable(void) {
    if (!heapwalk_disabled_by_self())
        return;
    tsd_foreach_locked(heapwalk_unpark, NULL);
    atomic_store_release(&heapwalk_disabled, false);
    fork_unlock_all();
    pthread_mutex_unlock(&heapwalk_lock);
}

/* ---- the walk ------------------------------------------------------------------------------- */

/* The blocks sitting free in thread caches: counted, then collected and sorted. */
typedef struct heapwalk_cached_s {
    uintptr_t *v; /* NULL while counting */
    size_t n;
} heapwalk_cached_t;

static void heapwalk_collect_tcache(tcache_t *tc, void *arg) {
    heapwalk_cached_t *c = arg;
    /* A flush that waits for a lock: its regions are free, in neither bin nor arena yet. */
    unsigned nflushing = atomic_load_acquire(&tc->nflushing);
    for (unsigned j = 0; j < nflushing; j++) {
        if (c->v != NULL)
            c->v[c->n] = (uintptr_t)tc->flushing[j];
        c->n++;
    }
    for (unsigned i = 1; i <= tc->nhbins; i++) {
        const cache_bin_t *cb = &tc->bins[i];
        for (uint32_t j = 0; j < cache_bin_ncached(cb); j++) {
            if (c->v != NULL)
                c->v[c->n] = (uintptr_t)cb->stack[j];
            c->n++;
        }
    }
}

static void heapwalk_collect_tsd(tsd_t *tsd, void *arg) { heapwalk_collect_tcache(&tsd->tcache, arg); }

static void heapwalk_collect(heapwalk_cached_t *c) {
    c->n = 0;
    tsd_foreach_locked(heapwalk_collect_tsd, c);
    tcaches_foreach_locked(heapwalk_collect_tcache, c);
}

static void heapwalk_sift(uintptr_t *v, size_t root, size_t n) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && v[child + 1] > v[child])
            child++;
        if (v[root] >= v[child])
            return;
        uintptr_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

/* Heapsort: no recursion, no allocation (libc's qsort may call malloc). */
static void heapwalk_sort(uintptr_t *v, size_t n) {
    for (size_t i = n / 2; i-- > 0;)
        heapwalk_sift(v, i, n);
    for (size_t end = n; end-- > 1;) {
        uintptr_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        heapwalk_sift(v, 0, end);
    }
}

static bool heapwalk_is_cached(const heapwalk_cached_t *c, uintptr_t p) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->v[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->v[lo] == p;
}

typedef struct heapwalk_visit_s {
    uintptr_t lo, hi; /* report blocks starting in [lo, hi) */
    const heapwalk_cached_t *cached;
    void (*fn)(uintptr_t base, size_t size, void *arg);
    void *arg;
} heapwalk_visit_t;

static void heapwalk_report(const heapwalk_visit_t *w, uintptr_t p, size_t size) {
    if (p >= w->lo && p < w->hi && !heapwalk_is_cached(w->cached, p))
        w->fn(p, size, w->arg);
}

static void heapwalk_slab(const heapwalk_visit_t *w, const extent_t *slab, unsigned binind) {
    const bin_info_t *info = &bin_infos[binind];
    for (unsigned word = 0; word * 64 < info->nregs; word++) {
        /* A set bit is a free region; the live ones are the clear bits below nregs. */
        uint64_t live = ~slab->bitmap[word];
        if (info->nregs - word * 64 < 64)
            live &= ((uint64_t)1 << (info->nregs - word * 64)) - 1;
        while (live != 0) {
            unsigned bit = (unsigned)__builtin_ctzll(live);
            live &= live - 1;
            heapwalk_report(w, slab->addr + (size_t)(word * 64 + bit) * info->reg_size,
                            info->reg_size);
        }
    }
}

static void heapwalk_arena(const heapwalk_visit_t *w, const arena_t *arena) {
    for (const chunk_t *c = arena->ex.chunks; c != NULL; c = c->next) {
        if (c->addr >= w->hi || c->addr + c->size <= w->lo)
            continue;
        uintptr_t addr = c->addr, end = c->addr + c->size;
        while (addr < end) {
            /* Every extent, free or active, registers its first page. */
            rtree_entry_t entry = rtree_read((void *)addr);
            const extent_t *e = rtree_entry_extent(entry);
            if (e == NULL || e->addr != addr || e->size == 0)
                io_fatal("malloc_iterate: no extent registered at %p\n", (void *)addr);
            unsigned binid = rtree_entry_binid(entry);
            /* A thread's spare sampled extent (malloc.c) holds no block. */
            bool spare = rtree_entry_prof(entry) && e->prof_tctx == EXTENT_PROF_SPARE;
            if (binid != 0 && !spare) {
                if (rtree_entry_slab(entry))
                    heapwalk_slab(w, e, binid - 1);
                else
                    heapwalk_report(w, e->addr, sz_index2size(binid - 1));
            }
            addr = e->addr + e->size;
        }
    }
}

int heapwalk_iterate(uintptr_t base, size_t size, void (*fn)(uintptr_t, size_t, void *),
                     void *arg) {
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* bionic asks callers to disable first; a caller that did not gets a still heap anyway. */
    bool own = !heapwalk_disabled_by_self();
    if (own)
        heapwalk_disable();
    heapwalk_cached_t cached = {NULL, 0};
    heapwalk_collect(&cached);
    size_t map_size = ALIGN_UP(cached.n * sizeof(uintptr_t), PAGE);
    int ret = 0;
    if (cached.n != 0) {
        cached.v = pages_map(map_size, PAGE);
        if (cached.v == NULL) {
            ret = -1;
            goto out;
        }
        heapwalk_collect(&cached);
        heapwalk_sort(cached.v, cached.n);
    }
    heapwalk_visit_t w = {base, size > UINTPTR_MAX - base ? UINTPTR_MAX : base + size, &cached,
                          fn, arg};
    for (unsigned i = 0; i < arenas_limit(); i++) {
        arena_t *arena = arena_get(i);
        if (arena != NULL)
            heapwalk_arena(&w, arena);
    }
    if (cached.v != NULL)
        pages_unmap(cached.v, map_size);
out:
    if (own)
        heapwalk_enable();
    if (ret != 0)
        errno = ENOMEM;
    return ret;
}
