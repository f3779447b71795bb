/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * extent: the page allocator inside each arena. Free extents sit in three esets (dirty, muzzy,
 * retained); allocation takes the smallest fitting extent, dirty first (its pages are already
 * resident, so reuse costs no page fault), then muzzy, then retained, then a new chunk from
 * the arena's memory source. Freed extents coalesce with free neighbours of the same state
 * within their chunk. Decay (decay.c) decides how many dirty and muzzy pages may stay; purging
 * takes the least recently freed extents first, dirty to muzzy with the source's purge_lazy
 * (MADV_FREE) and to retained with purge_forced (MADV_DONTNEED). All of it runs under
 * extents_t.lock, held by the caller (arena, bin, background thread); leaf creation in the
 * rtree happens once per chunk, before any of its entries is written.
 */
#include "allocator/internal/extent.h"

#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/pages.h"

void (*extents_wake_hook)(unsigned arena_ind);

/* ---- the default memory source ------------------------------------------------------------ */

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
                        bool *zero, bool *commit, unsigned arena_ind) {
    (void)h, (void)arena_ind;
    if (new_addr != NULL)
        return NULL; /* placement at a given address is not offered */
    void *p = pages_map(size, alignment < PAGE ? PAGE : alignment);
    if (p != NULL) {
        *zero = true;
        *commit = true;
    }
    return p;
}

static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
                        unsigned arena_ind) {
    (void)h, (void)committed, (void)arena_ind;
    pages_unmap(addr, size);
    return false;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
                         unsigned arena_ind) {
    (void)h, (void)committed, (void)arena_ind;
    pages_unmap(addr, size);
}

static bool hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t offset, size_t length,
                        unsigned arena_ind) {
    (void)h, (void)addr, (void)size, (void)offset, (void)length, (void)arena_ind;
    return false; /* anonymous mappings are always committed */
}

static bool hook_decommit(extent_hooks_t *h, void *addr, size_t size, size_t offset, size_t length,
                          unsigned arena_ind) {
    (void)h, (void)addr, (void)size, (void)offset, (void)length, (void)arena_ind;
    return true; /* declined: purging is how pages go back */
}

static bool hook_purge_lazy(extent_hooks_t *h, void *addr, size_t size, size_t offset,
                            size_t length, unsigned arena_ind) {
    (void)h, (void)size, (void)arena_ind;
    return pages_purge_lazy((char *)addr + offset, length);
}

static bool hook_purge_forced(extent_hooks_t *h, void *addr, size_t size, size_t offset,
                              size_t length, unsigned arena_ind) {
    (void)h, (void)size, (void)arena_ind;
    return pages_purge((char *)addr + offset, length);
}

static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t size_a, size_t size_b,
                       bool committed, unsigned arena_ind) {
    (void)h, (void)addr, (void)size, (void)size_a, (void)size_b, (void)committed, (void)arena_ind;
    return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a, void *addr_b, size_t size_b,
                       bool committed, unsigned arena_ind) {
    (void)h, (void)addr_a, (void)size_a, (void)addr_b, (void)size_b, (void)committed,
        (void)arena_ind;
    return false;
}

extent_hooks_t extent_hooks_default = {hook_alloc,        hook_dalloc,   hook_destroy,
                                       hook_commit,       hook_decommit, hook_purge_lazy,
                                       hook_purge_forced, hook_split,    hook_merge};

/* Custom sources may refuse splits and merges; the default never does. */
static bool extents_split_refused(extents_t *ex, uintptr_t addr, size_t size, size_t size_a) {
    extent_hooks_t *h = ex->hooks;
    return h != &extent_hooks_default &&
           (h->split == NULL ||
            h->split(h, (void *)addr, size, size_a, size - size_a, true, ex->arena_ind));
}

static bool extents_merge_refused(extents_t *ex, uintptr_t a, size_t size_a, size_t size_b) {
    extent_hooks_t *h = ex->hooks;
    return h != &extent_hooks_default &&
           (h->merge == NULL ||
            h->merge(h, (void *)a, size_a, (void *)(a + size_a), size_b, true, ex->arena_ind));
}

/* ---- eset ---------------------------------------------------------------------------------- */

