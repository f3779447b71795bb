/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * background: the decay threads of background.h. Starting and stopping hold bg_ctl_lock; a
 * running thread alternates between one decay pass over its arenas (each under that arena's
 * extents lock) and a sleep on its condition variable under its own sleep lock.
 */
#include "allocator/internal/background.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "allocator/internal/atfork.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/init.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/os.h"

typedef enum { BG_STOPPED = 0, BG_RUNNING, BG_STOPPING } bg_state_t;

typedef struct bg_thread_s {
    mutex_t lock; /* the fields below, and the sleep */
    cond_t cond;
    pthread_t thread;
    bg_state_t state;
    bool wake;          /* woken for new dirty pages since the last pass */
    uint64_t nruns;     /* decay passes */
    uint64_t first_run_ns, last_run_ns;
} CACHE_ALIGNED bg_thread_t;

bool background_start_pending;
static bool bg_enabled;           /* atomic: what "background_thread" reads */
static size_t bg_max;             /* max_background_threads (0 until boot) */
static unsigned bg_nthreads;      /* atomic: threads running (bg_ctl_lock to change) */
/* Passes of threads since stopped, and the intervals between them (bg_ctl_lock). */
static uint64_t bg_passes_retired, bg_intervals_retired, bg_span_retired;
static mutex_t bg_ctl_lock = MUTEX_INITIALIZER(RANK_BG_CTL);
/* Slots [0, bg_ninit) have their lock and condition variable set up: a slot is set up when a
 * thread first starts in it, so a process without background threads never touches the table
 * (4 KiB of .bss; 3 pages resident had boot set up all 64). Page-aligned, so that no variable a
 * program does touch shares a page with it (programs/footprint checks that its pages are not
 * resident). bg_ctl_lock to grow; the fork hooks read it with bg_ctl_lock held
 * (background_prefork_ctl comes first). */
static bg_thread_t bg_threads[BACKGROUND_THREADS_MAX] __attribute__((aligned(4096)));
static unsigned bg_ninit;

static void background_wake(unsigned arena_ind) {
    unsigned n = atomic_load_relaxed(&bg_nthreads);
    if (n == 0)
        return;
    bg_thread_t *t = &bg_threads[arena_ind % n];
    mutex_lock(&t->lock);
    t->wake = true;
    mutex_cond_signal(&t->cond);
    mutex_unlock(&t->lock);
}

/* One decay pass over thread i's arenas; returns nanoseconds until the next is due. */
static uint64_t background_pass(unsigned i, unsigned n) {
    uint64_t next = UINT64_MAX;
    unsigned limit = arenas_limit();
    for (unsigned ind = i; ind < limit; ind += n) {
        arena_t *a = arena_get(ind);
        if (a == NULL)
            continue;
        mutex_lock(&a->ex.lock);
        uint64_t ns = extents_decay(&a->ex, nstime_now());
        atomic_store_relaxed(&a->ex.bg_sleeping, ns == UINT64_MAX);
        mutex_unlock(&a->ex.lock);
        if (ns < next)
            next = ns;
    }
    return next;
}

static void *background_main(void *arg) {
    bg_thread_t *t = arg;
    unsigned i = (unsigned)(t - bg_threads);
    unsigned n = atomic_load_relaxed(&bg_nthreads);
    /*
     * Named by itself: naming another thread goes through /proc/self/task/<tid>/comm, whose
     * dentries then make the kernel's reaping of this process's children and threads slow
     * (seconds per fork child under thread churn).
     */
    pthread_setname_np(pthread_self(), "allocator_bg");
    mutex_lock(&t->lock);
    while (t->state == BG_RUNNING) {
        t->wake = false;
        mutex_unlock(&t->lock);
        uint64_t now = nstime_now();
        uint64_t sleep_ns = background_pass(i, n);
        mutex_lock(&t->lock);
        if (t->nruns++ == 0)
            t->first_run_ns = now;
        t->last_run_ns = now;
        if (t->state != BG_RUNNING || t->wake)
            continue;
        if (sleep_ns == UINT64_MAX) {
            mutex_cond_wait(&t->lock, &t->cond, NULL);
        } else {
            uint64_t until = nstime_now_precise() + sleep_ns;
            struct timespec ts = {(time_t)(until / 1000000000u), (long)(until % 1000000000u)};
            mutex_cond_wait(&t->lock, &t->cond, &ts);
        }
    }
    mutex_unlock(&t->lock);
    return NULL;
}

