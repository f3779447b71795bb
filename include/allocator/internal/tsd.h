/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsd: per-thread state. The only thread-local variable of the default build is tsd_tls, one
 * initial-exec structure of three words (so the library can be dlopen'ed without exhausting
 * static TLS): the state's pointer, and the free fast path's copy of a radix-tree leaf. The
 * pointer starts at tsd_uninit, a shared all-empty state whose caches always miss, so the first
 * call of each thread falls into the slow path, which initialises the allocator and the thread.
 * At thread exit the key destructor flushes the cache, recycles the state and points tsd_tls at
 * tsd_dead, another empty state whose slow path serves callers straight from an arena.
 *
 * A tsd_t is written only by its thread, except its list links (tsd_list_lock) and, after fork,
 * by the child's single thread.
 *
 * malloc_disable (heapwalk.c) stops the fast paths of every thread by pointing each live
 * thread's tsd_tls at tsd_disabled, another empty state, through the tls_slot the thread
 * recorded; the slow path then waits for malloc_enable. A live thread's tsd_tls is therefore
 * written by another thread too, but only under tsd_list_lock, and the thread itself writes it
 * under that lock whenever it joins or leaves the list.
 */
#ifndef ALLOCATOR_INTERNAL_TSD_H
#define ALLOCATOR_INTERNAL_TSD_H

#include "allocator/internal/tcache.h"

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct tsd_s {
    /*
     * The thread's allocated and deallocated bytes, less what the fast paths count elsewhere:
     * thread.allocated is thread_allocated plus the bytes the event counter counted since it
     * was armed (event_armed - event_left), thread.deallocated is thread_deallocated plus the
     * bytes of the cache's fast frees (tcache_pushed_bytes). Each is exact alone once
     * thread.allocatedp or thread.deallocatedp has been asked for (counters_live).
     */
    uint64_t thread_allocated;
    uint64_t thread_deallocated;
    /*
     * The thread event counter (tevent.h): bytes left before the next event is due. Every
     * allocation takes its usable size off; the malloc fast path does it in its cache-hit branch
     * and leaves for the slow path when the count goes negative. event_armed is the value it
     * was last set to (the bytes since then are event_armed - event_left). The empty states
     * never reach the test: their caches always miss.
     */
    int64_t event_left;
    int64_t event_armed;
    int64_t tick_left; /* bytes until the next GC and decay tick (tevent.h) */
    bool tcache_enabled;
    bool arena_bound; /* thread.arena chose the arena: contention never moves the thread */
    /* Profiling (prof.h), with prof_thread_uid and the rest below: a flag set while the thread
     * is inside the profiler (an allocation then is served, never sampled), another while it
     * walks its stack (prof_unwind.c: a fork from a signal handler must not wait for it). */
    bool prof_busy;
    bool prof_unwinding;
    pid_t owner_pid; /* the thread that made it, for tsd_reap (tsd.c), with owner_tid */
    arena_t *arena;
    struct tsd_s *list_next, *list_prev;
    pid_t owner_tid;
    /*
     * thread.peak (tsd_peak_note, below): whether the thread has asked for its peak (its thread
     * events then come at least every TSD_PEAK_BYTES allocated), the net bytes (allocated less
     * deallocated) at the last reset, and the highest net bytes since less that (never below 0).
     */
    bool peak_fine;
    /*
     * thread.allocatedp or thread.deallocatedp was asked for: every allocation is a thread event
     * (which adds its bytes to thread_allocated), and every free takes the slow path (which adds
     * to thread_deallocated), so that the counters those pointers name are exact at any time.
     */
    bool counters_live;
    /* The thread has allocated from its arena, and is counted in its nalloc (arena.h): threads
     * that only free (a consumer of another thread's blocks) are not, and place nobody. */
    bool alloc_counted;
    struct tsd_s **tls_slot; /* that thread's tsd_tls, for malloc_disable */
    /* This thread's profiling uid (assigned at creation, increasing), its bytes left until the
     * next sample, and its record (NULL until needed). */
    uint64_t prof_thread_uid;
    int64_t prof_sample_left;
    struct prof_tdata_s *prof_tdata;
    uint64_t peak_adjust;
    int64_t peak_max;
    tcache_t tcache;
} tsd_t;
/*
 * The cache's bins start on the state's third cache line, as they always have: at 192 (the
 * fields above took one line more when thread.peak's were added) a malloc+free loop of one size
 * ran 10-28% slower (bench/fixed, sizes 16 to 1024). Why was not isolated; such a loop's speed
 * depends on where its bins, stacks and blocks fall within a page (TSD_ALIAS_OFFSET, below).
 */
