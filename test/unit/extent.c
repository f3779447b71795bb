/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The page allocator: allocation carves, free coalesces with neighbours of the same state,
 * alignment is honoured, expand/shrink work in place, purge turns dirty pages retained (and zero).
 */
#include <string.h>

#include "allocator/internal/extent.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/purge.h"
#include "unit.h"

static extents_t ex;

int main(void) {
    pages_boot();
    sc_boot();
    extents_init(&ex, 0, -1, -1, true); /* never purge on its own */
    mutex_lock(&ex.lock);
    bool zeroed;
    extent_t *a = extent_alloc(&ex, 4 * PAGE, PAGE, &zeroed);
    check(a != NULL && zeroed);
    check_eq(a->addr % CHUNK, 0); /* the first carve of a fresh chunk starts it */
    extent_t *b = extent_alloc(&ex, 8 * PAGE, PAGE, &zeroed);
    extent_t *c = extent_alloc(&ex, 4 * PAGE, PAGE, &zeroed);
    check(b != NULL && c != NULL);
    check_eq(b->addr, a->addr + 4 * PAGE); /* lowest address first */
    check_eq(c->addr, b->addr + 8 * PAGE);
    check_eq(ex.npages_active, 16);
    extents_validate(&ex);
    memset((void *)b->addr, 0xab, b->size);
    uintptr_t baddr = b->addr;

    /* Free a and b: they coalesce into one dirty extent of 12 pages. */
    extent_dalloc(&ex, a);
    extent_dalloc(&ex, b);
    extents_validate(&ex);
    check_eq(ex.dirty.nextents, 1);
    check_eq(ex.dirty.npages, 12);

    /* Dirty is reused first and is not reported as zero. */
    extent_t *d = extent_alloc(&ex, 12 * PAGE, PAGE, &zeroed);
    check(d != NULL && !zeroed);
    check_eq(d->addr, baddr - 4 * PAGE);
    check_eq(ex.dirty.npages, 0);

    /* Purge makes pages retained and zero. */
    extent_dalloc(&ex, d);
    check_eq(extents_purge_all(&ex), 12);
    check_eq(ex.dirty.npages, 0);
    extents_validate(&ex);
    d = extent_alloc(&ex, 12 * PAGE, PAGE, &zeroed);
    check(d != NULL && zeroed);
    check_eq(((unsigned char *)baddr)[0], 0);

    /* Alignment beyond a page. */
    extent_t *al = extent_alloc(&ex, 16 * PAGE, 64 * PAGE, &zeroed);
    check(al != NULL && al->addr % (64 * PAGE) == 0);
    extents_validate(&ex);

    /* Expand in place into the free pages after c, then shrink back. */
    extent_dalloc(&ex, al);
    size_t old = c->size;
    check(!extent_expand(&ex, c, old + 8 * PAGE, &zeroed));
    check_eq(c->size, old + 8 * PAGE);
    extent_shrink(&ex, c, old);
    check_eq(c->size, old);
    extents_validate(&ex);

    /* Larger than a chunk: a dedicated, chunk-aligned mapping. */
    extent_t *huge = extent_alloc(&ex, 3 * CHUNK + PAGE, PAGE, &zeroed);
    check(huge != NULL && zeroed && huge->addr % CHUNK == 0);
    extent_dalloc(&ex, huge);
    extent_dalloc(&ex, c);
    extent_dalloc(&ex, d);
    extents_validate(&ex);
    check_eq(ex.npages_active, 0);
    mutex_unlock(&ex.lock);

    /*
     * Chunk-aligned requests reuse free chunk-aligned space: an aligned run inside a free extent
     * is found even when the extent is not larger than size + alignment (which a search by size
     * alone would require, mapping a new chunk every time).
     */
    mutex_lock(&ex.lock);
    extent_t *x = extent_alloc(&ex, 4 * PAGE, CHUNK, &zeroed);
    check(x != NULL && x->addr % CHUNK == 0);
    extent_dalloc(&ex, x);
    size_t mapped = ex.mapped;
    for (int i = 0; i < 8; i++) {
        x = extent_alloc(&ex, (size_t)(4 + i) * PAGE, CHUNK, &zeroed);
        check(x != NULL && x->addr % CHUNK == 0);
        extent_dalloc(&ex, x);
    }
    check_eq(ex.mapped, mapped);
    extents_validate(&ex);
    mutex_unlock(&ex.lock);

    /* Injected mmap failure: allocation fails cleanly, then recovers. */
    pages_fail_after = 1;
    (void)pages_map(PAGE, PAGE); /* consumes the one allowed success */
    mutex_lock(&ex.lock);
    check(extent_alloc(&ex, 64 * CHUNK, PAGE, &zeroed) == NULL);
    pages_fail_after = 0;
    check(extent_alloc(&ex, 4 * CHUNK, PAGE, &zeroed) != NULL);
    extents_validate(&ex);
    mutex_unlock(&ex.lock);
    return unit_finish("extent");
}
