/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eset: the free-extent set (see eset.h). Insertion and removal are constant time; a fit scans
 * the non-empty bitmap for the smallest bin that can hold the request, then a bounded number of
 * members for the lowest address. Called by the page allocator (extent.c, purge.c, chunk.c)
 * with the owning extents_t.lock held.
 */
#include "allocator/internal/eset.h"

#include "allocator/internal/io.h"

static unsigned eset_bin_of(size_t size) { return psz_floor_index(size >> LG_PAGE); }

/* Insert e as the most recently freed extent, or (oldest) as the least recently freed one. */
void eset_insert_at(eset_t *s, extent_t *e, bool oldest) {
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

void eset_remove(eset_t *s, extent_t *e) {
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
extent_t *eset_fit(eset_t *s, size_t size, size_t align, size_t max_size) {
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

COLD void eset_validate(const eset_t *s, extent_state_t state) {
    size_t npages = 0, n = 0;
    for (unsigned b = 0; b < PSZ_NCLASSES; b++) {
        bool nonempty = (s->nonempty[b >> 6] >> (b & 63)) & 1;
        if (nonempty != (s->bins[b] != NULL))
            io_fatal("eset: bin %u non-empty bit is wrong\n", b);
        for (extent_t *e = s->bins[b]; e != NULL; e = e->next) {
            if (e->state != state || eset_bin_of(e->size) != b)
                io_fatal("eset: extent %p in the wrong bin or state\n", (void *)e->addr);
            npages += e->size >> LG_PAGE;
            n++;
        }
    }
    if (npages != s->npages || n != s->nextents)
        io_fatal("eset: counters disagree (%zu pages counted, %zu recorded)\n", npages, s->npages);
}
