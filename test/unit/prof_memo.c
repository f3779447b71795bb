/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A thread that samples from both of the allocator's sampling functions in turn: malloc_event
 * (the malloc fast path popped a cached block and its countdown ran out) for a small block and
 * alloc_slow for a large one, from one call site of the program. Their first SPs differ, so
 * with one memo of its walks each switch found the memo made for the other one: every sample
 * walked the rows, recorded a new replay, and took prof_lock to find its stack. With one memo
 * per first SP (prof_tdata_t.memo), after the first of each every walk replays, and both
 * kinds of sample are counted in the same (stack, thread) counts without the lock
 * (prof_tdata_t.pend). prof_memo.conf: every allocation sampled.
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/rtree.h"
#include "unit.h"

static __attribute__((noinline)) void *site(size_t size) {
    void *p = malloc(size);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static prof_tctx_t *tctx_of(const void *p) {
    rtree_entry_t entry = rtree_read(p);
    check(rtree_entry_prof(entry));
    return rtree_entry_extent(entry)->prof_tctx;
}

int main(void) {
    free(malloc(1)); /* the allocator reads its options */
    check(opt_prof);
    if (!opt_prof)
        return unit_finish("prof_memo");
    /* Cached 64-byte blocks, so that a 64-byte malloc hits the fast path (not sampled yet). */
    atomic_store_relaxed(&prof_active, false);
    void *warm[32];
    for (int i = 0; i < 32; i++)
        warm[i] = malloc(64);
    for (int i = 0; i < 32; i++)
        free(warm[i]);
    atomic_store_relaxed(&prof_active, true);

    tsd_t *tsd = tsd_get();
    enum { ROUNDS = 100 };
    unsigned long replays0 = 0;
    prof_tctx_t *first = NULL;
    for (int i = 0; i < 2 * (ROUNDS + 4); i++) {
        if (i == 8) { /* both kinds walked and recorded once or twice by now */
            prof_tdata_t *td = tsd->prof_tdata;
            check(td != NULL);
            replays0 = td->memo[0].replays + td->memo[1].replays;
        }
        void *p = site(i & 1 ? (size_t)1 << 20 : 64); /* one call site, two entry functions */
        check(p != NULL);
        prof_tctx_t *t = tctx_of(p);
        check(t != NULL);
        if (i >= 8) {
            if (first == NULL)
                first = t;
            check(t == first); /* one stack: its program frames are the same */
            check(t->pinned && tsd->prof_tdata->pend_t == t);
        }
        free(p);
    }
    prof_tdata_t *td = tsd->prof_tdata;
    unsigned long replays = td->memo[0].replays + td->memo[1].replays - replays0;
    check_eq(replays, 2 * ROUNDS);
    check(td->memo[0].lo != 0 && td->memo[1].lo != 0 && td->memo[0].lo != td->memo[1].lo);
    check(td->last_same_as[0] != 0 && td->last_same_as[1] != 0);
    return unit_finish("prof_memo");
}
