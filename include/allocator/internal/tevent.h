/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tevent: the thread event counter. Every allocation takes its usable size off the thread's
 * tsd->event_left (the malloc fast path in its cache-hit branch, the slow path for the rest);
 * when the count goes negative an event is due and the allocation goes through the slow path,
 * which calls tevent_trigger. The trigger charges the bytes since the counter was armed to each
 * event's own countdown, runs the events that are due, and arms the counter again with the
 * nearest of them. Events today: the heap profiler's sample and its dumps (prof.h). A thread's
 * first allocation always triggers (its state starts with the counter at 0), which sets the
 * countdowns up. With no event configured the counter is armed 2^62 bytes away.
 */
#ifndef ALLOCATOR_INTERNAL_TEVENT_H
#define ALLOCATOR_INTERNAL_TEVENT_H

#include "allocator/internal/tsd.h"

#define TEVENT_MAX ((int64_t)1 << 62)

/*
 * tsd's counter went negative on an allocation (counted already). Runs the events due, arms the
 * counter again, and returns true if that allocation is to be sampled.
 */
bool tevent_trigger(tsd_t *tsd);

#endif
