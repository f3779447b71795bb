/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helper of jemalloc_abi.sh (compiled by it, not by make): a program written for jemalloc,
 * built against Debian's <jemalloc/jemalloc.h> and linked with -ljemalloc. It calls every
 * function of jemalloc's extended interface, checks the results that any conforming allocator
 * must give (exit status 1 and a "FAIL:" line otherwise), and prints the facts that tell one
 * allocator from another as "key=value" lines for the script to compare.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

static int failures;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            printf("FAIL: %s:%d: %s\n", __FILE__, __LINE__, #c);                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char stats[1 << 16];
static size_t stats_len;
static unsigned stats_calls;

static void stats_cb(void *opaque, const char *s) {
    CHECK(opaque == (void *)stats);
    size_t n = strlen(s);
    if (stats_len + n < sizeof(stats)) {
        memcpy(stats + stats_len, s, n + 1);
        stats_len += n;
    }
    stats_calls++;
}

int main(void) {
    /* mallocx / sallocx / nallocx */
    char *p = mallocx(100, 0);
    CHECK(p != NULL);
    CHECK(sallocx(p, 0) == nallocx(100, 0));
    CHECK(malloc_usable_size(p) == sallocx(p, 0));
    memset(p, 'a', 100);
    char *a = mallocx(5000, MALLOCX_ALIGN(4096) | MALLOCX_ZERO);
    CHECK(a != NULL && ((uintptr_t)a & 4095) == 0);
    CHECK(a != NULL && a[0] == 0 && a[4999] == 0);
    /* rallocx keeps contents */
    p = rallocx(p, 100000, 0);
    CHECK(p != NULL && p[0] == 'a' && p[99] == 'a');
    CHECK(sallocx(p, 0) >= 100000);
    /* xallocx returns the real size */
    size_t x = xallocx(p, 100000, 0, 0);
    CHECK(x == sallocx(p, 0));
    /* sdallocx / dallocx */
    sdallocx(p, 100000, 0);
    dallocx(a, MALLOCX_ALIGN(4096));
    void *t = mallocx(64, MALLOCX_TCACHE_NONE);
    CHECK(t != NULL);
    dallocx(t, MALLOCX_TCACHE_NONE);

    /* mallctl family */
    const char *version = NULL;
    size_t sz = sizeof(version);
    CHECK(mallctl("version", &version, &sz, NULL, 0) == 0 && version != NULL);
    unsigned nbins = 0;
    sz = sizeof(nbins);
    CHECK(mallctl("arenas.nbins", &nbins, &sz, NULL, 0) == 0);
    size_t mib[4], miblen = 4;
    CHECK(mallctlnametomib("arenas.bin.0.size", mib, &miblen) == 0 && miblen == 4);
    size_t bin0 = 0, bin1 = 0;
    sz = sizeof(bin0);
    CHECK(mallctlbymib(mib, miblen, &bin0, &sz, NULL, 0) == 0);
    mib[2] = 1;
    sz = sizeof(bin1);
    CHECK(mallctlbymib(mib, miblen, &bin1, &sz, NULL, 0) == 0);
    CHECK(bin1 > bin0);
    uint64_t epoch = 1;
    sz = sizeof(epoch);
    CHECK(mallctl("epoch", &epoch, &sz, &epoch, sz) == 0);
    size_t allocated = 0;
    sz = sizeof(allocated);
    CHECK(mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0 && allocated > 0);
    CHECK(mallctl("no.such.name", NULL, NULL, NULL, 0) == ENOENT);

    /* malloc_stats_print through a callback */
    malloc_stats_print(stats_cb, stats, NULL);
    CHECK(stats_calls > 0 && stats_len > 0);
    char first[80];
    size_t i = 0;
    while (i < sizeof(first) - 1 && stats[i] != '\n' && stats[i] != '\0') {
        first[i] = stats[i];
        i++;
    }
    first[i] = '\0';

    void *one = malloc(1);
    CHECK(one != NULL);
    printf("version=%s\n", version);
    size_t page = 0;
    sz = sizeof(page);
    CHECK(mallctl("arenas.page", &page, &sz, NULL, 0) == 0);
    printf("page=%zu\n", page);
    printf("nbins=%u\n", nbins);
    printf("bin0=%zu\n", bin0);
    printf("nallocx1=%zu\n", nallocx(1, 0));
    printf("nallocx100=%zu\n", nallocx(100, 0));
    printf("usable1=%zu\n", malloc_usable_size(one));
    printf("stats_first_line=%s\n", first);
    free(one);
    printf("failures=%d\n", failures);
    return failures != 0;
}
