/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A thread whose cache fill waits for its own arena's bin lock, held by another thread of the
 * same arena, moves to the automatic arena of the CPU it runs on (tsd_arena_contended): threads
 * that share an arena and run at once part. It stays when the holder was a thread of another
 * arena (freeing blocks into the bin: a move would not avoid it), when it is alone on its arena,
 * and when thread.arena chose its arena. The wait is made certain, not timed: a helper thread
 * holds the bin lock the main thread's fill needs, as a thread of the arena it is told, and lets
 * go only once the main thread sleeps on it (the lock word says a sleeper is there).
 */
#include <pthread.h>
#include <sched.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define SIZE 96 /* a class nothing else in this test allocates */

static pthread_mutex_t handoff = PTHREAD_MUTEX_INITIALIZER;
static bin_t *held_bin;
static unsigned held_home;

/* Take the bin's lock as a thread of arena held_home, say so (handoff), wait for a sleeper on
 * it, let go. */
static void *holder(void *arg) {
    (void)arg;
    mutex_lock(&held_bin->lock);
    held_bin->last_home = held_home;
    pthread_mutex_unlock(&handoff);
    while (__atomic_load_n(&held_bin->lock.word, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    mutex_unlock(&held_bin->lock);
    return NULL;
}

/*
 * Bind the calling thread to arena `from` (counting `extra` more threads there), empty its
 * cache of SIZE, and make its next malloc(SIZE) wait on from's bin lock, held by a thread of
 * arena `holder_home`. Returns the arena the thread is bound to afterwards.
 */
static unsigned contended_malloc(unsigned from, unsigned extra, unsigned holder_home) {
    tsd_t *tsd = tsd_get();
    arena_t *a = arena_get_or_create(from);
    check(a != NULL);
    __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->nthreads, 1 + extra, __ATOMIC_RELAXED);
    tsd->arena = a;
    tsd->tcache.arena = a;
    tcache_flush_all(&tsd->tcache);
    unsigned ind = sz_size2index(SIZE);
    held_bin = &a->bins[ind];
    held_home = holder_home;
    pthread_mutex_lock(&handoff);
    pthread_t t;
    check(pthread_create(&t, NULL, holder, NULL) == 0);
    pthread_mutex_lock(&handoff); /* the holder has the lock */
    pthread_mutex_unlock(&handoff);
    uint64_t waits = held_bin->lock.ncontended;
    void *p = malloc(SIZE);
    check(p != NULL);
    check(held_bin->lock.ncontended != waits); /* it did wait */
    check_eq(held_bin->last_home, from);       /* and the fill took the lock for its arena */
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

    /* Held by another thread of its arena, which it shares: it moves to its CPU's arena. */
    check_eq(contended_malloc(other, 1, other), here);
    /* Held by a thread of another arena (a remote free's flush): it stays. */
    check_eq(contended_malloc(other, 1, here), other);
    /* Alone on its arena: it stays. */
    check_eq(contended_malloc(other, 0, other), other);
    /* Bound by thread.arena: it stays wherever the program put it. */
    unsigned want = other;
    check(mallctl("thread.arena", NULL, NULL, &want, sizeof(want)) == 0);
    check(tsd->arena_bound);
    check_eq(contended_malloc(other, 1, other), other);
    return unit_finish("arena_contended");
}
