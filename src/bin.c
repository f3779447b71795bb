/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bin: slab management for one size class of one arena (see bin.h). Called by tcache fills and
 * flushes and by the arena's no-cache paths, always under bin->lock; creating or returning a
 * slab nests the arena's extents lock inside it (rank order BIN < EXTENTS).
 */
#include "allocator/internal/bin.h"

#include <string.h>

#include "allocator/internal/io.h"

void bin_init(bin_t *bin) {
    /*
     * The bin is zero already, as a free, empty bin is: writing it again would make every bin's
     * page resident in a program that uses a few classes. Only the witness (debug builds)
     * reads the lock's rank.
     */
    if (config_debug) {
        for (size_t i = 0; i < sizeof(*bin); i++)
            assert(((const unsigned char *)bin)[i] == 0);
        mutex_init(&bin->lock, RANK_BIN);
    }
}

/*
 * Return an empty slab, which the bin no longer counts, to the page allocator: as an idle slab
 * (extent.h) that a fill of the class may take back whole, or (release) freed.
 */
static void bin_slab_dalloc(bin_t *bin, extents_t *ex, extent_t *slab, bool release) {
    bin->stats.curslabs--;
    mutex_lock(&ex->lock);
    if (release)
        extent_dalloc(ex, slab);
    else
        extent_slab_retire(ex, slab);
    mutex_unlock(&ex->lock);
}

size_t bin_spare_release(bin_t *bin, extents_t *ex) {
    mutex_lock(&bin->lock);
    size_t size = bin->spare_bytes;
    while (bin->spare != NULL) {
        extent_t *slab = bin->spare;
        bin->spare = slab->next;
        slab->next = NULL;
        bin_slab_dalloc(bin, ex, slab, true);
    }
    bin->spare_bytes = 0;
    mutex_unlock(&bin->lock);
    return size;
}

static void bin_nonfull_insert(bin_t *bin, extent_t *slab) {
    bin->stats.nonfull_slabs++;
    slab->prev = NULL;
    slab->next = bin->nonfull;
    if (slab->next != NULL)
        slab->next->prev = slab;
    bin->nonfull = slab;
}

static void bin_nonfull_remove(bin_t *bin, extent_t *slab) {
    bin->stats.nonfull_slabs--;
    if (slab->prev != NULL)
        slab->prev->next = slab->next;
    else
        bin->nonfull = slab->next;
    if (slab->next != NULL)
        slab->next->prev = slab->prev;
    slab->next = slab->prev = NULL;
}

/* Pick the non-full slab with the lowest address among the first few, to keep slabs dense. */
static extent_t *bin_nonfull_pick(bin_t *bin) {
    extent_t *best = bin->nonfull;
    unsigned n = 0;
    for (extent_t *s = best; s != NULL && n < 8; s = s->next, n++) {
        if (s->addr < best->addr)
            best = s;
    }
    if (best != NULL)
        bin_nonfull_remove(bin, best);
    return best;
}

static extent_t *bin_slab_new(bin_t *bin, unsigned binind, extents_t *ex) {
    const bin_info_t *info = &bin_infos[binind];
    bool zeroed;
    mutex_lock(&ex->lock);
    /* An idle slab of the class is still a registered slab, every region free. */
    extent_t *slab = extent_slab_reuse(ex, binind);
    if (slab != NULL) {
        mutex_unlock(&ex->lock);
        bin->stats.nslabs++;
        bin->stats.curslabs++;
        return slab;
    }
    slab = extent_alloc(ex, info->slab_size, PAGE, &zeroed);
    uint64_t *bitmap = slab != NULL ? slab_bitmap_new(&ex->bitmaps, slab, info->nregs) : NULL;
    if (slab != NULL && bitmap == NULL) {
        extent_dalloc(ex, slab); /* not yet a slab: it goes back as a plain extent */
        slab = NULL;
    }
    if (slab != NULL) {
        slab->slab = true;
        slab->bitmap = bitmap;
        slab->szind = (uint16_t)binind;
        slab_bitmap_init(slab, info->nregs);
        emap_register_slab(slab, binind);
    }
    mutex_unlock(&ex->lock);
    if (slab != NULL) {
        bin->stats.nslabs++;
        bin->stats.curslabs++;
    }
    return slab;
}

