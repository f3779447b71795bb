/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Chunks moving between arenas: an automatic arena that would map a new chunk takes another
 * automatic arena's wholly free dirty chunk instead, with its record, its pages (not known to
 * be zero) and the mapped bytes, which the two arenas' sum keeps; a chunk with anything active
 * in it stays, a donor whose lock is held is passed over (a new chunk is mapped), and an arena
 * made by arenas.create neither takes nor gives.
 */
#include <pthread.h>
#include <sched.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/purge.h"
#include "unit.h"

static bool has_chunk(const extents_t *ex, uintptr_t addr) {
    for (const chunk_t *c = ex->chunks; c != NULL; c = c->next) {
        if (c->addr == addr)
            return true;
    }
    return false;
}

/* Holds a lock from another thread (a debug build's witness forbids two of one rank here). */
static mutex_t *held;
static int holder_state; /* 1: holding, 2: may release */
static void *holder(void *arg) {
    (void)arg;
    mutex_lock(held);
    __atomic_store_n(&holder_state, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&holder_state, __ATOMIC_ACQUIRE) != 2)
        sched_yield();
    mutex_unlock(held);
    return NULL;
}

/* A whole chunk of ex, allocated as one extent and freed: one free dirty chunk. */
static uintptr_t free_chunk(extents_t *ex) {
    bool zeroed;
    mutex_lock(&ex->lock);
    extent_t *e = extent_alloc(ex, CHUNK, PAGE, &zeroed);
    check(e != NULL);
    uintptr_t addr = e->addr;
    check_eq(addr % CHUNK, 0);
    extent_dalloc(ex, e);
    mutex_unlock(&ex->lock);
    return addr;
}

static extent_t *alloc_in(extents_t *ex, size_t size, bool *zeroed) {
    mutex_lock(&ex->lock);
    extent_t *e = extent_alloc(ex, size, PAGE, zeroed);
    extents_validate(ex);
    mutex_unlock(&ex->lock);
    return e;
}

int main(void) {
    free(malloc(1)); /* initialise: arena 0, the arena count, the hook */
    check(extents_adopt_hook != NULL);
    check(narenas_auto >= 3);
    arena_t *a = arena_get_or_create(1), *b = arena_get_or_create(2);
    check(a != NULL && b != NULL);
    /* Nothing is purged behind the test's back. */
    for (unsigned i = 0; i < 3; i++) {
        arena_t *x = arena_get(i);
        mutex_lock(&x->ex.lock);
        extents_decay_ms_set(&x->ex, false, -1);
        mutex_unlock(&x->ex.lock);
    }

    /* a frees a whole chunk; b, with no chunk of its own, takes it for its first extent. */
    uintptr_t c1 = free_chunk(&a->ex);
    check_eq(a->ex.dirty.npages, CHUNK >> LG_PAGE);
    size_t a_mapped = a->ex.mapped, b_mapped = b->ex.mapped;
    check_eq(b_mapped, 0);
    bool zeroed = true;
    extent_t *e = alloc_in(&b->ex, 4 * PAGE, &zeroed);
    check(e != NULL);
    check_eq(e->addr, c1);
    check(!zeroed); /* dirty pages: old contents */
    check_eq(e->arena_ind, 2);
    check_eq(e->chunk_addr, c1);
    check_eq(b->ex.mapped, CHUNK);
    check_eq(a->ex.mapped, a_mapped - CHUNK);
    check_eq(a->ex.mapped + b->ex.mapped, a_mapped + b_mapped); /* moved, not mapped */
    check(has_chunk(&b->ex, c1) && !has_chunk(&a->ex, c1));
    check_eq(a->ex.dirty.npages, 0);
    check_eq(b->ex.dirty.npages, (CHUNK >> LG_PAGE) - 4);
    check_eq(b->ex.npages_active, 4);
    mutex_lock(&a->ex.lock);
    extents_validate(&a->ex);
    mutex_unlock(&a->ex.lock);
    /* The rest of the chunk is b's: its next extent comes from there, its free coalesces there. */
    extent_t *e2 = alloc_in(&b->ex, 8 * PAGE, &zeroed);
    check(e2 != NULL && e2->addr == c1 + 4 * PAGE);
    mutex_lock(&b->ex.lock);
    extent_dalloc(&b->ex, e2);
    extent_dalloc(&b->ex, e);
    extents_validate(&b->ex);
    mutex_unlock(&b->ex.lock);
    check_eq(b->ex.dirty.npages, CHUNK >> LG_PAGE);
    check_eq(b->ex.dirty.nextents, 1);

    /* A donor whose lock is held is passed over: b maps a chunk of its own. */
    extent_t *whole = alloc_in(&b->ex, CHUNK, &zeroed); /* b's own c1, whole */
    check(whole != NULL && whole->addr == c1);
    uintptr_t c2 = free_chunk(&a->ex);
    held = &a->ex.lock;
    pthread_t t;
    check_eq(pthread_create(&t, NULL, holder, NULL), 0);
    while (__atomic_load_n(&holder_state, __ATOMIC_ACQUIRE) != 1)
        sched_yield();
    extent_t *e3 = alloc_in(&b->ex, CHUNK, &zeroed);
    __atomic_store_n(&holder_state, 2, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    check(e3 != NULL && e3->addr != c2 && zeroed);
    check(has_chunk(&a->ex, c2));
    /* With the lock free, b's next chunk is c2. */
    extent_t *e4 = alloc_in(&b->ex, CHUNK, &zeroed);
    check(e4 != NULL && e4->addr == c2 && !zeroed);
    check(has_chunk(&b->ex, c2) && !has_chunk(&a->ex, c2));

    /* A chunk with one active page stays where it is. */
    uintptr_t c3 = free_chunk(&a->ex);
    extent_t *pin = alloc_in(&a->ex, PAGE, &zeroed);
    check(pin != NULL && pin->addr == c3);
    extent_t *e5 = alloc_in(&b->ex, CHUNK, &zeroed);
    check(e5 != NULL && e5->chunk_addr != c3);
    check(has_chunk(&a->ex, c3));

    /* An arena made by arenas.create neither takes a chunk nor gives one. */
    unsigned m_ind;
    size_t sz = sizeof(m_ind);
    check_eq(mallctl("arenas.create", &m_ind, &sz, NULL, 0), 0);
    arena_t *m = arena_get(m_ind);
    check(m != NULL);
    mutex_lock(&a->ex.lock);
    extent_dalloc(&a->ex, pin);
    mutex_unlock(&a->ex.lock);
    check_eq(a->ex.dirty.npages, CHUNK >> LG_PAGE); /* c3 whole and free again */
    extent_t *e6 = alloc_in(&m->ex, CHUNK, &zeroed);
    check(e6 != NULL && e6->addr != c3);
    check(has_chunk(&a->ex, c3));
    mutex_lock(&m->ex.lock);
    extent_dalloc(&m->ex, e6);
    mutex_unlock(&m->ex.lock);
    extent_t *e7 = alloc_in(&a->ex, CHUNK, &zeroed); /* a uses c3 itself */
    check(e7 != NULL && e7->addr == c3);
    size_t b_before = b->ex.mapped;
    extent_t *e8 = alloc_in(&b->ex, CHUNK, &zeroed);
    check(e8 != NULL && e8->addr != e6->addr && zeroed);
    check_eq(b->ex.mapped, b_before + CHUNK); /* mapped anew: m's free chunk stays m's */
    check(has_chunk(&m->ex, e6->addr));
    check_eq(m->ex.dirty.npages, CHUNK >> LG_PAGE);
    return unit_finish("chunk_adopt");
}
