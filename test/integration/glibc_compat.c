/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * glibc compatibility: the __libc_* names (which some programs and glibc-internal callers use
 * directly), __posix_memalign, malloc_trim, mallopt, mallinfo, mallinfo2, malloc_stats and
 * malloc_info, all with glibc's return conventions but liballocator's own figures.
 */
#include "../test.h"

#include <malloc.h>

/* glibc exports these without declaring them in any header. */
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);
/* Not exported by glibc 2.36: looked up with dlsym so the unlinked build still links. */
typedef int (*posix_memalign_fn)(void **, size_t, size_t);

static void test_libc_names(void) {
    bool ours = test_allocator_active();
    size_t page = test_page_size();

    char *p = test_launder(__libc_malloc(100));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, 16);
    if (ours) {
        expect_zu_eq(malloc_usable_size(p), 112);
    }
    memset(p, 0xab, 100);
    p = test_launder(__libc_realloc(p, 5000));
    require_ptr_not_null(p);
    expect_all_bytes(p, 100, 0xab);
    if (ours) {
        expect_zu_eq(malloc_usable_size(p), 5120);
    }
    /* Blocks cross freely between the two families of names. */
    free(p);

    p = test_launder(malloc(129));
    require_ptr_not_null(p);
    if (ours) {
        expect_zu_eq(malloc_usable_size(p), 160);
    }
    __libc_free(p);
    __libc_free(NULL);

    for (int r = 0; r < 4; r++) {
        p = test_launder(malloc(3000));
        require_ptr_not_null(p);
        memset(p, 0xff, 3000);
        free(p);
        p = test_launder(__libc_calloc(1000, 3));
        require_ptr_not_null(p);
        expect_all_bytes(p, 3000, 0);
        if (ours) {
            expect_zu_eq(malloc_usable_size(p), 3072);
        }
        __libc_free(p);
    }
    errno = 0;
    p = test_launder(__libc_calloc(test_hide(SIZE_MAX / 2), 3));
    expect_ptr_null(p);
    expect_errno(ENOMEM);
    errno = 0;
    p = test_launder(__libc_malloc(test_hide(SIZE_MAX)));
    expect_ptr_null(p);
    expect_errno(ENOMEM);

    p = test_launder(__libc_memalign(4096, 100));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, 4096);
    expect_zu_ge(malloc_usable_size(p), 100);
    memset(p, 1, 100);
    __libc_free(p);
    p = test_launder(__libc_memalign(24, 100));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, 32);
    __libc_free(p);

    p = test_launder(__libc_valloc(100));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, page);
    memset(p, 1, 100);
    free(p);

    p = test_launder(__libc_pvalloc(page + 1));
    require_ptr_not_null(p);
    expect_ptr_aligned(p, page);
    expect_zu_ge(malloc_usable_size(p), 2 * page);
    memset(p, 1, 2 * page);
    free(p);

    /* realloc(p, 0) frees and returns NULL through this name too. */
    p = test_launder(__libc_malloc(10));
    require_ptr_not_null(p);
    expect_ptr_null(__libc_realloc(p, 0));

    posix_memalign_fn pm = (posix_memalign_fn)test_sym("__posix_memalign");
    if (pm == NULL && !ours) {
        return; /* plain glibc does not export it */
    }
    if (!expect_ptr_not_null(pm)) {
        return;
    }
    void *q = NULL;
    expect_d_eq(pm(&q, 256, 1000), 0);
    expect_ptr_aligned(q, 256);
    expect_zu_eq(malloc_usable_size(q), 1024);
    memset(q, 2, 1000);
    free(q);
    errno = EDOM;
    expect_d_eq(pm(&q, 24, 1000), EINVAL);
    expect_errno(EDOM);
    expect_d_eq(pm(&q, 64, test_hide(SIZE_MAX - 10)), ENOMEM);
}

static void test_malloc_trim(void) {
    enum { N = 64 };
    static void *blocks[N];
    bool ours = test_allocator_active();
    /*
     * After freeing 64 MiB of touched memory there is something to give back: 1. Under
     * dirty_decay_ms:0 the allocator may already have returned it at free, so 0 is allowed then.
     */
    for (int i = 0; i < N; i++) {
        blocks[i] = test_launder(malloc((size_t)1 << 20));
        require_ptr_not_null(blocks[i]);
        memset(blocks[i], i, (size_t)1 << 20);
    }
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
    }
    for (int i = 0; i < 4096; i++) {
        free(test_launder(malloc(1000)));
    }
    int first = malloc_trim(0);
    const char *conf = getenv("MALLOC_CONF");
    bool decay_zero = conf != NULL && strstr(conf, "dirty_decay_ms:0") != NULL;
    if (decay_zero) {
        expect_true(first == 0 || first == 1);
    } else {
        expect_d_eq(first, 1);
    }
    /* Nothing was freed since: nothing to give back. */
    if (ours) {
        expect_d_eq(malloc_trim(0), 0);
    }
    /* A pad argument is accepted and the heap still works. */
    expect_true(malloc_trim((size_t)1 << 20) <= 1);
    void *p = test_launder(malloc((size_t)1 << 20));
    require_ptr_not_null(p);
    memset(p, 1, (size_t)1 << 20);
    free(p);
}

