/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A thread whose allocation waits for a lock of its own arena (the bin's lock for a cache fill,
 * the extents lock for a large block) moves (tsd_arena_shared, tsd_arena_collide), so that
 * threads that allocate at once part: while the threads that allocate are at most
 * TSD_BALANCE_PER_ARENA per automatic arena, to an arena with fewer of them than its own has
 * besides it, if one has; past that, to the arena of the CPU it runs on. It stays when no other
 * thread allocates from its arena (the holder can then only be a thread freeing into it, which a
 * move would not avoid; threads that only free do not count) and when thread.arena chose its
 * arena. The wait is made certain, not timed: a helper thread holds the lock the main thread's
 * allocation needs, and lets go only once the main thread sleeps on it (the lock word says a
 * sleeper is there). The other threads are counts added to the arenas (nthreads, nalloc).
 */
#include <pthread.h>
#include <sched.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define SMALL 96            /* a small class nothing else in this test allocates */
#define LARGE (256 << 10)   /* above tcache_max: from the extents, under their lock */

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;
static mutex_t *held;

/* Take the lock, say so (handoff), wait for a sleeper on it, let go. */
static void *holder(void *arg) {
    (void)arg;
    mutex_lock(held);
    pthread_mutex_unlock(&handoff);
    while (__atomic_load_n(&held->word, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    mutex_unlock(held);
    return NULL;
}

/*
 * Bind the calling thread to arena `from`, with `more` other threads that allocate counted
 * there, `elsewhere` on the other arena and `freers` threads that only free on `from`; empty its
 * cache, and make its next malloc(size) wait on the lock that allocation takes in `from` (the
 * bin's for SMALL, the extents lock for LARGE), held by another thread. Returns the arena the
 * thread is bound to afterwards.
 */
static unsigned contended_malloc(unsigned from, unsigned more, unsigned elsewhere, unsigned freers,
                                 size_t size) {
    tsd_t *tsd = tsd_get();
    check(tsd->alloc_counted);
    arena_t *a = arena_get_or_create(from), *b = arena_get_or_create((from + 1) % narenas_auto);
    check(a != NULL && b != NULL);
    __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&tsd->arena->nalloc, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->nthreads, 1 + more + freers, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->nalloc, 1 + more, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->nthreads, elsewhere, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b->nalloc, elsewhere, __ATOMIC_RELAXED);
    tsd->arena = a;
    tsd->tcache.arena = a;
    tcache_flush_all(&tsd->tcache);
    held = size == SMALL ? &a->bins[sz_size2index(SMALL)].lock : &a->ex.lock;
    pthread_mutex_lock(&handoff);
    pthread_t t;
    check(pthread_create(&t, NULL, holder, NULL) == 0);
    pthread_mutex_lock(&handoff); /* the holder has the lock */
    pthread_mutex_unlock(&handoff);
    uint64_t waits = held->ncontended;
    void *p = malloc(size);
    check(p != NULL);
    check(held->ncontended != waits); /* it did wait */
    pthread_join(t, NULL);
    free(p);
    __atomic_sub_fetch(&a->nthreads, more + freers, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&a->nalloc, more, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&b->nthreads, elsewhere, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&b->nalloc, elsewhere, __ATOMIC_RELAXED);
    return tsd->arena->ind;
}

int main(void) {
    free(malloc(1)); /* init, and this thread's state */
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    check(narenas_auto >= 2); /* the sidecar .conf asks for 2 */
    cpu_set_t set;
    check(sched_getaffinity(0, sizeof(set), &set) == 0);
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &set))
        cpu++;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    check(sched_setaffinity(0, sizeof(set), &set) == 0);
    unsigned here = (unsigned)cpu % narenas_auto, other = (here + 1) % narenas_auto;

    /* Sharing its arena with another allocating thread, the other arena free: a cache fill
     * that waits moves there, and so does a large allocation that waits for the extents lock. */
    check_eq(contended_malloc(other, 1, 0, 0, SMALL), here);
    check_eq(contended_malloc(other, 1, 0, 0, LARGE), here);
    /* The other arena as loaded as its own besides it: it stays (by the CPU it would move). */
    check_eq(contended_malloc(other, 1, 1, 0, SMALL), other);
    /* Alone among the threads that allocate from its arena: it stays, whatever else is bound
     * there (threads that only free). */
    check_eq(contended_malloc(other, 0, 0, 0, SMALL), other);
    check_eq(contended_malloc(other, 0, 0, 3, SMALL), other);
    check_eq(contended_malloc(other, 0, 0, 3, LARGE), other);
    /* More than TSD_BALANCE_PER_ARENA allocating threads an arena: the CPU's arena, even when
     * it has more of them (by the counts it would stay). */
    check_eq(contended_malloc(other, 2, 3, 0, SMALL), here);
    /* Bound by thread.arena: it stays wherever the program put it. */
    unsigned want = other;
    check(mallctl("thread.arena", NULL, NULL, &want, sizeof(want)) == 0);
    check(tsd->arena_bound);
    check_eq(contended_malloc(other, 1, 0, 0, SMALL), other);
    return unit_finish("arena_contended");
}
