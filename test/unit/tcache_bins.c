/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A cache writes only the bins of the classes it may hold (those up to tcache_max): the bins of
 * the other classes (129 of 170 with the default tcache_max, 8 KiB of each thread's state) keep
 * what the memory held, zero in base memory, so they never become resident.
 * - tcache_init over memory filled with a pattern sets up bins 0..tcache_nhbins() (class sizes,
 *   stacks of enabled caches) and leaves every byte of the bins above as it was, enabled or not;
 *   the cached classes' bins start inactive (no room, no bit in active[]) and
 *   tcache_bin_activate gives each its starting size;
 * - a thread's bins are active for the classes it used, whether its first call of the class
 *   was a malloc or a free, and inactive for the others;
 * - zeroed bins make both fast paths miss: malloc of an uncached class and free of a block of
 *   one (through the library's exported functions, here linked statically) work as usual;
 * - a new thread's state: after it allocates and frees blocks of many classes, cached and not,
 *   no page lying wholly inside its uncached bins is resident (/proc/self/pagemap: present and
 *   mapped by this process alone; the zero page that reads map is neither).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

static void *stacks[1 << 16];
static tcache_t tc;

static bool bytes_are(const void *p, size_t n, unsigned char v) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != v)
            return false;
    return true;
}

static void test_init_writes_cached_bins_only(void) {
    unsigned nh = tcache_nhbins();
    check(nh > 0 && nh < SC_NSIZES);
    for (int enabled = 0; enabled <= 1; enabled++) {
        memset(&tc, 0xa5, sizeof(tc));
        tcache_init(&tc, NULL, stacks, enabled);
        check_eq(tc.nhbins, enabled ? nh : 0);
        check(bytes_are(&tc.bins[0], sizeof(tc.bins[0]), 0));
        for (unsigned i = 0; i < sizeof(tc.active) / sizeof(tc.active[0]); i++)
            check_eq(tc.active[i], 0);
        for (unsigned i = 1; i <= nh; i++) {
            check_eq(tc.bins[i].size, sz_index2size(i - 1));
            check_eq(tc.bins[i].full, tc.bins[i].low);
            check_eq(cache_bin_ncached(&tc.bins[i]), 0);
            check_eq(cache_bin_ncached_max(&tc.bins[i]), 0);
            if (!enabled)
                continue;
            tcache_bin_activate(&tc, i);
            check(tcache_bin_active(&tc, i));
            check(tc.bins[i].full > tc.bins[i].top);
            check_eq(cache_bin_ncached_max(&tc.bins[i]), tcache_nslots_share(i - 1));
            check(tc.bins[i].nfill >= 1 && tc.bins[i].nfill <= cache_bin_ncached_max(&tc.bins[i]));
        }
        check(!tcache_bin_active(&tc, 0));
        for (unsigned i = nh + 1; i <= SC_NSIZES; i++)
            check(bytes_are(&tc.bins[i], sizeof(tc.bins[i]), 0xa5));
    }
}

/* The kernel's page (pagemap's unit), whatever page size the library was built for. */
static uintptr_t kpage;

/* Is the page at addr resident and this process's own? -1 when pagemap cannot tell. */
static int page_owned(int pm, uintptr_t addr) {
    uint64_t e;
    if (pread(pm, &e, sizeof(e), (off_t)(addr / kpage * sizeof(e))) != (ssize_t)sizeof(e))
        return -1;
    return (e >> 63 & 1) && (e >> 56 & 1);
}

static int nowned, nchecked;

/* A block of the given class made by another thread, so that this one's first call is a free. */
static void *make_block(void *arg) {
    *(void **)arg = malloc(sz_index2size(*(unsigned *)arg));
    return NULL;
}

static void *thread_main(void *arg) {
    (void)arg;
    /* Classes 3 and 5 reached first by a free (a block of another thread's), twice each. */
    for (int i = 0; i < 4; i++) {
        union {
            unsigned ind;
            void *p;
        } u = {.ind = i < 2 ? 3 : 5};
        pthread_t t;
        check(pthread_create(&t, NULL, make_block, &u) == 0);
        pthread_join(t, NULL);
        check(u.p != NULL);
        free(u.p);
    }
    /* The frees were cached (but for a first call of the thread, which pthread_create's own
     * allocations may have made already: it goes back to the block's arena). */
    tcache_t *tc = &tsd_get()->tcache;
    check(cache_bin_ncached(&tc->bins[3 + 1]) >= 1);
    check(cache_bin_ncached(&tc->bins[5 + 1]) >= 1);
    check(tcache_bin_active(tc, 3 + 1) && tcache_bin_active(tc, 5 + 1));
    /* Every class up to 64 KiB, cached or not, allocated and freed twice. */
    for (int round = 0; round < 2; round++) {
        for (size_t size = 8; size <= ((size_t)64 << 10); size += size / 4) {
            void *p = malloc(size);
            check(p != NULL);
            memset(p, 1, size);
            free(p);
        }
    }
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    unsigned nh = tsd->tcache.nhbins;
    check(nh == tcache_nhbins());
    bool used[SC_NSIZES + 1] = {false};
    used[3 + 1] = used[5 + 1] = true;
    for (size_t size = 8; size <= ((size_t)64 << 10); size += size / 4)
        used[sz_size2index(size) + 1] = true;
    for (unsigned bi = 1; bi <= nh; bi++) {
        check_eq(tcache_bin_active(&tsd->tcache, bi), used[bi]);
        check_eq(tsd->tcache.bins[bi].full != tsd->tcache.bins[bi].low, used[bi]);
    }

    uintptr_t lo = (uintptr_t)&tsd->tcache.bins[nh + 1], hi = (uintptr_t)&tsd->tcache.bins[SC_NSIZES + 1];
    for (unsigned i = nh + 1; i <= SC_NSIZES; i++)
        check(bytes_are(&tsd->tcache.bins[i], sizeof(tsd->tcache.bins[i]), 0));
    int pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0)
        return NULL;
    for (uintptr_t a = (lo + kpage - 1) / kpage * kpage; a + kpage <= hi; a += kpage) {
        int owned = page_owned(pm, a);
        if (owned < 0)
            break;
        nchecked++;
        nowned += owned;
    }
    close(pm);
    return NULL;
}

static void test_thread_state(void) {
    pthread_t t;
    check(pthread_create(&t, NULL, thread_main, NULL) == 0);
    pthread_join(t, NULL);
    /* 8 KiB of uncached bins hold a whole page of 4 KiB (not always one of 64 KiB). */
    if (kpage <= 4096)
        check(nchecked >= 1);
    check_eq(nowned, 0);
}

int main(void) {
    free(malloc(1)); /* boot */
    kpage = (uintptr_t)sysconf(_SC_PAGESIZE);
    check(tcache_stack_bytes() <= sizeof(stacks));
    test_init_writes_cached_bins_only();
    test_thread_state();
    return unit_finish("tcache_bins");
}
