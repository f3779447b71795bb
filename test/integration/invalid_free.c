/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Every invalid free is caught, whatever path the block takes (thread cache, slab, large,
 * oversize arena): each case runs in a forked child, which must die of SIGABRT after one
 * "<allocator>: " line on standard error naming the operation, the address (and, for a size
 * mismatch, both sizes). Before the abort the child prints the substrings the message must
 * hold, "EXPECT <text>" one per line, so the parent checks the child's own addresses.
 *
 * A correct program that stores the free tag's value in a block's first word must not abort
 * (the tag is only a hint that the slow path confirms); that runs in this process.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

/* FREE_TAG in tcache.h: what the allocator writes into a freed block's first word. */
#define TAG_VALUE UINT64_C(0xffffffffcf7e10a1)

typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

static char static_buf[64];

static void expect_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void expect_text(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("EXPECT ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout); /* the child aborts: what is still buffered is lost */
    va_end(ap);
}

/* The operation's name and the address, as the allocator prints them ("free(0x...)"). */
static void expect_op(const char *op, const void *p) { expect_text("%s(%p", op, p); }

static void *block(size_t size) {
    void *p = test_launder(malloc(size));
    require_ptr_not_null(p);
    memset(p, 0x11, size);
    return p;
}

static void flush_cache(void) { mallctl("thread.tcache.flush", NULL, NULL, NULL, 0); }

/*
 * A block whose slab keeps other live blocks after it is freed and flushed, so the slab stays
 * (an emptied slab goes back to its arena, and a pointer into it then reads as not allocated):
 * the second of eight blocks taken in a row, the others never freed. Consecutive blocks come
 * from one slab's consecutive regions, so its slab holds at least one of its neighbours.
 */
static void *block_in_live_slab(size_t size) {
    void *keep[8];
    for (int i = 0; i < 8; i++)
        keep[i] = block(size);
    return keep[1];
}

/* The allocator's page (a build option: it may be larger than the system's). */
static size_t page_size(void) {
    size_t page = 0, sz = sizeof(page);
    require_true(mallctl("arenas.page", &page, &sz, NULL, 0) == 0 && page != 0);
    return page;
}

/*
 * What a second use of a freed block of size bytes reports: a small block, or a large one with a
 * thread cache, waits tagged in a cache or its slab and is found there; a large block without a
 * cache went back to its arena, which unregistered it. Classes from 4 pages up are large.
 */
static const char *freed_text(size_t size, const char *found) {
    bool on = false;
    size_t sz = sizeof(on);
    mallctl("thread.tcache.enabled", &on, &sz, NULL, 0);
    return size < 4 * page_size() || on ? found : "not allocated by this allocator, or freed already";
}

static void double_free_small(void) {
    char *p = block(64);
    free(p);
    expect_op("free", p);
    expect_text("double free");
    free(test_launder(p));
}

/* The second free of a cached block that is not the most recent one. */
static void double_free_small_buried(void) {
    char *p = block(64);
    char *q = block(64);
    free(p);
    free(q);
    expect_op("free", p);
    expect_text("double free");
    free(test_launder(p));
}

/* A 10 KiB class lives in slabs; the first free reached the slab (cache flushed). */
static void double_free_medium(void) {
    char *p = block_in_live_slab(10000);
    free(p);
    flush_cache();
    expect_op("free", p);
    expect_text("double free");
    free(test_launder(p));
}

static void double_free_medium_cached(void) {
    char *p = block(10000);
    free(p);
    expect_op("free", p);
    expect_text("double free");
    free(test_launder(p));
}

/* 20 KiB: a large class the thread cache holds (with 4 KiB pages; small with bigger pages). */
static void double_free_large_cached(void) {
    char *p = block(20000);
    free(p);
    expect_op("free", p);
    expect_text("%s", freed_text(20480, "double free (the 20480-byte block is free already)"));
    free(test_launder(p));
}

/* Large and above tcache_max (32 KiB): freed straight to the arena. */
static void double_free_large(void) {
    char *p = block(16 * page_size());
    free(p);
    expect_op("free", p);
    expect_text("freed already");
    free(test_launder(p));
}

static void double_free_huge(void) {
    char *p = test_launder(malloc(64 << 20));
    require_ptr_not_null(p);
    p[0] = 1;
    free(p);
    expect_op("free", p);
    expect_text("freed already");
    free(test_launder(p));
}

static void double_dallocx(void) {
    char *p = block(64);
    dallocx(p, 0);
    expect_op("dallocx", p);
    expect_text("double free");
    dallocx(test_launder(p), 0);
}

static void interior_small(void) {
    char *p = block(48);
    expect_op("free", p + 16);
    expect_text("not the start of an allocation (inside the 48-byte block at %p)", (void *)p);
    free(test_launder(p + 16));
}

/* A later region of a multi-page slab: the block start is found across pages. */
static void interior_small_far(void) {
    enum { N = 200 };
    char *ps[N];
    for (int i = 0; i < N; i++)
        ps[i] = block(112);
    char *p = ps[N - 1];
    expect_op("free", p + 8);
    expect_text("not the start of an allocation (inside the 112-byte block at %p)", (void *)p);
    free(test_launder(p + 8));
}

static void interior_large_cached(void) {
    char *p = block(20000);
    expect_op("free", p + 16);
    expect_text("not the start of an allocation (inside the 20480-byte block at %p)", (void *)p);
    free(test_launder(p + 16));
}

/*
 * The radix tree registers a large extent's last page too; that must not pass as a start. Five
 * pages is a large class (cached with 4 KiB pages), and so is sixteen (never cached).
 */
static void interior_large_last_page(void) {
    size_t page = page_size();
    char *p = block(5 * page);
    expect_op("free", p + 4 * page);
    expect_text("not the start of an allocation (inside the %zu-byte block at %p)", 5 * page,
                (void *)p);
    free(test_launder(p + 4 * page));
}

static void interior_large_last_page_uncached(void) {
    size_t page = page_size();
    char *p = block(16 * page);
    expect_op("free", p + 15 * page);
    expect_text("not the start of an allocation (inside the %zu-byte block at %p)", 16 * page,
                (void *)p);
    free(test_launder(p + 15 * page));
}

static void interior_large_middle(void) {
    size_t page = page_size();
    char *p = block(16 * page);
    expect_op("free", p + 2 * page);
    expect_text("not allocated by this allocator");
    free(test_launder(p + 2 * page));
}

static void stack_pointer(void) {
    char buf[64];
    memset(buf, 0, sizeof(buf));
    expect_op("free", buf);
    expect_text("not allocated by this allocator");
    free(test_launder(buf));
}

static void static_pointer(void) {
    expect_op("free", static_buf);
    expect_text("not allocated by this allocator");
    free(test_launder(static_buf));
}

static void wild_pointer(void) {
    void *p = (void *)(uintptr_t)0x5a5a5a5a5000;
    expect_op("free", p);
    expect_text("not allocated by this allocator");
    free(test_launder(p));
}

/* Bits above the address space: the radix tree ignores them, the free must not. */
static void noncanonical_pointer(void) {
    char *p = block(64);
    void *bad = (void *)((uintptr_t)p | (uintptr_t)1 << 60);
    expect_op("free", bad);
    expect_text("not a valid address");
    free(test_launder(bad));
}

static void noncanonical_pointer_large(void) {
    char *p = block(20000);
    void *bad = (void *)((uintptr_t)p | (uintptr_t)1 << 60);
    expect_op("free", bad);
    expect_text("not a valid address");
    free(test_launder(bad));
}

static void sdallocx_mismatch(void) {
    char *p = block(64);
    expect_op("sdallocx", p);
    expect_text(", 100): size 100 does not match the 64-byte block (it rounds to 112)");
    sdallocx(test_launder(p), 100, 0);
}

static void sdallocx_mismatch_large(void) {
    char *p = block(20000);
    expect_op("sdallocx", p);
    expect_text(", 4000): size 4000 does not match the 20480-byte block (it rounds to 4096)");
    sdallocx(test_launder(p), 4000, 0);
}

/* Both sizes in the fast path's table above 4 KiB (the 10240-byte class is cached too). */
static void sdallocx_mismatch_cached_classes(void) {
    char *p = block(20000);
    expect_op("sdallocx", p);
    expect_text(", 10000): size 10000 does not match the 20480-byte block (it rounds to 10240)");
    sdallocx(test_launder(p), 10000, 0);
}

static void free_sized_mismatch(void) {
    free_sized_fn fs = (free_sized_fn)test_sym("free_sized");
    require_true(fs != NULL);
    char *p = block(100);
    expect_op("free_sized", p);
    expect_text(", 30): size 30 does not match the 112-byte block (it rounds to 32)");
    fs(test_launder(p), 30);
}

static void free_aligned_sized_mismatch(void) {
    free_aligned_sized_fn fas = (free_aligned_sized_fn)test_sym("free_aligned_sized");
    require_true(fas != NULL);
    char *p = test_launder(aligned_alloc(256, 256));
    require_ptr_not_null(p);
    expect_op("free_aligned_sized", p);
    expect_text(", 256, 600): size 600 at alignment 256 does not match the 256-byte block "
                "(it rounds to 768)");
    fas(test_launder(p), 256, 600);
}

static void realloc_freed(void) {
    char *p = block(64);
    free(p);
    expect_op("realloc", p);
    expect_text("the 64-byte block was freed");
    test_launder(realloc(test_launder(p), 100));
}

/* A size of the block's own class: realloc's fast path, which returns the block as it is, must
 * still see that it is free (and below, that a pointer inside a block is not one). */
static void realloc_freed_same_class(void) {
    char *p = block(64);
    free(p);
    expect_op("realloc", p);
    expect_text("the 64-byte block was freed");
    test_launder(realloc(test_launder(p), 60));
}

static void realloc_interior_same_class(void) {
    char *p = block(48);
    expect_op("realloc", p + 16);
    expect_text("not the start of an allocation (inside the 48-byte block at %p)", (void *)p);
    test_launder(realloc(test_launder(p + 16), 40));
}

static void realloc_freed_flushed(void) {
    char *p = block_in_live_slab(64);
    free(p);
    flush_cache();
    expect_op("realloc", p);
    expect_text("the 64-byte block was freed");
    test_launder(realloc(test_launder(p), 100));
}

static void rallocx_freed(void) {
    char *p = block(64);
    free(p);
    expect_op("rallocx", p);
    expect_text("was freed");
    test_launder(rallocx(test_launder(p), 100, 0));
}

static void xallocx_freed(void) {
    char *p = block(64);
    free(p);
    expect_op("xallocx", p);
    expect_text("was freed");
    printf("%zu\n", xallocx(test_launder(p), 100, 0, 0));
}

static void sallocx_freed(void) {
    char *p = block(20000);
    free(p);
    expect_op("sallocx", p);
    expect_text("%s", freed_text(20480, "the 20480-byte block was freed (use after free)"));
    printf("%zu\n", sallocx(test_launder(p), 0));
}

static void usable_size_freed(void) {
    char *p = block(64);
    free(p);
    expect_op("malloc_usable_size", p);
    expect_text("was freed");
    printf("%zu\n", malloc_usable_size(test_launder(p)));
}

/* A free from another thread of a block this thread's cache holds already. */
static void *free_in_thread(void *p) {
    free(p);
    return NULL;
}

static void double_free_other_thread(void) {
    char *p = block(64);
    free(p);
    expect_op("free", p);
    expect_text("double free");
    fflush(stdout);
    pthread_t t;
    require_true(pthread_create(&t, NULL, free_in_thread, test_launder(p)) == 0);
    pthread_join(t, NULL);
}

typedef struct invalid_case_s {
    const char *name;
    void (*fn)(void);
} invalid_case_t;

static const invalid_case_t cases[] = {
    {"double free, small (thread cache)", double_free_small},
    {"double free, small, not the newest", double_free_small_buried},
    {"double free, medium (slab)", double_free_medium},
    {"double free, medium (thread cache)", double_free_medium_cached},
    {"double free, large (thread cache)", double_free_large_cached},
    {"double free, large", double_free_large},
    {"double free, huge", double_free_huge},
    {"double free, dallocx", double_dallocx},
    {"double free, from another thread", double_free_other_thread},
    {"interior, small", interior_small},
    {"interior, small, far in a slab", interior_small_far},
    {"interior, large (thread cache)", interior_large_cached},
    {"interior, large, last page", interior_large_last_page},
    {"interior, large, last page, not cached", interior_large_last_page_uncached},
    {"interior, large, middle page", interior_large_middle},
    {"stack pointer", stack_pointer},
    {"static pointer", static_pointer},
    {"wild pointer", wild_pointer},
    {"non-canonical pointer", noncanonical_pointer},
    {"non-canonical pointer, large", noncanonical_pointer_large},
    {"sdallocx size mismatch", sdallocx_mismatch},
    {"sdallocx size mismatch, large", sdallocx_mismatch_large},
    {"sdallocx size mismatch, cached classes above 4 KiB", sdallocx_mismatch_cached_classes},
    {"free_sized size mismatch", free_sized_mismatch},
    {"free_aligned_sized size mismatch", free_aligned_sized_mismatch},
    {"realloc of a freed block", realloc_freed},
    {"realloc of a freed block, same class", realloc_freed_same_class},
    {"realloc inside a block, same class", realloc_interior_same_class},
    {"realloc of a freed block (flushed)", realloc_freed_flushed},
    {"rallocx of a freed block", rallocx_freed},
    {"xallocx of a freed block", xallocx_freed},
    {"sallocx of a freed block", sallocx_freed},
    {"malloc_usable_size of a freed block", usable_size_freed},
};

static void run_case(const invalid_case_t *c) {
    int fd;
    pid_t pid = test_fork_piped(&fd, true);
    if (pid == 0) {
        /* stdio's buffer first: made later, it could reuse the pages of a freed test block. */
        fputs("child\n", stdout);
        fflush(stdout);
        c->fn();
        fflush(stdout);
        fputs("NOT ABORTED\n", stdout);
        fflush(stdout);
        _exit(0);
    }
    static char out[16384];
    int status = test_child_collect(fd, pid, out, sizeof(out));
    if (!test_check_(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)) {
        test_fail("%s: expected the child to die of SIGABRT; status 0x%x, output:\n%s", c->name,
                  status, out);
        return;
    }
    /* The allocator's line, and each expected substring in it. */
    char *msg = strstr(out, "<allocator>: ");
    if (!test_check_(msg != NULL)) {
        test_fail("%s: no \"<allocator>: \" line in:\n%s", c->name, out);
        return;
    }
    char *end = strchr(msg, '\n');
    if (end != NULL)
        *end = '\0';
    if (!test_check_(strstr(msg + 1, "<allocator>: ") == NULL))
        test_fail("%s: more than one message on the line: %s", c->name, msg);
    unsigned nexpect = 0;
    for (char *line = out; line < msg; line = strchr(line, '\n') + 1) {
        if (strncmp(line, "EXPECT ", 7) != 0)
            continue;
        char *nl = strchr(line, '\n');
        *nl = '\0';
        nexpect++;
        if (!test_check_(strstr(msg, line + 7) != NULL))
            test_fail("%s: the message lacks \"%s\": %s", c->name, line + 7, msg);
        *nl = '\n';
    }
    /* At least the operation and the address were checked. */
    if (!test_check_(nexpect >= 1))
        test_fail("%s: no EXPECT line before the message:\n%s", c->name, out);
}

/*
 * Blocks whose first word holds the tag's value, or only its first byte (what the free fast path
 * tests), are freed, reallocated, sized and freed again like any others: the tag alone is never
 * taken for a free block.
 */
static void test_tag_coincidence(void) {
    enum { N = 300 };
    static char *ps[N];
    static const size_t sizes[] = {16, 64, 100, 1000, 10000, 20000, 200000};
    for (size_t k = 0; k < 2 * sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t s = k / 2;
        /* Even k: the whole tag; odd k: its first byte, then bytes the tag does not have. */
        uint64_t word = k % 2 == 0 ? TAG_VALUE : (TAG_VALUE & 0xff) | UINT64_C(0x1111111111111100);
        for (int i = 0; i < N; i++) {
            ps[i] = test_launder(malloc(sizes[s]));
            require_ptr_not_null(ps[i]);
            memcpy(ps[i], &word, sizeof(word));
        }
        for (int i = 0; i < N; i += 3) {
            expect_zu_ge(malloc_usable_size(ps[i]), sizes[s]);
            ps[i] = test_launder(realloc(ps[i], sizes[s] + 1));
            require_ptr_not_null(ps[i]);
            memcpy(ps[i], &word, sizeof(word));
        }
        for (int i = 0; i < N; i++)
            free(ps[i]);
        /* And the blocks came back to the cache once each: no two mallocs share one. */
        for (int i = 0; i < N; i++) {
            ps[i] = test_launder(malloc(sizes[s]));
            require_ptr_not_null(ps[i]);
            memcpy(ps[i], &i, sizeof(i));
        }
        for (int i = 0; i < N; i++) {
            int v;
            memcpy(&v, ps[i], sizeof(v));
            if (!expect_d_eq(v, i))
                break;
        }
        for (int i = 0; i < N; i++)
            free(ps[i]);
    }
    /* sdallocx and free_sized with the right sizes, tag value inside. */
    char *p = test_launder(malloc(64));
    require_ptr_not_null(p);
    memcpy(p, &(uint64_t){TAG_VALUE}, sizeof(uint64_t));
    sdallocx(p, 60, 0);
    free_sized_fn fs = (free_sized_fn)test_sym("free_sized");
    require_true(fs != NULL);
    p = test_launder(malloc(5000));
    require_ptr_not_null(p);
    memcpy(p, &(uint64_t){TAG_VALUE}, sizeof(uint64_t));
    fs(p, 4097);
    /* (A slab region: a large extent could come back untouched, value and all, below.) */
    p = test_launder(malloc(9000));
    require_ptr_not_null(p);
    memcpy(p, &(uint64_t){TAG_VALUE}, sizeof(uint64_t));
    sdallocx(p, 8500, 0);
}

/* A freshly allocated block never reads as tagged, though the last free tagged it (or tagged a
 * region in the memory it reuses). */
static void test_tag_cleared(void) {
    static const size_t sizes[] = {16, 64, 100, 10000, 20000};
    test_fresh_untagged(sizes, sizeof(sizes) / sizeof(sizes[0]), mallocx, MALLOCX_ALIGN(16));
    /*
     * Large blocks of classes no thread cache holds, made of memory that slabs of tagged regions
     * held before: freed, the slabs go back to the arena dirty, and their pages (a region's
     * tag at the start of some) become large blocks.
     */
    static void *blocks[4000];
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
            blocks[i] = test_launder(malloc(4096 + 16 * (size_t)round));
            require_ptr_not_null(blocks[i]);
        }
        for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
            free(blocks[i]);
        for (size_t k = 0; k < 8; k++) {
            uint64_t *p = test_launder(malloc((size_t)65536 << (k % 3)));
            require_ptr_not_null(p);
            expect_zu_ne(*p, TAG_VALUE);
            free(p);
        }
    }
}

int main(void) {
    require_true(test_allocator_active());
    test_tag_coincidence();
    test_tag_cleared();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    return test_done();
}
