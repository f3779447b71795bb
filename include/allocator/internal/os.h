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
 */
#ifndef ALLOCATOR_INTERNAL_OS_H
#define ALLOCATOR_INTERNAL_OS_H

#include "allocator/internal/util.h"

unsigned os_ncpus(void);

#endif
