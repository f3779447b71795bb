/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nstime: clock_gettime(CLOCK_MONOTONIC) behind the constructor-set gate of nstime.h. Stateless
 * apart from the gate and the test hook.
 */
#include "allocator/internal/nstime.h"

#include <errno.h>
#include <time.h>

bool nstime_ready;
uint64_t nstime_ready_ns;
uint64_t (*nstime_hook)(void);

__attribute__((constructor)) static void nstime_constructor(void) {
    atomic_store_relaxed(&nstime_ready, true);
    atomic_store_relaxed(&nstime_ready_ns, nstime_now_precise());
}

/* The coarse clock costs a few nanoseconds (no hardware counter read); kernels lack it rarely. */
static clockid_t nstime_clock = CLOCK_MONOTONIC_COARSE;

static uint64_t nstime_read(clockid_t id) {
    struct timespec ts;
    int saved = errno;
    int r = clock_gettime(id, &ts);
    errno = saved;
    if (r != 0)
        return UINT64_MAX;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t nstime_now(void) {
    if (nstime_hook != NULL)
        return nstime_hook();
    uint64_t t = nstime_read(atomic_load_relaxed(&nstime_clock));
    if (unlikely(t == UINT64_MAX)) {
        atomic_store_relaxed(&nstime_clock, CLOCK_MONOTONIC);
        t = nstime_read(CLOCK_MONOTONIC);
    }
    return t == UINT64_MAX ? 0 : t;
}

uint64_t nstime_now_precise(void) {
    if (nstime_hook != NULL)
        return nstime_hook();
    uint64_t t = nstime_read(CLOCK_MONOTONIC);
    return t == UINT64_MAX ? 0 : t;
}
