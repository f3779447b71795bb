/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dss internals: dss:secondary takes chunks from the break only when mmap fails (pages_fail_after,
 * pages.h), dss:disabled never; the padding below the first chunk of the break becomes free
 * retained pages of the arena that grew (a chunk of its own, nothing left kept in dss.c); a
 * destroyed arena's chunks of the break are kept, purged, and serve the next arena's chunk,
 * zeroed; and destroying the arena whose chunk is the top of the break lowers the break over it
 * and over the kept ranges below it.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/base.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/dss.h"
#include "allocator/internal/pages.h"
#include "unit.h"

#define MiB ((size_t)1 << 20)
#define FLAGS(a) (MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE)

static unsigned arena_new(conf_dss_t dss) {
    unsigned ind = 0;
    size_t len = sizeof(ind);
    check_eq(mallctl("arenas.create", &ind, &len, NULL, 0), 0);
    chunk_dss_set(ind, dss);
    return ind;
}

static void arena_destroy_ind(unsigned a) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.destroy", a);
    check_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
}

static bool in_dss(const void *p, size_t n) {
    dss_stats_t s;
    dss_stats(&s);
    return s.base != 0 && (uintptr_t)p >= s.base && (uintptr_t)p + n <= s.end &&
           s.end <= (uintptr_t)sbrk(0);
}

/*
 * Metadata the next chunk needs, made beforehand, so that a failing mmap fails only the chunk:
 * a fresh base block with room (as pages_fail.c's base_room) and the radix-tree leaves of the
 * break just above the allocator's part.
 */
static void metadata_room(void) {
    bool fresh = false;
    for (int i = 0; i < 64 && !fresh; i++) {
        size_t before = base_mapped_bytes();
        check(base_alloc(((size_t)64 << 10) - 8, 8) != NULL);
        fresh = base_mapped_bytes() != before;
    }
    check(fresh);
    check(base_alloc(16, 8) != NULL);
    dss_stats_t s;
    dss_stats(&s);
    check(!emap_ensure(s.end, 16 * MiB));
}

static void fill(void *p, size_t n, int c) { memset(p, c, n); }

static bool all(const void *p, size_t n, int c) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return false;
    return true;
}

int main(void) {
    free(malloc(1)); /* initialise */
    check_eq(dss_default_get(), DSS_SECONDARY); /* jemalloc's default on Linux */
    check_eq(chunk_dss_get(0), DSS_SECONDARY);

    /* secondary: mmap first. */
    unsigned a = arena_new(DSS_SECONDARY);
    void *m = mallocx(3 * MiB, FLAGS(a));
    check(m != NULL && !in_dss(m, 3 * MiB));

    /* primary: the first chunk of the break; its padding becomes the arena's retained pages. */
    uintptr_t brk0 = (uintptr_t)sbrk(0);
    unsigned p_ind = arena_new(DSS_PRIMARY);
    void *p = mallocx(3 * MiB, FLAGS(p_ind));
    check(p != NULL && in_dss(p, 3 * MiB));
    check_eq((uintptr_t)p % (2 * MiB), 0);
    dss_stats_t s;
    dss_stats(&s);
    check(!s.lost);
    check_eq(s.kept, 0); /* the padding was adopted */
    check_eq(s.base, (brk0 + PAGE - 1) & ~(uintptr_t)PAGE_MASK);
    check_eq(s.bytes, s.end - s.base);
    size_t pad = (uintptr_t)p - s.base;
    arena_t *pa = arena_get(p_ind);
    bool found = pad == 0;
    for (chunk_t *c = pa->ex.chunks; c != NULL; c = c->next)
        found |= c->addr == s.base && c->size == pad;
    check(found);
    check_eq(pa->ex.mapped, 4 * MiB + pad);
    check(pa->ex.retained.npages >= (pad + MiB) >> LG_PAGE);
    fill(p, 3 * MiB, 0x11);

    /* secondary when mmap fails: the break (its radix-tree leaf exists now). */
    unsigned b = arena_new(DSS_SECONDARY);
    void *warm = mallocx(100, FLAGS(b)); /* b's first chunk, and its metadata, from mmap */
    check(warm != NULL && !in_dss(warm, 100));
    metadata_room();
    pages_fail_after = -1;
    void *q = mallocx(5 * MiB, FLAGS(b));
    pages_fail_after = 0;
    check(q != NULL && in_dss(q, 5 * MiB));
    if (q != NULL)
        fill(q, 5 * MiB, 0x22);
    /* disabled: the break never, so nothing when mmap fails. */
    unsigned d = arena_new(DSS_DISABLED);
    void *warm_d = mallocx(100, FLAGS(d));
    check(warm_d != NULL);
    pages_fail_after = -1;
    check(mallocx(5 * MiB, FLAGS(d)) == NULL);
    pages_fail_after = 0;

    /* A destroyed arena's chunk of the break is kept (below the top) and reused, zeroed. */
    unsigned top = arena_new(DSS_PRIMARY);
    void *t = mallocx(3 * MiB, FLAGS(top)); /* above p's chunk: p's is not the top */
    check(t != NULL && in_dss(t, 3 * MiB) && (uintptr_t)t > (uintptr_t)p);
    uintptr_t end_before = (uintptr_t)sbrk(0);
    arena_destroy_ind(p_ind);
    dss_stats(&s);
    check(s.kept >= 4 * MiB + pad);
    check_eq((uintptr_t)sbrk(0), end_before); /* not the top: nothing given back */
    unsigned r = arena_new(DSS_PRIMARY);
    void *again = mallocx(3 * MiB, FLAGS(r));
    check(again == p);
    check(again != NULL && all(again, 3 * MiB, 0));
    check_eq((uintptr_t)sbrk(0), end_before);

    /* Destroying the top's arena (and then r's) lowers the break over every kept range. */
    if (q != NULL)
        check(all(q, 5 * MiB, 0x22));
    dallocx(q, MALLOCX_TCACHE_NONE);
    arena_destroy_ind(top);
    arena_destroy_ind(r);
    dss_stats(&s);
    check_eq(s.end, (uintptr_t)q + 6 * MiB); /* b's chunk (q, 6 MiB) is the top now */
    check_eq((uintptr_t)sbrk(0), s.end);
    arena_destroy_ind(b);
    dss_stats(&s);
    check_eq(s.kept, 0);
    check_eq(s.bytes, 0);
    check_eq(s.end, s.base);
    check_eq((uintptr_t)sbrk(0), s.base);
    check(!s.lost);
    dallocx(m, MALLOCX_TCACHE_NONE);
    return unit_finish("dss");
}
