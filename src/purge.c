/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge: purging and decay for an arena's page allocator (see purge.h). Decay (decay.c) says
 * how many dirty and muzzy pages may stay; extents_purge_state takes the least recently freed
 * extents of a state off its set, splitting off only the excess of a large one, hands them to
 * the memory source's purge hooks and puts them back, coalesced, in the set of the state they
 * reached (extent.c). A chunk that becomes one retained extent is unmapped when retain is off
 * (chunk.c). Called from extent.c's allocation and free paths, arena.c (purge, decay, release),
 * background threads and ctl (decay times), always with extents_t.lock held.
 */
#include "allocator/internal/purge.h"

#include "allocator/internal/chunk.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/pages.h"

void (*extents_wake_hook)(unsigned arena_ind);

size_t extents_release_free_chunks(extents_t *ex) {
    extents_idle_release(ex);
    size_t released = 0;
    chunk_t *c = ex->chunks;
    while (c != NULL) {
        chunk_t *next = c->next; /* c may go back to spare_chunks below */
        extent_t *e = emap_free_extent_at(c->addr);
        if (e != NULL && e->state != EXTENT_ACTIVE && e->addr == c->addr && e->size == c->size) {
            eset_remove(extents_set(ex, (extent_state_t)e->state), e);
            emap_clear_boundaries(e);
            size_t size = e->size;
            if (chunk_release(ex, e)) {
                extent_struct_delete(ex, e);
                released += size;
            } else {
                extents_insert_coalesced(ex, e);
            }
        }
        c = next;
    }
    return released;
}

/*
 * Purge the free extent e of state from (removed from its set, boundaries cleared) to muzzy
 * (lazy) or retained. Returns the state it ends in: unchanged when the memory source refused.
 */
static extent_state_t extent_purge_one(extents_t *ex, extent_t *e, extent_state_t from, bool lazy) {
    extent_hooks_t *h = ex->hooks;
    void *chunk = (void *)e->chunk_addr;
    size_t off = e->addr - e->chunk_addr;
    if (lazy && h->purge_lazy != NULL &&
        !h->purge_lazy(h, chunk, e->chunk_size, off, e->size, ex->arena_ind))
        return EXTENT_MUZZY;
    if (h->purge_forced != NULL &&
        !h->purge_forced(h, chunk, e->chunk_size, off, e->size, ex->arena_ind))
        return EXTENT_RETAINED;
    return from;
}

/*
 * Purging only part of a large extent keeps a big free block from going back all at once when
 * the curve asks for a little: e (removed, boundaries cleared) keeps its first pages in set, as
 * the least recently freed extent, and the last excess pages are returned for purging. If the
 * split is impossible, e is returned whole.
 */
static extent_t *extent_purge_split(extents_t *ex, extent_t *e, eset_t *set, size_t excess) {
    size_t tail_size = excess << LG_PAGE;
    if (tail_size >= e->size || chunk_split_refused(ex, e->addr, e->size, e->size - tail_size))
        return e;
    extent_t *tail = extent_struct_new(ex);
    if (tail == NULL)
        return e;
    *tail = *e;
    e->size -= tail_size;
    tail->addr = e->addr + e->size;
    tail->size = tail_size;
    emap_register_free(e);
    eset_insert_at(set, e, true);
    return tail;
}

/*
 * Purge the least recently freed extents of state from (dirty or muzzy) until at most keep pages
 * of it remain. Dirty pages go to muzzy when muzzy decay is on and lazy purging works (unless
 * forced), else straight to retained. Returns pages purged.
 */
static size_t extents_purge_state(extents_t *ex, extent_state_t from, size_t keep, bool forced) {
    eset_t *set = extents_set(ex, from);
    purge_stats_t *st = from == EXTENT_DIRTY ? &ex->purge_dirty : &ex->purge_muzzy;
    bool lazy = !forced && from == EXTENT_DIRTY && ex->decay_muzzy.ms != 0 &&
                (ex->hooks != &extent_hooks_default || pages_can_purge_lazy());
    size_t purged = 0;
    while (set->npages > keep) {
        extent_t *e = set->lru_head;
        eset_remove(set, e);
        emap_clear_boundaries(e);
        e = extent_purge_split(ex, e, set, set->npages + (e->size >> LG_PAGE) - keep);
        size_t npages = e->size >> LG_PAGE;
        extent_state_t to = extent_purge_one(ex, e, from, lazy);
        e->state = (uint8_t)to;
        e = extents_insert_coalesced(ex, e);
        if (to == from)
            break; /* the memory source cannot purge: the pages stay */
        st->nmadvise++;
        purged += npages;
        if (to == EXTENT_RETAINED)
            extents_release_whole(ex, e);
    }
    if (purged != 0) {
        st->npurge++;
        st->purged += purged;
    }
    return purged;
}

/* What a zero decay time asks for: nothing of that state stays. */
static void extents_decay_immediate(extents_t *ex) {
    if (ex->decay_dirty.ms == 0 && ex->dirty.npages != 0)
        extents_purge_state(ex, EXTENT_DIRTY, 0, false);
    if (ex->decay_muzzy.ms == 0 && ex->muzzy.npages != 0)
        extents_purge_state(ex, EXTENT_MUZZY, 0, false);
}

