/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * base: the metadata allocator. Bump allocation from blocks mapped through pages; nothing is
 * ever returned (callers recycle fixed-size objects on their own free lists). Never uses the
 * arenas it describes, so it works during bootstrap, and memory it returns is zero-filled.
 */
#ifndef ALLOCATOR_INTERNAL_BASE_H
#define ALLOCATOR_INTERNAL_BASE_H

#include "allocator/internal/mutex.h"

/* metadata_thp: 0 disabled, 1 auto (huge pages once metadata passes 4 MiB), 2 always. */
extern int base_thp_mode;

/* Zeroed memory of size bytes aligned to align (a power of two <= PAGE), or NULL. */
void *base_alloc(size_t size, size_t align);
/* Account memory some module mapped for metadata itself (the radix tree's leaves). */
void base_account_mapped(size_t size);
size_t base_allocated_bytes(void);
size_t base_mapped_bytes(void);
/* Chunks of metadata asked to be transparent huge pages (metadata_thp; stats.metadata_thp). */
size_t base_thp_count(void);
/* Resident estimate: bytes handed out, rounded to pages. */
size_t base_resident_bytes(void);

void base_prefork(void);
void base_postfork_parent(void);
void base_postfork_child(void);

#endif
