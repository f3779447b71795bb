/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * compat: glibc's malloc extras, answered from this allocator's own state: malloc_trim (flush
 * the caller's cache and purge every arena), mallopt, mallinfo/mallinfo2, malloc_stats and
 * malloc_info. Defining all of them keeps a static link from pulling glibc's malloc.o in beside
 * ours. malloc_info writes to the caller's FILE with stdio, after every lock is released.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "allocator/internal/api.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/stats_print.h"
#include "allocator/internal/tsd.h"

/*
 * glibc's <malloc.h> declares mallopt's parameters and the mallinfo structures; musl's does not.
 * Built against such a libc, define them with glibc's values and layout, so that mallopt and
 * mallinfo keep glibc's interface (a program declaring them as glibc does gets what it expects).
 */
#ifndef __GLIBC__
#define M_MXFAST 1
#define M_TRIM_THRESHOLD -1
#define M_TOP_PAD -2
#define M_MMAP_THRESHOLD -3
#define M_MMAP_MAX -4
#define M_CHECK_ACTION -5
#define M_PERTURB -6
#define M_ARENA_TEST -7
#define M_ARENA_MAX -8
struct mallinfo {
    int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
#endif

EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    if (api_init() != INIT_OK)
        return 0;
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tcache_flush_all(&tsd->tcache);
    size_t purged = 0;
    unsigned n = atomic_load_acquire(&narenas_total);
    for (unsigned i = 0; i < n; i++) {
        arena_t *a = arena_get(i);
        if (a != NULL)
            purged += arena_purge(a);
    }
    return purged != 0;
}

EXPORT int mallopt(int param, int value) {
    switch (param) {
    case M_ARENA_MAX:
        if (value < 1)
            return 0;
        if (api_init() != INIT_OK)
            return 0;
        arenas_auto_set((unsigned)value);
        return 1;
    case M_MXFAST:
    case M_TRIM_THRESHOLD:
    case M_TOP_PAD:
    case M_MMAP_THRESHOLD:
    case M_MMAP_MAX:
    case M_CHECK_ACTION:
    case M_PERTURB:
    case M_ARENA_TEST:
        /* glibc's heap-layout knobs; this allocator has no such structure (see README). */
        return 1;
    default:
        return 0;
    }
}

static void compat_totals(stats_totals_t *t) {
    memset(t, 0, sizeof(*t));
    if (api_init() == INIT_OK)
        stats_totals(t);
}

EXPORT struct mallinfo2 mallinfo2(void) {
    stats_totals_t t;
    compat_totals(&t);
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof(mi));
    mi.arena = t.active + t.dirty + t.muzzy; /* bytes the arenas hold from the system */
    mi.ordblks = 0;
    mi.hblkhd = t.metadata;                                   /* metadata mapped separately */
    mi.uordblks = t.allocated;                                /* in use */
    mi.fordblks = t.active + t.dirty + t.muzzy - t.allocated; /* free, still held */
    mi.keepcost = t.dirty + t.muzzy;                          /* what malloc_trim could release */
    return mi;
}

static int clamp_int(size_t v) { return v > (size_t)0x7fffffff ? 0x7fffffff : (int)v; }

EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof(mi));
    mi.arena = clamp_int(m2.arena);
    mi.hblkhd = clamp_int(m2.hblkhd);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    return mi;
}

EXPORT void malloc_stats(void) {
    if (api_init() == INIT_OK)
        stats_print(io_write_stderr, NULL, NULL);
}

EXPORT int malloc_info(int options, FILE *fp) {
    if (options != 0)
        return EINVAL;
    if (api_init() != INIT_OK)
        return -1;
    char line[512];
    fputs("<malloc version=\"allocator-" ALLOCATOR_VERSION "\">\n", fp);
    unsigned n = atomic_load_acquire(&narenas_total);
    static stats_arena_t s CACHE_ALIGNED;
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < n; i++) {
        memset(&s, 0, sizeof(s));
        if (!stats_arena_merge(i, &s))
            continue;
        snprintf(line, sizeof(line), "<heap nr=\"%u\">\n<sizes>\n", i);
        fputs(line, fp);
        for (unsigned b = 0; b < SC_NBINS; b++) {
            if (s.bins[b].curregs == 0)
                continue;
            snprintf(line, sizeof(line),
                     "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                     b == 0 ? (size_t)1 : bin_infos[b - 1].reg_size + 1, bin_infos[b].reg_size,
                     s.bins[b].curregs * bin_infos[b].reg_size, s.bins[b].curregs);
            fputs(line, fp);
        }
        snprintf(line, sizeof(line),
                 "</sizes>\n<total type=\"small\" size=\"%zu\"/>\n<total type=\"large\" "
                 "size=\"%zu\"/>\n<system type=\"current\" size=\"%zu\"/>\n<system type=\"dirty\" "
                 "size=\"%zu\"/>\n<system type=\"muzzy\" size=\"%zu\"/>\n<system "
                 "type=\"retained\" size=\"%zu\"/>\n</heap>\n",
                 s.small_allocated, s.large_allocated, s.pactive << LG_PAGE, s.pdirty << LG_PAGE,
                 s.pmuzzy << LG_PAGE, s.pretained << LG_PAGE);
        fputs(line, fp);
    }
    pthread_mutex_unlock(&lock);
    stats_totals_t t;
    stats_totals(&t);
    snprintf(line, sizeof(line),
             "<total type=\"allocated\" size=\"%zu\"/>\n<total type=\"active\" size=\"%zu\"/>\n"
             "<total type=\"metadata\" size=\"%zu\"/>\n<system type=\"mapped\" size=\"%zu\"/>\n"
             "</malloc>\n",
             t.allocated, t.active, t.metadata, t.mapped);
    fputs(line, fp);
    return 0;
}
