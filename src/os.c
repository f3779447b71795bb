/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * os: the process queries of os.h, made with raw system calls (glibc's sched_getaffinity
 * wrapper and sysconf may allocate or read files; a system call does neither). Stateless;
 * callable from any thread at any time, init included.
 */
#include "allocator/internal/os.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

unsigned os_ncpus(void) {
    cpu_set_t set;
    /* The kernel returns the bytes of the mask it wrote (its own mask size), or -errno. */
    long r = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
    if (r <= 0)
        return 1;
    unsigned n = 0;
    for (size_t i = 0; i < (size_t)r && i < sizeof(set); i++)
        n += (unsigned)__builtin_popcount(((unsigned char *)&set)[i]);
    return n == 0 ? 1 : n;
}
