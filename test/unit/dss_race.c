/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The program moves the break between the allocator's read of it and its own move (a program
 * thread calling sbrk at that very moment). This test defines sbrk, which the allocator calls
 * through pages_brk, and at the chosen moment moves the break by one page itself (through
 * glibc's __sbrk) just before the allocator's move. What the allocator added lies above the
 * program's page, not where it planned: it must give it back (the break ends just above the
 * program's page), take nothing more from the break, and serve the chunk from mmap; the
 * program's page is untouched.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"
#include "allocator/internal/chunk.h"
#include "allocator/internal/dss.h"
#include "unit.h"

#define MiB ((size_t)1 << 20)

void *__sbrk(intptr_t incr);

static int race_armed;    /* 1: the next move of the break is raced */
static char *race_page;   /* the page the "program" took */
static uintptr_t race_at; /* the break just after the program's page */

void *sbrk(intptr_t incr) {
    if (race_armed && incr != 0) {
        race_armed = 0;
        race_page = __sbrk((intptr_t)PAGE);
        race_at = (uintptr_t)__sbrk(0);
        if (race_page != (void *)-1)
            memset(race_page, 0x77, PAGE);
    }
    return __sbrk(incr);
}

static unsigned arena_new(conf_dss_t dss) {
    unsigned ind = 0;
    size_t len = sizeof(ind);
    check_eq(mallctl("arenas.create", &ind, &len, NULL, 0), 0);
    chunk_dss_set(ind, dss);
    return ind;
}

int main(void) {
    free(malloc(1)); /* initialise */
    unsigned a = arena_new(DSS_PRIMARY);
    void *first = mallocx(3 * MiB, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    dss_stats_t s;
    dss_stats(&s);
    check(first != NULL && (uintptr_t)first >= s.base && (uintptr_t)first < s.end);
    check(!s.lost);
    uintptr_t end_before = s.end;

    race_armed = 1;
    void *p = mallocx(3 * MiB, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    check(!race_armed); /* the allocator did try to move the break */
    check(race_page != (void *)-1 && (uintptr_t)race_page == end_before);
    dss_stats(&s);
    check(s.lost);
    check_eq(s.end, end_before);
    check_eq((uintptr_t)__sbrk(0), race_at); /* what the allocator added went back */
    check(p != NULL && ((uintptr_t)p >= race_at || (uintptr_t)p + 3 * MiB <= s.base));
    if (p != NULL)
        memset(p, 1, 3 * MiB);
    for (size_t i = 0; race_page != (void *)-1 && i < PAGE; i++)
        if (race_page[i] != 0x77) {
            check(!"the program's page changed");
            break;
        }
    /* From now on nothing more from the break, even with dss:primary. */
    void *q = mallocx(5 * MiB, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
    check(q != NULL && (uintptr_t)__sbrk(0) == race_at);
    dallocx(q, MALLOCX_TCACHE_NONE);
    dallocx(p, MALLOCX_TCACHE_NONE);
    dallocx(first, MALLOCX_TCACHE_NONE);
    return unit_finish("dss_race");
}