static unsigned eset_bin_of(size_t size) { return psz_floor_index(size >> LG_PAGE); }

/* Insert e as the most recently freed extent, or (oldest) as the least recently freed one. */
static void eset_insert_at(eset_t *s, extent_t *e, bool oldest) {
    unsigned b = eset_bin_of(e->size);
    e->prev = NULL;
    e->next = s->bins[b];
    if (e->next != NULL)
        e->next->prev = e;
    s->bins[b] = e;
    s->nonempty[b >> 6] |= (uint64_t)1 << (b & 63);
    if (oldest) {
        e->lru_prev = NULL;
        e->lru_next = s->lru_head;
        if (s->lru_head != NULL)
            s->lru_head->lru_prev = e;
        else
            s->lru_tail = e;
        s->lru_head = e;
    } else {
        e->lru_next = NULL;
        e->lru_prev = s->lru_tail;
        if (s->lru_tail != NULL)
            s->lru_tail->lru_next = e;
        else
            s->lru_head = e;
        s->lru_tail = e;
    }
    s->npages += e->size >> LG_PAGE;
    s->nextents++;
}

static void eset_insert(eset_t *s, extent_t *e) { eset_insert_at(s, e, false); }

static void eset_remove(eset_t *s, extent_t *e) {
    unsigned b = eset_bin_of(e->size);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->bins[b] = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    if (s->bins[b] == NULL)
        s->nonempty[b >> 6] &= ~((uint64_t)1 << (b & 63));
    if (e->lru_prev != NULL)
        e->lru_prev->lru_next = e->lru_next;
    else
        s->lru_head = e->lru_next;
    if (e->lru_next != NULL)
        e->lru_next->lru_prev = e->lru_prev;
    else
        s->lru_tail = e->lru_prev;
    s->npages -= e->size >> LG_PAGE;
    s->nextents--;
}

/* The first non-empty bin at or above b, or PSZ_NCLASSES. */
static unsigned eset_next_bin(const eset_t *s, unsigned b) {
    for (unsigned w = b >> 6; w < ARRAY_SIZE(s->nonempty); w++) {
        uint64_t bits = s->nonempty[w];
        if (w == b >> 6)
            bits &= ~(uint64_t)0 << (b & 63);
        if (bits != 0)
            return w * 64 + (unsigned)__builtin_ctzll(bits);
    }
    return PSZ_NCLASSES;
}

/* Does an aligned run of size bytes lie inside e? */
static bool extent_fits(const extent_t *e, size_t size, size_t align) {
    uintptr_t addr = ALIGN_UP(e->addr, align);
    return addr >= e->addr && addr - e->addr <= e->size && e->size - (addr - e->addr) >= size;
}

/*
 * A free extent with room for size bytes at alignment align, from the smallest bin that can
 * hold it. Within the exact-class bin sizes vary, so that bin is scanned for a fit (lowest
 * address wins); in larger bins every member is big enough and the lowest address among a few
 * candidates is taken, which keeps the heap compact. With align > PAGE whether an aligned run
 * fits depends on where the extent lies, so each candidate is checked.
 */
static extent_t *eset_fit(eset_t *s, size_t size, size_t align, size_t max_size) {
    unsigned b = eset_next_bin(s, psz_floor_index(size >> LG_PAGE));
    while (b < PSZ_NCLASSES) {
        extent_t *best = NULL;
        unsigned scanned = 0;
        for (extent_t *e = s->bins[b]; e != NULL && scanned < 32; e = e->next, scanned++) {
            if (e->size >= size && e->size <= max_size && (best == NULL || e->addr < best->addr) &&
                (align <= PAGE || extent_fits(e, size, align)))
                best = e;
        }
        if (best != NULL)
            return best;
        b = eset_next_bin(s, b + 1);
    }
    return NULL;
}

/* ---- extent_t structs ---------------------------------------------------------------------- */

static extent_t *extent_struct_new(extents_t *ex) {
    extent_t *e = ex->spare;
    if (e != NULL) {
        ex->spare = e->next;
    } else {
        e = base_alloc(sizeof(extent_t), CACHELINE);
        if (e == NULL)
            return NULL;
    }
    memset(e, 0, sizeof(*e));
    e->arena_ind = ex->arena_ind;
    return e;
}

