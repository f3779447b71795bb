/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_libgcc_static: libgcc's unwinder for the static library (liballocator.a), named directly.
 * A program linked with the archive links libgcc's unwinder with it (libgcc_eh in a static
 * binary, libgcc_s in a dynamic one), so the functions are there from the start and nothing is
 * loaded at run time. The shared library has prof_libgcc_shared.c instead, which loads libgcc_s
 * when a backtrace first needs it; each library holds exactly one of the two files (Makefile.in).
 *
 * Early in a static program's start, glibc's _dl_non_dynamic_init allocates before it has set up
 * the lookup libgcc finds frame descriptions with: an unwinder called then aborts the program or
 * crashes in that lookup. prof_unwind calls prof_libgcc_load only once constructors have run
 * (nstime_ready), and until then prof_libgcc_loaded gives NULL here too, as the shared library's.
 */
#include "allocator/internal/prof.h"

#if ALLOCATOR_PROF_LIBGCC /* platform: without libgcc's unwinder nothing may name it */
const void *_Unwind_Find_FDE(void *pc, void *bases);
static const prof_libgcc_t prof_libgcc_linked = {
    .backtrace = _Unwind_Backtrace,
    .find_fde = _Unwind_Find_FDE,
    .get_ip = _Unwind_GetIP,
};
#endif
static bool prof_libgcc_ready;

const prof_libgcc_t *prof_libgcc_load(void) {
    atomic_store_release(&prof_libgcc_ready, true);
    return prof_libgcc_loaded();
}

const prof_libgcc_t *prof_libgcc_loaded(void) {
#if ALLOCATOR_PROF_LIBGCC /* platform: as above */
    if (atomic_load_acquire(&prof_libgcc_ready))
        return &prof_libgcc_linked;
#endif
    return NULL;
}

void prof_libgcc_postfork_child(void) {}
