/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dss: the program break as a source of chunks (see dss.h). The allocator moves the break only
 * under dss_lock, and only upward from where it left it: before each move it reads the break,
 * and if anything else moved it since (a program calling sbrk or brk itself), the break is
 * "lost" for good. The program may lower it again, or keep taking memory above, and either
 * would cut into chunks placed there, so from then on the allocator takes nothing more from the
 * break and its callers use mmap. A move that fails (a mapping right after the break, or
 * RLIMIT_DATA) changes nothing and is retried on the next chunk. Chunks are aligned like
 * mmap'd ones; the pages between the old break and an aligned chunk (the padding) are kept
 * here, with the chunks of destroyed arenas, as free ranges: a chunk request is served from
 * them first, and the padding, too small for a chunk, is adopted by the next arena that grows
 * (dss_pad_take, from chunk.c) as free pages of its own. A free range that reaches the top of
 * the break is given back by lowering it. Called by chunk.c's default memory source with an
 * extents lock held, and by the fork hooks. What takes, keeps and gives back ranges is COLD,
 * out of the text every program runs (Makefile.in, SHLIB_FIRST): by default (dss:secondary) the
 * break serves only when mmap fails.
 */
#include "allocator/internal/dss.h"

#include "allocator/internal/mutex.h"
#include "allocator/internal/pages.h"

static mutex_t dss_lock = MUTEX_INITIALIZER(RANK_DSS);

static int dss_default; /* atomic: conf_dss_t of arenas created from now on */

/* Guarded by dss_lock; lost is also read atomically by dss_alloc's early exit. */
static uintptr_t dss_base, dss_end;
static size_t dss_bytes;
static bool dss_lost;

/* Free ranges of the break that no arena holds, in address order, never adjacent (dss_lock;
 * the count is also read atomically, to skip the lock when there are none). */
#define DSS_NKEPT 64
typedef struct {
    uintptr_t addr;
    size_t size;
} dss_range_t;
static dss_range_t dss_kept[DSS_NKEPT];
static unsigned dss_nkept;

conf_dss_t dss_default_get(void) { return (conf_dss_t)atomic_load_relaxed(&dss_default); }
void dss_default_set(conf_dss_t dss) { atomic_store_relaxed(&dss_default, (int)dss); }
void dss_boot(void) { dss_default_set(opt_dss); }

static void dss_kept_remove(unsigned i) {
    for (; i + 1 < dss_nkept; i++)
        dss_kept[i] = dss_kept[i + 1];
    atomic_store_relaxed(&dss_nkept, dss_nkept - 1);
}

/*
 * Keep [addr, addr + size), merged with its neighbours. With all 64 slots taken by ranges that
 * touch nothing (it takes that many destroyed arenas with chunks between live ones), the range
 * stays owned but unused: it is still inside [base, end), so nothing else can be given it.
 */
static COLD void dss_keep(uintptr_t addr, size_t size) {
    if (size == 0)
        return;
    unsigned i = 0;
    while (i < dss_nkept && dss_kept[i].addr < addr)
        i++;
    bool prev = i > 0 && dss_kept[i - 1].addr + dss_kept[i - 1].size == addr;
    bool next = i < dss_nkept && addr + size == dss_kept[i].addr;
    if (prev && next) {
        dss_kept[i - 1].size += size + dss_kept[i].size;
        dss_kept_remove(i);
    } else if (prev) {
        dss_kept[i - 1].size += size;
    } else if (next) {
        dss_kept[i].addr = addr;
        dss_kept[i].size += size;
    } else if (dss_nkept < DSS_NKEPT) {
        for (unsigned j = dss_nkept; j > i; j--)
            dss_kept[j] = dss_kept[j - 1];
        dss_kept[i] = (dss_range_t){addr, size};
        atomic_store_relaxed(&dss_nkept, dss_nkept + 1);
    }
}

/* Lower the break over kept ranges at its top, while it is still where the allocator left it. */
static void dss_trim(void) {
    while (dss_nkept != 0 && !dss_lost) {
        dss_range_t *r = &dss_kept[dss_nkept - 1];
        if (r->addr + r->size != dss_end || (uintptr_t)pages_brk(0) != dss_end ||
            pages_brk(-(intptr_t)r->size) == NULL)
            return;
        dss_end = r->addr;
        dss_bytes -= r->size;
        atomic_store_relaxed(&dss_nkept, dss_nkept - 1);
    }
}

/* An aligned [addr, addr + size) carved from a kept range, or 0. */
static uintptr_t dss_alloc_kept(size_t size, size_t align) {
    for (unsigned i = 0; i < dss_nkept; i++) {
        dss_range_t r = dss_kept[i];
        uintptr_t addr = ALIGN_UP(r.addr, align);
        if (addr < r.addr || addr - r.addr > r.size || r.size - (addr - r.addr) < size)
            continue;
        dss_kept_remove(i);
        dss_keep(r.addr, addr - r.addr);
        dss_keep(addr + size, r.addr + r.size - (addr + size));
        return addr;
    }
    return 0;
}

