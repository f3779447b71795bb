/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Proof of service: liballocator, not glibc, serves this process, through every public name.
 *
 * Run linked with -lallocator and unlinked under LD_PRELOAD, this fails if the library is not
 * the one answering: the jemalloc-compatible functions must be found, usable sizes must be
 * liballocator's size classes (glibc gives 104 for malloc(100), we give 112), every allocation
 * function must resolve into the same shared object as mallocx (a function left to glibc would
 * hand glibc's pointers to our free), and malloc_stats() must print our statistics.
 */
#include "../test.h"

#include <malloc.h>

/* Every allocation-related name liballocator exports; each must resolve into liballocator. */
static const char *const public_names[] = {
    "malloc",
    "free",
    "calloc",
    "realloc",
    "reallocarray",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "malloc_usable_size",
    "free_sized",
    "free_aligned_sized",
    "__libc_malloc",
    "__libc_free",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    "__libc_valloc",
    "__libc_pvalloc",
    "__posix_memalign",
    "malloc_trim",
    "mallopt",
    "mallinfo",
    "mallinfo2",
    "malloc_stats",
    "malloc_info",
    "mallocx",
    "rallocx",
    "xallocx",
    "sallocx",
    "dallocx",
    "sdallocx",
    "nallocx",
    "malloc_stats_print",
};

/* Names that need not exist yet, but must be liballocator's where they do. */
static const char *const optional_names[] = {"mallctl", "mallctlnametomib", "mallctlbymib"};

typedef void *(*mallocx_fn)(size_t, int);
typedef size_t (*sallocx_fn)(const void *, int);
typedef size_t (*nallocx_fn)(size_t, int);
typedef void (*dallocx_fn)(void *, int);

static void test_symbols(void) {
    void *mallocx_sym = test_sym("mallocx");
    if (!expect_ptr_not_null(mallocx_sym)) {
        return;
    }
    Dl_info home;
    require_true(dladdr(mallocx_sym, &home) != 0 && home.dli_fname != NULL);
    expect_true(strstr(home.dli_fname, "liballocator") != NULL);
    expect_true(strstr(home.dli_fname, "libc.so") == NULL);

    size_t npublic = sizeof(public_names) / sizeof(public_names[0]);
    size_t noptional = sizeof(optional_names) / sizeof(optional_names[0]);
    for (size_t i = 0; i < npublic + noptional; i++) {
        const char *name = i < npublic ? public_names[i] : optional_names[i - npublic];
        void *sym = test_sym(name);
        Dl_info info;
        if (sym == NULL && i >= npublic) {
            continue;
        }
        if (!test_check_(sym != NULL)) {
            test_fail("dlsym(RTLD_DEFAULT, \"%s\") is NULL: liballocator does not export it", name);
            continue;
        }
        if (!test_check_(dladdr(sym, &info) != 0 && info.dli_fbase == home.dli_fbase)) {
            test_fail("%s resolves into %s, not into liballocator (%s)", name,
                      info.dli_fname ? info.dli_fname : "(unknown)", home.dli_fname);
        }
    }

    /* The functions called through the program's own references, not dlsym, are ours too. */
    void *(*volatile direct_malloc)(size_t) = malloc;
    void (*volatile direct_free)(void *) = free;
    Dl_info info;
    expect_true(dladdr((void *)direct_malloc, &info) != 0 && info.dli_fbase == home.dli_fbase);
    expect_true(dladdr((void *)direct_free, &info) != 0 && info.dli_fbase == home.dli_fbase);
}

static void test_size_classes_prove_service(void) {
    void *p = malloc(100);
    require_ptr_not_null(p);
    expect_zu_eq(malloc_usable_size(p), 112);
    free(p);

    mallocx_fn mallocx_f = (mallocx_fn)test_sym("mallocx");
    sallocx_fn sallocx_f = (sallocx_fn)test_sym("sallocx");
    nallocx_fn nallocx_f = (nallocx_fn)test_sym("nallocx");
    dallocx_fn dallocx_f = (dallocx_fn)test_sym("dallocx");
    if (!expect_ptr_not_null(mallocx_f) || !expect_ptr_not_null(sallocx_f) ||
        !expect_ptr_not_null(nallocx_f) || !expect_ptr_not_null(dallocx_f)) {
        return;
    }
    expect_zu_eq(nallocx_f(100, 0), 112);
    expect_zu_eq(nallocx_f(129, 0), 160);
    expect_zu_eq(nallocx_f(1000, 0), 1024);
    expect_zu_eq(nallocx_f(5000, 0), 5120);
    void *q = mallocx_f(100, 0);
    require_ptr_not_null(q);
    expect_zu_eq(sallocx_f(q, 0), 112);
    expect_zu_eq(malloc_usable_size(q), 112);
    /* Pointers cross between the two interfaces. */
    free(q);
    q = malloc(1000);
    require_ptr_not_null(q);
    expect_zu_eq(sallocx_f(q, 0), 1024);
    dallocx_f(q, 0);
}

static void test_stats_text(void) {
    enum { N = 1000 };
    static void *live[2 * N];
    for (int i = 0; i < N; i++) {
        live[i] = malloc(100);
        live[N + i] = malloc(5000);
        require_ptr_not_null(live[i]);
        require_ptr_not_null(live[N + i]);
    }
    test_capture_t cap;
    require_true(test_capture_begin(&cap));
    malloc_stats();
    char *text = test_capture_end(&cap);
    require_ptr_not_null(text);
    expect_str_contains(text, "___ Begin allocator statistics ___");
    expect_str_contains(text, "Allocations: nmalloc ");
    long long nmalloc = test_stats_nmalloc(text);
    expect_d_ge(nmalloc, 2 * N);
    free(text);
    for (int i = 0; i < 2 * N; i++) {
        free(live[i]);
    }
}

int main(void) {
    if (!test_allocator_active()) {
        /* Nothing here can pass without liballocator. */
        if (test_glibc_allowed()) {
            test_skip("liballocator is not in place (TEST_ALLOW_GLIBC=1)");
        }
        return test_done();
    }
    test_symbols();
    test_size_classes_prove_service();
    test_stats_text();
    return test_done();
}