static void test_mallopt(void) {
    /* Parameters glibc knows are accepted (1); liballocator may ignore what they ask. */
    expect_d_eq(mallopt(M_TRIM_THRESHOLD, 1 << 20), 1);
    expect_d_eq(mallopt(M_TOP_PAD, 0), 1);
    expect_d_eq(mallopt(M_MMAP_THRESHOLD, 1 << 20), 1);
    expect_d_eq(mallopt(M_MMAP_MAX, 65536), 1);
    expect_d_eq(mallopt(M_ARENA_MAX, 8), 1);
    if (test_allocator_active()) {
        /* Unknown parameters are refused (glibc itself answers 1 to anything it ignores). */
        expect_d_eq(mallopt(12345, 1), 0);
        expect_d_eq(mallopt(-100, 1), 0);
    }
    void *p = test_launder(malloc(2 << 20));
    require_ptr_not_null(p);
    memset(p, 1, 2 << 20);
    free(p);
}

static void test_mallinfo(void) {
    bool ours = test_allocator_active();
    const size_t big = (size_t)10 << 20;

    struct mallinfo2 m0 = mallinfo2();
    char *p = test_launder(malloc(big));
    require_ptr_not_null(p);
    memset(p, 1, big);
    struct mallinfo2 m1 = mallinfo2();
    /* liballocator counts every allocated byte in uordblks; glibc puts mmapped chunks apart. */
    size_t used0 = m0.uordblks + (ours ? 0 : m0.hblkhd);
    size_t used1 = m1.uordblks + (ours ? 0 : m1.hblkhd);
    expect_zu_ge(used1, used0 + big);
    if (ours) {
        expect_zu_ge(m1.arena, m1.uordblks);
        expect_zu_ge(m1.arena, big);
    }
    free(p);
    struct mallinfo2 m2 = mallinfo2();
    size_t used2 = m2.uordblks + (ours ? 0 : m2.hblkhd);
    expect_zu_le(used2 + big, used1);

    /* The int version, for older programs, reports the same kind of figures. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    struct mallinfo i0 = mallinfo();
    p = test_launder(malloc(big));
    require_ptr_not_null(p);
    memset(p, 1, big);
    struct mallinfo i1 = mallinfo();
    free(p);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    long long u0 = (long long)i0.uordblks + (ours ? 0 : i0.hblkhd);
    long long u1 = (long long)i1.uordblks + (ours ? 0 : i1.hblkhd);
    expect_d_ge(u1, u0 + (long long)big);
    if (ours) {
        expect_d_ge(i1.arena, i1.uordblks);
    }
}

static void test_malloc_stats(void) {
    void *keep = test_launder(malloc(1000));
    test_capture_t cap;
    require_true(test_capture_begin(&cap));
    malloc_stats();
    char *text = test_capture_end(&cap);
    require_ptr_not_null(text);
    expect_zu_gt(strlen(text), 0);
    if (test_allocator_active()) {
        expect_true(strncmp(text, "___ Begin allocator statistics ___", 34) == 0);
        expect_d_ge(test_stats_nmalloc(text), 1);
    }
    free(text);
    free(keep);
}

static void test_malloc_info(void) {
    FILE *f = tmpfile();
    require_ptr_not_null(f);
    expect_d_eq(malloc_info(0, f), 0);
    char *text = test_read_stream(f);
    require_ptr_not_null(text);
    expect_true(strncmp(text, "<malloc", 7) == 0);
    /* Well formed: the root element is closed. */
    expect_true(strstr(text, "</malloc>") != NULL || strstr(text, "/>") != NULL);
    free(text);

    f = tmpfile();
    require_ptr_not_null(f);
    expect_d_eq(malloc_info(1, f), EINVAL);
    expect_d_eq(malloc_info(-1, f), EINVAL);
    fclose(f);
}

int main(void) {
    test_allocator_active();
    test_libc_names();
    test_malloc_trim();
    test_mallopt();
    test_mallinfo();
    test_malloc_stats();
    test_malloc_info();
    return test_done();
}
