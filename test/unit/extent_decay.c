/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Decay inside the page allocator, driven by a fake clock: freed pages stay dirty at first and go
 * back gradually over dirty_decay_ms; with muzzy decay on they pass through MADV_FREE first;
 * pages freed before an epoch boundary that is processed late are dated by their free;
 * 0 purges at once and -1 never; reuse prefers dirty, then muzzy, then retained; a huge
 * request that no dirty extent fits purges the huge dirty extents it passed over, up to its size,
 * and leaves smaller ones; purge_all empties both states; retain:false unmaps a chunk that becomes wholly free. Residency is read
 * with mincore.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "allocator/internal/extent.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/purge.h"
#include "unit.h"

#define MS 1000000ull

static uint64_t fake_now = 1000 * MS;
static uint64_t fake_clock(void) { return fake_now; }

/* Resident pages of [addr, addr + size), or SIZE_MAX if the range is not mapped. */
static size_t resident_pages(uintptr_t addr, size_t size) {
    static unsigned char vec[1 << 16];
    size_t n = size / pages_os_page;
    if (n > sizeof(vec) || mincore((void *)addr, size, vec) != 0)
        return errno == ENOMEM ? SIZE_MAX : 0;
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    return r * pages_os_page / PAGE;
}

static extent_t *alloc_touched(extents_t *ex, size_t npages) {
    bool zeroed;
    extent_t *e = extent_alloc(ex, npages * PAGE, PAGE, &zeroed);
    check(e != NULL);
    if (e != NULL)
        memset((void *)e->addr, 0x5a, e->size);
    return e;
}

/* Enough pages that the curve purges them in many steps of DECAY_WAKE_PAGES. */
#define N_DIRTY (8 * DECAY_WAKE_PAGES)

static void test_dirty_decay(void) {
    static extents_t ex;
    extents_init(&ex, 0, 1000, 0, true);
    mutex_lock(&ex.lock);
    extents_decay(&ex, fake_now); /* starts the clock */
    extent_t *e = alloc_touched(&ex, N_DIRTY);
    uintptr_t addr = e->addr;
    extent_dalloc(&ex, e);
    check_eq(ex.dirty.npages, N_DIRTY);
    check_eq(resident_pages(addr, N_DIRTY * PAGE), N_DIRTY);
    /* Within the first epoch (5 ms) nothing goes; the epoch's end records the pages. */
    fake_now += 4 * MS;
    extents_decay(&ex, fake_now);
    check_eq(ex.dirty.npages, N_DIRTY);
    fake_now += 1 * MS;
    uint64_t next = extents_decay(&ex, fake_now);
    check_eq(ex.dirty.npages, N_DIRTY);
    check(next != UINT64_MAX && next >= DECAY_MIN_SLEEP_NS);
    /* Then they go gradually: some but not all a quarter of the way in, all after the window. */
    size_t prev = N_DIRTY, steps = 0;
    for (unsigned i = 0; i < 210; i++) {
        fake_now += 5 * MS;
        extents_decay(&ex, fake_now);
        check(ex.dirty.npages <= prev);
        steps += ex.dirty.npages < prev;
        prev = ex.dirty.npages;
        if (i == 50)
            check(ex.dirty.npages > 0 && ex.dirty.npages < N_DIRTY);
    }
    check_eq(ex.dirty.npages, 0);
    check(steps >= 4); /* several purges of about DECAY_WAKE_PAGES, not one */
    check_eq(ex.retained.npages * PAGE >= N_DIRTY * PAGE, 1);
    check_eq(resident_pages(addr, N_DIRTY * PAGE), 0);
    check(ex.purge_dirty.purged == N_DIRTY && ex.purge_dirty.nmadvise >= steps);
    check_eq(ex.purge_muzzy.purged, 0);
    check_eq(extents_decay(&ex, fake_now), UINT64_MAX); /* nothing left to wait for */
    /* Reused retained pages are reported zeroed. */
    bool zeroed;
    e = extent_alloc(&ex, N_DIRTY * PAGE, PAGE, &zeroed);
    check(e != NULL && e->addr == addr && zeroed);
    extent_dalloc(&ex, e);
    extents_validate(&ex);
    mutex_unlock(&ex.lock);
}