/* No thread watches the arenas any more: the next free in each should wake one (if started). */
static void background_arenas_unseen(void) {
    unsigned limit = arenas_limit();
    for (unsigned ind = 0; ind < limit; ind++) {
        arena_t *a = arena_get(ind);
        if (a != NULL)
            atomic_store_relaxed(&a->ex.bg_sleeping, true);
    }
}

/* bg_ctl_lock held. Stop and join every thread. */
static void background_stop_locked(void) {
    unsigned n = atomic_load_relaxed(&bg_nthreads);
    for (unsigned i = 0; i < n; i++) {
        bg_thread_t *t = &bg_threads[i];
        mutex_lock(&t->lock);
        t->state = BG_STOPPING;
        mutex_cond_signal(&t->cond);
        mutex_unlock(&t->lock);
    }
    for (unsigned i = 0; i < n; i++) {
        bg_thread_t *t = &bg_threads[i];
        pthread_join(t->thread, NULL);
        t->state = BG_STOPPED;
        bg_passes_retired += t->nruns;
        if (t->nruns > 1) {
            bg_intervals_retired += t->nruns - 1;
            bg_span_retired += t->last_run_ns - t->first_run_ns;
        }
        t->nruns = 0;
    }
    atomic_store_relaxed(&bg_nthreads, 0);
    background_arenas_unseen();
}

/* A stopped thread's condition (waits use the monotonic clock: mutex_cond_wait) and state. */
static void background_thread_reset(bg_thread_t *t) {
    t->cond.seq = 0;
    t->state = BG_STOPPED;
}

/* bg_ctl_lock held. Start the threads; false on failure (then none runs). */
static bool background_start_locked(void) {
    if (atomic_load_relaxed(&bg_nthreads) != 0)
        return true;
    unsigned n = (unsigned)bg_max;
    unsigned arenas = arenas_limit();
    if (n > arenas)
        n = arenas;
    if (n > BACKGROUND_THREADS_MAX)
        n = BACKGROUND_THREADS_MAX;
    if (n == 0)
        n = 1;
    for (; bg_ninit < n; bg_ninit++) {
        mutex_init(&bg_threads[bg_ninit].lock, RANK_BACKGROUND);
        background_thread_reset(&bg_threads[bg_ninit]);
    }
    extents_wake_hook = background_wake;
    /* A fork while they run needs the handlers (atfork.h). */
    atfork_arm();
    /* The threads must not take the application's signals: create them with all blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    atomic_store_relaxed(&bg_nthreads, n);
    unsigned started = 0;
    for (; started < n; started++) {
        bg_thread_t *t = &bg_threads[started];
        t->state = BG_RUNNING;
        t->wake = false;
        if (pthread_create(&t->thread, NULL, background_main, t) != 0) {
            t->state = BG_STOPPED;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started == n)
        return true;
    atomic_store_relaxed(&bg_nthreads, started);
    background_stop_locked();
    return false;
}

TEXT_HOT void background_boot(void) {
    if (opt_max_background_threads == 0)
        opt_max_background_threads = os_ncpus();
    bg_max = opt_max_background_threads;
    if (bg_max > BACKGROUND_THREADS_MAX)
        bg_max = opt_max_background_threads = BACKGROUND_THREADS_MAX;
    if (opt_background_thread) {
        atomic_store_relaxed(&bg_enabled, true);
        atomic_store_relaxed(&background_start_pending, true);
    }
}

void background_start_slow(void) {
    /* Not before constructors (glibc's static startup), and once at a time per process. */
    if (!atomic_load_relaxed(&nstime_ready) || !init_ready())
        return;
    /* Busy: another thread is starting or stopping, or pthread_create's allocations came back. */
    if (!mutex_trylock(&bg_ctl_lock))
        return;
    if (atomic_load_relaxed(&background_start_pending) && atomic_load_relaxed(&bg_enabled)) {
        atomic_store_relaxed(&background_start_pending, false);
        if (!background_start_locked()) {
            atomic_store_relaxed(&bg_enabled, false);
            io_warn("could not start background threads; background_thread is now false\n");
        }
    }
    mutex_unlock(&bg_ctl_lock);
}

