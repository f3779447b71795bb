/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * purge: giving an arena's free pages back to the system, and decay, which decides when. Dirty
 * pages are purged lazily (the source's purge_lazy, MADV_FREE) to muzzy, or forcibly
 * (purge_forced, MADV_DONTNEED) to retained; muzzy pages forcibly to retained. The least
 * recently freed extents go first. How many pages of each state may stay is decay's curve
 * (decay.h), advanced by ticks on every extent allocation and free, by the thread caches' GC
 * event and by background threads. Every function here takes extents_t.lock held.
 */
#ifndef ALLOCATOR_INTERNAL_PURGE_H
#define ALLOCATOR_INTERNAL_PURGE_H

#include "allocator/internal/extent.h"

/*
 * Called with ex->lock held when an arena whose background thread sleeps until woken (see
 * bg_sleeping) gets purgeable pages; set by background.c. Must take no lock below
 * RANK_BACKGROUND.
 */
extern void (*extents_wake_hook)(unsigned arena_ind);

/*
 * Decay: move dirty and muzzy pages on as their curves allow at time now_ns (nstime.h), and
 * return the nanoseconds until more is due (UINT64_MAX: nothing until pages are freed). Lock held.
 */
uint64_t extents_decay(extents_t *ex, uint64_t now_ns);
/* The same without working out when more is due (cheap when no epoch has ended). Lock held. */
void extents_decay_step(extents_t *ex, uint64_t now_ns);
/*
 * A decay tick, on every extent allocation and free (before the freed pages join their set):
 * reads the (coarse, cheap) clock when decay is time-based and runs decay if an epoch ended.
 * Returns the time read, for dating the pages the free adds, or UINT64_MAX if it read none.
 * Lock held.
 */
uint64_t extents_decay_tick(extents_t *ex);
/*
 * After pages became dirty (now: what the tick before the free read): purge at once if so
 * configured, date the new pages, wake a sleeping background thread. Lock held.
 */
void extents_dirtied(extents_t *ex, uint64_t now);
/* Set a decay time (ms >= -1) of dirty (muzzy false) or muzzy pages; purges at once for 0. */
void extents_decay_ms_set(extents_t *ex, bool muzzy, ssize_t ms);
/* Unmap every chunk that is one free extent, whatever its state. Returns bytes. Lock held. */
size_t extents_release_free_chunks(extents_t *ex);
/*
 * A request of npages that no dirty extent fits is about to take fresh pages: purge the free
 * dirty extents of a chunk or more that it passed over (pieces of earlier huge blocks), least
 * recently freed first, until npages or more went, so that the resident set does not grow by the
 * request while they sit idle. Smaller dirty extents stay for the slabs and small blocks that
 * reuse them. Returns pages purged. Lock held.
 */
size_t extents_purge_passed_over(extents_t *ex, size_t npages);
/* Purge every dirty and muzzy page back to the system (retained). Returns pages purged. */
size_t extents_purge_all(extents_t *ex);

#endif