static void extent_struct_delete(extents_t *ex, extent_t *e) {
    e->state = EXTENT_RETAINED;
    e->size = 0;
    e->next = ex->spare;
    ex->spare = e;
}

/* ---- registration -------------------------------------------------------------------------- */

static uintptr_t extent_last_page(const extent_t *e) { return e->addr + e->size - PAGE; }

static void extent_register_free(extent_t *e) {
    rtree_entry_t entry = rtree_entry_make(e, 0, false);
    rtree_write(e->addr, entry, 0);
    rtree_write(extent_last_page(e), entry, 0);
}

static void extent_clear_boundaries(const extent_t *e) {
    rtree_write(e->addr, 0, 0);
    rtree_write(extent_last_page(e), 0, 0);
}

static eset_t *extents_set(extents_t *ex, extent_state_t state) {
    assert(state != EXTENT_ACTIVE);
    return state == EXTENT_DIRTY ? &ex->dirty : state == EXTENT_MUZZY ? &ex->muzzy : &ex->retained;
}

/*
 * Insert a free extent, merging with free neighbours of the same state in its chunk. Returns the
 * merged extent (e's struct).
 */
static extent_t *extents_insert_coalesced(extents_t *ex, extent_t *e) {
    eset_t *set = extents_set(ex, (extent_state_t)e->state);
    if (e->addr > e->chunk_addr) {
        rtree_entry_t entry = rtree_read((void *)(e->addr - PAGE));
        extent_t *prev = rtree_entry_extent(entry);
        if (rtree_entry_binid(entry) == 0 && prev != NULL && prev->state == e->state &&
            !extents_merge_refused(ex, prev->addr, prev->size, e->size)) {
            assert(prev->addr + prev->size == e->addr);
            eset_remove(set, prev);
            extent_clear_boundaries(prev);
            e->addr = prev->addr;
            e->size += prev->size;
            extent_struct_delete(ex, prev);
        }
    }
    uintptr_t end = e->addr + e->size;
    if (end < e->chunk_addr + e->chunk_size) {
        rtree_entry_t entry = rtree_read((void *)end);
        extent_t *next = rtree_entry_extent(entry);
        if (rtree_entry_binid(entry) == 0 && next != NULL && next->state == e->state &&
            !extents_merge_refused(ex, e->addr, e->size, next->size)) {
            assert(next->addr == end);
            eset_remove(set, next);
            extent_clear_boundaries(next);
            e->size += next->size;
            extent_struct_delete(ex, next);
        }
    }
    extent_register_free(e);
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
    return false;
}

