/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * chunk: the default memory source and the chunk life cycle (see chunk.h): a chunk is mapped
 * when no free extent fits a request (chunk_grow, from extent_alloc), unmapped when it has become
 * one free retained extent and retain is off (chunk_release, from purge.c), and all chunks go
 * back when an arena is destroyed; a wholly free dirty chunk may move to another arena that needs
 * one (chunk_detach_dirty, chunk_attach). chunk_t records are recycled through
 * extents_t.spare_chunks. The default source takes chunks from the program break (dss.c) before
 * mmap (dss:primary) or when mmap fails (dss:secondary); memory of the break is never unmapped:
 * dalloc declines it unless it is the break's top (dss_dalloc lowers the break), and destroy
 * hands it back to dss.c for reuse. Purging works on it as on mapped memory (madvise).
 * Called with extents_t.lock held; the radix tree's leaves for a chunk are created (emap_ensure)
 * before any of its entries is written.
 */
#include "allocator/internal/chunk.h"

#include "allocator/internal/base.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/io.h"
#include "allocator/internal/pages.h"

/* ---- the default memory source ------------------------------------------------------------ */

static uint8_t chunk_dss[ARENAS_MAX]; /* conf_dss_t by arena index, atomic */

conf_dss_t chunk_dss_get(unsigned arena_ind) {
    return arena_ind < ARENAS_MAX ? (conf_dss_t)atomic_load_relaxed(&chunk_dss[arena_ind])
                                  : dss_default_get();
}

void chunk_dss_set(unsigned arena_ind, conf_dss_t dss) {
    if (arena_ind < ARENAS_MAX)
        atomic_store_relaxed(&chunk_dss[arena_ind], (uint8_t)dss);
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
                        bool *zero, bool *commit, unsigned arena_ind) {
    (void)h;
    if (new_addr != NULL)
        return NULL; /* placement at a given address is not offered */
    size_t align = alignment < PAGE ? PAGE : alignment;
    conf_dss_t dss = chunk_dss_get(arena_ind);
    void *p = dss == DSS_PRIMARY ? dss_alloc(size, align) : NULL;
    if (p == NULL)
        p = pages_map(size, align);
    if (p == NULL && dss == DSS_SECONDARY)
        p = dss_alloc(size, align);
    if (p != NULL) {
        *zero = true;
        *commit = true;
    }
    return p;
}

static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed,
                        unsigned arena_ind) {
    (void)h, (void)committed, (void)arena_ind;
    if (dss_contains(addr))
        return !dss_dalloc(addr, size);
    pages_unmap(addr, size);
    return false;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed,
                         unsigned arena_ind) {
    (void)h, (void)committed, (void)arena_ind;
    if (dss_contains(addr))
        dss_recycle(addr, size);
    else
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
bool chunk_split_refused(extents_t *ex, uintptr_t addr, size_t size, size_t size_a) {
    extent_hooks_t *h = ex->hooks;
    return h != &extent_hooks_default &&
           (h->split == NULL ||
            h->split(h, (void *)addr, size, size_a, size - size_a, true, ex->arena_ind));
}

bool chunk_merge_refused(extents_t *ex, uintptr_t a, size_t size_a, size_t size_b) {
    extent_hooks_t *h = ex->hooks;
    return h != &extent_hooks_default &&
           (h->merge == NULL ||
            h->merge(h, (void *)a, size_a, (void *)(a + size_a), size_b, true, ex->arena_ind));
}

/*
 * Pieces of the break that dss.c keeps but that hold no chunk (the padding below a chunk from
 * the break) become chunks of ex of their own, one retained extent each.
 */
static void chunk_adopt_pads(extents_t *ex) {
    uintptr_t addr;
    size_t size;
    while (dss_pad_take(&addr, &size)) {
        chunk_t *c = ex->spare_chunks;
        if (c != NULL)
            ex->spare_chunks = c->next;
        else
            c = base_alloc(sizeof(chunk_t), sizeof(void *));
        extent_t *e = NULL;
        if (c == NULL || emap_ensure(addr, size) || (e = extent_struct_new(ex)) == NULL) {
            if (c != NULL) {
                c->next = ex->spare_chunks;
                ex->spare_chunks = c;
            }
            dss_recycle((void *)addr, size);
            return;
        }
        c->addr = addr;
        c->size = size;
        c->next = ex->chunks;
        ex->chunks = c;
        e->addr = e->chunk_addr = addr;
        e->size = e->chunk_size = size;
        e->state = EXTENT_RETAINED;
        ex->mapped += size;
        extents_insert_coalesced(ex, e);
    }
}

/* Map a new chunk for size/align; its free extent is returned, not inserted (NULL: no memory). */
extent_t *chunk_grow(extents_t *ex, size_t size, size_t align) {
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
    if (addr == NULL || emap_ensure((uintptr_t)addr, chunk_size) ||
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
    if (h == &extent_hooks_default)
        chunk_adopt_pads(ex);
    return e;
}

/* Unmap a chunk that is one free retained extent e (retain:false). False if the source refused. */
bool chunk_release(extents_t *ex, extent_t *e) {
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

extent_t *chunk_detach_dirty(extents_t *ex, size_t size, size_t align, chunk_t **cp) {
    if (ex->hooks != &extent_hooks_default || ex->dirty.npages < (size >> LG_PAGE))
        return NULL;
    /* Extents never cross chunks: a free one of a chunk's size or more is the chunk if whole. */
    extent_t *e = eset_fit(&ex->dirty, size > CHUNK ? size : CHUNK, align, SIZE_MAX);
    if (e == NULL || e->addr != e->chunk_addr || e->size != e->chunk_size)
        return NULL;
    chunk_t **pc = &ex->chunks;
    while (*pc != NULL && (*pc)->addr != e->chunk_addr)
        pc = &(*pc)->next;
    if (*pc == NULL)
        return NULL;
    chunk_t *c = *pc;
    *pc = c->next;
    c->next = NULL;
    eset_remove(&ex->dirty, e);
    emap_clear_boundaries(e);
    ex->mapped -= c->size;
    *cp = c;
    return e;
}

void chunk_attach(extents_t *ex, chunk_t *c, extent_t *e) {
    c->next = ex->chunks;
    ex->chunks = c;
    ex->mapped += c->size;
    e->arena_ind = ex->arena_ind;
}

COLD void extents_unmap_all(extents_t *ex) {
    extent_hooks_t *h = ex->hooks;
    chunk_t *c = ex->chunks;
    while (c != NULL) {
        uintptr_t addr = c->addr, end = c->addr + c->size;
        while (addr < end) {
            extent_t *e = emap_free_extent_at(addr);
            uintptr_t next = e->addr + e->size;
            assert(e->state != EXTENT_ACTIVE);
            eset_remove(extents_set(ex, (extent_state_t)e->state), e);
            emap_clear_boundaries(e);
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
