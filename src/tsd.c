/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsd: creation, destruction and recycling of per-thread state (see tsd.h). tsd_list_lock
 * guards the list of live states and the free list of recycled ones; a state is allocated from
 * base together with its cache stacks and is never freed, only reused by a later thread.
 *
 * A state made during the last round of pthread key destructors (a thread whose first call comes
 * from a destructor of a key created after ours, in glibc's last round) never meets our key
 * destructor: no round is left. Such a state stays on the live list after its thread is gone. So
 * when a thread needs a new state and the live list has doubled since the last look, the live
 * states are checked against the kernel (tgkill with signal 0 on the recorded pid and tid); those
 * whose thread no longer exists are flushed and recycled like the key destructor would have.
 */
#include "allocator/internal/tsd.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"

__thread tsd_tls_t tsd_tls __attribute__((tls_model("initial-exec"))) = {&tsd_uninit, UINTPTR_MAX, NULL};
tsd_t tsd_uninit;
tsd_t tsd_dead;
tsd_t tsd_disabled;

static pthread_key_t tsd_key;
static mutex_t tsd_list_lock = MUTEX_INITIALIZER(RANK_TSD_LIST);
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
static tsd_t *tsd_live;
static tsd_t *tsd_free;
/* States on tsd_live, and the count at which tsd_reap looks for dead owners again. */
static size_t tsd_nlive;
#define TSD_REAP_MIN 32
static size_t tsd_reap_at = TSD_REAP_MIN;

static uint64_t tsd_next_uid; /* atomic */
void (*tsd_exit_hook)(tsd_t *tsd);

static bool tsd_cache_allowed(void) { return opt_tcache && !opt_junk_alloc && !opt_junk_free && !opt_zero; }

/* Take tsd off the live list. tsd_list_lock held. */
static void tsd_unlink(tsd_t *tsd) {
    if (tsd->list_prev != NULL)
        tsd->list_prev->list_next = tsd->list_next;
    else
        tsd_live = tsd->list_next;
    if (tsd->list_next != NULL)
        tsd->list_next->list_prev = tsd->list_prev;
    tsd_nlive--;
    tcache_threads_set(tsd_nlive);
}

/* Give back what a state holds (its thread is leaving or gone); it is off the live list. */
static void tsd_release(tsd_t *tsd) {
    if (tsd_exit_hook != NULL)
        tsd_exit_hook(tsd);
    tcache_flush_all(&tsd->tcache);
    if (tsd->arena != NULL) {
        __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
        if (tsd->alloc_counted)
            __atomic_sub_fetch(&tsd->arena->nalloc, 1, __ATOMIC_RELAXED);
    }
    mutex_lock(&tsd_list_lock);
    tsd->list_next = tsd_free;
    tsd_free = tsd;
    mutex_unlock(&tsd_list_lock);
}

static void tsd_cleanup(void *arg) {
    tsd_t *tsd = arg;
    mutex_lock(&tsd_list_lock);
    /* Under the lock, so malloc_disable never points a departed thread back at its state. */
    tsd_tls.tsd = &tsd_dead;
    tsd_unlink(tsd);
    mutex_unlock(&tsd_list_lock);
    tsd_release(tsd);
}

/* tsd_owner_tid for a caller that has the pid already. */
static pid_t tsd_owner_tid_in(const tsd_t *tsd, pid_t pid) {
    return tsd->owner_pid == pid ? tsd->owner_tid : pid;
}

pid_t tsd_owner_tid(const tsd_t *tsd) { return tsd_owner_tid_in(tsd, getpid()); }

/* Has the thread that made tsd exited? Unsure answers (any error but ESRCH) say no. */
bool tsd_owner_gone(const tsd_t *tsd) {
    int saved = errno;
    pid_t pid = getpid();
    bool gone = syscall(SYS_tgkill, (long)pid, (long)tsd_owner_tid_in(tsd, pid), 0L) != 0 &&
                errno == ESRCH;
    errno = saved;
    return gone;
}

/* Recycle the live states whose thread exited without our key destructor (see the top). */
static void tsd_reap(void) {
    tsd_t *gone = NULL;
    mutex_lock(&tsd_list_lock);
    for (tsd_t *t = tsd_live, *next; t != NULL; t = next) {
        next = t->list_next;
        if (tsd_owner_gone(t)) {
            tsd_unlink(t);
            t->list_next = gone;
            gone = t;
        }
    }
    tsd_reap_at = tsd_nlive * 2 > TSD_REAP_MIN ? tsd_nlive * 2 : TSD_REAP_MIN;
    mutex_unlock(&tsd_list_lock);
    while (gone != NULL) {
        tsd_t *next = gone->list_next;
        tsd_release(gone);
        gone = next;
    }
}

void tsd_arena_move(tsd_t *tsd, arena_t *arena) {
    arena_t *old = tsd->arena;
    __atomic_sub_fetch(&old->nthreads, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&arena->nthreads, 1, __ATOMIC_RELAXED);
    if (tsd->alloc_counted) {
        __atomic_sub_fetch(&old->nalloc, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&arena->nalloc, 1, __ATOMIC_RELAXED);
    }
    tsd->arena = arena;
    if (tsd->tcache.arena == old)
        tsd->tcache.arena = arena;
}

void tsd_arena_percpu(tsd_t *tsd) {
    arena_t *old = tsd->arena;
    if (old == NULL || old->ind >= narenas_auto)
        return;
    arena_t *arena = arena_percpu(old);
    if (arena != old)
        tsd_arena_move(tsd, arena);
}

void tsd_arena_first_alloc(tsd_t *tsd) {
    arena_t *cur = tsd->arena;
    if (!tsd->arena_bound && opt_percpu_arena != PERCPU_ARENA_PERCPU && cur != NULL &&
        cur->ind < narenas_auto) {
        arena_t *best = arena_choose_alloc();
        if (best != NULL && best != cur)
            tsd_arena_move(tsd, best);
    }
    tsd->alloc_counted = true;
    if (tsd->arena != NULL)
        __atomic_add_fetch(&tsd->arena->nalloc, 1, __ATOMIC_RELAXED);
}

COLD void tsd_arena_collide(tsd_t *tsd) {
    arena_t *cur = tsd->arena;
    if (cur == NULL || cur->ind >= narenas_auto)
        return;
    if (arenas_nalloc() > TSD_BALANCE_PER_ARENA * narenas_auto) {
        tsd_arena_percpu(tsd);
        return;
    }
    arena_t *best = arena_choose_alloc();
    /* Fewer than cur has besides this thread: a move that leaves both no worse off. */
    if (best != NULL && best != cur &&
        atomic_load_relaxed(&best->nalloc) + 1 < atomic_load_relaxed(&cur->nalloc))
        tsd_arena_move(tsd, best);
}

bool tsd_boot(void) { return pthread_key_create(&tsd_key, tsd_cleanup) != 0; }

tsd_t *tsd_init_thread(void) {
    size_t stack_bytes = tcache_stack_bytes();
    mutex_lock(&tsd_list_lock);
    bool reap = tsd_free == NULL && tsd_nlive >= tsd_reap_at;
    mutex_unlock(&tsd_list_lock);
    if (reap)
        tsd_reap();
    mutex_lock(&tsd_list_lock);
    tsd_t *tsd = tsd_free;
    if (tsd != NULL)
        tsd_free = tsd->list_next;
    mutex_unlock(&tsd_list_lock);
    if (tsd == NULL) {
        char *raw = base_alloc(TSD_STACKS_OFFSET + stack_bytes + TSD_ALIAS_SPAN - CACHELINE,
                               CACHELINE);
        if (raw == NULL)
            return NULL;
        tsd = (tsd_t *)(raw + ((TSD_ALIAS_OFFSET - (uintptr_t)raw) & (TSD_ALIAS_SPAN - 1)));
    }
    void **stacks = (void **)((char *)tsd + TSD_STACKS_OFFSET);
    /* event_armed 0: the first allocation arms the events. tcache_init sets up the cache, and
     * leaves the bins of uncached classes untouched (zero): they need not become resident. */
    memset(tsd, 0, offsetof(tsd_t, tcache));
    tsd->prof_thread_uid = __atomic_fetch_add(&tsd_next_uid, 1, __ATOMIC_RELAXED);
    tsd->owner_pid = getpid();
    tsd->owner_tid = (pid_t)syscall(SYS_gettid);
    tsd->tls_slot = &tsd_tls.tsd;
    tsd->arena = opt_percpu_arena == PERCPU_ARENA_PERCPU ? arena_percpu(NULL) : NULL;
    if (tsd->arena == NULL)
        tsd->arena = arena_choose();
    __atomic_add_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    tsd->tcache_enabled = tsd_cache_allowed();
    tcache_init(&tsd->tcache, tsd->arena, stacks, tsd->tcache_enabled);
    mutex_lock(&tsd_list_lock);
    tsd->list_next = tsd_live;
    if (tsd_live != NULL)
        tsd_live->list_prev = tsd;
    tsd_live = tsd;
    tsd_nlive++;
    tcache_threads_set(tsd_nlive);
    /* Under the lock, so a malloc_disable that lists this thread finds tsd_tls set. */
    tsd_tls.tsd = tsd;
    mutex_unlock(&tsd_list_lock);
    /* May allocate (keys past the first 32); tsd_tls is already usable by then. */
    pthread_setspecific(tsd_key, tsd);
    return tsd;
}

void tsd_tcache_set_enabled(tsd_t *tsd, bool enabled) {
    if (enabled == tsd->tcache_enabled)
        return;
    void **stacks = (void **)((char *)tsd + TSD_STACKS_OFFSET);
    tcache_flush_all(&tsd->tcache);
    tsd->thread_deallocated += tcache_pushes_fold(&tsd->tcache); /* tcache_init clears them */
    tcache_init(&tsd->tcache, tsd->arena, stacks, enabled);
    tsd->tcache_enabled = enabled;
}

COLD void tsd_foreach(void (*fn)(tsd_t *tsd, void *arg), void *arg) {
    mutex_lock(&tsd_list_lock);
    for (tsd_t *t = tsd_live; t != NULL; t = t->list_next)
        fn(t, arg);
    mutex_unlock(&tsd_list_lock);
}

COLD void tsd_foreach_locked(void (*fn)(tsd_t *tsd, void *arg), void *arg) {
    for (tsd_t *t = tsd_live; t != NULL; t = t->list_next)
        fn(t, arg);
}

COLD void tsd_prefork(void) { mutex_lock(&tsd_list_lock); }
COLD void tsd_postfork_parent(void) { mutex_unlock(&tsd_list_lock); }

COLD void tsd_postfork_child(void) {
    mutex_postfork_child(&tsd_list_lock);
    /*
     * Only the forking thread survives; the others' states (and cached regions) are gone. When
     * the fork came between malloc_disable and malloc_enable, its tsd_tls points at
     * tsd_disabled, and its own state is the key's value.
     */
    tsd_t *self = tsd_tls.tsd;
    if (self == &tsd_disabled)
        self = pthread_getspecific(tsd_key);
    if (self != NULL && !tsd_is_real(self))
        self = NULL;
    tsd_t *t = tsd_live;
    while (t != NULL) {
        tsd_t *next = t->list_next;
        if (t != self) {
            t->list_next = tsd_free;
            tsd_free = t;
        }
        t = next;
    }
    tsd_live = NULL;
    tsd_nlive = 0;
    tcache_threads_set(0);
    tsd_reap_at = TSD_REAP_MIN;
    if (self != NULL) {
        self->list_next = self->list_prev = NULL;
        self->owner_pid = getpid();
        self->owner_tid = (pid_t)syscall(SYS_gettid);
        tsd_live = self;
        tsd_nlive = 1;
        tcache_threads_set(tsd_nlive);
        __atomic_add_fetch(&self->arena->nthreads, 1, __ATOMIC_RELAXED);
        if (self->alloc_counted)
            __atomic_add_fetch(&self->arena->nalloc, 1, __ATOMIC_RELAXED);
    }
}

/*
 * From now on the thread's events come at least every TSD_PEAK_BYTES (tevent.c caps each arming
 * at that): the counter is cut to it now if it has more left, keeping the bytes already counted
 * (armed less left). A thread whose counter was never armed sets it up at its first
 * allocation, which always triggers.
 */
static void tsd_peak_fine(tsd_t *tsd) {
    tsd->peak_fine = true;
    if (tsd->event_armed != 0 && tsd->event_left > TSD_PEAK_BYTES) {
        tsd->event_armed -= tsd->event_left - TSD_PEAK_BYTES;
        tsd->event_left = TSD_PEAK_BYTES;
    }
}

COLD uint64_t tsd_peak_read(tsd_t *tsd) {
    tsd_peak_fine(tsd);
    tsd_peak_note(tsd);
    return (uint64_t)tsd->peak_max;
}

COLD void tsd_peak_reset(tsd_t *tsd) {
    tsd_peak_fine(tsd);
    tsd->peak_adjust = tsd_thread_allocated(tsd) - tsd_thread_deallocated(tsd);
    tsd->peak_max = 0;
}

void tsd_counters_live(tsd_t *tsd) {
    if (tsd->counters_live)
        return;
    tsd->counters_live = true;
    tsd->thread_deallocated += tcache_pushes_fold(&tsd->tcache);
    tsd_tls.leaf_key = TSD_LEAF_SLOW; /* every free by the slow path, which counts (api.h) */
    bool armed = tsd->event_armed != 0;
    int64_t used = tsd_events_fold(tsd);
    if (!armed)
        return; /* not armed: the next allocation sets the events up (tevent.c) */
    tsd->tick_left -= used;
    if (opt_prof)
        tsd->prof_sample_left -= used;
    tsd->event_left = tsd->event_armed = 1; /* tevent.c arms it so from now on */
}
