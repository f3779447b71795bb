/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Memory going back to the system through the public interface: dirty_decay_ms 0 returns a freed
 * extent at once and -1 never does; a time-based decay keeps freed pages for a while and returns
 * them after its window; muzzy decay moves pages through MADV_FREE; arena.<i>.purge and
 * malloc_trim return everything; retain:false unmaps whole chunks (stats.mapped falls) and
 * retain:true keeps them (stats.retained). Residency is read with mincore, so the kernel, not
 * our own counters, says whether pages went back.
 */
#include "../test.h"

#include <allocator.h>
#include <malloc.h>
#include <sys/mman.h>
#include <time.h>

#define BIG ((size_t)4 << 20)

/* The allocator's page (statistics count these), which may be larger than the kernel's. */
static size_t alloc_page(void) {
    size_t v = 0, sz = sizeof(v);
    expect_d_eq(mallctl("arenas.page", &v, &sz, NULL, 0), 0);
    return v;
}

static size_t resident(const void *p, size_t size) {
    size_t page = test_page_size(), n = size / page, r = 0;
    static unsigned char vec[(64 << 20) / 4096];
    if (n > sizeof(vec) || mincore((void *)p, size, vec) != 0)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r * page;
}

static const char *nm(const char *fmt, unsigned a) {
    static char buf[128];
    snprintf(buf, sizeof(buf), fmt, a);
    return buf;
}

static void epoch(void) {
    uint64_t e = 1;
    expect_d_eq(mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
}

static void set_decay(unsigned a, const char *which, ssize_t ms) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.%s_decay_ms", a, which);
    expect_d_eq(mallctl(name, NULL, NULL, &ms, sizeof(ms)), 0);
}

static unsigned new_arena(ssize_t dirty_ms, ssize_t muzzy_ms) {
    unsigned a = 0;
    size_t sz = sizeof(a);
    require_true(mallctl("arenas.create", &a, &sz, NULL, 0) == 0);
    set_decay(a, "dirty", dirty_ms);
    set_decay(a, "muzzy", muzzy_ms);
    return a;
}

static void *big_touched(unsigned a) {
    void *p = mallocx(BIG, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    require_ptr_not_null(p);
    memset(p, 0x3c, BIG);
    expect_zu_eq(resident(p, BIG), BIG);
    return p;
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void test_at_once_and_never(void) {
    unsigned a = new_arena(0, 0);
    void *p = big_touched(a);
    dallocx(p, MALLOCX_TCACHE_NONE);
    expect_zu_eq(resident(p, BIG), 0);
    epoch();
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pdirty", a)), 0);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.dirty_purged", a)) * alloc_page(), BIG);

    unsigned b = new_arena(-1, -1);
    p = big_touched(b);
    dallocx(p, MALLOCX_TCACHE_NONE);
    sleep_ms(50);
    /* Activity on the arena and an explicit decay do not purge with -1. */
    for (int i = 0; i < 200; i++) /* a large size, so no slab stays behind */
        dallocx(mallocx(BIG / 8, MALLOCX_ARENA(b) | MALLOCX_TCACHE_NONE), MALLOCX_TCACHE_NONE);
    expect_d_eq(mallctl(nm("arena.%u.decay", b), NULL, NULL, NULL, 0), 0);
    expect_zu_eq(resident(p, BIG), BIG);
    epoch();
    expect_zu_ge(test_ctl_size(nm("stats.arenas.%u.pdirty", b)) * alloc_page(), BIG);
    expect_zu_eq(test_ctl_u64(nm("stats.arenas.%u.dirty_purged", b)), 0);
    /* arena.<i>.purge returns it all. */
    expect_d_eq(mallctl(nm("arena.%u.purge", b), NULL, NULL, NULL, 0), 0);
    expect_zu_eq(resident(p, BIG), 0);
    epoch();
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pdirty", b)), 0);
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pmuzzy", b)), 0);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.dirty_purged", b)) * alloc_page(), BIG);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.dirty_npurge", b)), 1);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.dirty_nmadvise", b)), 1);
    expect_zu_ge(test_ctl_size(nm("stats.arenas.%u.retained", b)), BIG);
}

