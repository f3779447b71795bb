/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * heapwalk: bionic's heap-walking interface (malloc_disable, malloc_enable, malloc_iterate),
 * for leak detectors and heap dumpers.
 *
 * malloc_disable stops every allocation and free in every thread: it takes heapwalk_lock, every
 * allocator lock in rank order (fork_lock_all: slow paths, background threads and mallctl stop
 * at their next lock), points every live thread's tsd_tls at tsd_disabled (so its next fast-path
 * call misses and waits in heapwalk_wait), and then waits until no thread can still be inside a
 * fast path it entered before (each thread is asleep in the kernel or has run on since). The heap
 * is then still until malloc_enable undoes it all. A fork in between leaves parent and child
 * both disabled; each calls malloc_enable.
 *
 * malloc_iterate reports every live allocation starting in a range: every active extent of every
 * arena, found by walking each chunk through the radix tree, less the blocks sitting free in
 * thread caches (live threads' and explicit ones), which are collected and sorted first.
 */
#ifndef ALLOCATOR_INTERNAL_HEAPWALK_H
#define ALLOCATOR_INTERNAL_HEAPWALK_H

#include "allocator/internal/tsd.h"

/* malloc_disable, malloc_enable, malloc_iterate (the allocator must be initialised). */
void heapwalk_disable(void);
void heapwalk_enable(void);
int heapwalk_iterate(uintptr_t base, size_t size, void (*fn)(uintptr_t base, size_t size, void *arg),
                     void *arg);
/*
 * Called by a thread whose tsd_tls is tsd_disabled: waits until malloc_enable and returns the
 * thread's state again (tsd_disabled once more if another malloc_disable came first). The thread
 * that disabled the heap may not allocate until it enables it: that is fatal, not a deadlock.
 */
tsd_t *heapwalk_wait(void);

#endif