/* bin_alloc_batch's body: out[0..n) filled lowest address first, or (down) highest first. */
static ALWAYS_INLINE unsigned bin_alloc_batch_dir(bin_t *bin, unsigned binind, extents_t *ex,
                                                  void **out, unsigned n, uint64_t nrequests,
                                                  bool down) {
    const bin_info_t *info = &bin_infos[binind];
    unsigned got = 0;
    mutex_lock(&bin->lock);
    while (got < n) {
        extent_t *slab = bin->slabcur;
        if (slab == NULL || slab->nfree == 0) {
            slab = bin_nonfull_pick(bin);
            if (slab == NULL && (slab = bin->spare) != NULL) {
                bin->spare = slab->next;
                bin->spare_bytes -= slab->size;
                slab->next = NULL;
            }
            if (slab != NULL)
                bin->stats.nreslabs++;
            else if ((slab = bin_slab_new(bin, binind, ex)) == NULL)
                break;
            bin->slabcur = slab;
        }
        got += slab_regions_take_dir(slab, info->reg_size, down ? out + n - 1 - got : out + got,
                                     n - got, down);
    }
    bin->stats.nmalloc += got;
    bin->stats.curregs += got;
    bin->stats.nfills++;
    bin->stats.nrequests += nrequests;
    mutex_unlock(&bin->lock);
    if (down && got < n && got != 0)
        memmove(out, out + n - got, got * sizeof(void *)); /* out of memory: fewer came */
    return got;
}

unsigned bin_alloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **out, unsigned n,
                         uint64_t nrequests) {
    return bin_alloc_batch_dir(bin, binind, ex, out, n, nrequests, false);
}

unsigned bin_alloc_batch_down(bin_t *bin, unsigned binind, extents_t *ex, void **out, unsigned n,
                              uint64_t nrequests) {
    return bin_alloc_batch_dir(bin, binind, ex, out, n, nrequests, true);
}

/*
 * Regions were just returned to slab, which was full before them (was_full) or now is empty (or
 * both): move it between the lists, keep it as the spare, or give it back to ex. A slab that
 * was neither full nor empty is on the non-full list; slabcur is on no list and stays where it
 * is.
 */
static NOINLINE void bin_slab_freed(bin_t *bin, const bin_info_t *info, extents_t *ex,
                                    extent_t *slab, bool was_full) {
    if (slab == bin->slabcur)
        return;
    if (slab->nfree == info->nregs) {
        if (!was_full)
            bin_nonfull_remove(bin, slab);
        if (bin->spare_bytes + info->slab_size <= BIN_SPARE_BYTES) {
            slab->next = bin->spare;
            bin->spare = slab;
            bin->spare_bytes += info->slab_size;
        } else
            bin_slab_dalloc(bin, ex, slab, false);
    } else if (was_full) {
        bin_nonfull_insert(bin, slab);
    }
}

/*
 * Return ptr to slab (bin lock held). No statistics. Slabs have no tail (sc.c sizes them to a
 * whole number of regions) and ptr lies in slab's pages, so a region index whose offset
 * matches is in range.
 */
static ALWAYS_INLINE void bin_dalloc_one(bin_t *bin, const bin_info_t *info, extents_t *ex,
                                         extent_t *slab, void *ptr) {
    uintptr_t off = (uintptr_t)ptr - slab->addr;
    unsigned ind = sz_region_index(info, slab->addr, (uintptr_t)ptr);
    if (unlikely((size_t)ind * info->reg_size != off))
        io_fatal("free(%p): not the start of an allocation\n", ptr);
    if (unlikely(slab_bitmap_give(slab, ind)))
        io_fatal("free(%p): double free (found free in its slab)\n", ptr);
    if (unlikely(slab->nfree == 1 || slab->nfree == info->nregs))
        bin_slab_freed(bin, info, ex, slab, slab->nfree == 1);
}

/* The counts first: a slab transition is then the last call, a tail call. */
void bin_dalloc_locked(bin_t *bin, unsigned binind, extents_t *ex, extent_t *slab, void *ptr) {
    bin->stats.ndalloc++;
    bin->stats.curregs--;
    bin_dalloc_one(bin, &bin_infos[binind], ex, slab, ptr);
}

