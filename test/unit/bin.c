/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bin: a fill takes regions lowest address first, from the current slab, then the non-full slabs,
 * then new slabs, and counts them; every page of a new slab is registered in the address map; a
 * full slab that gets a region back joins the non-full list and is reused; an emptied slab that is
 * not the current one becomes a spare (up to BIN_SPARE_BYTES of them, taken by the next fills
 * before new slabs) or goes back to the page allocator; a batch free returns what is its arena's
 * and keeps the rest in order, each slab's run of regions at once (a full slab emptied by one run
 * is on no list after it), regions in address order a bitmap word at a time; a double free (also
 * twice in one batch) and a pointer inside a region abort with the address. A slab's bitmap is its
 * own (slab.h): in its descriptor for a slab of up to 128 regions (nothing from base, nothing
 * listed when it goes); else from base, as long as its class needs, recycled through the arena's
 * lists when the slab goes back to the page allocator (by the bin or by an arena reset) and taken
 * by the next slab of a class of that length; NULL in an extent that is not a slab.
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator/internal/bin.h"
#include "allocator/internal/pages.h"
#include "unit.h"

static extents_t ex, ex_other;
static bin_t bin;

static bool on_nonfull(const extent_t *slab) {
    for (const extent_t *s = bin.nonfull; s != NULL; s = s->next) {
        if (s == slab)
            return true;
    }
    return false;
}

static extent_t *slab_of(const void *p) { return rtree_entry_extent(rtree_read(p)); }

static bool region_free(const void *p, const bin_info_t *info) {
    const extent_t *slab = slab_of(p);
    unsigned ind = (unsigned)(((uintptr_t)p - slab->addr) / info->reg_size);
    return (slab->bitmap[ind / 64] >> (ind % 64)) & 1;
}

static unsigned g_binind;

static void free_twice(void *p) {
    mutex_lock(&bin.lock);
    bin_dalloc_locked(&bin, g_binind, &ex, slab_of(p), p);
    bin_dalloc_locked(&bin, g_binind, &ex, slab_of(p), p);
    mutex_unlock(&bin.lock);
}

/* A region marked free behind nfree's back: bin_validate must notice. */
static void corrupt_and_validate(void *p) {
    extent_t *slab = slab_of(p);
    unsigned ind = (unsigned)(((uintptr_t)p - slab->addr) / bin_infos[g_binind].reg_size);
    mutex_lock(&bin.lock);
    slab->bitmap[ind / 64] |= (uint64_t)1 << (ind % 64);
    bin_validate(&bin, g_binind);
    mutex_unlock(&bin.lock);
}

/* One region twice in one batch: both in one run of its slab (of g_bin's, from g_ex). */
static bin_t *g_bin = &bin;
static extents_t *g_ex = &ex;
static void batch_twice(void *p) {
    void *ptrs[2] = {p, p};
    rtree_entry_t ents[3] = {rtree_read(p), rtree_read(p), 0};
    mutex_lock(&g_bin->lock);
    bin_dalloc_batch(g_bin, g_binind, g_ex, ptrs, ents, 2);
    mutex_unlock(&g_bin->lock);
}

/* A batch of g_bin's regions, g_batch[0..g_batch_n), in that order (as a flush hands them). */
static void **g_batch;
static unsigned g_batch_n;
static void batch_given(void *unused) {
    (void)unused;
    rtree_entry_t *ents = calloc(g_batch_n + 1, sizeof(rtree_entry_t)); /* ents[n] == 0 */
    check(ents != NULL);
    for (unsigned i = 0; i < g_batch_n; i++)
        ents[i] = rtree_read(g_batch[i]);
    mutex_lock(&g_bin->lock);
    check_eq(bin_dalloc_batch(g_bin, g_binind, g_ex, g_batch, ents, g_batch_n), 0);
    bin_validate(g_bin, g_binind);
    mutex_unlock(&g_bin->lock);
    free(ents);
}

/* A whole slab of the bin in the regions of held (n of them) that is not the current slab. */
static extent_t *full_slab_in(void **held, unsigned n, unsigned nregs) {
    for (unsigned i = 0; i < n; i++) {
        if (held[i] == NULL)
            continue;
        extent_t *s = slab_of(held[i]);
        unsigned count = 0;
        for (unsigned j = 0; j < n; j++)
            count += held[j] != NULL && slab_of(held[j]) == s;
        if (count == nregs && s != bin.slabcur && s->nfree == 0)
            return s;
    }
    return NULL;
}

