/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * base: bump allocator for metadata. A block of at least 64 KiB is mapped when the current one
 * cannot satisfy a request; the leftover of the old block is abandoned (at most one request's
 * worth). base_lock guards the cursor and the counters; it is the highest-ranked lock, so any
 * module may allocate metadata while holding its own lock.
 */
#include "allocator/internal/base.h"

#include "allocator/internal/pages.h"

#define BASE_BLOCK_MIN ((size_t)64 << 10)

static mutex_t base_lock = MUTEX_INITIALIZER(RANK_BASE);
static char *base_cur;
static char *base_end;
/* Read by bin/allocator-gdb.py: changing this layout: bump ALLOCATOR_GDB_LAYOUT (gdb.h). */
static size_t base_allocated;
static size_t base_mapped;
static size_t base_nthp; /* chunks asked to be huge pages (stats.metadata_thp) */
int base_thp_mode;

void *base_alloc(size_t size, size_t align) {
    assert(is_pow2(align) && align <= PAGE);
    mutex_lock(&base_lock);
    char *p = (char *)ALIGN_UP((uintptr_t)base_cur, align);
    if (base_cur == NULL || p + size > base_end || p + size < p) {
        size_t block = ALIGN_UP(size, PAGE);
        bool huge = base_thp_mode == 2 || (base_thp_mode == 1 && base_mapped >= ((size_t)4 << 20));
        size_t min = huge ? CHUNK : BASE_BLOCK_MIN;
        if (block < min)
            block = min;
        if (huge)
            block = ALIGN_UP(block, CHUNK);
        char *b = pages_map(block, huge ? CHUNK : PAGE);
        if (b == NULL) {
            mutex_unlock(&base_lock);
            return NULL;
        }
        if (huge) {
            pages_set_thp(b, block, true);
            base_nthp += block / CHUNK;
        }
        base_mapped += block;
        base_cur = b;
        base_end = b + block;
        p = b;
    }
    base_cur = p + size;
    base_allocated += size;
    mutex_unlock(&base_lock);
    return p;
}

void base_account_mapped(size_t size) {
    mutex_lock(&base_lock);
    base_mapped += size;
    mutex_unlock(&base_lock);
}

size_t base_allocated_bytes(void) { return atomic_load_relaxed(&base_allocated); }
size_t base_mapped_bytes(void) { return atomic_load_relaxed(&base_mapped); }
size_t base_thp_count(void) { return atomic_load_relaxed(&base_nthp); }
size_t base_resident_bytes(void) { return ALIGN_UP(atomic_load_relaxed(&base_allocated), PAGE); }

COLD void base_prefork(void) { mutex_lock(&base_lock); }
COLD void base_postfork_parent(void) { mutex_unlock(&base_lock); }
COLD void base_postfork_child(void) { mutex_postfork_child(&base_lock); }