/*
 * The regions after p[0] (at a0, region ind of a slab of nregs) that continue a run of
 * consecutive regions of size reg_size, going up (d > 0) or down, as far as the slab and pend
 * allow: a run of one slab's regions in address order, as a cache flushes them when the program
 * freed them in the order it allocated them or the reverse.
 */
static ALWAYS_INLINE unsigned bin_run_len(void *const *p, void *const *pend, uintptr_t a0,
                                          intptr_t d, unsigned ind, unsigned nregs) {
    size_t room = d > 0 ? nregs - 1 - ind : ind, avail = (size_t)(pend - p) - 1;
    if (room > avail)
        room = avail;
    uintptr_t next = a0 + (uintptr_t)d;
    unsigned k = 0;
    while (k < room && (uintptr_t)p[k + 1] == next) {
        k++;
        next += (uintptr_t)d;
    }
    return k;
}

/*
 * Return the run of slab's regions that starts at p[0] and goes on with p[1], its neighbour up
 * or down: as far as it goes (bin_run_len), their bits are given a word at a time (a double free
 * among them aborts). Returns how many regions it took (2 or more).
 */
static NOINLINE unsigned bin_dalloc_run(void *const *p, void *const *pend, const extent_t *slab,
                                        const bin_info_t *info) {
    uintptr_t a0 = (uintptr_t)p[0], off = a0 - slab->addr;
    unsigned ind = sz_region_index(info, slab->addr, a0);
    if (unlikely((size_t)ind * info->reg_size != off))
        io_fatal("free(%p): not the start of an allocation\n", p[0]);
    intptr_t d = (intptr_t)((uintptr_t)p[1] - a0);
    unsigned k = bin_run_len(p, pend, a0, d, ind, info->nregs);
    unsigned lo = d > 0 ? ind : ind - k, hi = d > 0 ? ind + k : ind;
    uint64_t *bitmap = slab->bitmap, mask = ~(uint64_t)0 << (lo & 63);
    for (unsigned w = lo >> 6, wl = hi >> 6;; w++, mask = ~(uint64_t)0) {
        if (w == wl)
            mask &= ~(uint64_t)0 >> (63 - (hi & 63));
        uint64_t word = bitmap[w];
        if (unlikely(word & mask)) {
            unsigned dup = w * 64 + (unsigned)__builtin_ctzll(word & mask);
            io_fatal("free(%p): double free (found free in its slab)\n",
                     (void *)(slab->addr + (size_t)dup * info->reg_size));
        }
        bitmap[w] = word | mask;
        if (w == wl)
            return k + 1;
    }
}