/* Freed pages stay for a while (a realloc loop does not refault), then go. */
static void test_timed(void) {
    unsigned a = new_arena(300, 0);
    void *p = big_touched(a);
    uint64_t t0 = test_ms_now();
    dallocx(p, MALLOCX_TCACHE_NONE);
    /* Nothing purges without an allocator call. */
    expect_zu_eq(resident(p, BIG), BIG);
    /*
     * Reused at once: the same, still resident pages. The first quarter (a purge step) may go
     * 100 ms into the window, so what is still resident is checked only if this came within 50.
     */
    void *q = mallocx(BIG, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    require_ptr_not_null(q);
    bool same = q == p;
    size_t r = resident(q, BIG);
    dallocx(q, MALLOCX_TCACHE_NONE);
    epoch();
    size_t pdirty = test_ctl_size(nm("stats.arenas.%u.pdirty", a)) * alloc_page();
    if (test_ms_now() - t0 < 50) {
        expect_true(same);
        expect_zu_eq(r, BIG);
        expect_zu_ge(pdirty, BIG);
    }
    /* After the window, the next activity (here arena.<i>.decay) returns them, however late. */
    sleep_ms(450);
    expect_d_eq(mallctl(nm("arena.%u.decay", a), NULL, NULL, NULL, 0), 0);
    expect_zu_eq(resident(p, BIG), 0);
    epoch();
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pdirty", a)), 0);
}

static void test_muzzy(void) {
    unsigned a = new_arena(0, -1); /* dirty pages go muzzy at once and stay muzzy */
    void *p = big_touched(a);
    dallocx(p, MALLOCX_TCACHE_NONE);
    epoch();
    size_t pmuzzy = test_ctl_size(nm("stats.arenas.%u.pmuzzy", a));
    if (pmuzzy == 0) {
        /* A kernel without MADV_FREE: pages skip the muzzy state. */
        expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pdirty", a)), 0);
        return;
    }
    expect_zu_ge(pmuzzy * alloc_page(), BIG);
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pdirty", a)), 0);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.dirty_purged", a)) * alloc_page(), BIG);
    /* Muzzy pages are reused before retained ones: the same address comes back. */
    void *q = mallocx(BIG, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    expect_ptr_eq(q, p);
    memset(q, 1, BIG);
    dallocx(q, MALLOCX_TCACHE_NONE);
    /* Setting muzzy decay to 0 returns them at once. */
    set_decay(a, "muzzy", 0);
    epoch();
    expect_zu_eq(test_ctl_size(nm("stats.arenas.%u.pmuzzy", a)), 0);
    expect_zu_ge(test_ctl_u64(nm("stats.arenas.%u.muzzy_purged", a)) * alloc_page(), BIG);
    expect_zu_eq(resident(p, BIG), 0);
}

/* malloc_trim(0) returns every purgeable page, free pages in the middle of the heap included. */
static void test_trim(void) {
    unsigned a = new_arena(-1, -1);
    void *lo = big_touched(a), *mid = big_touched(a), *hi = big_touched(a);
    dallocx(mid, MALLOCX_TCACHE_NONE);
    expect_zu_eq(resident(mid, BIG), BIG);
    malloc_trim(0);
    expect_zu_eq(resident(mid, BIG), 0);
    expect_zu_eq(resident(lo, BIG), BIG);
    expect_zu_eq(resident(hi, BIG), BIG);
    dallocx(lo, MALLOCX_TCACHE_NONE);
    dallocx(hi, MALLOCX_TCACHE_NONE);
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    test_at_once_and_never();
    test_timed();
    test_muzzy();
    test_trim();
    return test_done();
}
