/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dss: chunks from the program break (sbrk), jemalloc's "dss" (data storage segment). The default
 * memory source (chunk.c) asks here before mmap (dss:primary) or when mmap failed
 * (dss:secondary). Everything here holds dss_lock, the only lock under which the allocator moves
 * the break; it ranks just after the extents locks, whose holders call in.
 *
 * Contracts:
 *  - dss_alloc(size, align): size a multiple of PAGE, align a power of two >= PAGE. Returns
 *    memory aligned to align that reads as zero and that the allocator alone owns (a free range
 *    kept here, or the break moved up), or NULL: the break is blocked (a mapping right after it,
 *    RLIMIT_DATA) or lost (moved by someone else since the allocator last moved it: from then on
 *    every call returns NULL unless a kept range fits, and the caller uses mmap).
 *  - dss_contains(addr): is addr inside the part of the break the allocator owns?
 *  - dss_dalloc(addr, size): give [addr, addr + size) back by lowering the break: only when it is
 *    the allocator's top and the break is still where the allocator left it. True if done;
 *    false changes nothing (the caller keeps the memory: it cannot be unmapped).
 *  - dss_recycle(addr, size): the range is free for good (its arena is destroyed): purged and kept
 *    here for dss_alloc, or given back when it reaches the top of the break.
 *  - dss_pad_take(&addr, &size): a kept range too small to hold an aligned chunk (the padding
 *    below a chunk that aligned it), for an arena to adopt as free retained pages. False: none.
 */
#ifndef ALLOCATOR_INTERNAL_DSS_H
#define ALLOCATOR_INTERNAL_DSS_H

#include "allocator/internal/conf.h"

/* The setting of arenas created from now on (opt_dss at boot; arena.<all>.dss sets it). */
conf_dss_t dss_default_get(void);
void dss_default_set(conf_dss_t dss);

void dss_boot(void);
void *dss_alloc(size_t size, size_t align);
bool dss_contains(const void *addr);
bool dss_dalloc(void *addr, size_t size);
void dss_recycle(void *addr, size_t size);
bool dss_pad_take(uintptr_t *addr, size_t *size);

/* What the break holds for the allocator, for statistics and tests. */
typedef struct dss_stats_s {
    uintptr_t base;  /* the first page the allocator took from the break (0: none yet) */
    uintptr_t end;   /* where the allocator left the break */
    size_t bytes;    /* bytes of [base, end) the allocator holds (in arenas or kept here) */
    size_t kept;     /* of which kept here: pads not adopted yet, destroyed arenas' chunks */
    bool lost;       /* something else moved the break: no more chunks from it */
} dss_stats_t;
void dss_stats(dss_stats_t *out);

void dss_prefork(void);
void dss_postfork_parent(void);
void dss_postfork_child(void);

#endif
