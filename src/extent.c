/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * extent: the page allocator's allocation and free (see extent.h). Allocation takes the smallest
 * fitting free extent, dirty first (its pages are already resident, so reuse costs no page
 * fault), then muzzy, then retained, then another arena's wholly free dirty chunk (arena.c,
 * through extents_adopt_hook), then a new chunk (chunk.c), and carves the request out of
 * it, the rest going back to its set. A freed extent coalesces with free neighbours of the same
 * state within its chunk, found through the address map (emap.h) at the pages just before and
 * after it. Both run decay's tick (purge.c). All of it runs under extents_t.lock, held by the
 * caller (arena, bin, background thread).
 */
#include "allocator/internal/extent.h"

#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/purge.h"

extent_t *(*extents_adopt_hook)(extents_t *ex, size_t size, size_t align);

/* ---- extent_t structs ---------------------------------------------------------------------- */

extent_t *extent_struct_new(extents_t *ex) {
    extent_t *e = ex->spare;
    if (e != NULL) {
        ex->spare = e->next;
    } else {
        e = base_alloc(sizeof(extent_t), CACHELINE);
        if (e == NULL)
            return NULL;
    }
    memset(e, 0, sizeof(extent_t));
    e->arena_ind = ex->arena_ind;
    return e;
}

void extent_struct_delete(extents_t *ex, extent_t *e) {
    e->state = EXTENT_RETAINED;
    e->size = 0;
    e->next = ex->spare;
    ex->spare = e;
}

/* ---- coalescing ---------------------------------------------------------------------------- */

extent_t *extents_insert_coalesced(extents_t *ex, extent_t *e) {
    eset_t *set = extents_set(ex, (extent_state_t)e->state);
    if (e->addr > e->chunk_addr) {
        extent_t *prev = emap_free_extent_at(e->addr - PAGE);
        if (prev != NULL && prev->state == e->state &&
            !chunk_merge_refused(ex, prev->addr, prev->size, e->size)) {
            assert(prev->addr + prev->size == e->addr);
            eset_remove(set, prev);
            emap_clear_boundaries(prev);
            e->addr = prev->addr;
            e->size += prev->size;
            extent_struct_delete(ex, prev);
        }
    }
    uintptr_t end = e->addr + e->size;
    if (end < e->chunk_addr + e->chunk_size) {
        extent_t *next = emap_free_extent_at(end);
        if (next != NULL && next->state == e->state &&
            !chunk_merge_refused(ex, e->addr, e->size, next->size)) {
            assert(next->addr == end);
            eset_remove(set, next);
            emap_clear_boundaries(next);
            e->size += next->size;
            extent_struct_delete(ex, next);
        }
    }
    emap_register_free(e);
    eset_insert(set, e);
    return e;
}

/* ---- allocation ---------------------------------------------------------------------------- */

bool extents_init(extents_t *ex, unsigned arena_ind, ssize_t dirty_decay_ms, ssize_t muzzy_decay_ms,
                  bool retain) {
    memset(ex, 0, sizeof(*ex));
    mutex_init(&ex->lock, RANK_EXTENTS);
    ex->arena_ind = arena_ind;
    decay_init(&ex->decay_dirty, dirty_decay_ms, 0);
    decay_init(&ex->decay_muzzy, muzzy_decay_ms, 0);
    ex->retain = retain;
    ex->bg_sleeping = true; /* no background thread has looked at it yet: wake one on a free */
    ex->lg_max_fit = 63;
    ex->hooks = &extent_hooks_default;
    chunk_dss_set(arena_ind, dss_default_get());
    return false;
}