/* Map a new chunk for size/align; its free extent is returned, not inserted (NULL: no memory). */
static extent_t *extents_grow(extents_t *ex, size_t size, size_t align) {
    size_t chunk_size = ALIGN_UP(size, CHUNK);
    if (chunk_size < size)
        return NULL;
    size_t chunk_align = align > CHUNK ? align : CHUNK;
    if (ex->hooks != &extent_hooks_default && ex->hooks->split == NULL) {
        /* A source that cannot split gets asked for exactly what is needed. */
        chunk_size = size;
        chunk_align = align;
    }
    chunk_t *c = ex->spare_chunks;
    if (c != NULL)
        ex->spare_chunks = c->next;
    else if ((c = base_alloc(sizeof(chunk_t), sizeof(void *))) == NULL)
        return NULL;
    extent_hooks_t *h = ex->hooks;
    bool zero = false, commit = true;
    void *addr = h->alloc(h, NULL, chunk_size, chunk_align, &zero, &commit, ex->arena_ind);
    if (addr != NULL && ((uintptr_t)addr & (chunk_align - 1)) != 0) {
        io_warn("extent hook returned %p, not aligned to %zu\n", addr, chunk_align);
        if (h->dalloc == NULL || h->dalloc(h, addr, chunk_size, commit, ex->arena_ind))
            if (h->destroy != NULL)
                h->destroy(h, addr, chunk_size, commit, ex->arena_ind);
        addr = NULL;
    }
    if (addr != NULL && !commit &&
        (h->commit == NULL || h->commit(h, addr, chunk_size, 0, chunk_size, ex->arena_ind))) {
        if (h->destroy != NULL)
            h->destroy(h, addr, chunk_size, false, ex->arena_ind);
        addr = NULL;
    }
    extent_t *e = NULL;
    if (addr == NULL || rtree_ensure((uintptr_t)addr, chunk_size) ||
        (e = extent_struct_new(ex)) == NULL) {
        if (addr != NULL && h->destroy != NULL)
            h->destroy(h, addr, chunk_size, true, ex->arena_ind);
        c->next = ex->spare_chunks;
        ex->spare_chunks = c;
        return NULL;
    }
    c->addr = (uintptr_t)addr;
    c->size = chunk_size;
    c->next = ex->chunks;
    ex->chunks = c;
    e->addr = (uintptr_t)addr;
    e->size = chunk_size;
    e->chunk_addr = (uintptr_t)addr;
    e->chunk_size = chunk_size;
    e->state = zero ? EXTENT_RETAINED : EXTENT_DIRTY;
    if (h == &extent_hooks_default) {
        /*
         * thp:default leaves chunks to the kernel, except an arena's first chunk: with the
         * kernel's THP set to "always" every arena (one per few threads) would otherwise pin a
         * 2 MiB page for a few small allocations. Later chunks of a growing arena get huge pages.
         */
        if (ex->thp != 0)
            pages_set_thp(addr, chunk_size, ex->thp > 0);
        else if (ex->mapped == 0 && chunk_size == CHUNK)
            pages_set_thp(addr, chunk_size, false);
    }
    ex->mapped += chunk_size;
    return e;
}

