/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The thread event counter's tick: a thread whose every call hits the malloc and free fast paths
 * (never a fill, a flush or a miss) still garbage-collects its cache and ages its arena's dirty
 * pages, one tick per TEVENT_TICK_BYTES allocated. Before the tick ran on the counter, both
 * happened only on slow-path events, so such a thread kept idle cached regions and dirty pages
 * for ever (without background threads).
 */
#include <sys/resource.h>
#include <unistd.h>

#include "allocator/internal/nstime.h"
#include "allocator/internal/tevent.h"
#include "unit.h"

static uint64_t fake_now = 1000000000;
static uint64_t fake_clock(void) { return fake_now; }

/* malloc and free one block of size, n times: fast-path hits only after the first. */
static void spin(size_t size, size_t n) {
    for (size_t i = 0; i < n; i++) {
        void *p = malloc(size);
        *(volatile char *)p = 1;
        free(p);
    }
}

int main(void) {
    nstime_hook = fake_clock;
    free(malloc(1)); /* initialise the allocator and this thread's cache */
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    tcache_t *tc = &tsd->tcache;
    arena_t *arena = tsd->arena;
    check(arena != NULL);

    /* Idle regions in the 256 B bin; dirty pages in the arena (a freed 1 MiB block). */
    enum { N = 16 };
    void *small[N];
    for (int i = 0; i < N; i++)
        small[i] = malloc(256);
    for (int i = 0; i < N; i++)
        free(small[i]);
    cache_bin_t *cb = &tc->bins[sz_size2index(256) + 1];
    uint32_t cached = cache_bin_ncached(cb);
    check(cached >= N / 2);
    void *big = malloc((size_t)1 << 20);
    memset(big, 1, (size_t)1 << 20);
    free(big);
    size_t dirty = atomic_load_relaxed(&arena->ex.dirty.npages);
    check(dirty >= ((size_t)1 << 20) / PAGE);

    /* Past the decay window, then allocate on the fast path alone until the GC has visited
     * every bin twice. */
    fake_now += (uint64_t)60 * 1000000000;
    size_t per_sweep = (size_t)TEVENT_TICK_BYTES / 1024 * (tc->nhbins + 1);
    spin(1024, 2 * per_sweep);

    check(cache_bin_ncached(cb) < cached);
    check(atomic_load_relaxed(&arena->ex.dirty.npages) < dirty);

    /*
     * A call that fails runs no tick: with the tick due and the GC's next visit on a bin that
     * holds idle regions, an allocation that cannot succeed (address space exhausted) leaves
     * the bin as it was. Before, the tick ran before the attempt and flushed half the bin, and
     * integration/oom_raise saw the statistics move across calls that had all failed.
     */
    for (int i = 0; i < N; i++)
        small[i] = malloc(256);
    for (int i = 0; i < N; i++)
        free(small[i]);
    cached = cache_bin_ncached(cb);
    check(cached >= N / 2);
    struct rlimit low = {0, RLIM_INFINITY};
    check(getrlimit(RLIMIT_AS, &low) == 0);
    low.rlim_cur = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long vm_pages = 0;
    check(f != NULL && fscanf(f, "%lu", &vm_pages) == 1);
    fclose(f);
    low.rlim_cur = vm_pages * (unsigned long)sysconf(_SC_PAGESIZE) + ((size_t)16 << 20);
    check(setrlimit(RLIMIT_AS, &low) == 0);
    /* Nothing allocates between here and the call (stdio did, above). */
    cb->dried = 0;
    tc->gc_bin = sz_size2index(256);
    tsd->tick_left = 1;
    tsd->event_left = tsd->event_armed = 1;
    void *huge = malloc((size_t)1 << 30);
    check(huge == NULL);
    check_eq(cache_bin_ncached(cb), cached);
    return unit_finish("tevent_tick");
}
