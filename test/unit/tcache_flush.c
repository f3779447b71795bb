/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Thread-cache flush: a flush returns the oldest regions and keeps the newest, in order, at the
 * bottom of the bin; a batch holding regions of two arenas returns each to its own arena's bin
 * (one lock pass per arena, counted as one flush each); the cache's request count goes to the
 * thread's own arena and nowhere else; large cached classes go back the same way; and no flush
 * is left published (tcache_t.flushing) once it is done. A bin that overflows without an
 * allocation since its count was last merged is flushed whole, and cut to the freer size
 * (TCACHE_FREER_BYTES), else half of it is flushed; a cut bin grows back when it runs dry.
 */
#include "allocator.h"
#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

#define N 16


/* Replace the bin's count of requests since its last merge (tcache.h: a derived count). */
static void cache_bin_nrequests_set(cache_bin_t *cb, uint64_t n) {
    cb->nreq_adj += n - cache_bin_nrequests(cb);
    check_eq(cache_bin_nrequests(cb), n);
}
static extent_t *slab_of(const void *p) { return rtree_entry_extent(rtree_read(p)); }

static bool region_free(const void *p) {
    const extent_t *slab = slab_of(p);
    const bin_info_t *info = &bin_infos[slab->szind];
    unsigned ind = (unsigned)(((uintptr_t)p - slab->addr) / info->reg_size);
    return (slab->bitmap[ind / 64] >> (ind % 64)) & 1;
}

static unsigned count_in(void *const *p, unsigned from, unsigned to, unsigned arena_ind) {
    unsigned n = 0;
    for (unsigned i = from; i < to; i++)
        n += slab_of(p[i])->arena_ind == arena_ind;
    return n;
}

