/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tevent: the thread events' trigger (tevent.h), called by the allocation slow path with no
 * lock held. Only the calling thread's state is touched, except by the events themselves (a
 * dump takes the profiler's locks; the tick's flush and decay step take bin and extents locks).
 */
#include "allocator/internal/tevent.h"

#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"

unsigned tevent_trigger(tsd_t *tsd) {
    bool first = tsd->event_armed == 0;
    int64_t used = tsd->event_armed - tsd->event_left;
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
            tsd->prof_sample_left = prof_sample_next(tsd, &wanted);
            if (wanted)
                due |= TEVENT_SAMPLE;
        }
        if (!tsd->prof_busy)
            prof_event_dumps((uint64_t)used);
        if (tsd->prof_sample_left < next)
            next = tsd->prof_sample_left;
        if (prof_interval != 0 && (int64_t)prof_interval < next)
            next = (int64_t)prof_interval;
    }
    tsd->event_left = tsd->event_armed = next;
    return due;
}

void tevent_tick(tsd_t *tsd) {
    tcache_tick(&tsd->tcache, tsd->arena != NULL ? tsd->arena : arena_get(0));
}
