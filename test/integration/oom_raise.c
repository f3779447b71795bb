/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Address space running out in the middle of a run, then coming back. A child process warms up
 * (threads allocate and free, blocks of every size class kind are held), then lowers its own
 * soft RLIMIT_AS to a little above what it maps, while a second thread keeps allocating:
 *   - allocation fails with NULL and ENOMEM (posix_memalign returns ENOMEM), in both threads,
 *     for every entry point: malloc, calloc, posix_memalign, aligned_alloc, mallocx, realloc and
 *     rallocx (which keep the old block and its contents), xallocx (which keeps the size);
 *   - a failed call leaves stats.allocated, stats.active and stats.mapped as they were (once a
 *     first failure has given wholly free chunks back, which it does before trying again);
 * then raises the limit back to where it was:
 *   - huge blocks work again at once (1 GiB, 512 MiB aligned to 512 MiB, a held block grown
 *     to 1.5 GiB with its contents), and stats.allocated grows by at least their sizes;
 *   - once everything is freed, stats.allocated is back near where it started (thread caches
 *     may keep a little).
 * The parent checks the child's exit status and that it printed its "ok" line.
 */
#include "../test.h"

#include <allocator.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MiB ((size_t)1 << 20)

enum { MAX_HELD = 1 << 17 };
static void *held[MAX_HELD];
static size_t nheld;

static size_t stat_get(const char *name) {
    uint64_t epoch = 1;
    size_t v = 0, len = sizeof(v);
    if (mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) != 0 ||
        mallctl(name, &v, &len, NULL, 0) != 0)
        return SIZE_MAX;
    return v;
}

static size_t vm_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * test_page_size();
}

static void *warm_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++)
        free(test_launder(malloc((size_t)(i * 37) % 70000 + 1)));
    return NULL;
}

/*
 * Allocates while the limit is low: must see NULL + ENOMEM, never crash or hang. It parks (holding
 * nothing) while the main thread checks that its failed calls left the statistics unchanged: a
 * 16 MiB block it managed to allocate in between would move them.
 */
static atomic_int limited_phase; /* 1: limit low, 3: park, 2: raised */
static atomic_int other_parked;
static atomic_long other_failures, other_bad_errno;
static void *limited_thread(void *arg) {
    (void)arg;
    while (atomic_load(&limited_phase) == 0)
        sched_yield();
    for (int phase; (phase = atomic_load(&limited_phase)) != 2;) {
        if (phase == 3) {
            atomic_store(&other_parked, 1);
            sched_yield();
            continue;
        }
        errno = 0;
        void *p = malloc(16 * MiB);
        if (p == NULL) {
            atomic_fetch_add(&other_failures, 1);
            if (errno != ENOMEM)
                atomic_fetch_add(&other_bad_errno, 1);
        }
        free(p);
        sched_yield();
    }
    return NULL;
}

static bool stats_same(const size_t a[3]) {
    static const char *const names[3] = {"stats.allocated", "stats.active", "stats.mapped"};
    bool same = true;
    for (int i = 0; i < 3; i++) {
        size_t now = stat_get(names[i]);
        if (now != a[i]) {
            printf("child: %s was %zu, is %zu\n", names[i], a[i], now);
            same = false;
        }
    }
    return same;
}

