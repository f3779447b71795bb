/*
 * decay: the smoothstep curve and the epoch bookkeeping of decay.h. Called by extent.c under an
 * arena's extents lock, by background threads through it, and by unit tests with a fake clock.
 * No clock is read here.
 */
#include "allocator/internal/decay.h"

#include <string.h>

/*
 * h[i] = x^2 (3 - 2x) with x = (i + 1) / NSTEPS, in 24-bit fixed point; written out by
 * decay_h_entry at compile time so nothing is computed at startup.
 */
#define DECAY_ONE ((uint64_t)1 << DECAY_FRAC_BITS)
#define DECAY_X(i) ((((uint64_t)(i) + 1) << DECAY_FRAC_BITS) / DECAY_NSTEPS)
#define DECAY_H(i)                                                                                 \
    ((uint32_t)(((DECAY_X(i) * DECAY_X(i)) >> DECAY_FRAC_BITS) *                                   \
                    (3 * DECAY_ONE - 2 * DECAY_X(i)) >>                                            \
                DECAY_FRAC_BITS))
#define DECAY_H4(i) DECAY_H(i), DECAY_H(i + 1), DECAY_H(i + 2), DECAY_H(i + 3)
#define DECAY_H20(i)                                                                               \
    DECAY_H4(i), DECAY_H4(i + 4), DECAY_H4(i + 8), DECAY_H4(i + 12), DECAY_H4(i + 16)
#define DECAY_H100(i)                                                                              \
    DECAY_H20(i), DECAY_H20(i + 20), DECAY_H20(i + 40), DECAY_H20(i + 60), DECAY_H20(i + 80)

const uint32_t decay_h[DECAY_NSTEPS] = {DECAY_H100(0), DECAY_H100(100)};

void decay_init(decay_t *d, ssize_t ms, size_t npages) {
    assert(decay_ms_valid(ms));
    memset(d, 0, sizeof(*d));
    d->ms = ms;
    d->interval_ns = ms > 0 ? (uint64_t)ms * 1000000 / DECAY_NSTEPS : 0;
    if (d->interval_ns == 0 && ms > 0)
        d->interval_ns = 1;
    d->nunpurged = npages;
}

/* The limit after k more epochs with no new pages: the backlog shifted k places. */
static size_t decay_limit_after(const decay_t *d, unsigned k) {
    if (k >= DECAY_NSTEPS)
        return 0;
    uint64_t sum = 0;
    for (unsigned i = k; i < DECAY_NSTEPS; i++)
        sum += (uint64_t)d->backlog[i] * decay_h[i - k];
    return (size_t)(sum >> DECAY_FRAC_BITS);
}

bool decay_advance(decay_t *d, uint64_t now_ns, size_t npages) {
    if (d->ms <= 0)
        return false;
    if (!d->started || now_ns < d->epoch_ns) {
        /* First use, or a clock that went backwards: start the epoch here. */
        d->started = true;
        d->epoch_ns = now_ns;
        decay_note(d, now_ns, npages); /* a date noted before a restart stands */
        return false;
    }
    uint64_t elapsed = now_ns - d->epoch_ns;
    if (elapsed < d->interval_ns) {
        decay_note(d, now_ns, npages);
        return false;
    }
    uint64_t nadvance = elapsed / d->interval_ns;
    d->epoch_ns += nadvance * d->interval_ns;
    /*
     * The pages freed since the last boundary (all within the epoch that began there, since any
     * later call would have processed it) are as many boundaries old as have passed since their
     * first noted free: nadvance, unless never noted, then 1 (as if freed just now).
     */
    uint64_t age = 1;
    if (d->fresh && d->fresh_ns < d->epoch_ns) {
        age = (d->epoch_ns - d->fresh_ns + d->interval_ns - 1) / d->interval_ns;
        if (age > nadvance)
            age = nadvance;
    }
    d->fresh = false;
    if (nadvance >= DECAY_NSTEPS) {
        memset(d->backlog, 0, sizeof(d->backlog));
    } else {
        size_t n = (size_t)nadvance;
        memmove(d->backlog, d->backlog + n, (DECAY_NSTEPS - n) * sizeof(d->backlog[0]));
        memset(d->backlog + DECAY_NSTEPS - n, 0, n * sizeof(d->backlog[0]));
    }
    /* Pages added since the last purge count as freed age epochs ago; past the window, gone. */
    if (age <= DECAY_NSTEPS)
        d->backlog[DECAY_NSTEPS - age] = npages > d->nunpurged ? npages - d->nunpurged : 0;
    d->limit = decay_limit_after(d, 0);
    return true;
}

void decay_purged(decay_t *d, size_t npages) {
    d->nunpurged = npages > d->limit ? npages : d->limit;
}

/* The limit k epoch boundaries from now, with no further frees (k >= 1). */
static size_t decay_limit_future(const decay_t *d, unsigned k, size_t unaccounted) {
    if (k > DECAY_NSTEPS)
        return 0;
    uint64_t sum = (uint64_t)unaccounted * decay_h[DECAY_NSTEPS - k];
    return decay_limit_after(d, k) + (size_t)(sum >> DECAY_FRAC_BITS);
}

uint64_t decay_ns_until_purge(const decay_t *d, uint64_t now_ns, size_t npages) {
    if (npages == 0 || d->ms < 0)
        return UINT64_MAX;
    if (d->ms == 0 || !d->started)
        return 0;
    /*
     * Pages freed during the current epoch enter the backlog at the next boundary. The limit
     * only falls as boundaries pass; find the first boundary k where it has fallen enough to be
     * worth a wakeup: by DECAY_WAKE_PAGES, or to zero for smaller amounts.
     */
    size_t unaccounted = npages > d->nunpurged ? npages - d->nunpurged : 0;
    size_t want = npages < DECAY_WAKE_PAGES ? npages : DECAY_WAKE_PAGES;
    unsigned lo = 1, hi = DECAY_NSTEPS + 1;
    /*
     * Pages not yet in the backlog were freed in the current epoch (decay_note dates them so):
     * at the k-th boundary from here they weigh h[NSTEPS - k]. Wake for the first boundary when
     * they alone are worth it, so that the epoch's bookkeeping is not left to a late call.
     */
    if (unaccounted >= want)
        hi = 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        size_t limit = decay_limit_future(d, mid, unaccounted);
        if (limit < npages && npages - limit >= want)
            hi = mid;
        else
            lo = mid + 1;
    }
    uint64_t due = d->epoch_ns + (uint64_t)lo * d->interval_ns;
    uint64_t ns = due > now_ns ? due - now_ns : 0;
    return ns < DECAY_MIN_SLEEP_NS ? DECAY_MIN_SLEEP_NS : ns;
}