unsigned bin_dalloc_batch(bin_t *bin, unsigned binind, extents_t *ex, void **ptrs,
                          rtree_entry_t *ents, unsigned n) {
    const bin_info_t *info = &bin_infos[binind];
    /*
     * Copies of what the loop reads: the bitmap's stores could alias the originals, and the
     * compiler would load each again for every region.
     */
    const unsigned arena_ind = ex->arena_ind;
    const uint64_t magic = info->div_magic;
    const size_t reg_size = info->reg_size;
    void **p = ptrs, **const pend = ptrs + n;
    rtree_entry_t *e = ents;
    unsigned kept = 0;
    /*
     * Regions of one slab usually come in a row (a fill took them in address order; the
     * entries are equal): each run of them is returned with the slab's fields in registers, and
     * the lists are looked at once for the run.
     */
    while (p < pend) {
        rtree_entry_t ent = *e;
        extent_t *slab = rtree_entry_extent(ent);
        /* The slab headers are the misses here: ask for a few ahead. */
        if (p + BIN_PREFETCH_AHEAD < pend)
            __builtin_prefetch(rtree_entry_extent(e[BIN_PREFETCH_AHEAD]), 1);
        if (slab->arena_ind != arena_ind) {
            do {
                ptrs[kept] = *p;
                ents[kept++] = ent;
                p++, e++;
            } while (*e == ent);
            continue;
        }
        unsigned nfree0 = slab->nfree, count = 0;
        /*
         * A slab's regions that come in address order, up or down (the program freed them in
         * the order it allocated them, or the reverse), are a run: region starts by construction,
         * their bits given a word at a time (bin_dalloc_run, out of line so that the loop below
         * keeps its registers). Tried where the slab's regions start: batch lifo 20000 20
         * spends 14 instructions a region here instead of 28 (batch lifo 4%, fifo 6% faster),
         * and a run that stops part way leaves the rest to the loop. Tried at every region, the
         * test cost random orders more than runs gained (batch random +10% instructions here).
         */
        if (e[1] == ent &&
            ((uintptr_t)p[1] - (uintptr_t)p[0] == reg_size ||
             (uintptr_t)p[0] - (uintptr_t)p[1] == reg_size)) {
            count = bin_dalloc_run(p, pend, slab, info);
            p += count, e += count;
        }
        uintptr_t addr = slab->addr;
        uint64_t *bitmap = slab->bitmap;
        if (count == 0 || *e == ent) do {
            uintptr_t off = (uintptr_t)*p - addr;
            unsigned ind = (unsigned)((off * magic) >> 32);
            if (unlikely((size_t)ind * reg_size != off))
                io_fatal("free(%p): not the start of an allocation\n", *p);
            uint64_t mask = (uint64_t)1 << (ind & 63), word = bitmap[ind >> 6];
            if (unlikely(word & mask))
                io_fatal("free(%p): double free (found free in its slab)\n", *p);
            bitmap[ind >> 6] = word | mask;
            count++;
            p++, e++;
        } while (*e == ent);
        unsigned nfree = nfree0 + count;
        slab->nfree = nfree;
        if (unlikely(nfree0 == 0 || nfree == info->nregs))
            bin_slab_freed(bin, info, ex, slab, nfree0 == 0);
    }
    ents[kept] = 0;
    bin->stats.ndalloc += n - kept;
    bin->stats.curregs -= n - kept;
    return kept;
}

COLD void bin_prefork(bin_t *bin) { mutex_lock(&bin->lock); }
COLD void bin_postfork_parent(bin_t *bin) { mutex_unlock(&bin->lock); }
COLD void bin_postfork_child(bin_t *bin) { mutex_postfork_child(&bin->lock); }

COLD void bin_validate(bin_t *bin, unsigned binind) {
    const bin_info_t *info = &bin_infos[binind];
    extent_t *cur = bin->slabcur;
    if (cur != NULL && (!cur->slab || cur->szind != binind || cur->bitmap == NULL))
        io_fatal("bin %u: current slab %p is not a slab of the bin\n", binind, (void *)cur->addr);
    if (cur != NULL && slab_bitmap_count(cur, info->nregs) != cur->nfree)
        io_fatal("bin %u: slab %p bitmap disagrees with nfree\n", binind, (void *)cur->addr);
    size_t nonfull = 0;
    for (extent_t *s = bin->nonfull; s != NULL; s = s->next, nonfull++) {
        if (!s->slab || s->szind != binind || s->bitmap == NULL || s->nfree == 0 ||
            s->nfree >= info->nregs)
            io_fatal("bin %u: slab %p on the non-full list is not non-full\n", binind,
                     (void *)s->addr);
        if (slab_bitmap_count(s, info->nregs) != s->nfree)
            io_fatal("bin %u: slab %p bitmap disagrees with nfree\n", binind, (void *)s->addr);
    }
    if (nonfull != bin->stats.nonfull_slabs)
        io_fatal("bin %u: %zu slabs on the non-full list, the bin counts %zu\n", binind, nonfull,
                 bin->stats.nonfull_slabs);
    size_t spare_bytes = 0;
    for (extent_t *sp = bin->spare; sp != NULL; sp = sp->next) {
        if (!sp->slab || sp->szind != binind || sp->bitmap == NULL || sp->nfree != info->nregs ||
            sp == bin->slabcur || slab_bitmap_count(sp, info->nregs) != sp->nfree)
            io_fatal("bin %u: spare slab %p is not an empty slab of the bin\n", binind,
                     (void *)sp->addr);
        spare_bytes += sp->size;
    }
    if (spare_bytes != bin->spare_bytes || spare_bytes > BIN_SPARE_BYTES)
        io_fatal("bin %u: spare slabs hold %zu bytes, the bin counts %zu\n", binind, spare_bytes,
                 bin->spare_bytes);
}
