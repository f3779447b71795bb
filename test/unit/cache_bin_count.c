/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A cache bin's request count is derived, not counted (tcache.h: nreq_adj + npush - ncached):
 * under a random run of every operation that moves a bin's stack (the fast paths' pop and push,
 * the slow paths' pop and push, fills and flushes through cache_bin_set_ncached, misses, the
 * fast path's pop undone, merges that take the count, folds of the push count), the derived
 * count always equals the requests counted here by hand, and what takes hand out adds up to all
 * of them; the pushes times the class size are the deallocated bytes tcache_pushed_bytes sums.
 */
#include "allocator/internal/tcache.h"
#include "unit.h"

#define CAP 64

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

int main(void) {
    sc_boot();
    static void *area[CAP + 8];
    static tcache_t tc;
    tcache_init(&tc, NULL, area, true);
    const unsigned bi = 1;
    /* Lay one bin over the area by hand: what the test needs, whatever tcache_max's sizes are. */
    cache_bin_t *cb = &tc.bins[bi];
    cb->stack = area + 8;
    cb->low = 8;
    cb->top = 8;
    cb->full = 8 + CAP;
    tc.active[0] |= (uint64_t)1 << bi;

    uint64_t requests = 0, taken = 0, pushes = 0;
    unsigned bad = 0;
    for (int step = 0; step < 200000; step++) {
        uint32_t n = cache_bin_ncached(cb);
        switch (rnd(9)) {
        case 0: /* malloc's fast path: a pop */
            if (n > 0) {
                cache_bin_top_dec(cb, cb->top);
                requests++;
            }
            break;
        case 1: /* free's fast path: a push, counted in npush */
            if (n < CAP) {
                area[cb->top] = &area[0];
                cache_bin_top_inc(cb);
                cb->npush++;
                pushes++;
            }
            break;
        case 2: /* the slow paths' pop of a request */
            if (n > 0) {
                (void)cache_bin_pop_slow(cb);
                requests++;
            }
            break;
        case 3: /* the slow paths' push of a free */
            if (n < CAP)
                cache_bin_push_slow(cb, &area[0]);
            break;
        case 4: /* a miss (the bin is empty): counted, then a fill that keeps all it got but
                 * the one handed out (tcache_alloc_small_miss), or none (a large class) */
            if (n == 0) {
                cache_bin_count_miss(cb);
                requests++;
                cache_bin_set_ncached(cb, rnd(CAP));
            }
            break;
        case 5: /* a flush */
            cache_bin_set_ncached(cb, rnd(n + 1));
            break;
        case 6: /* malloc_event undoes a pop (sampled): the request is not the bin's */
            if (n > 0 && n < CAP) {
                cache_bin_top_dec(cb, cb->top);
                requests++;
                cb->top++;
                requests--;
            }
            break;
        case 7: /* a merge into the arena */
            taken += cache_bin_nrequests_take(cb);
            break;
        case 8: /* a fold of the push count (tsd_counters_live, tcache re-made) */
            check_eq(tcache_pushes_fold(&tc), pushes * cb->size);
            pushes = 0;
            break;
        }
        if (cache_bin_nrequests(cb) + taken != requests && bad++ < 5)
            check_eq(cache_bin_nrequests(cb) + taken, requests);
        if (tcache_pushed_bytes(&tc) != pushes * cb->size && bad++ < 5)
            check_eq(tcache_pushed_bytes(&tc), pushes * cb->size);
    }
    check_eq(bad, 0);
    check_eq(cache_bin_nrequests_take(cb) + taken, requests);
    check_eq(cache_bin_nrequests(cb), 0);
    return unit_finish("cache_bin_count");
}