/* Hand back, in one batch, the regions of held that lie in slab (in held's order). */
static unsigned batch_free_slab(void **held, unsigned n, extent_t *slab, unsigned max) {
    void **ptrs = calloc(n, sizeof(void *));
    rtree_entry_t *ents = calloc(n + 1, sizeof(rtree_entry_t)); /* ents[k] == 0 (bin.h) */
    check(ptrs != NULL && ents != NULL);
    unsigned k = 0;
    for (unsigned i = 0; i < n && k < max; i++) {
        if (held[i] != NULL && slab_of(held[i]) == slab) {
            ptrs[k] = held[i];
            ents[k++] = rtree_read(held[i]);
            held[i] = NULL;
        }
    }
    mutex_lock(&bin.lock);
    check_eq(bin_dalloc_batch(&bin, g_binind, &ex, ptrs, ents, k), 0);
    bin_validate(&bin, g_binind);
    mutex_unlock(&bin.lock);
    free(ptrs);
    free(ents);
    return k;
}

/* A pointer inside a region, in a batch (its slab's entry, as a flush reads it). */
static void batch_interior(void *p) {
    void *q = (char *)p + bin_infos[g_binind].reg_size / 2;
    void *ptrs[1] = {q};
    rtree_entry_t ents[2] = {rtree_read(q), 0};
    mutex_lock(&bin.lock);
    bin_dalloc_batch(&bin, g_binind, &ex, ptrs, ents, 1);
    mutex_unlock(&bin.lock);
}

static void free_interior(void *p) {
    mutex_lock(&bin.lock);
    bin_dalloc_locked(&bin, g_binind, &ex, slab_of(p), (char *)p + bin_infos[g_binind].reg_size / 2);
    mutex_unlock(&bin.lock);
}

