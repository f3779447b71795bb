/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_recent: the last N sampled allocations (jemalloc's "last-N" records). Sampling (prof)
 * hands each sampled allocation here with its backtrace, and each free of a sampled block that
 * still has a record; the store keeps the newest prof_recent_alloc_max records (-1: all, 0:
 * none), oldest first, and writes them as jemalloc 5.3's JSON through a caller's callback
 * (experimental.prof_recent.alloc_dump). Records and their stacks live in base memory, never in
 * the arenas being profiled, and are recycled on free lists.
 *
 * The link between a sampled block and its record is a word of the block's metadata owned by
 * prof (the "slot"): the store writes the record's address there, and clears it when the block
 * is freed or the record evicted, so a record never pins the block or its extent, and a freed
 * block's metadata is never written after its free.
 *
 * Locks (doc/DESIGN.md): prof_recent_lock (RANK_PROF_RECENT) guards the store; the dump lock, a
 * plain mutex outside the rank order, lets one dumper run at a time and is held while the
 * caller's write callback runs (which may allocate or call mallctl). Neither is taken under an
 * arena lock; base_lock is taken inside prof_recent_lock.
 */
#ifndef ALLOCATOR_INTERNAL_PROF_RECENT_H
#define ALLOCATOR_INTERNAL_PROF_RECENT_H

#include <sys/types.h>

#include "allocator/internal/io.h"
#include "allocator/internal/util.h"

/* One record; opaque outside prof_recent.c. */
typedef struct prof_recent_s prof_recent_t;

/* Frames kept per stack; deeper backtraces keep their innermost frames. jemalloc's limit. */
#define PROF_RECENT_FRAMES_MAX 128
/* Bytes of a thread's name kept (thread.prof.name); longer names are cut. */
#define PROF_RECENT_NAME_MAX 255

/*
 * The store's capacity now: -1 unlimited, 0 off (nothing is recorded). Read without a lock, so
 * prof may skip prof_recent_alloc (and its backtrace work) while it is 0.
 */
extern ssize_t prof_recent_max;
static inline ssize_t prof_recent_max_get(void) { return atomic_load_relaxed(&prof_recent_max); }
/*
 * Set the capacity (>= -1) and return the old one. Shrinking evicts the oldest records (those a
 * dump in progress holds are evicted when it ends).
 */
ssize_t prof_recent_max_set(ssize_t max);

/*
 * A sampled allocation of size bytes (usize usable) by the thread with uid thread_uid and name
 * thread_name (thread.prof.name; NULL or "" when it has none, as jemalloc's dump then leaves
 * the name out), with that thread's backtrace frames[0..nframes), innermost first. *slot is the
 * sampled block's link to its record (NULL on entry): the store points it at the new record. Does
 * nothing when the capacity is 0 or memory for the record is exhausted (*slot stays NULL). Takes
 * prof_recent_lock: never call it holding an arena lock.
 */
void prof_recent_alloc(uint64_t thread_uid, const char *thread_name, size_t size, size_t usize,
                       void *const *frames, unsigned nframes, prof_recent_t **slot);

/*
 * The sampled block whose link is *slot is being freed by thread thread_uid (named
 * thread_name), with backtrace frames[0..nframes): the record becomes released, takes the
 * thread, the time and the stack,
 * and *slot is cleared. A no-op when *slot is NULL (no record, or it was evicted). Call it for
 * every sampled block whose slot is set (prof_recent_linked), whatever the capacity is now: a
 * record made earlier may still name the block, and the store must unlink it before the
 * block's metadata is reused.
 */
void prof_recent_dalloc_slow(uint64_t thread_uid, const char *thread_name, prof_recent_t **slot,
                             void *const *frames, unsigned nframes);

/*
 * For blocks freed wholesale (arena.<i>.reset and .destroy): prof_recent_lock taken and given
 * back by the caller, which may hold lower-ranked locks meanwhile (prof_lock; then an arena's
 * extents lock); in between, prof_recent_release_locked does what prof_recent_dalloc_slow does,
 * with no stack for the freeing thread.
 */
void prof_recent_lock_all(void);
void prof_recent_unlock_all(void);
void prof_recent_release_locked(uint64_t thread_uid, const char *thread_name,
                                prof_recent_t **slot);

/* Does the block whose link is *slot have a record? (A racy hint; prof_recent_dalloc rechecks.) */
static inline bool prof_recent_linked(prof_recent_t *const *slot) {
    return atomic_load_relaxed(slot) != NULL;
}

static inline void prof_recent_dalloc(uint64_t thread_uid, const char *thread_name,
                                      prof_recent_t **slot, void *const *frames, unsigned nframes) {
    if (prof_recent_linked(slot))
        prof_recent_dalloc_slow(thread_uid, thread_name, slot, frames, nframes);
}

/*
 * Write the records as jemalloc 5.3's compact JSON through write_cb(cbopaque, s) (NULL:
 * malloc_message, else standard error): {"sample_interval":..,"recent_alloc_max":..,
 * "recent_alloc":[..]}. Written in batches of at most PROF_RECENT_BUF_SIZE - 1 bytes, one call of
 * write_cb per batch; prof_recent_lock is held only while a batch's records are copied, so
 * sampled allocations and frees in other threads go on during the dump. One dump runs at a time
 * (a second waits); the records present when it began are kept until it ends.
 */
#define PROF_RECENT_BUF_SIZE ((size_t)64 << 10)
void prof_recent_dump(uint64_t sample_interval, io_write_cb_t *write_cb, void *cbopaque);

/* Set the capacity from opt.prof_recent_alloc_max (the boot sequence, once). */
void prof_recent_boot(void);

void prof_recent_prefork(void);
void prof_recent_postfork_parent(void);
void prof_recent_postfork_child(void);

/* ---- For the unit test ------------------------------------------------------------------- */

/* Records held now, with those a dump in progress keeps beyond the capacity. */
size_t prof_recent_count(void);

#endif
