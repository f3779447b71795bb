/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tevent: the thread events' trigger (tevent.h), called by the allocation slow path with no
 * lock held. Only the calling thread's state is touched, except by the events themselves (a
 * dump takes the profiler's locks).
 */
#include "allocator/internal/tevent.h"

#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"

bool tevent_trigger(tsd_t *tsd) {
    bool first = tsd->event_armed == 0;
    int64_t used = tsd->event_armed - tsd->event_left;
    int64_t next = TEVENT_MAX;
    bool sample = false;
    if (opt_prof) {
        if (first)
            tsd->prof_sample_left = prof_sample_interval(tsd);
        tsd->prof_sample_left -= used;
        if (tsd->prof_sample_left < 0) {
            sample = prof_sample_wanted(tsd);
            tsd->prof_sample_left = prof_sample_interval(tsd);
        }
        if (!tsd->prof_busy)
            prof_event_dumps(tsd, (uint64_t)used);
        if (tsd->prof_sample_left < next)
            next = tsd->prof_sample_left;
        if (prof_interval != 0 && (int64_t)prof_interval < next)
            next = (int64_t)prof_interval;
    }
    tsd->event_left = tsd->event_armed = next;
    return sample;
}