/* Carve [addr, addr+size) out of the free extent e (already removed from its set). */
static extent_t *extent_carve(extents_t *ex, extent_t *e, uintptr_t addr, size_t size) {
    extent_clear_boundaries(e);
    size_t lead = addr - e->addr;
    size_t trail = e->size - lead - size;
    extent_t *lead_e = NULL, *trail_e = NULL;
    if ((lead != 0 && extents_split_refused(ex, e->addr, e->size, lead)) ||
        (trail != 0 && extents_split_refused(ex, addr, e->size - lead, size)))
        goto oom;
    if (lead != 0 && (lead_e = extent_struct_new(ex)) == NULL)
        goto oom;
    if (trail != 0 && (trail_e = extent_struct_new(ex)) == NULL)
        goto oom;
    if (lead_e != NULL) {
        *lead_e = *e;
        lead_e->size = lead;
        extent_register_free(lead_e);
        eset_insert(extents_set(ex, (extent_state_t)e->state), lead_e);
    }
    if (trail_e != NULL) {
        *trail_e = *e;
        trail_e->addr = addr + size;
        trail_e->size = trail;
        extent_register_free(trail_e);
        eset_insert(extents_set(ex, (extent_state_t)e->state), trail_e);
    }
    e->addr = addr;
    e->size = size;
    return e;
oom:
    if (lead_e != NULL)
        extent_struct_delete(ex, lead_e);
    extent_register_free(e);
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

extent_t *extent_alloc(extents_t *ex, size_t size, size_t align, bool *zeroed) {
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
    size_t limits[4] = {max_dirty, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    eset_t *order[4] = {&ex->dirty, &ex->dirty, &ex->muzzy, &ex->retained};
    for (int i = 0; i < 4; i++) {
        if (i == 1 && max_dirty == SIZE_MAX)
            continue;
        extent_t *e = eset_fit(order[i], size, align, limits[i]);
        if (e != NULL) {
            eset_remove(order[i], e);
            e = extent_alloc_from(ex, e, size, align, zeroed);
            if (e != NULL)
                return e;
            break; /* out of metadata, or the memory source refused a split */
        }
    }
    /* A new chunk is aligned to max(CHUNK, align), so the carve starts at its base. */
    extent_t *e = extents_grow(ex, size, align);
    if (e == NULL)
        return NULL;
    return extent_alloc_from(ex, e, size, align, zeroed);
}

/* ---- purging and decay ------------------------------------------------------------------ */

/* Unmap a chunk that is one free retained extent e (retain:false). False if the source refused. */
static bool extents_chunk_release(extents_t *ex, extent_t *e) {
    extent_hooks_t *h = ex->hooks;
    if (h->dalloc == NULL || h->dalloc(h, (void *)e->addr, e->size, true, ex->arena_ind))
        return false;
    chunk_t **pc = &ex->chunks;
    while (*pc != NULL && (*pc)->addr != e->chunk_addr)
        pc = &(*pc)->next;
    assert(*pc != NULL);
    chunk_t *c = *pc;
    *pc = c->next;
    c->next = ex->spare_chunks;
    ex->spare_chunks = c;
    ex->mapped -= e->size;
    ex->nchunks_unmapped++;
    return true;
}

size_t extents_release_free_chunks(extents_t *ex) {
    size_t released = 0;
    chunk_t *c = ex->chunks;
    while (c != NULL) {
        chunk_t *next = c->next; /* c may go back to spare_chunks below */
        extent_t *e = rtree_entry_extent(rtree_read((void *)c->addr));
        if (e != NULL && e->state != EXTENT_ACTIVE && e->addr == c->addr && e->size == c->size) {
            eset_remove(extents_set(ex, (extent_state_t)e->state), e);
            extent_clear_boundaries(e);
            size_t size = e->size;
            if (extents_chunk_release(ex, e)) {
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
    if (tail_size >= e->size || extents_split_refused(ex, e->addr, e->size, e->size - tail_size))
        return e;
    extent_t *tail = extent_struct_new(ex);
    if (tail == NULL)
        return e;
    *tail = *e;
    e->size -= tail_size;
    tail->addr = e->addr + e->size;
    tail->size = tail_size;
    extent_register_free(e);
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
        extent_clear_boundaries(e);
        e = extent_purge_split(ex, e, set, set->npages + (e->size >> LG_PAGE) - keep);
        size_t npages = e->size >> LG_PAGE;
        extent_state_t to = extent_purge_one(ex, e, from, lazy);
        e->state = (uint8_t)to;
        e = extents_insert_coalesced(ex, e);
        if (to == from)
            break; /* the memory source cannot purge: the pages stay */
        st->nmadvise++;
        purged += npages;
        if (to == EXTENT_RETAINED && !ex->retain && e->addr == e->chunk_addr &&
            e->size == e->chunk_size) {
            eset_remove(&ex->retained, e);
            extent_clear_boundaries(e);
            if (extents_chunk_release(ex, e))
                extent_struct_delete(ex, e);
            else
                extents_insert_coalesced(ex, e);
        }
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

size_t extents_purge_all(extents_t *ex) {
    size_t n = extents_purge_state(ex, EXTENT_DIRTY, 0, true);
    n += extents_purge_state(ex, EXTENT_MUZZY, 0, true);
    decay_purged(&ex->decay_dirty, 0);
    decay_purged(&ex->decay_muzzy, 0);
    return n;
}

/*
 * After pages became dirty (now: what the tick before the free read): purge at once if so
 * configured, date the new pages, wake a sleeping thread.
 */
static void extents_dirtied(extents_t *ex, uint64_t now) {
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

/*
 * Free the active extent e into the dirty set, coalesced (e's struct stays the merged one).
 * With tick, decay first runs as on any free, and the time it read is returned for
 * extents_dirtied; extents_release_all passes false and runs decay once, after its walk.
 */
static uint64_t extent_dalloc_one(extents_t *ex, extent_t *e, bool tick) {
    assert(e->state == EXTENT_ACTIVE);
    if (e->slab)
        rtree_write_range(e->addr, e->size, 0, 0);
    else
        extent_clear_boundaries(e);
    uint64_t now = tick ? extents_decay_tick(ex) : UINT64_MAX;
    ex->npages_active -= e->size >> LG_PAGE;
    e->state = EXTENT_DIRTY;
    e->slab = false;
    extents_insert_coalesced(ex, e);
    return now;
}

void extent_dalloc(extents_t *ex, extent_t *e) { extents_dirtied(ex, extent_dalloc_one(ex, e, true)); }

bool extent_expand(extents_t *ex, extent_t *e, size_t new_size, bool *zeroed) {
    assert(new_size > e->size);
    uintptr_t end = e->addr + e->size;
    if (end >= e->chunk_addr + e->chunk_size)
        return true;
    rtree_entry_t entry = rtree_read((void *)end);
    extent_t *next = rtree_entry_extent(entry);
    size_t need = new_size - e->size;
    if (next == NULL || rtree_entry_binid(entry) != 0 || next->state == EXTENT_ACTIVE ||
        next->addr != end || next->size < need)
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
    extent_clear_boundaries(e);
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

/*
 * Decay runs once, after the walk: run on each free, it could purge at once (decay time 0) and,
 * with retain:false, unmap a wholly free chunk and take it off the list being walked.
 */
void extents_release_all(extents_t *ex) {
    bool freed = false;
    for (chunk_t *c = ex->chunks; c != NULL; c = c->next) {
        uintptr_t addr = c->addr, end = c->addr + c->size;
        while (addr < end) {
            rtree_entry_t entry = rtree_read((void *)addr);
            extent_t *e = rtree_entry_extent(entry);
            /* A freed extent survives coalescing as the struct of the merged free extent. */
            if (rtree_entry_binid(entry) != 0) {
                extent_dalloc_one(ex, e, false);
                freed = true;
            }
            addr = e->addr + e->size;
        }
    }
    if (freed)
        extents_dirtied(ex, extents_decay_tick(ex));
}

void extents_unmap_all(extents_t *ex) {
    extent_hooks_t *h = ex->hooks;
    chunk_t *c = ex->chunks;
    while (c != NULL) {
        uintptr_t addr = c->addr, end = c->addr + c->size;
        while (addr < end) {
            extent_t *e = rtree_entry_extent(rtree_read((void *)addr));
            uintptr_t next = e->addr + e->size;
            assert(e->state != EXTENT_ACTIVE);
            eset_remove(extents_set(ex, (extent_state_t)e->state), e);
            extent_clear_boundaries(e);
            extent_struct_delete(ex, e);
            addr = next;
        }
        if (h->dalloc == NULL || h->dalloc(h, (void *)c->addr, c->size, true, ex->arena_ind)) {
            if (h->destroy != NULL)
                h->destroy(h, (void *)c->addr, c->size, true, ex->arena_ind);
        }
        ex->mapped -= c->size;
        chunk_t *next = c->next;
        c->next = ex->spare_chunks;
        ex->spare_chunks = c;
        c = next;
    }
    ex->chunks = NULL;
    ex->npages_active = 0;
}

void extents_prefork(extents_t *ex) { mutex_lock(&ex->lock); }
void extents_postfork_parent(extents_t *ex) { mutex_unlock(&ex->lock); }
void extents_postfork_child(extents_t *ex) { mutex_postfork_child(&ex->lock); }

static void eset_validate(const eset_t *s, extent_state_t state) {
    size_t npages = 0, n = 0;
    for (unsigned b = 0; b < PSZ_NCLASSES; b++) {
        bool nonempty = (s->nonempty[b >> 6] >> (b & 63)) & 1;
        if (nonempty != (s->bins[b] != NULL))
            io_fatal("eset: bin %u non-empty bit is wrong\n", b);
        for (extent_t *e = s->bins[b]; e != NULL; e = e->next) {
            if (e->state != state || eset_bin_of(e->size) != b)
                io_fatal("eset: extent %p in the wrong bin or state\n", (void *)e->addr);
            if (rtree_read((void *)e->addr) != rtree_entry_make(e, 0, false) ||
                rtree_read((void *)extent_last_page(e)) != rtree_entry_make(e, 0, false))
                io_fatal("eset: extent %p boundaries not registered\n", (void *)e->addr);
            npages += e->size >> LG_PAGE;
            n++;
        }
    }
    if (npages != s->npages || n != s->nextents)
        io_fatal("eset: counters disagree (%zu pages counted, %zu recorded)\n", npages, s->npages);
}

void extents_validate(extents_t *ex) {
    eset_validate(&ex->dirty, EXTENT_DIRTY);
    eset_validate(&ex->muzzy, EXTENT_MUZZY);
    eset_validate(&ex->retained, EXTENT_RETAINED);
}