/*
 * Pages freed within the first epoch (here at the very time the clock started, as a coarse clock
 * often reports), then nothing until long after the window: they are gone at the first decay
 * call. They were once recorded by that call as freshly freed, and kept for another window.
 */
static void test_late_first_boundary(void) {
    static extents_t ex;
    extents_init(&ex, 0, 300, 0, true); /* epochs of 1.5 ms */
    mutex_lock(&ex.lock);
    extent_t *e = alloc_touched(&ex, N_DIRTY); /* the first tick starts the clock */
    uintptr_t addr = e->addr;
    extent_dalloc(&ex, e);
    check_eq(ex.dirty.npages, N_DIRTY);
    fake_now += 450 * MS;
    extents_decay(&ex, fake_now);
    check_eq(ex.dirty.npages, 0);
    check_eq(resident_pages(addr, N_DIRTY * PAGE), 0);

    /* The same after a quiet spell: a later free is dated by itself, not by the earlier one. */
    fake_now += 10000 * MS;
    e = alloc_touched(&ex, N_DIRTY);
    fake_now += 1 * MS;
    extent_dalloc(&ex, e);
    /* Halfway through its window about half may stay; the first call after it shows that. */
    fake_now += 150 * MS;
    extents_decay(&ex, fake_now);
    check(ex.dirty.npages >= N_DIRTY * 4 / 10 && ex.dirty.npages <= N_DIRTY * 6 / 10);
    /* And none one window (plus the epoch of the free) after the free. */
    fake_now += 152 * MS;
    extents_decay(&ex, fake_now);
    check_eq(ex.dirty.npages, 0);
    check_eq(ex.purge_dirty.purged, 2 * N_DIRTY);
    extents_validate(&ex);
    mutex_unlock(&ex.lock);
}

static void test_muzzy_and_reuse_order(void) {
    if (!pages_can_purge_lazy()) {
        fprintf(stderr, "extent_decay: no MADV_FREE here; muzzy part not run\n");
        return;
    }
    static extents_t ex;
    extents_init(&ex, 0, 100, -1, true); /* muzzy pages stay until muzzy decay is set below */
    mutex_lock(&ex.lock);
    extents_decay(&ex, fake_now);
    extent_t *a = alloc_touched(&ex, 64), *sep1 = alloc_touched(&ex, 1);
    extent_t *b = alloc_touched(&ex, 64), *sep2 = alloc_touched(&ex, 1);
    uintptr_t aaddr = a->addr, baddr = b->addr;
    extent_dalloc(&ex, a);
    /* a goes dirty -> muzzy over 100 ms, then stays muzzy for a while. */
    for (unsigned i = 0; i < 30; i++) {
        fake_now += 5 * MS;
        extents_decay(&ex, fake_now);
    }
    check_eq(ex.dirty.npages, 0);
    check_eq(ex.muzzy.npages, 64);
    check_eq(ex.purge_dirty.purged, 64);
    /* MADV_FREE leaves the pages mapped and (without memory pressure) resident. */
    check(resident_pages(aaddr, 64 * PAGE) != SIZE_MAX);
    extent_dalloc(&ex, b); /* b dirty */
    check_eq(ex.dirty.npages, 64);
    /* Reuse: dirty b first, then muzzy a (not zeroed), then retained (zeroed). */
    bool zeroed;
    extent_t *r1 = extent_alloc(&ex, 64 * PAGE, PAGE, &zeroed);
    check(r1 != NULL && r1->addr == baddr && !zeroed);
    extent_t *r2 = extent_alloc(&ex, 64 * PAGE, PAGE, &zeroed);
    check(r2 != NULL && r2->addr == aaddr && !zeroed);
    check_eq(ex.muzzy.npages, 0);
    extent_t *r3 = extent_alloc(&ex, 64 * PAGE, PAGE, &zeroed);
    check(r3 != NULL && zeroed);
    extent_dalloc(&ex, r3);
    extent_dalloc(&ex, r2);
    /* Muzzy pages go to retained over muzzy_decay_ms. */
    extents_decay_ms_set(&ex, true, 1000);
    for (unsigned i = 0; i < 260; i++) {
        fake_now += 5 * MS;
        extents_decay(&ex, fake_now);
    }
    check_eq(ex.dirty.npages, 0);
    check_eq(ex.muzzy.npages, 0);
    check(ex.purge_muzzy.purged >= 128);
    check_eq(resident_pages(aaddr, 64 * PAGE), 0);
    /* purge_all takes dirty and muzzy pages straight back. */
    extent_dalloc(&ex, r1);
    check_eq(ex.dirty.npages, 64);
    check_eq(extents_purge_all(&ex), 64);
    check_eq(ex.dirty.npages + ex.muzzy.npages, 0);
    check_eq(resident_pages(baddr, 64 * PAGE), 0);
    extent_dalloc(&ex, sep1);
    extent_dalloc(&ex, sep2);
    extents_validate(&ex);
    mutex_unlock(&ex.lock);
}

