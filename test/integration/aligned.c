/*
 * Aligned allocation: posix_memalign, aligned_alloc, memalign, valloc and pvalloc.
 *
 * Every power of two from 8 to 64 MiB, for sizes 1, alignment, alignment + 1 and 3 * alignment;
 * size == alignment for 256..4096 with many blocks live at once (a case an allocator can get
 * wrong by serving it from a size class whose slots are not aligned); size 0 at every alignment
 * gives distinct, aligned, freeable blocks (glibc, mimalloc and tcmalloc do); bad alignments
 * (glibc: posix_memalign returns EINVAL and leaves errno alone, memalign rounds the alignment up to
 * a power of two); impossible sizes give ENOMEM; valloc and pvalloc are page aligned and pvalloc
 * rounds the size up to whole pages.
 */
#include "../test.h"

#include <malloc.h>

enum { FN_POSIX_MEMALIGN, FN_ALIGNED_ALLOC, FN_MEMALIGN, FN_COUNT };
static const char *const fn_names[FN_COUNT] = {"posix_memalign", "aligned_alloc", "memalign"};

static void *aligned_by(int fn, size_t alignment, size_t size) {
    void *p = NULL;
    switch (fn) {
    case FN_POSIX_MEMALIGN: {
        int err = posix_memalign(&p, alignment, size);
        if (err != 0) {
            test_check_(false);
            test_fail("posix_memalign(%zu, %zu) returned %d", alignment, size, err);
            return NULL;
        }
        break;
    }
    case FN_ALIGNED_ALLOC:
        p = aligned_alloc(alignment, size);
        break;
    default:
        p = memalign(alignment, size);
        break;
    }
    return test_launder(p);
}

/* Checks one aligned block: alignment, usable size, every usable byte writable (or the ends). */
static bool check_block(int fn, void *p, size_t alignment, size_t size) {
    if (!test_check_(p != NULL)) {
        test_fail("%s(alignment %zu, size %zu) returned NULL", fn_names[fn], alignment, size);
        return false;
    }
    size_t want = alignment < 16 ? 16 : alignment;
    if (!test_check_(((uintptr_t)test_launder(p) & (want - 1)) == 0)) {
        test_fail("%s(alignment %zu, size %zu) = %p, not aligned to %zu", fn_names[fn], alignment,
                  size, p, want);
        return false;
    }
    size_t usable = malloc_usable_size(p);
    if (!test_check_(usable >= size)) {
        test_fail("%s(alignment %zu, size %zu): usable size %zu is too small", fn_names[fn],
                  alignment, size, usable);
        return false;
    }
    if (usable <= ((size_t)1 << 20)) {
        memset(p, 0x5a, usable);
        expect_all_bytes(p, usable, 0x5a);
    } else {
        ((volatile char *)p)[0] = 1;
        ((volatile char *)p)[size - 1] = 2;
        ((volatile char *)p)[usable - 1] = 3;
    }
    return true;
}

static void test_powers_of_two(void) {
    for (int fn = 0; fn < FN_COUNT; fn++) {
        for (size_t alignment = 8; alignment <= ((size_t)64 << 20); alignment <<= 1) {
            const size_t sizes[] = {1, alignment, alignment + 1, 3 * alignment};
            for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                void *p = aligned_by(fn, alignment, sizes[i]);
                check_block(fn, p, alignment, sizes[i]);
                free(p);
            }
        }
    }
    /* memalign and aligned_alloc take alignments below a pointer's size too. */
    for (size_t alignment = 1; alignment <= 4; alignment <<= 1) {
        for (size_t size = 0; size < 100; size += 7) {
            void *p = aligned_by(FN_MEMALIGN, alignment, size);
            check_block(FN_MEMALIGN, p, alignment, size);
            free(p);
            p = aligned_by(FN_ALIGNED_ALLOC, alignment, size);
            check_block(FN_ALIGNED_ALLOC, p, alignment, size);
            free(p);
        }
    }
}

/*
 * Size 0: a distinct block aligned as asked, for every alignment, several live at once. Each
 * function once rounded size 0 to the smallest class and returned a block aligned to 16 only.
 */
static void test_size_zero(void) {
    enum { N = 4 };
    for (int fn = 0; fn < FN_COUNT; fn++) {
        for (size_t alignment = 8; alignment <= ((size_t)64 << 20); alignment <<= 1) {
            void *p[N];
            for (int i = 0; i < N; i++) {
                p[i] = aligned_by(fn, alignment, test_hide(0));
                if (!check_block(fn, p[i], alignment, 0)) {
                    require_ptr_not_null(p[i]);
                }
                for (int j = 0; j < i; j++) {
                    if (!test_check_(p[i] != p[j])) {
                        test_fail("%s(alignment %zu, size 0) returned %p twice", fn_names[fn],
                                  alignment, p[i]);
                    }
                }
            }
            for (int i = 0; i < N; i++) {
                free(p[i]);
            }
        }
    }
}

