/*
 * decay: how many free pages of one state (dirty or muzzy) an arena may keep, as a function of
 * time. Pure arithmetic on a decay_t; the caller (extent.c) owns the lock and the clock.
 *
 * The window of ms milliseconds is divided into DECAY_NSTEPS epochs. backlog[i] counts the pages
 * that became free of this state during the i-th most distant epoch of the window (backlog[NSTEPS
 * - 1] is the latest). Pages that became free k epochs ago may stay in proportion
 * 1 - smoothstep(k / NSTEPS), so a burst of frees is returned gradually over ms, slowly at first,
 * then faster, then slowly again, and not at all after ms:
 *
 *     limit = sum over i of backlog[i] * h[i],  h[i] = smoothstep((i + 1) / NSTEPS)
 *
 * Pages freed since the last epoch boundary are not in the backlog yet. The caller reports the
 * time of each free with decay_note(); the first such time dates all of them, so when the next
 * boundary is processed late (the process went quiet, or the first boundary had not passed) they
 * enter the backlog as old as they are, not as freshly freed: pages freed at t are gone by
 * t + ms + one epoch however rarely the allocator is called.
 *
 * ms == 0 means "purge at once" and ms == -1 "never"; the caller handles both without a clock.
 * Times are nanoseconds of a monotonic clock; decay_t is guarded by its owner's lock.
 */
#ifndef ALLOCATOR_INTERNAL_DECAY_H
#define ALLOCATOR_INTERNAL_DECAY_H

#include "allocator/internal/util.h"

#define DECAY_NSTEPS 200
#define DECAY_FRAC_BITS 24
/* Keep background threads from waking more often than this for small amounts of work. */
#define DECAY_MIN_SLEEP_NS ((uint64_t)10 * 1000 * 1000)
/* A background thread wakes for this many purgeable pages, or for all of fewer. */
#define DECAY_WAKE_PAGES 256

typedef struct decay_s {
    ssize_t ms;           /* -1 never, 0 at once, else the window */
    uint64_t interval_ns; /* length of one epoch: ms / DECAY_NSTEPS */
    uint64_t epoch_ns;    /* start of the current epoch (valid when started) */
    bool started;
    bool fresh;        /* pages past nunpurged were noted freed since the last boundary */
    uint64_t fresh_ns; /* when the first of them was noted (valid when fresh) */
    size_t nunpurged;  /* pages of this state when the last epoch's purge finished */
    size_t limit;      /* what the backlog allows: set with it, once per epoch */
    size_t backlog[DECAY_NSTEPS];
} decay_t;

/* The smoothstep weights, h[i] in DECAY_FRAC_BITS fixed point (h[NSTEPS - 1] == 1.0). */
extern const uint32_t decay_h[DECAY_NSTEPS];

/*
 * Would decay_advance(d, now_ns, ...) change anything: start the clock, or end an epoch? A
 * cheap test for the callers that tick on every page-allocator event.
 */
static inline bool decay_due(const decay_t *d, uint64_t now_ns) {
    return d->ms > 0 &&
           (!d->started || now_ns < d->epoch_ns || now_ns - d->epoch_ns >= d->interval_ns);
}

/*
 * Pages of this state are npages now, just after a free at now_ns: if some are beyond what the
 * backlog and the last purge account for and none were noted yet, they date from now_ns. Call
 * after decay_advance() for the same now_ns, so a boundary that passed is processed first.
 */
static inline void decay_note(decay_t *d, uint64_t now_ns, size_t npages) {
    if (d->ms > 0 && d->started && !d->fresh && npages > d->nunpurged) {
        d->fresh = true;
        d->fresh_ns = now_ns;
    }
}

/* Set the window (ms >= -1) and forget the history. npages: pages of this state now. */
void decay_init(decay_t *d, ssize_t ms, size_t npages);
/* Is ms a valid setting? */
static inline bool decay_ms_valid(ssize_t ms) {
    return ms == -1 || (ms >= 0 && (uint64_t)ms <= (UINT64_MAX / 1000000 / 2));
}
/*
 * Move the epoch forward to now, with npages of this state now. Returns true when at least one
 * epoch ended (the limit may have fallen: the caller purges down to decay_npages_limit() and
 * then calls decay_purged()). The first call only starts the clock. Pages not yet in the backlog
 * enter it dated by decay_note() (or, never noted, as freed in the epoch that just ended); a call
 * that ends no epoch notes them itself.
 */
bool decay_advance(decay_t *d, uint64_t now_ns, size_t npages);
/* Pages of this state the backlog allows now. */
static inline size_t decay_npages_limit(const decay_t *d) { return d->limit; }
/* After purging down to the limit: npages of this state remain. */
void decay_purged(decay_t *d, size_t npages);
/*
 * With npages of this state now and no further frees, nanoseconds from now until purging
 * becomes due: until DECAY_WAKE_PAGES pages (or all npages, if fewer) exceed the limit. At least
 * DECAY_MIN_SLEEP_NS, except 0 when ms is 0 or the clock has not started; UINT64_MAX if never
 * (npages is zero, or ms is -1).
 */
uint64_t decay_ns_until_purge(const decay_t *d, uint64_t now_ns, size_t npages);

#endif