static void extents_decay_one(extents_t *ex, decay_t *d, extent_state_t state, uint64_t now_ns) {
    eset_t *set = extents_set(ex, state);
    if (decay_advance(d, now_ns, set->npages)) {
        /*
         * Purge in steps of DECAY_WAKE_PAGES (or everything once the curve reaches zero): a few
         * pages at a time would split free extents into dirty and retained pieces, which
         * cannot coalesce, for little memory.
         */
        size_t limit = decay_npages_limit(d);
        if (set->npages > limit && (set->npages - limit >= DECAY_WAKE_PAGES || limit == 0))
            extents_purge_state(ex, state, limit, false);
        decay_purged(d, set->npages);
    }
}

void extents_decay_step(extents_t *ex, uint64_t now_ns) {
    /* Idle slabs (extent.h) stay for at most one epoch of dirty decay, then decay as dirty pages. */
    if (ex->idle_pages != 0 && decay_due(&ex->decay_dirty, now_ns))
        extents_idle_release(ex);
    extents_decay_immediate(ex);
    extents_decay_one(ex, &ex->decay_dirty, EXTENT_DIRTY, now_ns);
    /* Dirty pages purged lazily just became muzzy. */
    decay_note(&ex->decay_muzzy, now_ns, ex->muzzy.npages);
    extents_decay_one(ex, &ex->decay_muzzy, EXTENT_MUZZY, now_ns);
}

uint64_t extents_decay(extents_t *ex, uint64_t now_ns) {
    extents_decay_step(ex, now_ns);
    uint64_t a = decay_ns_until_purge(&ex->decay_dirty, now_ns, ex->dirty.npages);
    uint64_t b = decay_ns_until_purge(&ex->decay_muzzy, now_ns, ex->muzzy.npages);
    if (ex->idle_pages != 0 && ex->decay_dirty.ms > 0 && ex->decay_dirty.interval_ns < a)
        a = ex->decay_dirty.interval_ns; /* their epoch's end */
    return a < b ? a : b;
}

uint64_t extents_decay_tick(extents_t *ex) {
    if ((ex->decay_dirty.ms > 0 || ex->decay_muzzy.ms > 0) && nstime_usable()) {
        uint64_t now = nstime_now();
        if (decay_due(&ex->decay_dirty, now) || decay_due(&ex->decay_muzzy, now))
            extents_decay_step(ex, now);
        else
            extents_decay_immediate(ex);
        return now;
    }
    return UINT64_MAX;
}

void extents_decay_ms_set(extents_t *ex, bool muzzy, ssize_t ms) {
    decay_t *d = muzzy ? &ex->decay_muzzy : &ex->decay_dirty;
    decay_init(d, ms, muzzy ? ex->muzzy.npages : ex->dirty.npages);
    extents_decay_immediate(ex);
    if (nstime_usable())
        extents_decay(ex, nstime_now());
}

COLD size_t extents_purge_all(extents_t *ex) {
    extents_idle_release(ex);
    size_t n = extents_purge_state(ex, EXTENT_DIRTY, 0, true);
    n += extents_purge_state(ex, EXTENT_MUZZY, 0, true);
    decay_purged(&ex->decay_dirty, 0);
    decay_purged(&ex->decay_muzzy, 0);
    return n;
}

size_t extents_purge_passed_over(extents_t *ex, size_t npages) {
    size_t purged = 0;
    bool lazy = ex->decay_muzzy.ms != 0 &&
                (ex->hooks != &extent_hooks_default || pages_can_purge_lazy());
    extent_t *e = ex->dirty.lru_head;
    while (e != NULL && purged < npages) {
        extent_t *next = e->lru_next;
        if (e->size >= CHUNK) {
            eset_remove(&ex->dirty, e);
            emap_clear_boundaries(e);
            size_t n = e->size >> LG_PAGE;
            extent_state_t to = extent_purge_one(ex, e, EXTENT_DIRTY, lazy);
            e->state = (uint8_t)to;
            extents_insert_coalesced(ex, e);
            if (to == EXTENT_DIRTY)
                break; /* the memory source cannot purge */
            ex->purge_dirty.nmadvise++;
            purged += n;
        }
        e = next;
    }
    if (purged != 0) {
        ex->purge_dirty.npurge++;
        ex->purge_dirty.purged += purged;
        decay_purged(&ex->decay_dirty, ex->dirty.npages);
    }
    return purged;
}

/*
 * After pages became dirty (now: what the tick before the free read): purge at once if so
 * configured, date the new pages, wake a sleeping thread.
 */
void extents_dirtied(extents_t *ex, uint64_t now) {
    extents_decay_immediate(ex);
    if (now != UINT64_MAX) {
        decay_note(&ex->decay_dirty, now, ex->dirty.npages);
        decay_note(&ex->decay_muzzy, now, ex->muzzy.npages);
    }
    if (unlikely(atomic_load_relaxed(&ex->bg_sleeping)) && ex->dirty.npages != 0 &&
        extents_wake_hook != NULL) {
        atomic_store_relaxed(&ex->bg_sleeping, false);
        extents_wake_hook(ex->arena_ind);
    }
}
