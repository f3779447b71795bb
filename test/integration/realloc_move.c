/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * realloc of huge blocks (2 MiB and more) that cannot grow in place and whose new home is
 * untouched moves their pages instead of copying them (doc/DESIGN.md, "realloc: resizing in place,
 * copying, moving pages"): the old range then holds no resident page and is not counted as dirty;
 * the block keeps its contents through chains of moves and copies; the vacated pages, reused,
 * read as zero; blocks of an arena with a custom memory source are copied, never moved.
 * Residency is read with mincore, which touches nothing.
 */
#include "../test.h"

#include <allocator.h>
#include <fcntl.h>
#include <sys/mman.h>

#define MIB ((size_t)1 << 20)

/* Pages of [p, p + n) that are resident. */
static size_t resident_pages(const void *p, size_t n) {
    static unsigned char vec[(64 * MIB) / 4096];
    long ps = sysconf(_SC_PAGESIZE);
    require_true(n / (size_t)ps <= sizeof(vec));
    if (mincore((void *)p, n, vec) != 0) {
        require_true(errno == ENOMEM); /* unmapped (retain:false gives a free chunk back) */
        return 0;
    }
    size_t r = 0;
    for (size_t i = 0; i < n / (size_t)ps; i++) {
        r += vec[i] & 1;
    }
    return r;
}

/* One word every stride bytes of [p + from, p + to), distinct per offset and per seed. */
static void fill_stride(char *p, size_t from, size_t to, size_t stride, uint64_t seed) {
    for (size_t o = (from + stride - 1) / stride * stride; o < to; o += stride) {
        uint64_t v = seed ^ o;
        memcpy(p + o, &v, 8);
    }
}

static void fill_pages(char *p, size_t from, size_t to, uint64_t seed) {
    fill_stride(p, from, to, 4096, seed);
}

static bool stride_ok(const char *p, size_t n, size_t stride, uint64_t seed) {
    for (size_t o = 0; o < n; o += stride) {
        uint64_t v;
        memcpy(&v, p + o, 8);
        if (v != (seed ^ o)) {
            fprintf(stderr, "  (offset %zu of %zu: %#" PRIx64 ", expected %#" PRIx64 ")\n", o, n, v,
                    seed ^ o);
            return false;
        }
    }
    return true;
}

static bool pages_ok(const char *p, size_t n, uint64_t seed) { return stride_ok(p, n, 4096, seed); }

static unsigned thread_arena(void) {
    unsigned ai;
    size_t sz = sizeof(ai);
    require_true(mallctl("thread.arena", &ai, &sz, NULL, 0) == 0);
    return ai;
}

static size_t arena_stat(unsigned ai, const char *what) {
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    require_true(mallctl("epoch", &epoch, &sz, &epoch, sz) == 0);
    char name[96];
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", ai, what);
    size_t v = 0;
    sz = sizeof(v);
    require_true(mallctl(name, &v, &sz, NULL, 0) == 0);
    return v;
}

static bool opt_bool(const char *name) {
    bool v = false;
    size_t sz = sizeof(v);
    require_true(mallctl(name, &v, &sz, NULL, 0) == 0);
    return v;
}

/*
 * Does a move apply under this MALLOC_CONF? Not to blocks of the break (dss:primary), nor with
 * junk filling (the new block's pages are written first) or profiling (sampled blocks copy), nor
 * when a thread cache holds the new size (its free tag is written into the block).
 */
static bool moves_apply(size_t size) {
    const char *s = NULL;
    size_t sz = sizeof(s);
    require_true(mallctl("opt.dss", &s, &sz, NULL, 0) == 0);
    bool dss_primary = strcmp(s, "primary") == 0;
    require_true(mallctl("opt.junk", &s, &sz, NULL, 0) == 0);
    bool junk = strcmp(s, "false") != 0;
    size_t tcache_max = 0;
    sz = sizeof(tcache_max);
    require_true(mallctl("opt.tcache_max", &tcache_max, &sz, NULL, 0) == 0);
    return !dss_primary && !junk && !opt_bool("opt.prof") &&
           (tcache_max < size || !opt_bool("opt.tcache"));
}

/*
 * The process's first huge block, in a chunk of its own, grown past it into a new chunk: its
 * pages move. The old range keeps no resident page (a copy would leave 4 MiB of them, dirty,
 * unless dirty pages are purged at once), the arena counts none of it dirty, and the block reads
 * as written. Then calloc of the old size, served from the vacated (retained) pages without
 * zeroing them, reads as zero.
 */
static void test_move(void) {
    if (!moves_apply(8 * MIB)) {
        return;
    }
    unsigned ai = thread_arena();
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", ai);
    require_true(mallctl(name, NULL, NULL, NULL, 0) == 0);
    size_t n = 4 * MIB;
    char *p = test_launder(malloc(n));
    require_ptr_not_null(p);
    fill_pages(p, 0, n, 1);
    size_t dirty = arena_stat(ai, "pdirty");
    char *q = test_launder(realloc(p, 2 * n));
    require_ptr_not_null(q);
    expect_ptr_ne(q, p);
    expect_true(pages_ok(q, n, 1));
    expect_zu_eq(resident_pages(p, n), 0);
    expect_zu_le(arena_stat(ai, "pdirty"), dirty);
    fill_pages(q, n, 2 * n, 1);
    expect_true(pages_ok(q, 2 * n, 1));

    char *z = test_launder(calloc(1, n));
    require_ptr_not_null(z);
    if (opt_bool("opt.retain")) {
        expect_ptr_eq(z, p); /* the only free extent that fits: the vacated one */
    }
    bool zero = true;
    for (size_t o = 0; o < n && zero; o += 512) {
        uint64_t v;
        memcpy(&v, z + o, 8);
        zero = v == 0;
    }
    expect_true(zero);
    free(z);
    free(q);
}

/*
 * Chains of growth from 2 to 64 MiB, then shrinking back, five times over: whether each step
 * moves, copies or resizes in place, the block keeps every page's word.
 */
static void test_chains(void) {
    for (int round = 0; round < 5; round++) {
        size_t n = 2 * MIB;
        char *p = test_launder(malloc(n));
        require_ptr_not_null(p);
        uint64_t seed = 100 + (uint64_t)round;
        fill_pages(p, 0, n, seed);
        for (; n < 64 * MIB; n *= 2) {
            char *q = test_launder(realloc(p, 2 * n));
            require_ptr_not_null(q);
            if (!expect_true(pages_ok(q, n, seed))) {
                free(q);
                return;
            }
            fill_pages(q, n, 2 * n, seed);
            p = q;
        }
        for (; n > MIB; n /= 2) {
            char *q = test_launder(realloc(p, n / 2));
            require_ptr_not_null(q);
            expect_true(pages_ok(q, n / 2, seed));
            p = q;
        }
        free(p);
    }
}

/*
 * Eight blocks of 2 to 4 MiB, each doubled by realloc until past 8 MiB and then replaced, 4,000
 * times, with the arena purged before each call so that every new home is untouched and the
 * moves are many: every block keeps its words (one every 64 KiB, so that the test is cheap), and
 * the mappings stay about as many as after the first rounds. Moved pages never merge back with
 * the mapping around them, so this bounds what moves leave behind.
 */
static void test_many_moves(void) {
    enum { N = 8, ROUNDS = 1500, WARMUP = 300, STRIDE = 64 << 10 };
    char *blocks[N] = {NULL};
    size_t sizes[N] = {0};
    uint64_t seeds[N] = {0};
    unsigned ai = thread_arena();
    char purge[64];
    snprintf(purge, sizeof(purge), "arena.%u.purge", ai);
    uint64_t rng = 5;
    size_t before = 0;
    for (int r = 0; r < ROUNDS; r++) {
        if (r == WARMUP) {
            before = test_maps_count();
        }
        int i = (int)test_rand_range(&rng, 0, N - 1);
        require_true(mallctl(purge, NULL, NULL, NULL, 0) == 0);
        if (sizes[i] == 0 || sizes[i] > 8 * MIB) {
            free(blocks[i]);
            sizes[i] = 2 * MIB + (test_rand_range(&rng, 0, 2 * MIB) & ~(size_t)4095);
            seeds[i] = test_rand(&rng);
            blocks[i] = test_launder(malloc(sizes[i]));
            require_ptr_not_null(blocks[i]);
            fill_stride(blocks[i], 0, sizes[i], STRIDE, seeds[i]);
            continue;
        }
        char *q = test_launder(realloc(blocks[i], 2 * sizes[i]));
        require_ptr_not_null(q);
        if (!expect_true(stride_ok(q, sizes[i], STRIDE, seeds[i]))) {
            blocks[i] = q;
            break;
        }
        fill_stride(q, sizes[i], 2 * sizes[i], STRIDE, seeds[i]);
        blocks[i] = q;
        sizes[i] *= 2;
    }
    size_t after = test_maps_count();
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
    }
    if (before != 0 && !expect_zu_le(after, before + 64)) {
        fprintf(stderr, "  (%zu mappings after %d rounds, %zu after %d)\n", after, (int)ROUNDS,
                before, (int)WARMUP);
    }
}

