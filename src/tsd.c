/*
 * tsd: creation, destruction and recycling of per-thread state (see tsd.h). tsd_list_lock
 * guards the list of live states and the free list of recycled ones; a state is allocated from
 * base together with its cache stacks and is never freed, only reused by a later thread.
 */
#include "allocator/internal/tsd.h"

#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"

__thread tsd_t *tsd_tls __attribute__((tls_model("initial-exec"))) = &tsd_uninit;
tsd_t tsd_uninit;
tsd_t tsd_dead;
tsd_t tsd_disabled;

static pthread_key_t tsd_key;
static mutex_t tsd_list_lock = MUTEX_INITIALIZER(RANK_TSD_LIST);
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
static tsd_t *tsd_live;
static tsd_t *tsd_free;

static bool tsd_cache_allowed(void) { return opt_tcache && !opt_junk_alloc && !opt_junk_free && !opt_zero; }

static void tsd_cleanup(void *arg) {
    tsd_t *tsd = arg;
    tcache_flush_all(&tsd->tcache);
    if (tsd->arena != NULL)
        __atomic_sub_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    mutex_lock(&tsd_list_lock);
    /* Under the lock, so malloc_disable never points a departed thread back at its state. */
    tsd_tls = &tsd_dead;
    if (tsd->list_prev != NULL)
        tsd->list_prev->list_next = tsd->list_next;
    else
        tsd_live = tsd->list_next;
    if (tsd->list_next != NULL)
        tsd->list_next->list_prev = tsd->list_prev;
    tsd->list_next = tsd_free;
    tsd_free = tsd;
    mutex_unlock(&tsd_list_lock);
}

bool tsd_boot(void) { return pthread_key_create(&tsd_key, tsd_cleanup) != 0; }

tsd_t *tsd_init_thread(void) {
    size_t stack_bytes = tcache_stack_bytes();
    mutex_lock(&tsd_list_lock);
    tsd_t *tsd = tsd_free;
    if (tsd != NULL)
        tsd_free = tsd->list_next;
    mutex_unlock(&tsd_list_lock);
    if (tsd == NULL) {
        tsd = base_alloc(ALIGN_UP(sizeof(tsd_t), CACHELINE) + stack_bytes, CACHELINE);
        if (tsd == NULL)
            return NULL;
    }
    void **stacks = (void **)((char *)tsd + ALIGN_UP(sizeof(tsd_t), CACHELINE));
    memset(tsd, 0, sizeof(*tsd));
    tsd->arena = arena_choose();
    __atomic_add_fetch(&tsd->arena->nthreads, 1, __ATOMIC_RELAXED);
    tsd->tcache_enabled = tsd_cache_allowed();
    tcache_init(&tsd->tcache, tsd->arena, stacks, tsd->tcache_enabled);
    tsd->tls_slot = &tsd_tls;
    tsd->tid = (int)syscall(SYS_gettid);
    mutex_lock(&tsd_list_lock);
    tsd->list_next = tsd_live;
    if (tsd_live != NULL)
        tsd_live->list_prev = tsd;
    tsd_live = tsd;
    /* Under the lock, so a malloc_disable that lists this thread finds tsd_tls set. */
    tsd_tls = tsd;
    mutex_unlock(&tsd_list_lock);
    /* May allocate (keys past the first 32); tsd_tls is already usable by then. */
    pthread_setspecific(tsd_key, tsd);
    return tsd;
}

void tsd_tcache_set_enabled(tsd_t *tsd, bool enabled) {
    if (enabled == tsd->tcache_enabled)
        return;
    void **stacks = (void **)((char *)tsd + ALIGN_UP(sizeof(tsd_t), CACHELINE));
    tcache_flush_all(&tsd->tcache);
    tcache_init(&tsd->tcache, tsd->arena, stacks, enabled);
    tsd->tcache_enabled = enabled;
}

void tsd_foreach(void (*fn)(tsd_t *tsd, void *arg), void *arg) {
    mutex_lock(&tsd_list_lock);
    for (tsd_t *t = tsd_live; t != NULL; t = t->list_next)
        fn(t, arg);
    mutex_unlock(&tsd_list_lock);
}

void tsd_foreach_locked(void (*fn)(tsd_t *tsd, void *arg), void *arg) {
    for (tsd_t *t = tsd_live; t != NULL; t = t->list_next)
        fn(t, arg);
}

void tsd_prefork(void) { mutex_lock(&tsd_list_lock); }
void tsd_postfork_parent(void) { mutex_unlock(&tsd_list_lock); }

void tsd_postfork_child(void) {
    mutex_postfork_child(&tsd_list_lock);
    /*
     * Only the forking thread survives; the others' states (and cached regions) are gone. Its
     * own state is the one that names its tsd_tls (which may point at tsd_disabled when the
     * fork came between malloc_disable and malloc_enable).
     */
    tsd_t *self = NULL;
    tsd_t *t = tsd_live;
    while (t != NULL) {
        tsd_t *next = t->list_next;
        if (t->tls_slot == &tsd_tls) {
            self = t;
        } else {
            t->list_next = tsd_free;
            tsd_free = t;
        }
        t = next;
    }
    tsd_live = NULL;
    if (self != NULL) {
        self->list_next = self->list_prev = NULL;
        self->tid = (int)syscall(SYS_gettid);
        tsd_live = self;
        __atomic_add_fetch(&self->arena->nthreads, 1, __ATOMIC_RELAXED);
    }
}