int main(void) {
    pages_boot();
    sc_boot();
    extents_init(&ex, 7, -1, -1, true);
    extents_init(&ex_other, 8, -1, -1, true);
    bin_init(&bin);
    /* 16-byte regions: more than a descriptor's bitmap holds at every page size. */
    unsigned binind = g_binind = sz_size2index(16);
    const bin_info_t *info = &bin_infos[binind];
    unsigned nregs = info->nregs;
    check(nregs >= 16 && !slab_bitmap_inline(nregs));

    /* A fill of more than a slab: the first slab whole, then the start of a second. */
    unsigned n = nregs + 10;
    void **out = calloc(2 * (size_t)nregs + 16, sizeof(void *));
    check_eq(bin_alloc_batch(&bin, binind, &ex, out, n, 3), n);
    extent_t *s1 = slab_of(out[0]), *s2 = slab_of(out[nregs]);
    check(s1 != s2);
    for (unsigned i = 0; i < n; i++) {
        extent_t *s = i < nregs ? s1 : s2;
        uintptr_t want = s->addr + (i < nregs ? i : i - nregs) * info->reg_size;
        check_eq((uintptr_t)out[i], want);
        rtree_entry_t entry = rtree_read(out[i]);
        check(rtree_entry_slab(entry));
        check_eq(rtree_entry_binid(entry), binind + 1);
        check_eq(rtree_read_base32(out[i]), (uint32_t)s->addr);
    }
    /*
     * Each slab has a bitmap of its own from base, outside its pages, of the length its class
     * needs (one list's worth: 2^k words), and nothing else took one.
     */
    unsigned k = slab_bitmap_list(nregs);
    check((8u << k) >= slab_bitmap_words(nregs) * 8 && (4u << k) < slab_bitmap_words(nregs) * 8 + 8);
    check(s1->bitmap != NULL && s2->bitmap != NULL && s1->bitmap != s2->bitmap);
    check((uintptr_t)s1->bitmap + (8u << k) <= s1->addr ||
          (uintptr_t)s1->bitmap >= s1->addr + s1->size);
    check_eq(ex.bitmaps.bytes, 2 * (8u << k));
    for (unsigned j = 0; j < SLAB_BITMAP_NLISTS; j++)
        check(ex.bitmaps.free[j] == NULL);
    check_eq(slab_bitmap_count(s1, nregs), 0);
    check_eq(slab_bitmap_count(s2, nregs), nregs - 10);
    /* Every page of a slab is registered, not only its boundaries. */
    for (uintptr_t a = s1->addr; a < s1->addr + s1->size; a += PAGE)
        check(slab_of((void *)a) == s1 && rtree_read_base32((void *)a) == (uint32_t)s1->addr);
    check_eq(s1->nfree, 0);
    check_eq(s2->nfree, nregs - 10);
    check_eq(s1->arena_ind, 7);
    check(bin.slabcur == s2);
    check(bin.nonfull == NULL);
    check_eq(bin.stats.nmalloc, n);
    check_eq(bin.stats.curregs, n);
    check_eq(bin.stats.nfills, 1);
    check_eq(bin.stats.nrequests, 3);
    check_eq(bin.stats.nslabs, 2);
    check_eq(bin.stats.curslabs, 2);
    check_eq(bin.stats.nreslabs, 0);
    check_eq(ex.npages_active, 2 * (info->slab_size >> LG_PAGE));

    /* A region back in the full slab: it becomes non-full, and is used once slabcur runs out. */
    mutex_lock(&bin.lock);
    bin_dalloc_locked(&bin, binind, &ex, s1, out[5]);
    bin_validate(&bin, binind);
    mutex_unlock(&bin.lock);
    check(region_free(out[5], info));
    check(on_nonfull(s1));
    check_eq(bin.stats.ndalloc, 1);
    check_eq(bin.stats.curregs, n - 1);
    void **more = out + n;
    check_eq(bin_alloc_batch(&bin, binind, &ex, more, nregs - 10 + 1, 0), nregs - 10 + 1);
    check(more[nregs - 10] == out[5]);
    check(slab_of(more[0]) == s2);
    check_eq(bin.stats.nreslabs, 1);
    check(bin.slabcur == s1);
    check(!on_nonfull(s1));
    check_eq(bin.stats.nslabs, 2);

    /*
     * s2 (not current) emptied: it becomes the bin's spare, off the non-full list but still a
     * registered slab counted in curslabs, so the next slab the bin needs costs no page-allocator
     * round trip. Releasing the spares gives it back to the page allocator and the map.
     */
    uintptr_t s2_addr = s2->addr;
    size_t s2_size = s2->size;
    uint64_t *s2_bitmap = s2->bitmap;
    mutex_lock(&bin.lock);
    for (unsigned i = nregs; i < n; i++)
        bin_dalloc_locked(&bin, binind, &ex, s2, out[i]);
    check(on_nonfull(s2));
    for (unsigned i = 0; i < nregs - 10; i++)
        bin_dalloc_locked(&bin, binind, &ex, s2, more[i]);
    bin_validate(&bin, binind);
    mutex_unlock(&bin.lock);
    check(!on_nonfull(s2));
    check(bin.spare == s2 && s2->next == NULL);
    check_eq(bin.spare_bytes, s2_size);
    check_eq(bin.stats.curslabs, 2);
    check_eq(ex.npages_active, 2 * (info->slab_size >> LG_PAGE));
    check(slab_of((void *)s2_addr) == s2);
    check(ex.bitmaps.free[k] == NULL);
    check_eq(bin_spare_release(&bin, &ex), s2_size);
    /* Its bitmap went to the arena's list; its extent, now free, has none. */
    check(ex.bitmaps.free[k] == s2_bitmap);
    check(emap_free_extent_at(s2_addr) != NULL && emap_free_extent_at(s2_addr)->bitmap == NULL);
    check(bin.spare == NULL);
    check_eq(bin.spare_bytes, 0);
    check_eq(bin.stats.curslabs, 1);
    check_eq(ex.npages_active, info->slab_size >> LG_PAGE);
    for (uintptr_t a = s2_addr; a < s2_addr + s2_size; a += PAGE) {
        check_eq(rtree_entry_binid(rtree_read((void *)a)), 0);
        check_eq(rtree_read_base32((void *)a), 0);
    }
    check_eq(bin_spare_release(&bin, &ex), 0);

    /* The current slab emptied stays: no slab churn for a bin that drains and refills. */
    mutex_lock(&bin.lock);
    for (unsigned i = 0; i < nregs; i++) {
        if (i != 5)
            bin_dalloc_locked(&bin, binind, &ex, s1, out[i]);
    }
    bin_dalloc_locked(&bin, binind, &ex, s1, more[nregs - 10]);
    mutex_unlock(&bin.lock);
    check(bin.slabcur == s1);
    check_eq(s1->nfree, nregs);
    check_eq(bin.stats.curslabs, 1);
    check_eq(bin.stats.curregs, 0);
    check_eq(bin.stats.ndalloc, bin.stats.nmalloc);
    check(slab_of(out[0]) == s1 && rtree_entry_slab(rtree_read(out[0])));

    /*
     * Slabs emptied one after the other by frees (another thread's, typically) while the bin
     * fills: spares are kept up to BIN_SPARE_BYTES, the rest go back; fills take the spares
     * (counted as reused slabs) before making new ones.
     */
    {
        unsigned nslabs = (unsigned)(BIN_SPARE_BYTES / info->slab_size) + 2;
        check(nslabs >= 3);
        void **many = calloc((size_t)nslabs * nregs + nregs, sizeof(void *));
        /* s1 (current, empty) is used up first, then nslabs new slabs. */
        check_eq(bin_alloc_batch(&bin, binind, &ex, many, (nslabs + 1) * nregs, 0),
                 (nslabs + 1) * nregs);
        uint64_t made = bin.stats.nslabs;
        /* The first new slab took the recycled bitmap; the others came from base. */
        check(ex.bitmaps.free[k] == NULL);
        check_eq(ex.bitmaps.bytes, (2 + nslabs - 1) * (8u << k));
        check(slab_of(many[nregs])->bitmap == s2_bitmap);
        size_t active = ex.npages_active;
        mutex_lock(&bin.lock);
        for (unsigned i = 0; i < nslabs * nregs; i++)
            bin_dalloc_locked(&bin, binind, &ex, slab_of(many[i]), many[i]);
        bin_validate(&bin, binind);
        mutex_unlock(&bin.lock);
        size_t kept = BIN_SPARE_BYTES / info->slab_size;
        size_t slab_pages = info->slab_size >> LG_PAGE;
        check_eq(bin.spare_bytes, kept * info->slab_size);
        check_eq(bin.stats.curslabs, 1 + kept);
        /*
         * The others became the arena's idle slabs (extent.h): still registered slabs of the
         * class, every region free, counted as dirty pages rather than active ones.
         */
        unsigned idle = 0;
        for (extent_t *s = ex.idle[binind]; s != NULL; s = s->next, idle++) {
            check_eq(s->nfree, nregs);
            check(slab_of((void *)s->addr) == s && rtree_entry_slab(rtree_read((void *)s->addr)));
        }
        check_eq(idle, nslabs - kept);
        check_eq(ex.idle_pages, (nslabs - kept) * slab_pages);
        check_eq(ex.npages_active, active);
        check_eq(extents_npages(&ex, EXTENT_ACTIVE), active - (nslabs - kept) * slab_pages);
        check_eq(extents_npages(&ex, EXTENT_DIRTY), ex.dirty.npages + (nslabs - kept) * slab_pages);
        check(ex.bitmaps.free[k] == NULL);
        extents_validate(&ex);
        /* Released (as decay, purge and reset do), they go back to the page allocator. */
        extents_idle_release(&ex);
        check_eq(ex.idle_pages, 0);
        check(ex.idle[binind] == NULL);
        check_eq(ex.npages_active, active - (nslabs - kept) * slab_pages);
        extents_validate(&ex);
        /* The slabs given back left their bitmaps on the list, one per slab. */
        unsigned listed = 0;
        for (uint64_t *b = ex.bitmaps.free[k]; b != NULL; b = (uint64_t *)(uintptr_t)b[0])
            listed++;
        check_eq(listed, nslabs - kept);
        uint64_t reslabs = bin.stats.nreslabs;
        check_eq(bin_alloc_batch(&bin, binind, &ex, many, (unsigned)kept * nregs, 0),
                 (unsigned)kept * nregs);
        check(bin.spare == NULL);
        check_eq(bin.spare_bytes, 0);
        check_eq(bin.stats.nslabs, made);
        check_eq(bin.stats.nreslabs, reslabs + kept);
        mutex_lock(&bin.lock);
        for (unsigned i = 0; i < (unsigned)kept * nregs; i++)
            bin_dalloc_locked(&bin, binind, &ex, slab_of(many[i]), many[i]);
        for (unsigned i = nslabs * nregs; i < (nslabs + 1) * nregs; i++)
            bin_dalloc_locked(&bin, binind, &ex, slab_of(many[i]), many[i]);
        bin_validate(&bin, binind);
        mutex_unlock(&bin.lock);
        check_eq(bin.stats.curregs, 0);
        free(many);
    }

    /*
     * A batch free with regions of two arenas' slabs (the same class): ours go back, the
     * others are kept, moved to the front in their order.
     */
    void *mine[4], *theirs[4];
    check_eq(bin_alloc_batch(&bin, binind, &ex, mine, 4, 0), 4);
    bin_t bin_other = {0}; /* bin_init takes zeroed memory */
    bin_init(&bin_other);
    check_eq(bin_alloc_batch(&bin_other, binind, &ex_other, theirs, 4, 0), 4);
    check_eq(slab_of(theirs[0])->arena_ind, 8);
    void *ptrs[8] = {theirs[0], mine[0],   mine[1],   theirs[1],
                     mine[2],   theirs[2], theirs[3], mine[3]};
    rtree_entry_t ents[9] = {0};
    for (int i = 0; i < 8; i++)
        ents[i] = rtree_read(ptrs[i]);
    uint64_t ndalloc = bin.stats.ndalloc;
    mutex_lock(&bin.lock);
    check_eq(bin_dalloc_batch(&bin, binind, &ex, ptrs, ents, 8), 4);
    mutex_unlock(&bin.lock);
    for (int i = 0; i < 4; i++) {
        check(ptrs[i] == theirs[i]);
        check(ents[i] == rtree_read(theirs[i]));
        check(region_free(mine[i], info));
        check(!region_free(theirs[i], info));
    }
    check_eq(bin.stats.ndalloc, ndalloc + 4);
    check_eq(bin_other.stats.curregs, 4);

    /*
     * A batch returns each slab's run of regions at once (its lists looked at once a run): a
     * full slab that gets some back joins the non-full list; one that gets all back in one run,
     * from full to empty, becomes a spare (or goes back to the page allocator) and is on no
     * list. Both once with a run from the middle of the batch.
     */
    {
        unsigned nregs = info->nregs, n = 3 * nregs + 1;
        void **held = calloc(n, sizeof(void *));
        check(held != NULL);
        check_eq(bin_alloc_batch(&bin, binind, &ex, held, n, 0), n);
        extent_t *s1 = full_slab_in(held, n, nregs);
        check(s1 != NULL);
        size_t nonfull = bin.stats.nonfull_slabs, curregs = bin.stats.curregs;
        check_eq(batch_free_slab(held, n, s1, nregs / 2), nregs / 2);
        check(on_nonfull(s1));
        check_eq(bin.stats.nonfull_slabs, nonfull + 1);
        check_eq(s1->nfree, nregs / 2);
        check_eq(batch_free_slab(held, n, s1, nregs), nregs - nregs / 2);
        check(!on_nonfull(s1));
        check_eq(bin.stats.nonfull_slabs, nonfull);
        extent_t *s2 = full_slab_in(held, n, nregs);
        check(s2 != NULL && s2 != s1);
        check_eq(batch_free_slab(held, n, s2, nregs), nregs);
        check(!on_nonfull(s2));
        check_eq(bin.stats.nonfull_slabs, nonfull);
        check_eq(bin.stats.curregs, curregs - 2 * nregs);
        mutex_lock(&bin.lock);
        for (unsigned i = 0; i < n; i++) {
            if (held[i] != NULL)
                bin_dalloc_locked(&bin, binind, &ex, slab_of(held[i]), held[i]);
        }
        bin_validate(&bin, binind);
        mutex_unlock(&bin.lock);
        free(held);
    }

    /* Misuse is caught by the bitmap and the region arithmetic, and names the address. */
    void *victim;
    check_eq(bin_alloc_batch(&bin, binind, &ex, &victim, 1, 0), 1);
    char want[64];
    snprintf(want, sizeof(want), "free(%p): double free", victim);
    check(unit_aborts_with(free_twice, victim, want));
    check(unit_aborts_with(batch_twice, victim, want));
    snprintf(want, sizeof(want), "free(%p): not the start",
             (void *)((char *)victim + info->reg_size / 2));
    check(unit_aborts_with(free_interior, victim, want));
    check(unit_aborts_with(batch_interior, victim, want));
    mutex_lock(&bin.lock);
    bin_validate(&bin, binind);
    mutex_unlock(&bin.lock);
    check(bin.slabcur == slab_of(victim));
    check(unit_aborts_with(corrupt_and_validate, victim, "bitmap disagrees with nfree"));
    check(!region_free(victim, info)); /* the children changed nothing here */

    /*
     * A class whose bitmap has another length takes a bitmap of that length from base, not one
     * from the other list; a large extent has no bitmap.
     */
    unsigned small = sz_size2index(32); /* 128 regions with 4 KiB pages: inline there */
    unsigned ks = slab_bitmap_list(bin_infos[small].nregs);
    if (!slab_bitmap_inline(bin_infos[small].nregs) && ks != k) {
        bin_t bin_small = {0}; /* bin_init takes zeroed memory */
        bin_init(&bin_small);
        uint64_t *listed_k = ex.bitmaps.free[k];
        size_t bytes = ex.bitmaps.bytes;
        void *r;
        check_eq(bin_alloc_batch(&bin_small, small, &ex, &r, 1, 0), 1);
        check(slab_of(r)->bitmap != NULL);
        check(ex.bitmaps.free[k] == listed_k);
        check_eq(ex.bitmaps.bytes, bytes + (8u << ks));
        check_eq(slab_bitmap_count(slab_of(r), bin_infos[small].nregs),
                 bin_infos[small].nregs - 1);
    }
    bool zeroed;
    mutex_lock(&ex.lock);
    extent_t *large = extent_alloc(&ex, 4 * PAGE, PAGE, &zeroed);
    check(large != NULL && large->bitmap == NULL && !large->slab);
    extent_dalloc(&ex, large);
    mutex_unlock(&ex.lock);

    /* An arena reset frees slabs without their bin: their bitmaps still go to the list. */
    uint64_t *theirs_bitmap = slab_of(theirs[0])->bitmap;
    check(ex_other.bitmaps.free[k] == NULL);
    mutex_lock(&ex_other.lock);
    extents_release_all(&ex_other);
    mutex_unlock(&ex_other.lock);
    check(ex_other.bitmaps.free[k] == theirs_bitmap);
    check_eq(ex_other.npages_active, 0);

    /*
     * A slab of at most EXTENT_BITS_INLINE * 64 regions keeps its bitmap in its descriptor's
     * first line: it takes nothing from base and lists nothing when it goes; the descriptor
     * reused for a large extent has no bitmap. A batch free and a double free in one batch
     * work on it as on any bitmap.
     */
    {
        unsigned inl = 0;
        for (unsigned i = 0; i < SC_NBINS && inl == 0; i++) {
            if (slab_bitmap_inline(bin_infos[i].nregs) && bin_infos[i].nregs >= 8)
                inl = i;
        }
        check(inl != 0);
        unsigned nr = bin_infos[inl].nregs;
        static extents_t ex_inl;
        extents_init(&ex_inl, 10, -1, -1, true);
        bin_t bin_inl = {0}; /* bin_init takes zeroed memory */
        bin_init(&bin_inl);
        unsigned ni = 2 * nr + 3;
        void **regs = calloc(ni, sizeof(void *));
        check_eq(bin_alloc_batch(&bin_inl, inl, &ex_inl, regs, ni, 0), ni);
        extent_t *a = slab_of(regs[0]), *b = slab_of(regs[nr]);
        check(a != b && a->bitmap == a->bits && b->bitmap == b->bits);
        check((uintptr_t)a->bits + sizeof(a->bits) <= (uintptr_t)a + CACHELINE);
        check_eq(ex_inl.bitmaps.bytes, 0);
        check_eq(slab_bitmap_count(a, nr), 0);
        check_eq(slab_bitmap_count(b, nr), 0);
        check_eq(slab_bitmap_count(slab_of(regs[2 * nr]), nr), nr - 3);
        /* Every region of a and b back in one batch: a run per slab, both emptied. */
        rtree_entry_t *re = calloc(2 * nr + 1, sizeof(rtree_entry_t)); /* re[2 * nr] == 0 */
        for (unsigned i = 0; i < 2 * nr; i++)
            re[i] = rtree_read(regs[i]);
        mutex_lock(&bin_inl.lock);
        check_eq(bin_dalloc_batch(&bin_inl, inl, &ex_inl, regs, re, 2 * nr), 0);
        bin_validate(&bin_inl, inl);
        mutex_unlock(&bin_inl.lock);
        check_eq(a->nfree, nr);
        check_eq(slab_bitmap_count(a, nr), nr);
        check_eq(bin_inl.stats.curregs, 3);
        /* A live region twice in one batch, and a freed one again. */
        void *last = regs[2 * nr];
        g_binind = inl;
        g_bin = &bin_inl;
        g_ex = &ex_inl;
        snprintf(want, sizeof(want), "free(%p): double free", last);
        check(unit_aborts_with(batch_twice, last, want));
        snprintf(want, sizeof(want), "free(%p): double free", regs[0]);
        check(unit_aborts_with(batch_twice, regs[0], want));
        g_binind = binind;
        g_bin = &bin;
        g_ex = &ex;
        check(!region_free(last, &bin_infos[inl])); /* the children changed nothing here */
        /* Released to the page allocator (an arena reset): nothing goes to the lists. */
        mutex_lock(&ex_inl.lock);
        extents_release_all(&ex_inl);
        mutex_unlock(&ex_inl.lock);
        for (unsigned j = 0; j < SLAB_BITMAP_NLISTS; j++)
            check(ex_inl.bitmaps.free[j] == NULL);
        check_eq(ex_inl.bitmaps.bytes, 0);
        mutex_lock(&ex_inl.lock);
        extent_t *lg = extent_alloc(&ex_inl, 4 * PAGE, PAGE, &zeroed);
        check(lg != NULL && lg->bitmap == NULL && !lg->slab);
        extent_dalloc(&ex_inl, lg);
        mutex_unlock(&ex_inl.lock);
        free(regs);
        free(re);
    }

    /*
     * A thread cache's fill takes its batch highest address first (bin_alloc_batch_down), the
     * same regions a fill in address order would take; when memory runs out part way, the
     * regions it had are at the front, still highest first.
     */
    {
        static extents_t ex_down;
        extents_init(&ex_down, 9, -1, -1, true);
        bin_t bin_a = {0}, bin_b; /* bin_init takes zeroed memory */
        bin_init(&bin_a);
        unsigned big = sz_size2index(2048);
        unsigned nb = bin_infos[big].nregs * 3 + 5;
        void **up = calloc(nb, sizeof(void *)), **down = calloc(nb, sizeof(void *));
        check_eq(bin_alloc_batch(&bin_a, big, &ex_down, up, nb, 0), nb);
        /* The same regions again, from a bin that gets the same slabs back. */
        mutex_lock(&bin_a.lock);
        for (unsigned i = 0; i < nb; i++)
            bin_dalloc_locked(&bin_a, big, &ex_down, slab_of(up[i]), up[i]);
        mutex_unlock(&bin_a.lock);
        bin_b = bin_a; /* its slabs, now empty (the test's own: no one else uses them) */
        check_eq(bin_alloc_batch_down(&bin_b, big, &ex_down, down, nb, 0), nb);
        /* Each slab's regions highest first; the slabs in the order the bin takes them. */
        unsigned runs = 1;
        for (unsigned i = 1; i < nb; i++) {
            if (slab_of(down[i]) == slab_of(down[i - 1]))
                check((uintptr_t)down[i] < (uintptr_t)down[i - 1]);
            else
                runs++;
        }
        check_eq(runs, (nb + bin_infos[big].nregs - 1) / bin_infos[big].nregs);
        /* Out of memory after the first chunk: fewer, at the front, highest first. */
        unsigned huge_n = (unsigned)(2 * CHUNK / bin_infos[big].reg_size);
        void **many = calloc(huge_n, sizeof(void *));
        for (unsigned i = 0; i < huge_n; i++)
            many[i] = (void *)1;
        pages_fail_after = 1;
        unsigned got = bin_alloc_batch_down(&bin_b, big, &ex_down, many, huge_n, 0);
        pages_fail_after = 0;
        check(got > 0 && got < huge_n);
        for (unsigned i = 1; i < got; i++) {
            if (slab_of(many[i]) == slab_of(many[i - 1]))
                check((uintptr_t)many[i] < (uintptr_t)many[i - 1]);
        }
        check(many[got - 1] != (void *)1 && slab_of(many[got - 1]) != NULL);
        free(up);
        free(down);
        free(many);

        /*
         * Whole bitmap words of free regions are handed out by address arithmetic (slab.h):
         * a fresh slab of 16-byte regions filled downward, one word whole and 6 regions of the
         * next, then upward from where that stopped (the second word's rest one bit at a time,
         * then whole words again).
         */
        static bin_t bin_w;
        bin_init(&bin_w);
        unsigned small = sz_size2index(16), nw = bin_infos[small].nregs;
        check(nw >= 192);
        void **w = calloc(nw, sizeof(void *));
        check_eq(bin_alloc_batch_down(&bin_w, small, &ex_down, w, 70, 0), 70);
        extent_t *ws = slab_of(w[69]);
        for (unsigned i = 0; i < 70; i++)
            check_eq((uintptr_t)w[69 - i], ws->addr + (uintptr_t)i * 16);
        check_eq(ws->nfree, nw - 70);
        check_eq(slab_bitmap_count(ws, nw), nw - 70);
        check_eq(ws->bitmap[0], 0);
        check_eq(ws->bitmap[1], ~(uint64_t)0 << 6);
        check_eq(bin_alloc_batch(&bin_w, small, &ex_down, w, 130, 0), 130);
        for (unsigned i = 0; i < 130; i++)
            check_eq((uintptr_t)w[i], ws->addr + (uintptr_t)(70 + i) * 16);
        check_eq(ws->nfree, nw - 200);
        check_eq(slab_bitmap_count(ws, nw), nw - 200);
        check_eq(ws->bitmap[3], ~(uint64_t)0 << 8);
        free(w);
    }

    free(out);
    /*
     * Regions handed back in address order, up or down, go back a run at a time (bin.c,
     * bin_dalloc_run): a whole slab of 16-byte regions down (one run over every word of its
     * bitmap); then up with one region missing (a run that stops there, the rest one at a
     * time); a double free in the middle of a run, and a run that starts inside a region, abort
     * naming the address.
     */
    {
        static extents_t ex_run;
        static bin_t bin_run;
        extents_init(&ex_run, 10, -1, -1, true);
        bin_init(&bin_run);
        g_bin = &bin_run;
        g_ex = &ex_run;
        g_binind = binind;
        unsigned nr = info->nregs;
        void **r = calloc(nr, sizeof(void *)), **b = calloc(nr, sizeof(void *));
        check(r != NULL && b != NULL);
        check_eq(bin_alloc_batch(&bin_run, binind, &ex_run, r, nr, 0), nr);
        extent_t *s = slab_of(r[0]);
#define REG(i) ((void *)(s->addr + (size_t)(i) * info->reg_size))
        for (unsigned i = 0; i < nr; i++)
            check(r[i] == REG(i));
        check(nr > 128 && s->nfree == 0);
        for (unsigned i = 0; i < nr; i++)
            b[i] = REG(nr - 1 - i);
        g_batch = b;
        g_batch_n = nr;
        batch_given(NULL);
        check_eq(s->nfree, nr);
        check_eq(slab_bitmap_count(s, nr), nr);
        check_eq(bin_run.stats.curregs, 0);
        check_eq(bin_alloc_batch(&bin_run, binind, &ex_run, r, nr, 0), nr);
        check(r[0] == REG(0) && r[nr - 1] == REG(nr - 1));
        unsigned m = 0;
        for (unsigned i = 0; i < nr; i++) {
            if (i != 50)
                b[m++] = REG(i);
        }
        g_batch_n = m;
        batch_given(NULL);
        check(!region_free(REG(50), info) && region_free(REG(49), info) &&
              region_free(REG(51), info) && region_free(REG(nr - 1), info));
        check_eq(s->nfree, nr - 1);
        check_eq(bin_run.stats.curregs, 1);
        check_eq(bin_alloc_batch(&bin_run, binind, &ex_run, r, nr - 1, 0), nr - 1);
        check_eq(s->nfree, 0);
        mutex_lock(&bin_run.lock);
        bin_dalloc_locked(&bin_run, binind, &ex_run, s, REG(70));
        mutex_unlock(&bin_run.lock);
        for (unsigned i = 0; i <= 20; i++)
            b[i] = REG(60 + i);
        g_batch_n = 21;
        snprintf(want, sizeof(want), "free(%p): double free", REG(70));
        check(unit_aborts_with(batch_given, NULL, want));
        b[0] = (char *)REG(5) + 8;
        b[1] = (char *)REG(6) + 8;
        g_batch_n = 2;
        snprintf(want, sizeof(want), "free(%p): not the start", b[0]);
        check(unit_aborts_with(batch_given, NULL, want));
        check_eq(s->nfree, 1); /* the children changed nothing here */
#undef REG
        g_bin = &bin;
        g_ex = &ex;
        free(r);
        free(b);
    }
    return unit_finish("bin");
}