/* A custom memory source's blocks are copied: the old range stays resident (no purge hook). */
static void *src_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
                       bool *commit, unsigned arena_ind) {
    (void)h, (void)arena_ind;
    if (new_addr != NULL) {
        return NULL;
    }
    char *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return NULL;
    }
    *zero = true;
    *commit = true;
    return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

static bool src_split(extent_hooks_t *h, void *a, size_t s, size_t sa, size_t sb, bool c,
                      unsigned ai) {
    (void)h, (void)a, (void)s, (void)sa, (void)sb, (void)c, (void)ai;
    return false;
}

static bool src_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool c,
                      unsigned ai) {
    (void)h, (void)a, (void)sa, (void)b, (void)sb, (void)c, (void)ai;
    return false;
}

static void test_custom_source(void) {
    static extent_hooks_t hooks = {src_alloc, NULL, NULL,      NULL,     NULL,
                                   NULL,      NULL, src_split, src_merge};
    extent_hooks_t *hp = &hooks;
    unsigned ai;
    size_t sz = sizeof(ai);
    require_true(mallctl("arenas.create", &ai, &sz, &hp, sizeof(hp)) == 0);
    int flags = MALLOCX_ARENA(ai) | MALLOCX_TCACHE_NONE;
    size_t n = 4 * MIB;
    char *p = test_launder(mallocx(n, flags));
    require_ptr_not_null(p);
    fill_pages(p, 0, n, 7);
    char *q = test_launder(rallocx(p, 2 * n, flags));
    require_ptr_not_null(q);
    expect_ptr_ne(q, p);
    expect_true(pages_ok(q, n, 7));
    expect_zu_eq(resident_pages(p, n), n / (size_t)sysconf(_SC_PAGESIZE));
    dallocx(q, flags);
}

int main(void) {
    test_allocator_active();
    test_move(); /* first: before any huge block has been moved or freed */
    test_chains();
    test_many_moves();
    test_custom_source();
    return test_done();
}
