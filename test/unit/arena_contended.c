/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A thread whose slow path waits for a lock of its own arena that another thread holds moves to
 * the automatic arena of the CPU it runs on (tsd_arena_contended), unless it is alone on its
 * arena (the holder can then only be a thread freeing blocks into it, which a move would not
 * avoid) or thread.arena chose its arena. The wait is made certain, not timed: a helper thread
 * holds the bin lock the main thread's cache fill needs, and lets go only once the main thread
 * sleeps on it (the lock word says a sleeper is there).
 */
#include <pthread.h>
#include <sched.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define SIZE 96 /* a class nothing else in this test allocates */

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;
static mutex_t *held;

/* Take the lock, say so (handoff), wait for a sleeper on it, let go. */
static void *holder(void *arg) {
    mutex_t *m = arg;
    mutex_lock(m);
    held = m;
    pthread_mutex_unlock(&handoff);
    while (__atomic_load_n(&m->word, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    mutex_unlock(m);
    return NULL;
}

/*
 * Bind the calling thread to arena `from` (counting `extra` more threads there), empty its
 * cache of SIZE, and make its next malloc(SIZE) wait for another thread on from's bin lock.
 * Returns the arena the thread is bound to afterwards.
 */
static unsigned contended_malloc(unsigned from, unsigned extra) {
    tsd_t *tsd = tsd_get();
    arena_t *a = arena_get_or_create(from);
    check(a != NULL);
    __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->nthreads, 1 + extra, __ATOMIC_RELAXED);
    tsd->arena = a;
    tsd->tcache.arena = a;
    tcache_flush_all(&tsd->tcache);
    unsigned ind = sz_size2index(SIZE);
    pthread_mutex_lock(&handoff);
    pthread_t t;
    check(pthread_create(&t, NULL, holder, &a->bins[ind].lock) == 0);
    pthread_mutex_lock(&handoff); /* the holder has the lock */
    pthread_mutex_unlock(&handoff);
    uint64_t waits = a->bins[ind].lock.ncontended;
    void *p = malloc(SIZE);
    check(p != NULL);
    check(a->bins[ind].lock.ncontended != waits); /* it did wait */
    pthread_join(t, NULL);
    free(p);
    __atomic_sub_fetch(&a->nthreads, extra, __ATOMIC_RELAXED);
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

    /* Sharing its arena with another thread: the wait moves it to its CPU's arena. */
    check_eq(contended_malloc(other, 1), here);
    /* Alone on its arena: the holder frees into it from elsewhere; it stays. */
    check_eq(contended_malloc(other, 0), other);
    /* Bound by thread.arena: it stays wherever the program put it. */
    unsigned want = other;
    check(mallctl("thread.arena", NULL, NULL, &want, sizeof(want)) == 0);
    check(tsd->arena_bound);
    check_eq(contended_malloc(other, 1), other);
    return unit_finish("arena_contended");
}