/* Many blocks with size == alignment live at once: each aligned, none overlapping. */
static void test_size_equals_alignment(void) {
    enum { N = 300 };
    static void *blocks[FN_COUNT][N];
    for (size_t alignment = 256; alignment <= 4096; alignment <<= 1) {
        for (int fn = 0; fn < FN_COUNT; fn++) {
            for (int i = 0; i < N; i++) {
                blocks[fn][i] = aligned_by(fn, alignment, alignment);
                if (!check_block(fn, blocks[fn][i], alignment, alignment)) {
                    require_ptr_not_null(blocks[fn][i]);
                }
                test_fill(blocks[fn][i], alignment, (uint64_t)(fn * N + i));
                /* Interleave plain small allocations to mix the size classes' slabs. */
                void *noise = test_launder(malloc(alignment / 2 + 8));
                free(noise);
            }
        }
        for (int fn = 0; fn < FN_COUNT; fn++) {
            for (int i = 0; i < N; i++) {
                expect_fill(blocks[fn][i], alignment, (uint64_t)(fn * N + i));
                free(blocks[fn][i]);
            }
        }
    }
    /* Other sizes that are multiples of the alignment, near size-class edges. */
    for (size_t alignment = 32; alignment <= 8192; alignment <<= 1) {
        for (size_t mult = 1; mult <= 8; mult++) {
            for (int fn = 0; fn < FN_COUNT; fn++) {
                void *p[8];
                for (int k = 0; k < 8; k++) {
                    p[k] = aligned_by(fn, alignment, alignment * mult);
                    check_block(fn, p[k], alignment, alignment * mult);
                }
                for (int k = 0; k < 8; k++) {
                    free(p[k]);
                }
            }
        }
    }
}

static void test_bad_alignment(void) {
    /* posix_memalign: EINVAL, errno untouched, *memptr untouched. */
    const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4095, 4097, SIZE_MAX, SIZE_MAX / 2};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        void *sentinel = (void *)&bad[i];
        void *p = sentinel;
        errno = EDOM;
        int err = posix_memalign(&p, test_hide(bad[i]), 16);
        if (!test_check_(err == EINVAL)) {
            test_fail("posix_memalign(alignment %zu) returned %d, expected EINVAL", bad[i], err);
        }
        if (!test_check_(errno == EDOM)) {
            test_fail("posix_memalign(alignment %zu) changed errno to %d", bad[i], errno);
        }
        if (!test_check_(p == sentinel)) {
            test_fail("posix_memalign(alignment %zu) failed but wrote %p", bad[i], p);
            if (err == 0) {
                free(p);
            }
        }
    }
    /* A valid alignment past any address space: ENOMEM. */
    void *p = NULL;
    expect_d_eq(posix_memalign(&p, test_hide((size_t)1 << 63), 1), ENOMEM);
    expect_d_eq(posix_memalign(&p, 64, test_hide(SIZE_MAX - 10)), ENOMEM);
    expect_d_eq(posix_memalign(&p, 4096, test_hide((size_t)PTRDIFF_MAX)), ENOMEM);

    /* memalign rounds an alignment that is not a power of two up to the next one (glibc). */
    const struct {
        size_t alignment, rounded;
    } round[] = {{0, 16},    {3, 16},      {24, 32},     {48, 64},
                 {100, 128}, {3000, 4096}, {4097, 8192}, {(size_t)3 << 20, (size_t)4 << 20}};
    for (size_t i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
        errno = 0;
        p = test_launder(memalign(test_hide(round[i].alignment), 100));
        if (!test_check_(p != NULL && ((uintptr_t)p & (round[i].rounded - 1)) == 0)) {
            test_fail("memalign(%zu, 100) = %p (errno %d), expected a block aligned to %zu",
                      round[i].alignment, p, errno, round[i].rounded);
        }
        if (p != NULL) {
            expect_zu_ge(malloc_usable_size(p), 100);
            memset(p, 1, 100);
        }
        free(p);

        /*
         * aligned_alloc: glibc 2.36 treats it as memalign (rounds up); C17 allows failing with
         * EINVAL instead, as later glibc does. Either is accepted, nothing else.
         */
        errno = 0;
        p = test_launder(aligned_alloc(test_hide(round[i].alignment), 100));
        if (p == NULL) {
            expect_errno(EINVAL);
        } else {
            if (!test_check_(((uintptr_t)p & (round[i].rounded - 1)) == 0)) {
                test_fail("aligned_alloc(%zu, 100) = %p, not aligned to %zu", round[i].alignment, p,
                          round[i].rounded);
            }
            expect_zu_ge(malloc_usable_size(p), 100);
            memset(p, 1, 100);
            free(p);
        }
    }
    /* An alignment that cannot be rounded up to a power of two: EINVAL (glibc). */
    errno = 0;
    p = test_launder(memalign(test_hide(((size_t)1 << 63) + 1), 64));
    expect_ptr_null(p);
    expect_errno(EINVAL);
    /* A power-of-two alignment past any address space: ENOMEM. */
    errno = 0;
    p = test_launder(memalign(test_hide((size_t)1 << 63), 64));
    expect_ptr_null(p);
    expect_errno(ENOMEM);
}

