/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * chunk: where an arena's pages come from and go back to. A chunk is one mapping obtained from
 * the arena's memory source (extent_hooks_t, jemalloc 5's layout; the default maps through
 * pages.c, or dss.c for the program break), at least CHUNK bytes and CHUNK-aligned unless the
 * source cannot split, or (default source only) a page-aligned piece of the break below a chunk,
 * the padding that aligned it (dss.h), adopted as retained pages. Chunks are
 * recorded in extents_t.chunks for their whole life and are never split or merged by the source;
 * extents are carved from them. Everything here runs with extents_t.lock held, and so do the
 * hooks it calls.
 */
#ifndef ALLOCATOR_INTERNAL_CHUNK_H
#define ALLOCATOR_INTERNAL_CHUNK_H

#include "allocator/internal/conf.h"
#include "allocator/internal/extent.h"

/*
 * The default memory source: mmap through pages, and the program break through dss as the
 * arena's dss setting says (what arenas use unless told otherwise).
 */
extern extent_hooks_t extent_hooks_default;

/*
 * An arena's dss setting (arena.<i>.dss), read by the default source's alloc for the arena index
 * it is given; extents_init sets a new arena's to dss_default_get(). Any thread, no lock.
 */
conf_dss_t chunk_dss_get(unsigned arena_ind);
void chunk_dss_set(unsigned arena_ind, conf_dss_t dss);

/* Would ex's source refuse splitting [addr, addr + size) at size_a? (The default never does.) */
bool chunk_split_refused(extents_t *ex, uintptr_t addr, size_t size, size_t size_a);
/* Would ex's source refuse merging [a, a + size_a) with the size_b bytes after it? */
bool chunk_merge_refused(extents_t *ex, uintptr_t a, size_t size_a, size_t size_b);
/*
 * Map a new chunk for size bytes at alignment align and record it; returns its one free extent,
 * in no set and not registered (NULL: no memory).
 */
extent_t *chunk_grow(extents_t *ex, size_t size, size_t align);
/*
 * Unmap the chunk that is exactly the free extent e (in no set, boundaries cleared). Returns
 * false, changing nothing, if the source refused; the caller then keeps e.
 */
bool chunk_release(extents_t *ex, extent_t *e);
/*
 * Chunks move between arenas: an arena about to map a chunk takes a wholly free dirty one from
 * another arena instead (arena.c, through extents_adopt_hook), so memory freed into one arena
 * serves another without being purged and faulted in again.
 *
 * chunk_detach_dirty: take out of ex (default source, lock held) a chunk that is one free dirty
 * extent of at least size bytes, aligned to align: off ex's set, the address map and its chunk
 * list. Returns the extent (in no set, boundaries cleared) and the chunk's record in *cp, or NULL
 * with nothing changed. For ex the pages leave as if allocated.
 * chunk_attach: record c, detached from another arena with its extent e, as ex's (lock held). e
 * is then what chunk_grow returns: ex's, in no set, not registered.
 */
extent_t *chunk_detach_dirty(extents_t *ex, size_t size, size_t align, chunk_t **cp);
void chunk_attach(extents_t *ex, chunk_t *c, extent_t *e);
/* Return every chunk to the memory source and forget them (arena destroy). No extent is active. */
void extents_unmap_all(extents_t *ex);

#endif