/* Carve [addr, addr+size) out of the free extent e (already removed from its set). */
static extent_t *extent_carve(extents_t *ex, extent_t *e, uintptr_t addr, size_t size) {
    emap_clear_boundaries(e);
    size_t lead = addr - e->addr;
    size_t trail = e->size - lead - size;
    extent_t *lead_e = NULL, *trail_e = NULL;
    if ((lead != 0 && chunk_split_refused(ex, e->addr, e->size, lead)) ||
        (trail != 0 && chunk_split_refused(ex, addr, e->size - lead, size)))
        goto oom;
    if (lead != 0 && (lead_e = extent_struct_new(ex)) == NULL)
        goto oom;
    if (trail != 0 && (trail_e = extent_struct_new(ex)) == NULL)
        goto oom;
    if (lead_e != NULL) {
        *lead_e = *e;
        lead_e->size = lead;
        emap_register_free(lead_e);
        eset_insert(extents_set(ex, (extent_state_t)e->state), lead_e);
    }
    if (trail_e != NULL) {
        *trail_e = *e;
        trail_e->addr = addr + size;
        trail_e->size = trail;
        emap_register_free(trail_e);
        eset_insert(extents_set(ex, (extent_state_t)e->state), trail_e);
    }
    e->addr = addr;
    e->size = size;
    return e;
oom:
    if (lead_e != NULL)
        extent_struct_delete(ex, lead_e);
    emap_register_free(e);
    eset_insert(extents_set(ex, (extent_state_t)e->state), e);
    return NULL;
}

static extent_t *extent_alloc_from(extents_t *ex, extent_t *e, size_t size, size_t align,
                                   bool *zeroed) {
    uintptr_t addr = ALIGN_UP(e->addr, align);
    bool clean = e->state == EXTENT_RETAINED;
    e = extent_carve(ex, e, addr, size);
    if (e == NULL)
        return NULL;
    e->state = EXTENT_ACTIVE;
    *zeroed = clean;
    ex->npages_active += size >> LG_PAGE;
    return e;
}