_Static_assert(offsetof(tsd_t, tcache) == 128, "the fast paths' bins move: measure bench/fixed");
/*
 * Where a thread state starts within 4 KiB: mid-way, never at 0. A load whose address matches a
 * store still in flight in its low 12 bits waits for that store on x86 (4K aliasing), and the
 * fast paths' loads of radix-tree slots and blocks' first words fall at offset 0 for every block
 * that starts a page-aligned slab (a slab at a chunk's start has its slot at a leaf's start):
 * with the state's counters, stores on every call, at offset 0 too, a malloc+free loop of such
 * a block ran 5-25% slower than at any other offset (bench/fixed, sizes 16 to 4096).
 */
#define TSD_ALIAS_SPAN ((uintptr_t)4096)
#define TSD_ALIAS_OFFSET ((uintptr_t)2048)
/* A thread's own cache's stack area follows its tsd_t, here (tcache.h, cache_bin_t). */
#define TSD_STACKS_OFFSET ALIGN_UP(sizeof(tsd_t), CACHELINE)
static ALWAYS_INLINE void **tsd_stacks(tsd_t *tsd) { return (void **)((char *)tsd + TSD_STACKS_OFFSET); }

/*
 * The thread-local variable: the thread's state, and the free fast path's cache of one radix-tree
 * leaf (rtree.h): leaf is the leaf of the addresses whose bits from 30 up are leaf_key
 * (UINTPTR_MAX, which no address has: none yet; TSD_LEAF_SLOW, which no address has either:
 * none ever, every free of the thread takes the slow path, tsd_counters_live). Leaves are never
 * freed, so a pair stays true for the thread's life, whatever state it has. Here rather than in
 * tsd_t so that the empty states, zero-filled, need no pair that matches nothing.
 */
#define TSD_LEAF_SLOW (UINTPTR_MAX - 1)
typedef struct tsd_tls_s {
    struct tsd_s *tsd;
    uintptr_t leaf_key;
    char *leaf;
} tsd_tls_t;
extern __thread tsd_tls_t tsd_tls HIDDEN __attribute__((tls_model("initial-exec")));
extern tsd_t tsd_uninit HIDDEN;
extern tsd_t tsd_dead HIDDEN;
extern tsd_t tsd_disabled HIDDEN;

static ALWAYS_INLINE tsd_t *tsd_get(void) { return tsd_tls.tsd; }
static inline bool tsd_is_real(const tsd_t *tsd) {
    return tsd != &tsd_uninit && tsd != &tsd_dead && tsd != &tsd_disabled;
}

/* Called with a state whose thread is leaving (or gone), before its cache is flushed: set once
 * at boot by the layer above that keeps per-thread records (the profiler). */
extern void (*tsd_exit_hook)(tsd_t *tsd) HIDDEN;
/* Initialise the calling thread (the allocator must be initialised). NULL if out of memory. */
tsd_t *tsd_init_thread(void);
/* Create the pthread key; called once by init. Returns true on failure. */
bool tsd_boot(void);
/* Turn the thread cache on or off for the calling thread (flushing it when turning off). */
void tsd_tcache_set_enabled(tsd_t *tsd, bool enabled);
/*
 * Move the thread to arena, with its counts (nthreads, and nalloc once it allocates). Its cache
 * stays: cached regions go back to their own arenas when flushed, whichever arena the cache
 * fills from (which follows the thread if it followed the old arena).
 */
void tsd_arena_move(tsd_t *tsd, arena_t *arena);
/*
 * percpu_arena: move the thread to the arena of the CPU it runs on now, unless it was bound to a
 * manual arena (thread.arena). Its cache stays: cached regions go back to their own arenas when
 * flushed, whichever arena the cache fills from.
 */
void tsd_arena_percpu(tsd_t *tsd);
/*
 * The thread's first allocation (alloc_slow): count it in its arena's nalloc, first moving it to
 * the automatic arena with the fewest threads that allocate (arena_choose_alloc), unless
 * thread.arena or percpu_arena places it. A thread joins an arena when it is made
 * (arena_choose, by threads of any kind), before it is known to allocate at all.
 */
void tsd_arena_first_alloc(tsd_t *tsd);
/*
 * May a wait for another thread's lock of its arena move the thread (tsd_arena_collide)? Only
 * when other threads allocate from its arena too (alone, the holder was a thread freeing into
 * it from elsewhere, which a move would not avoid) and thread.arena did not place it.
 */
static inline bool tsd_arena_shared(const tsd_t *tsd) {
    return !tsd->arena_bound && atomic_load_relaxed(&tsd->arena->nalloc) > 1;
}
/*
 * Such a wait happened: while the threads that allocate number at most TSD_BALANCE_PER_ARENA
 * per automatic arena, move to an arena that has fewer of them than the thread's own has
 * besides it, if one has; past that, to the arena of the CPU the thread runs on
 * (tsd_arena_percpu), so that threads sharing an arena are those that do not run at once.
 */