int background_enable(bool enable) {
    int ret = 0;
    mutex_lock(&bg_ctl_lock);
    atomic_store_relaxed(&background_start_pending, false);
    if (enable) {
        if (background_start_locked())
            atomic_store_relaxed(&bg_enabled, true);
        else
            ret = EAGAIN;
    } else {
        background_stop_locked();
        atomic_store_relaxed(&bg_enabled, false);
    }
    mutex_unlock(&bg_ctl_lock);
    return ret;
}

bool background_enabled(void) { return atomic_load_relaxed(&bg_enabled); }

size_t background_max_get(void) {
    mutex_lock(&bg_ctl_lock);
    size_t n = bg_max;
    mutex_unlock(&bg_ctl_lock);
    return n;
}

int background_max_set(size_t n) {
    if (n == 0 || n > BACKGROUND_THREADS_MAX)
        return EINVAL;
    mutex_lock(&bg_ctl_lock);
    int ret = 0;
    bg_max = n;
    if (atomic_load_relaxed(&bg_nthreads) != 0) {
        background_stop_locked();
        if (!background_start_locked()) {
            atomic_store_relaxed(&bg_enabled, false);
            ret = EAGAIN;
        }
    }
    mutex_unlock(&bg_ctl_lock);
    return ret;
}

void background_stats_get(background_stats_t *out) {
    mutex_lock(&bg_ctl_lock);
    unsigned n = atomic_load_relaxed(&bg_nthreads);
    uint64_t runs = bg_intervals_retired, span = bg_span_retired, passes = bg_passes_retired;
    for (unsigned i = 0; i < n; i++) {
        bg_thread_t *t = &bg_threads[i];
        mutex_lock(&t->lock);
        passes += t->nruns;
        if (t->nruns > 1) {
            runs += t->nruns - 1;
            span += t->last_run_ns - t->first_run_ns;
        }
        mutex_unlock(&t->lock);
    }
    mutex_unlock(&bg_ctl_lock);
    out->num_threads = n;
    out->num_runs = passes;
    out->run_interval_ns = runs != 0 ? span / runs : 0;
}

void background_prefork_ctl(void) { mutex_lock(&bg_ctl_lock); }

void background_prefork(void) {
    for (unsigned i = 0; i < bg_ninit; i++)
        mutex_lock(&bg_threads[i].lock);
}

void background_postfork_parent(void) {
    for (unsigned i = 0; i < bg_ninit; i++)
        mutex_unlock(&bg_threads[i].lock);
}

void background_postfork_parent_ctl(void) { mutex_unlock(&bg_ctl_lock); }

void background_postfork_child(void) {
    for (unsigned i = 0; i < bg_ninit; i++) {
        mutex_postfork_child(&bg_threads[i].lock);
        background_thread_reset(&bg_threads[i]);
    }
}

void background_postfork_child_ctl(void) {
    /* The threads did not follow us: forget them, and start new ones lazily if enabled. */
    atomic_store_relaxed(&bg_nthreads, 0);
    bg_passes_retired = bg_intervals_retired = bg_span_retired = 0;
    background_arenas_unseen();
    if (atomic_load_relaxed(&bg_enabled))
        atomic_store_relaxed(&background_start_pending, true);
    mutex_postfork_child(&bg_ctl_lock);
}
