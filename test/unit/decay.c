/*
 * Decay arithmetic with a fake clock: the smoothstep table, epoch advance, how many pages the
 * backlog allows as time passes, how pages freed before a late-processed boundary are dated, and
 * when a background thread should wake.
 */
#include <string.h>

#include "allocator/internal/decay.h"
#include "unit.h"

#define MS 1000000ull /* nanoseconds per millisecond */

static decay_t d;

/*
 * The limit after a burst of n pages freed during the first epoch of a window of ms, seen
 * at_ms after that epoch ended.
 */
static size_t limit_at(ssize_t ms, size_t n, uint64_t at_ms) {
    decay_init(&d, ms, 0);
    uint64_t t0 = 1000 * MS, epoch = (uint64_t)ms * MS / DECAY_NSTEPS;
    check(!decay_advance(&d, t0, 0)); /* starts the clock */
    check(decay_advance(&d, t0 + epoch, n));
    check_eq(decay_npages_limit(&d), n);
    decay_purged(&d, n);
    if (at_ms != 0)
        decay_advance(&d, t0 + epoch + at_ms * MS, n);
    return decay_npages_limit(&d);
}

int main(void) {
    /* The curve: 0 < h rising to exactly 1.0, symmetric around the middle (h(x) + h(1-x) = 1). */
    check(decay_h[0] > 0);
    check_eq(decay_h[DECAY_NSTEPS - 1], 1u << DECAY_FRAC_BITS);
    for (unsigned i = 1; i < DECAY_NSTEPS; i++)
        check(decay_h[i] > decay_h[i - 1]);
    /* h((i+1)/N) + h((N-1-i)/N) == 1 up to fixed-point rounding. */
    for (unsigned i = 0; i + 1 < DECAY_NSTEPS; i++) {
        uint64_t sum = (uint64_t)decay_h[i] + decay_h[DECAY_NSTEPS - 2 - i];
        check(sum + 8 >= (1u << DECAY_FRAC_BITS) && sum <= (1u << DECAY_FRAC_BITS));
    }
    /* Slow start, steep middle: the first 10% of the window keeps over 97% of the weight. */
    check(decay_h[DECAY_NSTEPS - 1 - DECAY_NSTEPS / 10] >
          (uint32_t)(0.97 * (1 << DECAY_FRAC_BITS)));
    check(decay_h[DECAY_NSTEPS / 2 - 1] > (uint32_t)(0.49 * (1 << DECAY_FRAC_BITS)));
    check(decay_h[DECAY_NSTEPS / 2 - 1] < (uint32_t)(0.51 * (1 << DECAY_FRAC_BITS)));

    /* ms == 0 and -1 never advance (the caller purges at once or never). */
    decay_init(&d, 0, 5);
    check(!decay_advance(&d, 1, 100) && !decay_advance(&d, 1000 * MS, 100));
    decay_init(&d, -1, 5);
    check(!decay_advance(&d, 1, 100) && !decay_advance(&d, 1000000 * MS, 100));
    check_eq(decay_ns_until_purge(&d, 0, 100), UINT64_MAX);

    /* Epochs: 10 s / 200 = 50 ms each; nothing happens inside one. */
    decay_init(&d, 10000, 0);
    check_eq(d.interval_ns, 50 * MS);
    check(!decay_advance(&d, 1000 * MS, 0));
    check(!decay_advance(&d, 1049 * MS, 400));
    check(decay_advance(&d, 1050 * MS, 400));
    check_eq(d.epoch_ns, 1050 * MS);
    check_eq(d.backlog[DECAY_NSTEPS - 1], 400); /* all 400 counted as new, at full weight */
    check_eq(decay_npages_limit(&d), 400);
    decay_purged(&d, 400);
    /* Several epochs at once shift the backlog by that many. */
    check(decay_advance(&d, 1050 * MS + 3 * 50 * MS + 7, 400));
    check_eq(d.epoch_ns, 1200 * MS);
    check_eq(d.backlog[DECAY_NSTEPS - 4], 400);
    check_eq(d.backlog[DECAY_NSTEPS - 1], 0);
    check_eq(decay_npages_limit(&d), (400ull * decay_h[DECAY_NSTEPS - 4]) >> DECAY_FRAC_BITS);
    /* A clock going backwards restarts the epoch without advancing. */
    check(!decay_advance(&d, 10 * MS, 400));
    check_eq(d.epoch_ns, 10 * MS);

    /* A burst of 100000 pages: kept whole at first, half at mid-window, none after it. */
    size_t n = 100000;
    check_eq(limit_at(10000, n, 0), n);
    check_eq(limit_at(10000, n, 49), n);
    size_t early = limit_at(10000, n, 1000), mid = limit_at(10000, n, 5000),
           late = limit_at(10000, n, 9000);
    check(early > n * 97 / 100 && early < n);
    check(mid > n * 45 / 100 && mid < n * 55 / 100);
    check(late > 0 && late < n * 4 / 100);
    check(limit_at(10000, n, 9950) > 0);
    check_eq(limit_at(10000, n, 10000), 0);
    check_eq(limit_at(10000, n, 60000), 0);
    /* A shorter window scales the same curve. */
    check_eq(limit_at(1000, n, 500), mid);

    /*
     * Pages freed within an epoch whose end is processed late (the process went quiet) are as
     * old as their first noted free, not freshly freed: none left after their window, about half
     * halfway through it. They were once dated by the late call and kept a whole window more.
     */
    decay_init(&d, 300, 0); /* epochs of 1.5 ms */
    check(!decay_advance(&d, 1000 * MS, 0));
    check(!decay_advance(&d, 1000 * MS, 1024)); /* noted: freed within the same clock tick */
    check(decay_advance(&d, 1450 * MS, 1024));
    check_eq(decay_npages_limit(&d), 0);
    decay_init(&d, 300, 0);
    check(!decay_advance(&d, 1000 * MS, 0));
    decay_note(&d, 1001 * MS, 1024);
    decay_note(&d, 1001 * MS + MS / 2, 2048); /* more in the same epoch: the first date stands */
    check(decay_advance(&d, 1151 * MS, 2048));
    size_t half = decay_npages_limit(&d);
    check(half > 2048 * 45 / 100 && half < 2048 * 55 / 100);
    decay_purged(&d, half);
    check(decay_advance(&d, 1000 * MS + 303 * MS, half));
    check_eq(decay_npages_limit(&d), 0);
    decay_purged(&d, 0);
    /* A note made after an epoch ended and was processed dates only what follows it. */
    check(decay_advance(&d, 5000 * MS, 0));
    decay_purged(&d, 0);
    decay_note(&d, 5000 * MS, 1024);
    check(decay_advance(&d, 5100 * MS, 1024));
    check(decay_npages_limit(&d) > 1024 * 7 / 10 && decay_npages_limit(&d) < 1024);
    /* Never noted (no clock at the free): counted as freed in the epoch that just ended. */
    decay_init(&d, 300, 0);
    check(!decay_advance(&d, 1000 * MS, 0));
    check(decay_advance(&d, 1450 * MS, 1024));
    check_eq(decay_npages_limit(&d), 1024);

    /* Gradual: stepping epoch by epoch, the limit never rises and falls by small steps. */
    decay_init(&d, 10000, 0);
    uint64_t t = 0;
    decay_advance(&d, t, 0);
    size_t npages = n, prev = n, max_step = 0;
    for (unsigned e = 1; e <= DECAY_NSTEPS + 1; e++) {
        t += 50 * MS;
        decay_advance(&d, t, npages);
        size_t limit = decay_npages_limit(&d);
        check(limit <= prev);
        if (prev - limit > max_step)
            max_step = prev - limit;
        if (npages > limit)
            npages = limit; /* what purging does */
        decay_purged(&d, npages);
        prev = limit;
    }
    check_eq(npages, 0);
    check(max_step < n / 50); /* no epoch returns more than 2% of the burst */

    /* Wakeups: nothing to do means never; a fresh burst is due only once its curve falls. */
    decay_init(&d, 10000, 0);
    decay_advance(&d, 0, 0);
    check_eq(decay_ns_until_purge(&d, 0, 0), UINT64_MAX);
    uint64_t wait = decay_ns_until_purge(&d, 10 * MS, n);
    /* A fresh burst is first recorded at the end of its epoch. */
    check_eq(wait, 40 * MS);
    /* Following the schedule finds work each time it wakes. */
    t = 0;
    npages = n;
    unsigned wakeups = 0;
    while (npages != 0 && wakeups < 1000) {
        uint64_t ns = decay_ns_until_purge(&d, t, npages);
        check(ns != UINT64_MAX && ns >= DECAY_MIN_SLEEP_NS);
        t += ns;
        wakeups++;
        if (decay_advance(&d, t, npages)) {
            size_t limit = decay_npages_limit(&d);
            if (npages > limit)
                npages = limit;
            decay_purged(&d, npages);
        }
    }
    check_eq(npages, 0);
    check(t <= 10100 * MS); /* all gone within the window (plus the epoch it was freed in) */
    check(wakeups <= 200);  /* at most one per epoch */
    check(wakeups >= 20);   /* but gradual, not one burst */
    /* A few pages: one wakeup when all of them are due, not one per page. */
    decay_init(&d, 10000, 0);
    decay_advance(&d, 0, 0);
    decay_advance(&d, 50 * MS, 10);
    decay_purged(&d, 10);
    wait = decay_ns_until_purge(&d, 50 * MS, 10);
    check(wait >= 5000 * MS); /* late in the window, once */
    /* Once recorded, 256 of 100000 pages fall due a little way into the window. */
    decay_init(&d, 10000, 0);
    decay_advance(&d, 0, 0);
    decay_advance(&d, 50 * MS, n);
    decay_purged(&d, n);
    wait = decay_ns_until_purge(&d, 50 * MS, n);
    check(wait >= 100 * MS && wait < 2000 * MS);
    /* decay_due is true exactly when decay_advance would act (start the clock or end an
     * epoch), including a clock that steps backwards; a decay that is off is never due. */
    decay_init(&d, 1000, 0);
    uint64_t tt = 5000 * MS;
    unsigned acts = 0;
    for (unsigned i = 0; i < 2000; i++) {
        tt += (uint64_t)(i * 7919u % 20000u) * 1000; /* 0 to 20 ms */
        if (i == 1000)
            tt -= 100 * MS;
        decay_t before = d;
        bool due = decay_due(&d, tt);
        bool acted = decay_advance(&d, tt, i);
        acted = acted || before.started != d.started || before.epoch_ns != d.epoch_ns;
        check_eq(due, acted);
        acts += acted;
    }
    check(acts > 100 && acts < 2000);
    decay_init(&d, 0, 0);
    check(!decay_due(&d, tt));
    decay_init(&d, -1, 0);
    check(!decay_due(&d, tt));
    return unit_finish("decay");
}
