/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * api_ctl: the exported entry points that look at the allocator rather than allocate: mallctl
 * and its MIB forms, malloc_stats_print, and bionic's malloc_disable, malloc_enable and
 * malloc_iterate. Each is one line: the initialisation check, done once here, then the module
 * that does the work (ctl, stats_print, heapwalk), which assumes it. mallctl also fetches the
 * calling thread's state, making it on the thread's first call as jemalloc does, so the thread.*
 * names act on it. No lock is held on entry or exit.
 */
#include <errno.h>

#include "allocator.h"
#include "allocator/internal/api.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/heapwalk.h"
#include "allocator/internal/stats_print.h"

/* Initialised, with the caller's thread state made (or tsd_dead: after thread exit, no memory). */
static bool api_ctl_ready(void) { return api_init() == INIT_OK && tsd_fetch() != NULL; }

static int api_einval(void) {
    errno = EINVAL;
    return -1;
}

EXPORT int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    return api_ctl_ready() ? ctl_byname(name, oldp, oldlenp, newp, newlen) : EAGAIN;
}

EXPORT int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp) {
    return api_ctl_ready() ? ctl_nametomib(name, mibp, miblenp) : EAGAIN;
}

EXPORT int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                        size_t newlen) {
    return api_ctl_ready() ? ctl_bymib(mib, miblen, oldp, oldlenp, newp, newlen) : EAGAIN;
}

EXPORT void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts) {
    if (api_init() == INIT_OK)
        stats_print(write_cb, cbopaque, opts);
}

/* ---- bionic's heap-walking interface ------------------------------------------------------ */

EXPORT void malloc_disable(void) {
    if (api_init() == INIT_OK)
        heapwalk_disable();
}

EXPORT void malloc_enable(void) { heapwalk_enable(); }

EXPORT int malloc_iterate(uintptr_t base, size_t size,
                          void (*callback)(uintptr_t base, size_t size, void *arg), void *arg) {
    return api_init() == INIT_OK ? heapwalk_iterate(base, size, callback, arg) : api_einval();
}