#define TSD_BALANCE_PER_ARENA 2
void tsd_arena_collide(tsd_t *tsd);

/* Sum of counters over live threads, for statistics (tsd_list_lock inside). */
void tsd_foreach(void (*fn)(tsd_t *tsd, void *arg), void *arg);
/* The same for a caller that holds tsd_list_lock already (through fork_lock_all). */
void tsd_foreach_locked(void (*fn)(tsd_t *tsd, void *arg), void *arg);
/*
 * Has the thread that made tsd exited without our key destructor (see tsd.c)? Its state then
 * waits for tsd_reap on the live list, and its tls_slot may name another thread's TLS.
 */
bool tsd_owner_gone(const tsd_t *tsd);
/*
 * The kernel id of the thread that made tsd. A live state recorded under another process's id
 * came through a fork that ran no child hook (a process with one thread does not register them:
 * atfork.h), so it is the forking thread's, now the child's main thread, whose id is the pid.
 */
pid_t tsd_owner_tid(const tsd_t *tsd);

void tsd_prefork(void);
void tsd_postfork_parent(void);
void tsd_postfork_child(void);

/*
 * thread.peak: a thread's peak since its last thread.peak.reset is the highest net bytes noted:
 * at each thread event (tevent.c), each read, and, once the thread has asked for its peak, each
 * allocation of the slow path (an allocation larger than what the event counter has left is an
 * event itself, so the others only miss what the events miss). A peak
 * between two notes that does not last to the next is missed by at most the bytes allocated
 * between them: at most TEVENT_TICK_BYTES (less with profiling) in a thread that never asked for
 * its peak, and TSD_PEAK_BYTES once it has called thread.peak.reset or thread.peak.read, since
 * its events then come at least that often. Threads that never ask pay no event more.
 */
#define TSD_PEAK_BYTES ((int64_t)64 << 10)

/* thread.allocated and thread.deallocated: the bytes the thread allocated and freed, exact. */
static inline uint64_t tsd_thread_allocated(const tsd_t *tsd) {
    return tsd->thread_allocated + (uint64_t)(tsd->event_armed - tsd->event_left);
}
static inline uint64_t tsd_thread_deallocated(const tsd_t *tsd) {
    if (tsd->counters_live) /* no fast free since: the sum is 0 */
        return tsd->thread_deallocated;
    return tsd->thread_deallocated + tcache_pushed_bytes(&tsd->tcache);
}
static inline void tsd_peak_note(tsd_t *tsd) {
    int64_t net = (int64_t)(tsd_thread_allocated(tsd) - tsd_thread_deallocated(tsd) - tsd->peak_adjust);
    if (net > tsd->peak_max)
        tsd->peak_max = net;
}
/*
 * thread.allocatedp or thread.deallocatedp: make tsd->thread_allocated and thread_deallocated of
 * the calling thread (tsd is its state) exact, and keep them so (counters_live). The bytes the
 * event counter counted are charged now, to the event countdowns too (the counter then counts from
 * afresh toward the same events).
 */
void tsd_counters_live(tsd_t *tsd);
/* The note of an allocation of the slow path: in a thread that asked for its peak only (the
 * others are noted at their events). */
static inline void tsd_peak_note_slow(tsd_t *tsd) {
    if (tsd->peak_fine)
        tsd_peak_note(tsd);
}

/* thread.peak.read: the peak since the last reset (or since the thread began). */
uint64_t tsd_peak_read(tsd_t *tsd);
/* thread.peak.reset: the peak starts again from the net bytes now. */
void tsd_peak_reset(tsd_t *tsd);
/*
 * Add the bytes the event counter counted since it was armed to thread_allocated, and start the
 * count again from there (the next event stays where it was). Returns those bytes.
 */
static inline int64_t tsd_events_fold(tsd_t *tsd) {
    int64_t used = tsd->event_armed - tsd->event_left;
    tsd->thread_allocated += (uint64_t)used;
    tsd->event_armed = tsd->event_left;
    return used;
}
/*
 * The thread's next allocation sets its event countdowns up afresh, as its first one does (an
 * unarmed counter, tevent.c): the tick's, and the profiler's drawn at the sample rate then in
 * force. The bytes allocated since the counter was last armed are not charged to either.
 */
static inline void tsd_events_restart(tsd_t *tsd) {
    tsd_events_fold(tsd);
    tsd->event_left = tsd->event_armed = 0;
}

#endif
