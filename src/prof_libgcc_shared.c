/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_libgcc_shared: libgcc's unwinder for the shared library, loaded when a backtrace first
 * needs it. Naming _Unwind_Backtrace made libgcc_s a dependency of liballocator.so, mapped (about
 * 90 KiB resident) into every process, profiled or not; instead the first backtrace that the
 * cached walk cannot take (a signal frame, say), or its first frame in an object without an
 * .eh_frame_hdr table, dlopens libgcc_s.so.1 (already there in most C++ programs, where this
 * only counts a reference) and looks up the three functions heap profiling uses. The static
 * library has prof_libgcc_static.c instead, which names them (dlopen is no choice in a static
 * binary).
 *
 * prof_libgcc_load runs inside prof_unwind's walk bracket, never under an allocator lock: the
 * fork hooks wait for it (dlopen takes the loader's lock, which a forked child would find held),
 * and the mallocs dlopen makes run with prof_busy set, so they are not sampled and cannot come
 * back here. One thread loads; another that asks meanwhile gets NULL at once (its sample has no
 * stack) rather than waiting: it may hold the loader's lock that the load waits for (a sample
 * in a dlopened library's constructor, or in the loader's own mallocs), and each would wait for
 * the other for ever (programs/prof_libgcc_race; programs/prof_dlopen hung on it now and then).
 * A load that fails (no libgcc_s on the system) is not retried: the stacks the cached walk
 * cannot take are then empty.
 */
#include "allocator/internal/prof.h"

#include <dlfcn.h>
#include <string.h>

enum { LIBGCC_UNTRIED, LIBGCC_LOADING, LIBGCC_DONE };
static unsigned prof_libgcc_state;
static prof_libgcc_t prof_libgcc_fns;
static const prof_libgcc_t *prof_libgcc_ptr; /* &prof_libgcc_fns once loaded, else NULL */

static void libgcc_open(void) {
    void *h = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return;
    prof_libgcc_t f;
    /* dlsym returns object pointers: copy them into the function pointers. */
    void *bt = dlsym(h, "_Unwind_Backtrace"), *fde = dlsym(h, "_Unwind_Find_FDE");
    void *ip = dlsym(h, "_Unwind_GetIP");
    if (bt == NULL || fde == NULL || ip == NULL)
        return; /* the handle stays open: closing it could not free anything we touched */
    memcpy(&f.backtrace, &bt, sizeof(bt));
    memcpy(&f.find_fde, &fde, sizeof(fde));
    memcpy(&f.get_ip, &ip, sizeof(ip));
    prof_libgcc_fns = f;
    atomic_store_release(&prof_libgcc_ptr, &prof_libgcc_fns);
}

const prof_libgcc_t *prof_libgcc_load(void) {
    if (!config_prof_libgcc)
        return NULL;
    unsigned s = atomic_load_acquire(&prof_libgcc_state);
    if (s == LIBGCC_UNTRIED &&
        __atomic_compare_exchange_n(&prof_libgcc_state, &s, LIBGCC_LOADING, false,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        libgcc_open();
        atomic_store_release(&prof_libgcc_state, LIBGCC_DONE);
    }
    /* Loaded, failed, or another thread is loading it: never wait for that (above). */
    return atomic_load_acquire(&prof_libgcc_ptr);
}

const prof_libgcc_t *prof_libgcc_loaded(void) {
    return config_prof_libgcc ? atomic_load_acquire(&prof_libgcc_ptr) : NULL;
}

void prof_libgcc_postfork_child(void) {
    /* Only a fork from a signal handler of the loading thread gets here mid-load; the loader's
     * lock is then held for good in this child: never try again. */
    if (atomic_load_relaxed(&prof_libgcc_state) == LIBGCC_LOADING)
        atomic_store_release(&prof_libgcc_state, LIBGCC_DONE);
}
