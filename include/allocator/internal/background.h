/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * background: optional threads (opt background_thread, mallctl "background_thread") that run
 * decay for the arenas while the application makes no allocator calls, so an idle process
 * gives its memory back. Thread i serves the arenas whose index is i modulo the number of
 * threads (max_background_threads, at most the number of CPUs by default). Each sleeps until
 * its next purge is due (decay_ns_until_purge), or, when its arenas have no dirty or muzzy
 * pages, until a free makes some (extents_wake_hook).
 *
 * Threads are never created during early initialisation: enabling only marks them pending, and
 * they start on a later slow-path call once constructors have run (nstime_ready), or at once
 * from mallctl. A forked child starts them again the same lazy way.
 *
 * Locks: bg_ctl_lock (rank BG_CTL) serialises starting and stopping; each thread's sleep lock
 * (rank BACKGROUND) is taken by wakers with an extents lock held, and is never held by the
 * thread while it takes an extents lock.
 */
#ifndef ALLOCATOR_INTERNAL_BACKGROUND_H
#define ALLOCATOR_INTERNAL_BACKGROUND_H

#include "allocator/internal/arena.h"

#define BACKGROUND_THREADS_MAX 64

/* Set when threads are wanted but not running: the next slow path starts them. */
extern bool background_start_pending;

/* Init: record opt background_thread (threads start later). */
void background_boot(void);
/* Start threads now if they are pending (no allocator lock held; reentrant calls return). */
void background_start_slow(void);
static inline void background_maybe_start(void) {
    if (unlikely(atomic_load_relaxed(&background_start_pending)))
        background_start_slow();
}
/*
 * mallctl "background_thread": enable (start the threads now) or disable (stop and join them).
 * Returns 0, or EAGAIN if a thread could not be created (then none runs).
 */
int background_enable(bool enable);
bool background_enabled(void);
/* mallctl "max_background_threads": read, or set (restarting threads if running). */
size_t background_max_get(void);
int background_max_set(size_t n);

typedef struct background_stats_s {
    size_t num_threads;
    uint64_t num_runs;
    uint64_t run_interval_ns; /* average time between runs */
} background_stats_t;
void background_stats_get(background_stats_t *out);

/* Fork: the _ctl hooks bg_ctl_lock (the child forgets the threads), the others the sleep locks. */
void background_prefork_ctl(void);
void background_postfork_parent_ctl(void);
void background_postfork_child_ctl(void);
void background_prefork(void);
void background_postfork_parent(void);
void background_postfork_child(void);

#endif
