/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A statically linked program: liballocator.a serves every allocation, including the ones glibc's
 * own static startup code makes before any constructor runs.
 *
 * The sidecar static_startup.ldflags links with --wrap for malloc, free, calloc and realloc, so
 * every call to them, from this file and from inside libc.a alike, goes through __wrap_* below,
 * which count calls and forward to __real_* (liballocator's: libc.a's malloc.o cannot be linked
 * beside liballocator.a without multiple definitions). The wrappers use no stdio and no locks.
 *
 * glibc 2.36's static startup (_dl_non_dynamic_init, setting up the library search path) calls
 * malloc four or five times before constructors run, and frees too when LD_LIBRARY_PATH is set. A
 * constructor of priority 101 (the earliest a program may use) takes a snapshot of the counters and
 * checks that the blocks handed out so far have liballocator's size classes. main then checks the
 * snapshot, and exercises the allocator from threads and a forked child. static_startup.sh runs
 * this binary with and without LD_LIBRARY_PATH, and with statistics printed at exit.
 *
 * With dss:primary (static_startup.sh's last run), main checks that the blocks glibc's startup
 * made came from the program break: sbrk works that early.
 *
 * early_calls.h wraps the clock, ctype, sysconf and stdio functions the same way: none of them
 * may be called (by liballocator's init or anything else) before that first constructor.
 *
 * The same source is cross-built for aarch64 and run under qemu (test/programs/cross_aarch64.sh)
 * and linked against musl (test/programs/musl_static.sh). musl's startup allocates nothing, so
 * the checks of glibc's early blocks apply to glibc only.
 */
#include "../test.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/wait.h>

#include "early_calls.h"
#include "allocator/internal/config_gen.h"

#ifndef __GLIBC__
void malloc_stats(void); /* glibc's extra; liballocator defines it, musl's headers do not */
#endif

void *__real_malloc(size_t size);
void __real_free(void *ptr);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__wrap_malloc(size_t size);
void __wrap_free(void *ptr);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

static unsigned long n_malloc, n_free, n_calloc, n_realloc;

/* Blocks handed out before the constructor ran (single-threaded then: no locking needed). */
enum { EARLY_MAX = 64 };
static struct {
    void *p;
    size_t size;
} early[EARLY_MAX];
static int n_early;
static int ctor_done;

/*
 * Where each allocation call before the constructor came from, as an offset from the ELF header
 * (the same in -static and -static-pie links); static_startup.sh names the functions with
 * addr2line: glibc's _dl_non_dynamic_init and what it calls (_dl_init_paths, _dl_get_origin...).
 */
extern char __ehdr_start[];
static uintptr_t early_callers[EARLY_MAX];
static int n_early_callers;

static void early_caller(void *ra) {
    if (!ctor_done && n_early_callers < EARLY_MAX) {
        early_callers[n_early_callers++] = (uintptr_t)ra - (uintptr_t)__ehdr_start;
    }
}

static void early_record(void *p, size_t size) {
    if (!ctor_done && p != NULL && n_early < EARLY_MAX) {
        early[n_early].p = p;
        early[n_early].size = size;
        n_early++;
    }
}

static void early_forget(void *p) {
    if (ctor_done || p == NULL) {
        return;
    }
    for (int i = 0; i < n_early; i++) {
        if (early[i].p == p) {
            early[i].p = NULL;
        }
    }
}

/*
 * The break at the first allocation: the allocator's part of the break lies above it. (&end will
 * not do: a static PIE's break starts far from the program.)
 */
static uintptr_t brk_first;

void *__wrap_malloc(size_t size) {
    if (brk_first == 0) {
        brk_first = (uintptr_t)sbrk(0);
    }
    __atomic_add_fetch(&n_malloc, 1, __ATOMIC_RELAXED);
    early_caller(__builtin_return_address(0));
    void *p = __real_malloc(size);
    early_record(p, size);
    return p;
}

void __wrap_free(void *ptr) {
    if (ptr != NULL) {
        __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    }
    early_forget(ptr);
    __real_free(ptr);
}

void *__wrap_calloc(size_t nmemb, size_t size) {
    if (brk_first == 0) {
        brk_first = (uintptr_t)sbrk(0);
    }
    __atomic_add_fetch(&n_calloc, 1, __ATOMIC_RELAXED);
    early_caller(__builtin_return_address(0));
    void *p = __real_calloc(nmemb, size);
    early_record(p, nmemb * size);
    return p;
}

void *__wrap_realloc(void *ptr, size_t size) {
    __atomic_add_fetch(&n_realloc, 1, __ATOMIC_RELAXED);
    early_caller(__builtin_return_address(0));
    early_forget(ptr);
    void *p = __real_realloc(ptr, size);
    early_record(p, size);
    return p;
}

/* What the constructor saw. */
static unsigned long snap_malloc, snap_free, snap_calloc, snap_realloc;
static int snap_live, snap_bad_class, snap_bad_nallocx;
static size_t snap_bad_size, snap_bad_usable;
static int ctor_alloc_ok;

__attribute__((constructor(101))) static void snapshot(void) {
    early_calls_close();
    snap_malloc = n_malloc;
    snap_free = n_free;
    snap_calloc = n_calloc;
    snap_realloc = n_realloc;
    ctor_done = 1;
    for (int i = 0; i < n_early; i++) {
        if (early[i].p == NULL) {
            continue;
        }
        snap_live++;
        size_t usable = malloc_usable_size(early[i].p);
        if (usable != test_size_class(early[i].size)) {
            snap_bad_class++;
            snap_bad_size = early[i].size;
            snap_bad_usable = usable;
        }
        if (nallocx(early[i].size, 0) != usable) {
            snap_bad_nallocx++;
        }
    }
    /* The allocator works from a constructor. */
    char *p = malloc(100);
    char *q = calloc(10, 10);
    void *a = NULL;
    int err = posix_memalign(&a, 4096, 100);
    void *b = aligned_alloc(256, 768);
    void *c = memalign(65536, 70000);
    ctor_alloc_ok = p != NULL && q != NULL && err == 0 && malloc_usable_size(p) == 112 &&
                    test_find_not(q, 100, 0) == 100 && ((uintptr_t)a & 4095) == 0 && b != NULL &&
                    ((uintptr_t)b & 255) == 0 && c != NULL && ((uintptr_t)c & 65535) == 0 &&
                    malloc_usable_size(c) >= 70000;
    free(b);
    free(c);
    if (p != NULL) {
        memset(p, 7, 100);
        p = realloc(p, 5000);
        ctor_alloc_ok = ctor_alloc_ok && p != NULL && test_find_not(p, 100, 7) == 100 &&
                        malloc_usable_size(p) == 5120;
    }
    free(p);
    free(q);
    free(a);
}

static void *thread_main(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    enum { SLOTS = 256 };
    unsigned char *blocks[SLOTS] = {0};
    size_t sizes[SLOTS];
    for (int op = 0; op < 100000; op++) {
        int k = (int)(test_rand(&rng) % SLOTS);
        if (blocks[k] != NULL) {
            if (!expect_fill(blocks[k], sizes[k], (uint64_t)k)) {
                break;
            }
            if (op % 3 == 0) {
                free(blocks[k]);
                blocks[k] = NULL;
                continue;
            }
            size_t n = test_rand_range(&rng, 1, 20000);
            unsigned char *q = realloc(blocks[k], n);
            require_ptr_not_null(q);
            blocks[k] = q;
            sizes[k] = n;
            test_fill(q, n, (uint64_t)k);
            continue;
        }
        sizes[k] = test_rand_range(&rng, 1, op % 100 == 0 ? 500000 : 2000);
        switch (op % 3) {
        case 0:
            blocks[k] = malloc(sizes[k]);
            break;
        case 1:
            blocks[k] = calloc(1, sizes[k]);
            require_ptr_not_null(blocks[k]);
            expect_all_bytes(blocks[k], sizes[k], 0);
            break;
        default: {
            void *p = NULL;
            size_t align = (size_t)16 << (op % 8);
            if (op % 2 == 0) {
                expect_d_eq(posix_memalign(&p, align, sizes[k]), 0);
            } else {
                p = aligned_alloc(align, sizes[k]);
            }
            expect_ptr_aligned(p, align);
            blocks[k] = p;
            break;
        }
        }
        require_ptr_not_null(blocks[k]);
        test_fill(blocks[k], sizes[k], (uint64_t)k);
    }
    for (int k = 0; k < SLOTS; k++) {
        free(blocks[k]);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++) {
        require_true(pthread_create(&t[i], NULL, thread_main, (void *)(i + 1)) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
}

static void test_fork(void) {
    char *parent = malloc(3000);
    require_ptr_not_null(parent);
    test_fill(parent, 3000, 5);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        int bad = test_check_fill(parent, 3000, 5) != 3000;
        free(parent);
        for (size_t n = 1; n < 3000000; n = n * 3 + 1) {
            char *p = malloc(n);
            bad |= p == NULL || malloc_usable_size(p) != test_size_class(n);
            if (p != NULL) {
                memset(p, 1, n);
            }
            free(p);
        }
        _exit(bad);
    }
    require_true(pid > 0);
    int status = 0;
    expect_d_eq(waitpid(pid, &status, 0), pid);
    if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        test_fail("forked child failed: status 0x%x", status);
    }
    expect_fill(parent, 3000, 5);
    free(parent);
}

/*
 * dss:primary: every block still live from before constructors, and a new chunk, lie between
 * the break as it was at the first allocation and the break now. musl's sbrk refuses to move the
 * break, so there the allocator uses mmap, and only the blocks' contents are checked.
 */
static void test_dss(void) {
    const char *dss = NULL;
    size_t sz = sizeof(dss);
    expect_d_eq(mallctl("opt.dss", &dss, &sz, NULL, 0), 0);
    if (dss == NULL || strcmp(dss, "primary") != 0) {
        return;
    }
    size_t big = (size_t)5 << 20;
    char *p = malloc(big);
    require_ptr_not_null(p);
    memset(p, 9, big);
    uintptr_t lo = brk_first, hi = (uintptr_t)sbrk(0);
    int from_break = 0, live = 0;
    for (int i = 0; i < n_early; i++) {
        if (early[i].p != NULL) {
            live++;
            from_break += (uintptr_t)early[i].p >= lo && (uintptr_t)early[i].p + early[i].size <= hi;
        }
    }
    bool big_in = (uintptr_t)p >= lo && (uintptr_t)p + big <= hi;
#ifdef __GLIBC__
    expect_d_gt(live, 0);
    expect_d_eq(from_break, live);
    expect_true(big_in);
#endif
    expect_all_bytes(p, big, 9);
    free(p);
    printf("dss: %d of %d early blocks and %s 5 MiB block from the break\n", from_break, live,
           big_in ? "a" : "no");
}

int main(void) {
    printf("before constructors: malloc %lu, free %lu, calloc %lu, realloc %lu; %d blocks live\n",
           snap_malloc, snap_free, snap_calloc, snap_realloc, snap_live);
    for (int i = 0; i < n_early_callers; i++) {
        printf("early caller: %#lx\n", (unsigned long)early_callers[i]);
    }

    /* Nothing called a clock, ctype, sysconf or stdio function before constructors. */
    expect_d_eq(early_calls_report(), 0);

#ifdef __GLIBC__
    /* glibc's static startup allocated before constructors, and liballocator served it. */
    expect_zu_gt(snap_malloc + snap_calloc, 0);
    const char *llp = getenv("LD_LIBRARY_PATH");
    if (llp != NULL && llp[0] != '\0') {
        /* Parsing LD_LIBRARY_PATH frees temporary blocks during startup. */
        expect_zu_gt(snap_free, 0);
    }
    expect_d_gt(snap_live, 0);
#endif
    if (!expect_d_eq(snap_bad_class, 0)) {
        fprintf(stderr, "  (an early block of %zu bytes has usable size %zu, expected %zu)\n",
                snap_bad_size, snap_bad_usable, test_size_class(snap_bad_size));
    }
    expect_d_eq(snap_bad_nallocx, 0);
    expect_true(ctor_alloc_ok);

    /*
     * The page size was read from the auxiliary vector in glibc's static startup (the first
     * allocation above came before constructors): the kernel's page, or the test-only setting's
     * in a debug build, or the one --with-lg-page fixed. Under qemu -p (cross_aarch64.sh) the
     * kernel's page is the one qemu reports.
     */
    size_t page = 0, len = sizeof(page);
    bool debug = false;
    size_t dlen = sizeof(debug);
    require_true(mallctl("arenas.page", &page, &len, NULL, 0) == 0);
    require_true(mallctl("config.debug", &debug, &dlen, NULL, 0) == 0);
    size_t want = (size_t)getauxval(AT_PAGESZ);
    const char *lg = getenv("ALLOCATOR_TEST_LG_PAGE");
    if (debug && lg != NULL)
        want = (size_t)1 << atoi(lg);
    if (ALLOCATOR_LG_PAGE != 0)
        want = (size_t)1 << ALLOCATOR_LG_PAGE;
    expect_zu_eq(page, want);
    printf("page: %zu (kernel %lu)\n", page, getauxval(AT_PAGESZ));

    /* The extended interface is linked in and agrees. */
    void *x = mallocx(100, 0);
    require_ptr_not_null(x);
    expect_zu_eq(sallocx(x, 0), 112);
    dallocx(x, 0);
    char *p = malloc(100);
    require_ptr_not_null(p);
    expect_zu_eq(malloc_usable_size(p), 112);
    free(p);

    /* Calls are still routed through the wrappers after startup. */
    unsigned long before = __atomic_load_n(&n_malloc, __ATOMIC_RELAXED);
    free(malloc(10));
    expect_zu_eq(__atomic_load_n(&n_malloc, __ATOMIC_RELAXED), before + 1);

    test_dss();
    test_threads();
    test_fork();

    /* Statistics come from liballocator in a static program too. */
    test_capture_t cap;
    require_true(test_capture_begin(&cap));
    malloc_stats();
    char *text = test_capture_end(&cap);
    expect_str_contains(text, "___ Begin allocator statistics ___");
    expect_d_gt(test_stats_nmalloc(text), 0);
    free(text);
    return test_done();
}
