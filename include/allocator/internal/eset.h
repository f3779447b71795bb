/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eset: a set of free extents of one state (dirty, muzzy or retained). Lists binned by
 * page-size class plus a bitmap of non-empty bins, so the smallest fitting bin is found with one
 * bit scan, and an LRU list that purging takes the oldest from. A free extent is in one set
 * through its next/prev and lru_next/lru_prev links. The set knows nothing of addresses beyond
 * the extents' own fields: registering boundaries (emap.h) and merging neighbours (extent.c) are
 * its users' work. Guarded by the lock of the extents_t that holds it.
 */
#ifndef ALLOCATOR_INTERNAL_ESET_H
#define ALLOCATOR_INTERNAL_ESET_H

#include "allocator/internal/edata.h"

/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
typedef struct eset_s {
    extent_t *bins[PSZ_NCLASSES];
    uint64_t nonempty[(PSZ_NCLASSES + 63) / 64];
    extent_t *lru_head; /* oldest */
    extent_t *lru_tail; /* newest */
    size_t npages;
    size_t nextents;
} eset_t;

/* Insert e as the most recently freed extent, or (oldest) as the least recently freed one. */
void eset_insert_at(eset_t *s, extent_t *e, bool oldest);
static inline void eset_insert(eset_t *s, extent_t *e) { eset_insert_at(s, e, false); }
void eset_remove(eset_t *s, extent_t *e);
/*
 * A member with room for size bytes at alignment align and no larger than max_size, or NULL.
 * It stays in the set.
 */
extent_t *eset_fit(eset_t *s, size_t size, size_t align, size_t max_size);
/* Debug: every member is in its size's bin with the set's state; bits and counters agree. */
void eset_validate(const eset_t *s, extent_state_t state);

#endif
