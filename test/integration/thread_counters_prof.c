/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * thread_counters.c's checks with the heap profiler on (thread_counters_prof.conf): allocations
 * it samples count as any other, and prof.reset, which restarts the thread's event counter,
 * keeps the bytes the counter had counted.
 */
#include "thread_counters.c"
