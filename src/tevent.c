/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tevent: the thread events' trigger (tevent.h), called by the allocation slow path with no
 * lock held. Only the calling thread's state is touched, except by the events themselves (a
 * dump takes the profiler's locks; the tick's flush and decay step take bin and extents locks).
 */
#include "allocator/internal/tevent.h"

#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"

/*
 * The trigger's body. general: any state (the thread's first allocation sets the countdowns up;
 * a sample may make the thread's profiler record; interval dumps and gdump run). Otherwise the
 * caller has checked that none of that applies, and the body makes no call, so it saves no
 * register: in a program of large blocks most allocations sample, each through here.
 */
static ALWAYS_INLINE unsigned tevent_charge(tsd_t *tsd, bool general) {
    bool first = general && tsd->event_armed == 0;
    int64_t used = tsd_events_fold(tsd); /* charged: tsd_thread_allocated counts it once */
    unsigned due = 0;
    if (first)
        tsd->tick_left = TEVENT_TICK_BYTES;
    tsd->tick_left -= used;
    if (tsd->tick_left < 0) {
        due |= TEVENT_TICK;
        tsd->tick_left = TEVENT_TICK_BYTES;
    }
    int64_t next = tsd->tick_left;
    if (opt_prof) {
        if (first)
            tsd->prof_sample_left = prof_sample_interval(tsd);
        tsd->prof_sample_left -= used;
        if (tsd->prof_sample_left < 0) {
            bool wanted;
            tsd->prof_sample_left = general ? prof_sample_next(tsd, &wanted)
                                            : prof_sample_next_td(tsd, tsd->prof_tdata, &wanted);
            if (wanted)
                due |= TEVENT_SAMPLE;
        }
        if (general && !tsd->prof_busy)
            prof_event_dumps((uint64_t)used);
        if (tsd->prof_sample_left < next)
            next = tsd->prof_sample_left;
        if (general && prof_interval != 0 && (int64_t)prof_interval < next)
            next = (int64_t)prof_interval;
    }
    tsd_peak_note(tsd);
    if (tsd->peak_fine && next > TSD_PEAK_BYTES)
        next = TSD_PEAK_BYTES;
    if (tsd->counters_live)
        next = 1; /* every allocation, of 8 bytes or more, takes it below zero */
    tsd->event_left = tsd->event_armed = next;
    return due;
}

static NOINLINE unsigned tevent_trigger_general(tsd_t *tsd) { return tevent_charge(tsd, true); }

unsigned tevent_trigger(tsd_t *tsd) {
    if (unlikely(tsd->event_armed == 0) ||
        (opt_prof && (tsd->prof_tdata == NULL || prof_event_dumps_on())))
        return tevent_trigger_general(tsd);
    return tevent_charge(tsd, false);
}

void tevent_tick(tsd_t *tsd) {
    tcache_tick(&tsd->tcache, tsd->arena != NULL ? tsd->arena : arena_get(0));
}