static void test_immediate_and_never(void) {
    static extents_t now_ex, never_ex;
    extents_init(&now_ex, 0, 0, 0, true);
    extents_init(&never_ex, 0, -1, 0, true);
    mutex_lock(&now_ex.lock);
    extent_t *e = alloc_touched(&now_ex, 32);
    uintptr_t addr = e->addr;
    extent_dalloc(&now_ex, e);
    check_eq(now_ex.dirty.npages, 0);
    check_eq(resident_pages(addr, 32 * PAGE), 0);
    mutex_unlock(&now_ex.lock);
    mutex_lock(&never_ex.lock);
    e = alloc_touched(&never_ex, 32);
    addr = e->addr;
    extent_dalloc(&never_ex, e);
    for (unsigned i = 0; i < 10; i++) {
        fake_now += 3600000 * MS;
        check_eq(extents_decay(&never_ex, fake_now), UINT64_MAX);
    }
    check_eq(never_ex.dirty.npages, 32);
    check_eq(resident_pages(addr, 32 * PAGE), 32);
    /* Changing the time to 0 purges at once. */
    extents_decay_ms_set(&never_ex, false, 0);
    check_eq(never_ex.dirty.npages, 0);
    check_eq(resident_pages(addr, 32 * PAGE), 0);
    mutex_unlock(&never_ex.lock);
}

static void test_retain(void) {
    static extents_t keep, unmap;
    extents_init(&keep, 0, 0, 0, true);
    extents_init(&unmap, 0, 0, 0, false);
    mutex_lock(&keep.lock);
    extent_t *e = alloc_touched(&keep, 3 * CHUNK / PAGE);
    uintptr_t addr = e->addr;
    size_t mapped = keep.mapped;
    extent_dalloc(&keep, e);
    check_eq(keep.mapped, mapped); /* address space kept */
    check_eq(resident_pages(addr, 3 * CHUNK), 0);
    check_eq(keep.nchunks_unmapped, 0);
    mutex_unlock(&keep.lock);

    mutex_lock(&unmap.lock);
    extent_t *small = alloc_touched(&unmap, 4); /* keeps its chunk partly in use */
    e = alloc_touched(&unmap, 3 * CHUNK / PAGE);
    addr = e->addr;
    mapped = unmap.mapped;
    extent_dalloc(&unmap, e);
    check_eq(unmap.mapped, mapped - 3 * CHUNK);
    check_eq(unmap.nchunks_unmapped, 1);
    check_eq(resident_pages(addr, 3 * CHUNK), SIZE_MAX); /* unmapped */
    extents_validate(&unmap);
    /* The chunk that still holds something stays; once empty it goes too. */
    extent_dalloc(&unmap, small);
    check_eq(unmap.nchunks_unmapped, 2);
    check_eq(unmap.mapped, 0);
    check(unmap.chunks == NULL);
    /* And memory is had again afterwards. */
    e = alloc_touched(&unmap, 8);
    check(e != NULL);
    extent_dalloc(&unmap, e);
    extents_validate(&unmap);
    mutex_unlock(&unmap.lock);
}