static int child(void) {
    /* Warm up: threads come and go, and blocks of every kind are held. */
    pthread_t w[2];
    for (int i = 0; i < 2; i++)
        require_true(pthread_create(&w[i], NULL, warm_thread, NULL) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    size_t base = stat_get("stats.allocated");
    pthread_t other;
    require_true(pthread_create(&other, NULL, limited_thread, NULL) == 0);

    struct rlimit old, low;
    require_true(getrlimit(RLIMIT_AS, &old) == 0);
    low = old;
    low.rlim_cur = vm_bytes() + 128 * MiB;
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < low.rlim_cur + (size_t)4096 * MiB) {
        printf("child: RLIMIT_AS is already below what the test needs\n");
        return 77;
    }
    require_true(setrlimit(RLIMIT_AS, &low) == 0);
    atomic_store(&limited_phase, 1);

    /* Exhaust: big blocks first, then ever smaller ones. */
    for (size_t size = 8 * MiB; size >= 64; size /= 8) {
        for (;;) {
            errno = 0;
            void *p = size % 3 == 0 ? calloc(1, size) : malloc(size);
            if (p == NULL) {
                expect_errno(ENOMEM);
                break;
            }
            memset(p, 0x5a, size < 4096 ? size : 4096);
            require_true(nheld < MAX_HELD);
            held[nheld++] = p;
        }
    }
    require_true(nheld >= 3);
    atomic_store(&limited_phase, 3);
    while (!atomic_load(&other_parked))
        sched_yield();
    /*
     * A failing call first gives wholly free chunks back (the other thread's last 16 MiB block
     * may be one) and tries again: from then on failing calls change nothing.
     */
    size_t want = 64 * MiB;
    expect_ptr_null(malloc(want));
    size_t before[3] = {stat_get("stats.allocated"), stat_get("stats.active"),
                        stat_get("stats.mapped")};
    errno = 0;
    expect_ptr_null(malloc(want));
    expect_errno(ENOMEM);
    errno = 0;
    expect_ptr_null(calloc(want / 64, 64));
    expect_errno(ENOMEM);
    void *a = NULL;
    expect_d_eq(posix_memalign(&a, 2 * MiB, want), ENOMEM);
    errno = 0;
    expect_ptr_null(aligned_alloc((size_t)1 << 30, (size_t)1 << 30));
    expect_errno(ENOMEM);
    expect_ptr_null(mallocx(want, MALLOCX_ALIGN(4096)));
    unsigned char *last = held[nheld - 1];
    size_t last_size = malloc_usable_size(last);
    errno = 0;
    expect_ptr_null(realloc(last, want));
    expect_errno(ENOMEM);
    expect_ptr_null(rallocx(last, want, 0));
    expect_zu_eq(xallocx(last, want, 0, 0), last_size);
    expect_zu_eq(test_find_not(last, last_size < 4096 ? last_size : 4096, 0x5a),
                 last_size < 4096 ? last_size : 4096);
    expect_true(stats_same(before));

    /* Raise the limit: huge blocks work again at once. */
    atomic_store(&limited_phase, 2);
    pthread_join(other, NULL);
    require_true(setrlimit(RLIMIT_AS, &old) == 0);
    size_t allocated_low = stat_get("stats.allocated");
    unsigned char *h1 = malloc((size_t)1 << 30);
    unsigned char *h2 = aligned_alloc((size_t)512 * MiB, (size_t)512 * MiB);
    require_true(h1 != NULL && h2 != NULL);
    expect_ptr_aligned(h2, (size_t)512 * MiB);
    h1[0] = h1[((size_t)1 << 30) - 1] = 1;
    h2[0] = h2[512 * MiB - 1] = 2;
    unsigned char *grown = rallocx(held[0], (size_t)1536 * MiB, 0);
    require_ptr_not_null(grown);
    expect_zu_eq(test_find_not(grown, 4096, 0x5a), 4096);
    held[0] = grown; /* an 8 MiB block before */
    /*
     * Each of the three calls may also run one tick of the thread cache's GC (every 4 MiB a
     * thread allocates), which flushes at most half of one bin, up to 64 KiB: regions a cache
     * holds count as allocated until they are flushed. Hence the slack of 1 MiB.
     */
    expect_zu_ge(stat_get("stats.allocated"),
                 allocated_low + (size_t)3 * 1024 * MiB - 8 * MiB - 1 * MiB);
    free(h1);
    free(h2);
    while (nheld > 0)
        free(held[--nheld]);
    size_t end = stat_get("stats.allocated");
    expect_zu_le(end, base + 2 * MiB);
    printf("child: the other thread saw %ld failures (%ld with errno not ENOMEM); allocated at "
           "start %zu KiB, at the end %zu KiB\n",
           atomic_load(&other_failures), atomic_load(&other_bad_errno), base >> 10, end >> 10);
    expect_d_eq(atomic_load(&other_bad_errno), 0);
    int result = test_done();
    if (result == 0)
        printf("child: ok\n");
    return result;
}

int main(int argc, char **argv) {
    (void)argv;
    if (!test_allocator_active() || test_sym("mallctl") == NULL) {
        if (test_glibc_allowed())
            test_skip("statistics are liballocator's");
        return test_done();
    }
    (void)argc;
    static char out[8192];
    int fd = -1;
    pid_t pid = test_fork_piped(&fd, true);
    if (pid == 0) {
        int status = child();
        fflush(stdout);
        _exit(status);
    }
    int status = test_child_collect(fd, pid, out, sizeof(out));
    printf("%s", out);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        test_skip("the address-space limit is already low");
    if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(out, "child: ok\n")))
        test_fail("child: status %#x", (unsigned)status);
    return test_done();
}