static ALWAYS_INLINE extent_t *extent_alloc_impl(extents_t *ex, size_t size, size_t align,
                                                 bool *zeroed, bool keep_idle) {
    assert(size != 0 && (size & PAGE_MASK) == 0 && align >= PAGE && is_pow2(align));
    /* Splitting a much larger dirty extent would scatter resident pages; others cost nothing. */
    size_t max_dirty = ex->lg_max_fit >= 63 || (size << ex->lg_max_fit) >> ex->lg_max_fit != size
                           ? SIZE_MAX
                           : size << ex->lg_max_fit;
    /*
     * Dirty extents within lg_max_fit of the request first, then any dirty extent (free dirty
     * neighbours coalesce at once here, so passing a large one over would touch fresh pages
     * while resident ones sit idle), then muzzy ones (perhaps still resident), then retained.
     */
    extents_decay_tick(ex);
    /*
     * Idle slabs serve only their class's next slabs: any other request first returns them to
     * the dirty set, where they compete for it as any freed slab does (a dirty extent need not
     * be resident, so preferring other dirty extents to them could touch pages anew). With
     * keep_idle, only when no dirty extent fits it.
     */
    if (!keep_idle)
        extents_idle_release(ex);
    size_t limits[4] = {max_dirty, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    eset_t *order[4] = {&ex->dirty, &ex->dirty, &ex->muzzy, &ex->retained};
    for (int i = 0; i < 4; i++) {
        if (i == 1 && max_dirty == SIZE_MAX)
            continue;
        if (keep_idle && i == 2 && ex->idle_pages != 0) {
            extents_idle_release(ex);
            i = -1; /* the dirty sets again, with the slabs in them */
            continue;
        }
        /*
         * No dirty extent fits a request of a chunk or more: its pages will be fresh ones, while
         * decay would keep the huge pieces it passed over resident beside it for its whole
         * window. Give back as many pages as it takes, from dirty extents of a chunk or more, so
         * that a loop of huge blocks of varying sizes holds about one request's worth of idle
         * memory, not a window's worth.
         */
        if (i == 2 && size >= CHUNK)
            extents_purge_passed_over(ex, size >> LG_PAGE);
        extent_t *e = eset_fit(order[i], size, align, limits[i]);
        if (e != NULL) {
            eset_remove(order[i], e);
            e = extent_alloc_from(ex, e, size, align, zeroed);
            if (e != NULL)
                return e;
            break; /* out of metadata, or the memory source refused a split */
        }
    }
    /*
     * Another arena's wholly free dirty chunk, else a new one (aligned to max(CHUNK, align), so
     * the carve starts at its base).
     */
    extent_t *e = NULL;
    if (extents_adopt_hook != NULL && ex->hooks == &extent_hooks_default)
        e = extents_adopt_hook(ex, size, align);
    if (e == NULL)
        e = chunk_grow(ex, size, align);
    if (e == NULL)
        return NULL;
    return extent_alloc_from(ex, e, size, align, zeroed);
}

extent_t *extent_alloc(extents_t *ex, size_t size, size_t align, bool *zeroed) {
    return extent_alloc_impl(ex, size, align, zeroed, false);
}

extent_t *extent_alloc_keep_idle(extents_t *ex, size_t size, size_t align, bool *zeroed) {
    return extent_alloc_impl(ex, size, align, zeroed, true);
}

/*
 * Free the active extent e into the set of state to (dirty; retained for a block whose pages
 * moved away), coalesced (e's struct stays the merged one). With tick, decay first runs as on
 * any free, and the time it read is returned for extents_dirtied; extents_release_all passes
 * false and runs decay once, after its walk.
 */
static ALWAYS_INLINE uint64_t extent_dalloc_one(extents_t *ex, extent_t *e, bool tick,
                                                extent_state_t to) {
    assert(e->state == EXTENT_ACTIVE);
    if (e->slab) {
        emap_deregister_slab(e);
        slab_bitmap_delete(&ex->bitmaps, e, bin_infos[e->szind].nregs);
        e->bitmap = NULL;
    } else
        emap_clear_boundaries(e);
    uint64_t now = tick ? extents_decay_tick(ex) : UINT64_MAX;
    ex->npages_active -= e->size >> LG_PAGE;
    e->state = to;
    e->slab = false;
    extents_insert_coalesced(ex, e);
    return now;
}

void extent_dalloc(extents_t *ex, extent_t *e) {
    extents_dirtied(ex, extent_dalloc_one(ex, e, true, EXTENT_DIRTY));
}

void extent_slab_retire(extents_t *ex, extent_t *slab) {
    assert(slab->slab && slab->nfree == bin_infos[slab->szind].nregs);
    size_t npages = slab->size >> LG_PAGE;
    if (ex->decay_dirty.ms == 0 || ex->idle_pages + npages > EXTENTS_IDLE_PAGES) {
        extent_dalloc(ex, slab);
        return;
    }
    slab->prev = NULL;
    slab->next = ex->idle[slab->szind];
    ex->idle[slab->szind] = slab;
    ex->idle_pages += npages;
    /* A background thread asleep until pages are freed must age these too. */
    if (unlikely(atomic_load_relaxed(&ex->bg_sleeping)) && extents_wake_hook != NULL) {
        atomic_store_relaxed(&ex->bg_sleeping, false);
        extents_wake_hook(ex->arena_ind);
    }
}

void extents_idle_release(extents_t *ex) {
    if (ex->idle_pages == 0)
        return;
    for (unsigned i = 0; i < SC_NBINS; i++) {
        while (ex->idle[i] != NULL) {
            extent_t *slab = ex->idle[i];
            ex->idle[i] = slab->next;
            slab->next = NULL;
            extent_dalloc_one(ex, slab, false, EXTENT_DIRTY);
        }
    }
    ex->idle_pages = 0;
    /* Date the pages as freed now (no decay step here: decay itself calls this). */
    bool timed = (ex->decay_dirty.ms > 0 || ex->decay_muzzy.ms > 0) && nstime_usable();
    extents_dirtied(ex, timed ? nstime_now() : UINT64_MAX);
}

bool extent_expand(extents_t *ex, extent_t *e, size_t new_size, bool *zeroed) {
    assert(new_size > e->size);
    uintptr_t end = e->addr + e->size;
    if (end >= e->chunk_addr + e->chunk_size)
        return true;
    extent_t *next = emap_free_extent_at(end);
    size_t need = new_size - e->size;
    if (next == NULL && ex->idle_pages != 0 && rtree_entry_slab(rtree_read((void *)end))) {
        /* A slab is in the way, perhaps an idle one: they go back first. */
        extents_idle_release(ex);
        next = emap_free_extent_at(end);
    }
    if (next == NULL || next->state == EXTENT_ACTIVE || next->addr != end || next->size < need)
        return true;
    bool clean = next->state == EXTENT_RETAINED;
    eset_remove(extents_set(ex, (extent_state_t)next->state), next);
    next = extent_carve(ex, next, end, need);
    if (next == NULL)
        return true;
    e->size = new_size;
    extent_struct_delete(ex, next);
    ex->npages_active += need >> LG_PAGE;
    *zeroed = clean;
    return false;
}

void extent_shrink(extents_t *ex, extent_t *e, size_t new_size) {
    assert(new_size < e->size && (new_size & PAGE_MASK) == 0);
    extent_t *tail = extent_struct_new(ex);
    if (tail == NULL)
        return; /* keep the extent whole; the caller's usable size stays correct */
    uint64_t now = extents_decay_tick(ex);
    emap_clear_boundaries(e);
    *tail = *e;
    tail->addr = e->addr + new_size;
    tail->size = e->size - new_size;
    tail->state = EXTENT_DIRTY;
    tail->slab = false;
    e->size = new_size;
    ex->npages_active -= tail->size >> LG_PAGE;
    extents_insert_coalesced(ex, tail);
    extents_dirtied(ex, now);
}

/* ---- blocks whose pages moved away ------------------------------------------------------ */

void extent_dalloc_moved(extents_t *ex, extent_t *e) {
    assert(!e->slab);
    extent_dalloc_one(ex, e, true, EXTENT_RETAINED);
    extents_release_whole(ex, e);
}

void extents_release_whole(extents_t *ex, extent_t *e) {
    if (ex->retain || e->addr != e->chunk_addr || e->size != e->chunk_size)
        return;
    eset_remove(&ex->retained, e);
    emap_clear_boundaries(e);
    if (chunk_release(ex, e))
        extent_struct_delete(ex, e);
    else
        extents_insert_coalesced(ex, e);
}

/*
 * Decay runs once, after the walk: run on each free, it could purge at once (decay time 0) and,
 * with retain:false, unmap a wholly free chunk and take it off the list being walked.
 */
COLD void extents_release_all(extents_t *ex) {
    extents_idle_release(ex); /* the walk below must not free them behind the lists' back */
    bool freed = false;
    for (chunk_t *c = ex->chunks; c != NULL; c = c->next) {
        uintptr_t addr = c->addr, end = c->addr + c->size;
        while (addr < end) {
            rtree_entry_t entry = rtree_read((void *)addr);
            extent_t *e = rtree_entry_extent(entry);
            /* A freed extent survives coalescing as the struct of the merged free extent. */
            if (rtree_entry_binid(entry) != 0) {
                extent_dalloc_one(ex, e, false, EXTENT_DIRTY);
                freed = true;
            }
            addr = e->addr + e->size;
        }
    }
    if (freed)
        extents_dirtied(ex, extents_decay_tick(ex));
}

COLD void extents_prefork(extents_t *ex) { mutex_lock(&ex->lock); }
COLD void extents_postfork_parent(extents_t *ex) { mutex_unlock(&ex->lock); }
COLD void extents_postfork_child(extents_t *ex) { mutex_postfork_child(&ex->lock); }

/*
 * Every member of s has its boundaries registered as a free extent, and no slab bitmap (it went
 * back to the lists when its slab was freed).
 */
static void extents_validate_set(const eset_t *s, extent_state_t state) {
    eset_validate(s, state);
    for (const extent_t *e = s->lru_head; e != NULL; e = e->lru_next) {
        if (!emap_free_registered(e))
            io_fatal("eset: extent %p boundaries not registered\n", (void *)e->addr);
        if (e->slab || e->bitmap != NULL)
            io_fatal("eset: free extent %p has a slab bitmap\n", (void *)e->addr);
    }
}

COLD void extents_validate(extents_t *ex) {
    size_t idle_pages = 0;
    for (unsigned i = 0; i < SC_NBINS; i++) {
        for (const extent_t *s = ex->idle[i]; s != NULL; s = s->next) {
            if (s->state != EXTENT_ACTIVE || !s->slab || s->szind != i || s->bitmap == NULL ||
                s->nfree != bin_infos[i].nregs || slab_bitmap_count(s, bin_infos[i].nregs) != s->nfree ||
                rtree_entry_extent(rtree_read((void *)s->addr)) != s)
                io_fatal("extents: idle slab %p of class %u is not an empty registered slab\n",
                         (void *)s->addr, i);
            idle_pages += s->size >> LG_PAGE;
        }
    }
    if (idle_pages != ex->idle_pages || idle_pages > EXTENTS_IDLE_PAGES)
        io_fatal("extents: idle slabs hold %zu pages, the arena counts %zu\n", idle_pages,
                 ex->idle_pages);
    extents_validate_set(&ex->dirty, EXTENT_DIRTY);
    extents_validate_set(&ex->muzzy, EXTENT_MUZZY);
    extents_validate_set(&ex->retained, EXTENT_RETAINED);
}