/*
 * Huge blocks of varying sizes: a request of a chunk or more that fits no dirty extent takes
 * fresh pages, so the dirty extents of a chunk or more that it passed over go back (least
 * recently freed first, whole, until its size is reached) instead of staying resident beside it
 * for the decay window; dirty extents below a chunk stay for reuse.
 */
static void test_huge_purges_passed_over(void) {
    static extents_t ex;
    extents_init(&ex, 0, 10000, 0, true); /* a long window: decay purges nothing here */
    mutex_lock(&ex.lock);
    extents_decay(&ex, fake_now);
    size_t chunk_pages = CHUNK / PAGE;
    extent_t *s1 = alloc_touched(&ex, 8);
    extent_t *s2 = alloc_touched(&ex, 8); /* keeps s1's pages from coalescing with the rest */
    extent_t *a = alloc_touched(&ex, 3 * chunk_pages);
    extent_t *b = alloc_touched(&ex, 2 * chunk_pages);
    extent_t *c = alloc_touched(&ex, 2 * chunk_pages);
    uintptr_t s1_addr = s1->addr, a_addr = a->addr, b_addr = b->addr, c_addr = c->addr;
    extent_dalloc(&ex, s1);
    extent_dalloc(&ex, a);
    extent_dalloc(&ex, b);
    extent_dalloc(&ex, c);
    check_eq(ex.dirty.npages, 8 + 7 * chunk_pages);
    check_eq(ex.purge_dirty.purged, 0);
    /* Four chunks fit none: a (oldest huge, 3 chunks) and b (2) go, whole; c, the newest, and
     * the small s1 stay dirty and resident. */
    extent_t *big = alloc_touched(&ex, 4 * chunk_pages);
    check_eq(ex.purge_dirty.purged, 5 * chunk_pages);
    check_eq(ex.dirty.npages, 8 + 2 * chunk_pages);
    check_eq(resident_pages(a_addr, 3 * CHUNK), 0);
    check_eq(resident_pages(b_addr, 2 * CHUNK), 0);
    check_eq(resident_pages(c_addr, 2 * CHUNK), 2 * chunk_pages);
    check_eq(resident_pages(s1_addr, 8 * PAGE), 8);
    /* Below a chunk, a request that fits no dirty extent purges nothing. */
    extent_t *s3 = alloc_touched(&ex, chunk_pages - 8);
    extent_dalloc(&ex, s3);
    size_t purged = ex.purge_dirty.purged;
    extent_t *s4 = alloc_touched(&ex, 16);
    check_eq(ex.purge_dirty.purged, purged);
    extents_validate(&ex);
    extent_dalloc(&ex, s4);
    extent_dalloc(&ex, big);
    extent_dalloc(&ex, s2);
    extents_purge_all(&ex);
    check_eq(ex.dirty.npages, 0);
    mutex_unlock(&ex.lock);
}

int main(void) {
    pages_boot();
    sc_boot();
    nstime_hook = fake_clock;
    test_dirty_decay();
    test_late_first_boundary();
    test_muzzy_and_reuse_order();
    test_immediate_and_never();
    test_huge_purges_passed_over();
    test_retain();
    return unit_finish("extent_decay");
}