int main(void) {
    tcache_t *tc = unit_thread_cache();
    arena_t *a = tc->arena;
    unsigned b_ind;
    size_t sz = sizeof(b_ind);
    check_eq(mallctl("arenas.create", &b_ind, &sz, NULL, 0), 0);
    arena_t *b = arena_get(b_ind);
    check(a != NULL && b != NULL && a != b);

    unsigned ind = sz_size2index(96);
    unsigned bi = ind + 1;
    cache_bin_t *cb = &tc->bins[bi];
    check(cache_bin_ncached_max(cb) >= N);
    tcache_flush_bin(tc, bi, 0);
    check_eq(cache_bin_ncached(cb), 0);

    /*
     * Regions of both arenas, freed into this thread's cache in the order A A B A B B A B ...:
     * the oldest twelve are flushed, the newest four (B A B A) kept.
     */
    static const char pattern[N + 1] = "AABABBABBAABBABA";
    void *p[N];
    for (unsigned i = 0; i < N; i++) {
        unsigned ai = pattern[i] == 'A' ? a->ind : b_ind;
        p[i] = mallocx(96, MALLOCX_ARENA(ai) | MALLOCX_TCACHE_NONE);
        check(p[i] != NULL);
        check_eq(slab_of(p[i])->arena_ind, ai);
    }
    for (unsigned i = 0; i < N; i++)
        free(p[i]);
    check_eq(cache_bin_ncached(cb), N);
    for (unsigned i = 0; i < N; i++)
        check(!region_free(p[i])); /* in the cache, not in a slab */

    bin_stats_t sa = a->bins[ind].stats, sb = b->bins[ind].stats;
    unsigned fa = count_in(p, 0, 12, a->ind), fb = count_in(p, 0, 12, b_ind);
    check(fa > 0 && fb > 0 && fa + fb == 12);
    cache_bin_nrequests_set(cb, 5);
    tcache_flush_bin(tc, bi, 4);
    check_eq(cache_bin_ncached(cb), 4);
    for (unsigned i = 0; i < 4; i++)
        check(cb->stack[i] == p[12 + i]);
    for (unsigned i = 0; i < N; i++)
        check(region_free(p[i]) == (i < 12));
    check_eq(a->bins[ind].stats.ndalloc, sa.ndalloc + fa);
    check_eq(b->bins[ind].stats.ndalloc, sb.ndalloc + fb);
    check_eq(a->bins[ind].stats.curregs, sa.curregs - fa);
    check_eq(b->bins[ind].stats.curregs, sb.curregs - fb);
    check_eq(a->bins[ind].stats.nflushes, sa.nflushes + 1);
    check_eq(b->bins[ind].stats.nflushes, sb.nflushes + 1);
    check_eq(a->bins[ind].stats.nrequests, sa.nrequests + 5);
    check_eq(b->bins[ind].stats.nrequests, sb.nrequests);
    check_eq(cache_bin_nrequests(cb), 0);
    check_eq(tc->nflushing, 0);

    /* The rest, the other arena's region first: the requests still go to the thread's arena. */
    check_eq(slab_of(p[12])->arena_ind, b_ind);
    sa = a->bins[ind].stats, sb = b->bins[ind].stats;
    cache_bin_nrequests_set(cb, 7);
    tcache_flush_bin(tc, bi, 0);
    check_eq(cache_bin_ncached(cb), 0);
    for (unsigned i = 12; i < N; i++)
        check(region_free(p[i]));
    check_eq(a->bins[ind].stats.ndalloc, sa.ndalloc + 2);
    check_eq(b->bins[ind].stats.ndalloc, sb.ndalloc + 2);
    check_eq(a->bins[ind].stats.nrequests, sa.nrequests + 7);
    check_eq(b->bins[ind].stats.nrequests, sb.nrequests);
    check_eq(tc->nflushing, 0);

    /* Only the other arena's regions: its bin takes them, and not this cache's requests. */
    void *q[3];
    for (unsigned i = 0; i < 3; i++)
        q[i] = mallocx(96, MALLOCX_ARENA(b_ind) | MALLOCX_TCACHE_NONE);
    for (unsigned i = 0; i < 3; i++)
        free(q[i]);
    sa = a->bins[ind].stats, sb = b->bins[ind].stats;
    cache_bin_nrequests_set(cb, 9);
    tcache_flush_bin(tc, bi, 0);
    check_eq(b->bins[ind].stats.ndalloc, sb.ndalloc + 3);
    check_eq(b->bins[ind].stats.nflushes, sb.nflushes + 1);
    check_eq(b->bins[ind].stats.nrequests, sb.nrequests);
    check_eq(a->bins[ind].stats.nflushes, sa.nflushes);
    check_eq(a->bins[ind].stats.nrequests, sa.nrequests);
    check_eq(cache_bin_nrequests(cb), 9);
    check_eq(tc->nflushing, 0);

    /*
     * A bin that overflows with no allocation of its class since the count's last merge and no
     * fill since the GC's last visit (a thread that only frees another thread's blocks) is
     * flushed whole: a flush of half would only halve the batch each bin lock takes. With
     * allocations, or a recent fill, half is kept.
     */
    {
        unsigned max = cache_bin_ncached_max(cb);
        void **r = calloc(max, sizeof(void *));
        static const int rounds[4] = {1, 2, 3, 0}; /* the whole flush (0) last: it cuts the bin */
        for (int k = 0; k < 4; k++) {
            int round = rounds[k];
            /* 3: this thread's own arena's blocks; else the other arena's. */
            arena_t *owner = round == 3 ? a : b;
            for (unsigned i = 0; i < max; i++)
                r[i] = mallocx(96, MALLOCX_ARENA(owner->ind) | MALLOCX_TCACHE_NONE);
            for (unsigned i = 0; i < max; i++)
                free(r[i]);
            check_eq(cache_bin_ncached(cb), max);
            cb->missed = 0; /* not run dry: the overflow flushes rather than grows */
            /* 0, 3: no allocation at all; 1: allocations; 2: none since a fill (which merged). */
            cache_bin_nrequests_set(cb, round == 1 ? 3 : 0);
            cb->dried = round == 2;
            sb = owner->bins[ind].stats;
            size_t grown = tc->grown_bytes;
            tcache_bin_overflow(tc, bi);
            /*
             * Flushed whole, the bin is also cut to the freer size (bytes given back) when the
             * blocks were another arena's; this thread's own blocks leave it as it was.
             */
            unsigned after = round == 0 ? tcache_nslots_freer(ind) : max;
            check_eq(cache_bin_ncached_max(cb), after);
            check_eq(tc->grown_bytes, grown - (size_t)(max - after) * 96);
            unsigned kept = round == 0 || round == 3 ? 0 : max / 2;
            check_eq(cache_bin_ncached(cb), kept);
            check_eq(owner->bins[ind].stats.ndalloc, sb.ndalloc + (max - kept));
            for (unsigned i = 0; i < max; i++)
                check(region_free(r[i]) == (i < max - kept));
            tcache_flush_bin(tc, bi, 0);
        }
        /*
         * Cut, because max exceeds 16 KiB of 96-byte regions; and never to less than
         * TCACHE_FREER_NSLOTS_MIN regions, nor above the bin's size.
         */
        check(tcache_nslots_freer(ind) < max);
        check_eq(tcache_nslots_freer(ind), TCACHE_FREER_BYTES / 96);
        unsigned k1 = sz_size2index(2048), k4 = sz_size2index(4096);
        check(TCACHE_FREER_BYTES / 2048 < TCACHE_FREER_NSLOTS_MIN);
        check_eq(tcache_nslots_freer(k1), TCACHE_FREER_NSLOTS_MIN < tcache_nslots_share(k1)
                                              ? TCACHE_FREER_NSLOTS_MIN
                                              : tcache_nslots_share(k1));
        check_eq(tcache_nslots_freer(k4), tcache_nslots_share(k4)); /* 8 regions: not above */
        check(tcache_nslots_freer(sz_size2index(16)) <= tcache_nslots_share(sz_size2index(16)));
        /*
         * A thread that allocates the class again grows the bin back the usual way: it runs
         * dry (missed), then overflows, and the bin doubles.
         */
        unsigned cut = cache_bin_ncached_max(cb);
        for (unsigned i = 0; i < cut; i++)
            r[i] = mallocx(96, MALLOCX_TCACHE_NONE);
        for (unsigned i = 0; i < cut; i++)
            free(r[i]);
        check_eq(cache_bin_ncached(cb), cut);
        cb->missed = 1;
        tcache_bin_overflow(tc, bi);
        check_eq(cache_bin_ncached_max(cb), 2 * cut < max ? 2 * cut : max);
        tcache_flush_bin(tc, bi, 0);
        free(r);
    }

    /* A cached large class: each block goes back to its own arena's large statistics. */
    unsigned lind = sz_size2index(4 * PAGE);
    check(lind >= SC_NBINS);
    if (lind < tc->nhbins) {
        cache_bin_t *lb = &tc->bins[lind + 1];
        tcache_flush_bin(tc, lind + 1, 0);
        void *la = mallocx(4 * PAGE, MALLOCX_ARENA(a->ind) | MALLOCX_TCACHE_NONE);
        void *lbk = mallocx(4 * PAGE, MALLOCX_ARENA(b_ind) | MALLOCX_TCACHE_NONE);
        free(la);
        free(lbk);
        check_eq(cache_bin_ncached(lb), 2);
        uint64_t da = a->lstats[lind - SC_NBINS].ndalloc, db = b->lstats[lind - SC_NBINS].ndalloc;
        tcache_flush_bin(tc, lind + 1, 0);
        check_eq(cache_bin_ncached(lb), 0);
        check_eq(a->lstats[lind - SC_NBINS].ndalloc, da + 1);
        check_eq(b->lstats[lind - SC_NBINS].ndalloc, db + 1);
        check_eq(tc->nflushing, 0);
    } else {
        fprintf(stderr, "tcache_flush: large classes not cached here, that part skipped\n");
    }
    return unit_finish("tcache_flush");
}