static void test_impossible_sizes(void) {
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 10, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
                            (size_t)1 << 50};
    const size_t aligns[] = {16, 64, 4096, (size_t)2 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t a = 0; a < sizeof(aligns) / sizeof(aligns[0]); a++) {
            errno = 0;
            void *p = test_launder(aligned_alloc(aligns[a], test_hide(sizes[i])));
            if (!test_check_(p == NULL && errno == ENOMEM)) {
                test_fail("aligned_alloc(%zu, %zu) = %p, errno %d; expected NULL with ENOMEM",
                          aligns[a], sizes[i], p, errno);
            }
            free(p);
            errno = 0;
            p = test_launder(memalign(aligns[a], test_hide(sizes[i])));
            if (!test_check_(p == NULL && errno == ENOMEM)) {
                test_fail("memalign(%zu, %zu) = %p, errno %d; expected NULL with ENOMEM", aligns[a],
                          sizes[i], p, errno);
            }
            free(p);
            p = NULL;
            int err = posix_memalign(&p, aligns[a], test_hide(sizes[i]));
            if (!test_check_(err == ENOMEM)) {
                test_fail("posix_memalign(%zu, %zu) returned %d, expected ENOMEM", aligns[a],
                          sizes[i], err);
                if (err == 0) {
                    free(p);
                }
            }
        }
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        errno = 0;
        void *p = test_launder(valloc(test_hide(sizes[i])));
        if (!test_check_(p == NULL && errno == ENOMEM)) {
            test_fail("valloc(%zu) = %p, errno %d; expected NULL with ENOMEM", sizes[i], p, errno);
        }
        free(p);
        errno = 0;
        p = test_launder(pvalloc(test_hide(sizes[i])));
        if (!test_check_(p == NULL && errno == ENOMEM)) {
            test_fail("pvalloc(%zu) = %p, errno %d; expected NULL with ENOMEM", sizes[i], p, errno);
        }
        free(p);
    }
}

static void test_valloc_pvalloc(void) {
    size_t page = test_page_size();
    const size_t sizes[] = {0,        1,        100,          page - 1, page,    page + 1,
                            3 * page, 5 * page, 9 * page + 1, 100000,   1 << 20, (1 << 20) + 1,
                            5 << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        void *p = test_launder(valloc(size));
        require_ptr_not_null(p);
        expect_ptr_aligned(p, page);
        size_t usable = malloc_usable_size(p);
        expect_zu_ge(usable, size);
        memset(p, 0x11, usable);
        free(p);

        size_t rounded = (size + page - 1) / page * page;
        p = test_launder(pvalloc(size));
        require_ptr_not_null(p);
        expect_ptr_aligned(p, page);
        usable = malloc_usable_size(p);
        /* pvalloc rounds the request up to whole pages: all of them are the caller's. */
        if (!test_check_(usable >= rounded)) {
            test_fail("pvalloc(%zu): usable size %zu, expected at least %zu", size, usable,
                      rounded);
        }
        if (size > 0 && test_allocator_active()) {
            /* Our usable sizes of page-multiple requests are page multiples. */
            expect_zu_eq(usable % page, 0);
        }
        memset(p, 0x22, usable);
        free(p);
    }
    /* A size whose rounding to pages would wrap around. */
    errno = 0;
    void *p = test_launder(pvalloc(test_hide(SIZE_MAX - page + 2)));
    expect_ptr_null(p);
    expect_errno(ENOMEM);
}

int main(void) {
    test_allocator_active();
    test_powers_of_two();
    test_size_equals_alignment();
    test_size_zero();
    test_bad_alignment();
    test_impossible_sizes();
    test_valloc_pvalloc();
    return test_done();
}