/* Move the break up for an aligned [addr, addr + size); 0 if blocked or lost. */
static uintptr_t dss_alloc_break(size_t size, size_t align) {
    uintptr_t cur = (uintptr_t)pages_brk(0);
    if (cur == 0)
        return 0;
    if (dss_end != 0 && cur != dss_end) {
        atomic_store_relaxed(&dss_lost, true); /* someone else moved it */
        return 0;
    }
    uintptr_t start = ALIGN_UP(cur, PAGE);
    uintptr_t addr = ALIGN_UP(start, align);
    uintptr_t end = addr + size;
    if (start < cur || addr < start || end < addr || end - cur > (uintptr_t)INTPTR_MAX)
        return 0;
    uintptr_t old = (uintptr_t)pages_brk((intptr_t)(end - cur));
    if (old == 0)
        return 0; /* blocked: nothing moved */
    if (old != cur) {
        /*
         * Another thread of the program moved the break between the two calls: what was just
         * added is ours but not where it was planned. Give it back if nothing moved since;
         * either way the break is the program's from now on.
         */
        atomic_store_relaxed(&dss_lost, true);
        if ((uintptr_t)pages_brk(0) == old + (end - cur))
            pages_brk(-(intptr_t)(end - cur));
        return 0;
    }
    if (dss_base == 0)
        dss_base = start;
    dss_end = end;
    dss_bytes += end - start;
    dss_keep(start, addr - start); /* the padding */
    return addr;
}

COLD void *dss_alloc(size_t size, size_t align) {
    assert(size != 0 && (size & PAGE_MASK) == 0 && is_pow2(align) && align >= PAGE);
    if (atomic_load_relaxed(&dss_lost) && atomic_load_relaxed(&dss_nkept) == 0)
        return NULL;
    mutex_lock(&dss_lock);
    uintptr_t addr = dss_alloc_kept(size, align);
    if (addr == 0 && !dss_lost)
        addr = dss_alloc_break(size, align);
    mutex_unlock(&dss_lock);
    return (void *)addr;
}

bool dss_contains(const void *addr) {
    mutex_lock(&dss_lock);
    bool in = dss_base != 0 && (uintptr_t)addr >= dss_base && (uintptr_t)addr < dss_end;
    mutex_unlock(&dss_lock);
    return in;
}

COLD bool dss_dalloc(void *addr, size_t size) {
    mutex_lock(&dss_lock);
    bool done = false;
    if (!dss_lost && (uintptr_t)addr + size == dss_end && (uintptr_t)pages_brk(0) == dss_end &&
        pages_brk(-(intptr_t)size) != NULL) {
        dss_end = (uintptr_t)addr;
        dss_bytes -= size;
        dss_trim();
        done = true;
    }
    mutex_unlock(&dss_lock);
    return done;
}

COLD void dss_recycle(void *addr, size_t size) {
    pages_purge(addr, size); /* kept ranges read as zero */
    mutex_lock(&dss_lock);
    dss_keep((uintptr_t)addr, size);
    dss_trim();
    mutex_unlock(&dss_lock);
}

bool dss_pad_take(uintptr_t *addr, size_t *size) {
    if (atomic_load_relaxed(&dss_nkept) == 0)
        return false;
    bool found = false;
    mutex_lock(&dss_lock);
    for (unsigned i = 0; i < dss_nkept; i++) {
        dss_range_t r = dss_kept[i];
        uintptr_t chunk = ALIGN_UP(r.addr, CHUNK);
        if (chunk >= r.addr && chunk - r.addr <= r.size && r.size - (chunk - r.addr) >= CHUNK)
            continue; /* holds a chunk: left for dss_alloc */
        dss_kept_remove(i);
        *addr = r.addr;
        *size = r.size;
        found = true;
        break;
    }
    mutex_unlock(&dss_lock);
    return found;
}

void dss_stats(dss_stats_t *out) {
    mutex_lock(&dss_lock);
    out->base = dss_base;
    out->end = dss_end;
    out->bytes = dss_bytes;
    out->kept = 0;
    for (unsigned i = 0; i < dss_nkept; i++)
        out->kept += dss_kept[i].size;
    out->lost = dss_lost;
    mutex_unlock(&dss_lock);
}

COLD void dss_prefork(void) { mutex_lock(&dss_lock); }
COLD void dss_postfork_parent(void) { mutex_unlock(&dss_lock); }
COLD void dss_postfork_child(void) { mutex_postfork_child(&dss_lock); }
