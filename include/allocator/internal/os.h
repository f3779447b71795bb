/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * os: what the allocator asks the kernel about the process, other than memory (which is
 * pages.h's). Each query is a system call made directly, never through sysconf or stdio, so it
 * is safe in glibc's static startup, during initialisation and with any allocator lock held.
 *
 * Contracts:
 *  - os_ncpus(): the number of CPUs this process may run on (its affinity mask, which
 *    sched_getaffinity reports; taskset and cgroup cpusets shrink it), at least 1. It asks the
 *    kernel on every call; callers that need it often keep the answer.
 *  - os_gettid(): the calling thread's kernel id.
 *  - os_thread_probe(tid): what the kernel says of thread tid of this process (through
 *    /proc/self/task/<tid>): its scheduler state letter ('R', 'S', ...; 0 when the thread is
 *    gone or /proc cannot say), the CPU time it has had (ns) and how often it was scheduled in,
 *    from schedstat; without schedstat, CPU time from stat's utime + stime in ticks, counted as
 *    10 ms each, and slices 0.
 */
#ifndef ALLOCATOR_INTERNAL_OS_H
#define ALLOCATOR_INTERNAL_OS_H

#include "allocator/internal/util.h"

unsigned os_ncpus(void);
int os_gettid(void);

typedef struct os_thread_s {
    char state;
    uint64_t run_ns;
    uint64_t slices;
} os_thread_t;
os_thread_t os_thread_probe(int tid);

#endif
