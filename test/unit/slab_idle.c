/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Idle slabs (extent.h): a slab emptied past its bin's spares stays whole, registered, with its
 * bitmap, and the class's next new slab is that one (no page-allocator or radix-tree work); it
 * counts as dirty pages, not active ones; a double free into it is still caught; it goes back to
 * the page allocator when any other request reaches the page allocator (and that request may
 * take its pages; a sampled small block's extent only when no dirty extent fits it), when a
 * decay epoch ends (fake clock), on purge and on reset; with
 * dirty_decay_ms 0 there are none, and they stay within EXTENTS_IDLE_PAGES; validation notices
 * an idle slab with a region in use and a wrong page count.
 */
#include "allocator/internal/bin.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/purge.h"
#include "unit.h"

#define MS 1000000ull

static uint64_t fake_now = 1000 * MS;
static uint64_t fake_clock(void) { return fake_now; }

static extent_t *slab_of(const void *p) { return rtree_entry_extent(rtree_read(p)); }

static unsigned g_binind;
static bin_t *g_bin;
static extents_t *g_ex;

/*
 * Fill bin with nslabs slabs of class binind and free every region: the bin keeps its current
 * slab and its spares, the rest become idle. Returns how many slabs were made.
 */
static unsigned fill_and_empty(bin_t *bin, extents_t *ex, unsigned binind, unsigned nslabs) {
    unsigned nregs = bin_infos[binind].nregs;
    void **regs = calloc((size_t)nslabs * nregs, sizeof(void *));
    check_eq(bin_alloc_batch(bin, binind, ex, regs, nslabs * nregs, 0), nslabs * nregs);
    mutex_lock(&bin->lock);
    for (unsigned i = 0; i < nslabs * nregs; i++)
        bin_dalloc_locked(bin, binind, ex, slab_of(regs[i]), regs[i]);
    bin_validate(bin, binind);
    mutex_unlock(&bin->lock);
    free(regs);
    return nslabs;
}

static unsigned idle_count(const extents_t *ex, unsigned binind) {
    unsigned n = 0;
    for (const extent_t *s = ex->idle[binind]; s != NULL; s = s->next)
        n++;
    return n;
}

static void free_into_idle(void *p) {
    mutex_lock(&g_bin->lock);
    bin_dalloc_locked(g_bin, g_binind, g_ex, slab_of(p), p);
    mutex_unlock(&g_bin->lock);
}

/* Validation notices an idle slab that is not empty, and a wrong page count. */
static void validate_used_idle(void *arg) {
    extents_t *ex = arg;
    extent_t *s = ex->idle[g_binind];
    s->bitmap[0] &= ~(uint64_t)1; /* its first region in use behind the lists' back */
    extents_validate(ex);
}

static void validate_miscounted(void *arg) {
    extents_t *ex = arg;
    ex->idle_pages++;
    extents_validate(ex);
}

/* More slabs than the bin keeps as spares, so that some become idle. */
static unsigned slabs_past_spares(unsigned binind) {
    return (unsigned)(BIN_SPARE_BYTES / bin_infos[binind].slab_size) + 4;
}

static void test_reuse(void) {
    static extents_t ex;
    static bin_t bin;
    extents_init(&ex, 3, -1, -1, true);
    bin_init(&bin);
    unsigned binind = sz_size2index(256);
    const bin_info_t *info = &bin_infos[binind];
    size_t slab_pages = info->slab_size >> LG_PAGE;
    unsigned nslabs = slabs_past_spares(binind);
    fill_and_empty(&bin, &ex, binind, nslabs);
    size_t kept = BIN_SPARE_BYTES / info->slab_size;
    unsigned nidle = nslabs - 1 - (unsigned)kept; /* one is the current slab */
    check_eq(idle_count(&ex, binind), nidle);
    check_eq(ex.idle_pages, nidle * slab_pages);
    check_eq(bin.stats.curslabs, 1 + kept);
    check_eq(extents_npages(&ex, EXTENT_ACTIVE), (1 + kept) * slab_pages);
    check_eq(extents_npages(&ex, EXTENT_DIRTY), nidle * slab_pages);
    extents_validate(&ex);

    /* A double free into an idle slab is caught by its bitmap, and names the address. */
    void *victim = (void *)ex.idle[binind]->addr;
    g_binind = binind, g_bin = &bin, g_ex = &ex;
    char want[64];
    snprintf(want, sizeof(want), "free(%p): double free", victim);
    check(unit_aborts_with(free_into_idle, victim, want));
    check(unit_aborts_with(validate_used_idle, &ex, "is not an empty registered slab"));
    check(unit_aborts_with(validate_miscounted, &ex, "idle slabs hold"));

    /*
     * The next slabs the bin needs are its spares, then the idle slabs, most recent first: the
     * same extents, still registered, every region free; no page-allocator work.
     */
    size_t active = ex.npages_active;
    size_t bitmap_bytes = ex.bitmaps.bytes;
    extent_t *first_idle = ex.idle[binind];
    unsigned want_regs = (unsigned)(1 + kept + 1) * info->nregs;
    void **regs = calloc(want_regs, sizeof(void *));
    uint64_t nslabs_before = bin.stats.nslabs;
    check_eq(bin_alloc_batch(&bin, binind, &ex, regs, want_regs, 0), want_regs);
    check(slab_of(regs[want_regs - 1]) == first_idle);
    check(bin.slabcur == first_idle);
    check_eq(idle_count(&ex, binind), nidle - 1);
    check_eq(ex.idle_pages, (nidle - 1) * slab_pages);
    check_eq(bin.stats.nslabs, nslabs_before + 1);
    check_eq(ex.npages_active, active);
    check_eq(ex.bitmaps.bytes, bitmap_bytes);
    mutex_lock(&bin.lock);
    bin_validate(&bin, binind);
    mutex_unlock(&bin.lock);
    extents_validate(&ex);

    /*
     * Another class's request: the idle slabs go back to the dirty set first (where the freed
     * slabs would be without them), and it is carved from their pages, not from fresh ones.
     */
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (extent_t *s = ex.idle[binind]; s != NULL; s = s->next) {
        lo = s->addr < lo ? s->addr : lo;
        hi = s->addr + s->size > hi ? s->addr + s->size : hi;
    }
    check_eq(ex.dirty.npages, 0);
    unsigned other = sz_size2index(64);
    check(slab_pages <= (nidle - 1) * slab_pages);
    bin_t bin_other = {0}; /* bin_init takes zeroed memory */
    bin_init(&bin_other);
    void *r;
    check_eq(bin_alloc_batch(&bin_other, other, &ex, &r, 1, 0), 1);
    check_eq(ex.idle_pages, 0);
    check(ex.idle[binind] == NULL);
    check((uintptr_t)r >= lo && (uintptr_t)r < hi);
    extents_validate(&ex);
    free(regs);
}

/*
 * extent_alloc_keep_idle (a sampled small block's extent): a request that a dirty extent fits is
 * carved from it, and the idle slabs stay for their class; one that no dirty extent fits returns
 * them first. Before, such a request emptied every idle list, as any other does (test_reuse):
 * with heap profiling on, each sampled small block's 16 KiB extent did, so the next slab of every
 * class was made anew (bench/batch fifo 20000 120 made 4.7 times as many slabs, 10% more
 * instructions in all).
 */
static void test_dirty_fit_keeps_idle(void) {
    static extents_t ex;
    static bin_t bin;
    extents_init(&ex, 7, -1, -1, true);
    bin_init(&bin);
    unsigned binind = sz_size2index(256);
    bool zeroed;
    mutex_lock(&ex.lock);
    extent_t *big = extent_alloc(&ex, 16 * PAGE, PAGE, &zeroed);
    mutex_unlock(&ex.lock);
    check(big != NULL);
    uintptr_t lo = big->addr, hi = big->addr + big->size;
    fill_and_empty(&bin, &ex, binind, slabs_past_spares(binind));
    size_t idle = ex.idle_pages;
    check(idle != 0);
    mutex_lock(&ex.lock);
    extent_dalloc(&ex, big); /* a dirty extent of 16 pages */
    extent_t *e = extent_alloc_keep_idle(&ex, 4 * PAGE, PAGE, &zeroed);
    mutex_unlock(&ex.lock);
    check(e != NULL && e->addr >= lo && e->addr + e->size <= hi);
    check_eq(ex.idle_pages, idle);
    check(ex.idle[binind] != NULL);
    extents_validate(&ex);
    /* Larger than every dirty extent: the idle slabs go back first. */
    size_t need = 16 * PAGE;
    mutex_lock(&ex.lock);
    extent_t *f = extent_alloc_keep_idle(&ex, need, PAGE, &zeroed);
    mutex_unlock(&ex.lock);
    check(f != NULL);
    check_eq(ex.idle_pages, 0);
    check(ex.idle[binind] == NULL);
    extents_validate(&ex);
}

static void test_purge_reset(void) {
    static extents_t ex;
    static bin_t bin;
    extents_init(&ex, 4, -1, -1, true);
    bin_init(&bin);
    unsigned binind = sz_size2index(128);
    unsigned nslabs = slabs_past_spares(binind);
    fill_and_empty(&bin, &ex, binind, nslabs);
    check(ex.idle_pages != 0);
    uintptr_t addr = ex.idle[binind]->addr;
    /* Purging gives them back with the dirty pages: no slab there any more. */
    size_t purged = extents_purge_all(&ex);
    check(purged != 0);
    check_eq(ex.idle_pages, 0);
    check(ex.idle[binind] == NULL);
    check_eq(rtree_entry_binid(rtree_read((void *)addr)), 0);
    extents_validate(&ex);

    /* A reset (extents_release_all, every active extent freed) empties the lists first. */
    fill_and_empty(&bin, &ex, binind, nslabs);
    check(ex.idle_pages != 0);
    extents_release_all(&ex);
    check_eq(ex.idle_pages, 0);
    check(ex.idle[binind] == NULL);
    check_eq(ex.npages_active, 0);
    extents_validate(&ex);
}

static void test_decay(void) {
    static extents_t ex;
    static bin_t bin;
    extents_init(&ex, 5, 1000, 0, true); /* epochs of 5 ms */
    bin_init(&bin);
    extents_decay(&ex, fake_now); /* starts the clock */
    unsigned binind = sz_size2index(512);
    unsigned nslabs = slabs_past_spares(binind);
    fill_and_empty(&bin, &ex, binind, nslabs);
    size_t idle = ex.idle_pages;
    check(idle != 0);
    /* Within the epoch they stay; its end sends them to the dirty set, dated then. */
    fake_now += 1 * MS;
    extents_decay_step(&ex, fake_now);
    check_eq(ex.idle_pages, idle);
    /* A background thread must not sleep past that epoch's end. */
    check(extents_decay(&ex, fake_now) <= 5 * MS);
    fake_now += 5 * MS;
    size_t dirty = ex.dirty.npages;
    extents_decay_step(&ex, fake_now);
    check_eq(ex.idle_pages, 0);
    check_eq(ex.dirty.npages, dirty + idle);
    extents_validate(&ex);
}

static void test_no_idle(void) {
    /* dirty_decay_ms 0 purges freed pages at once: no slab stays idle. */
    static extents_t ex;
    static bin_t bin;
    extents_init(&ex, 6, 0, 0, true);
    bin_init(&bin);
    unsigned binind = sz_size2index(256);
    fill_and_empty(&bin, &ex, binind, slabs_past_spares(binind));
    check_eq(ex.idle_pages, 0);
    check(ex.idle[binind] == NULL);

    /* The budget: never more than EXTENTS_IDLE_PAGES pages, the rest freed. */
    static extents_t ex2;
    static bin_t bin2;
    extents_init(&ex2, 7, -1, -1, true);
    bin_init(&bin2);
    binind = sz_size2index(1024);
    unsigned nslabs = (unsigned)(EXTENTS_IDLE_PAGES / (bin_infos[binind].slab_size >> LG_PAGE)) + 8;
    fill_and_empty(&bin2, &ex2, binind, nslabs);
    check(ex2.idle_pages <= EXTENTS_IDLE_PAGES);
    check(ex2.idle_pages + (bin_infos[binind].slab_size >> LG_PAGE) > EXTENTS_IDLE_PAGES);
    check(ex2.dirty.npages != 0);
    extents_validate(&ex2);
}

int main(void) {
    pages_boot();
    sc_boot();
    nstime_hook = fake_clock;
    test_reuse();
    test_dirty_fit_keeps_idle();
    test_purge_reset();
    test_decay();
    test_no_idle();
    return unit_finish("slab_idle");
}
