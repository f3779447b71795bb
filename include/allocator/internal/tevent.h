/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tevent: the thread event counter. Every allocation takes its usable size off the thread's
 * tsd->event_left (the malloc fast path in its cache-hit branch, the slow path for the rest);
 * when the count goes negative an event is due and the allocation goes through the slow path,
 * which calls tevent_trigger. The trigger charges the bytes since the counter was armed to each
 * event's own countdown, runs the events that are due, and arms the counter again with the
 * nearest of them. Events: the tick, every TEVENT_TICK_BYTES (one step of the thread cache's
 * GC and the arena's decay tick, so that a thread whose calls all hit the fast path still
 * collects its cache and ages its arena's dirty pages), and the heap profiler's sample and its
 * dumps (prof.h). A thread's first allocation always triggers (its state starts with the counter
 * at 0), which sets the countdowns up.
 *
 * Every trigger adds the bytes counted since the counter was armed to tsd->thread_allocated
 * (thread.allocated is that plus the bytes counted since), and notes the thread's net bytes for
 * thread.peak (tsd.h, tsd_peak_note); in a thread that has asked for its peak one comes at least
 * every TSD_PEAK_BYTES allocated, and in one that has asked for thread.allocatedp at every
 * allocation.
 */
#ifndef ALLOCATOR_INTERNAL_TEVENT_H
#define ALLOCATOR_INTERNAL_TEVENT_H

#include "allocator/internal/tsd.h"

/*
 * Bytes allocated between two ticks. A tick costs about 200 instructions (a bin visit, and a
 * clock read when the arena has pages to decay): at 4 MiB a loop of 20 KB blocks pays about one
 * instruction a call for it, and every cached class is visited at least once per 160 MiB
 * allocated (far more often in threads that reach the slow path: tcache.h).
 */
#define TEVENT_TICK_BYTES ((int64_t)4 << 20)

/* What tevent_trigger found due, for its caller to run once the allocation is consistent. */
#define TEVENT_SAMPLE 1u /* sample this allocation */
#define TEVENT_TICK 2u   /* call tevent_tick */

/*
 * tsd's counter went negative on an allocation (counted already). Charges the bytes to each
 * event, runs the dumps due, arms the counter again, and returns the TEVENT_* bits of what the
 * caller must still do.
 */
unsigned tevent_trigger(tsd_t *tsd);
/* The tick: one step of the thread cache's GC and the decay tick of the thread's arena. */
void tevent_tick(tsd_t *tsd);

#endif
