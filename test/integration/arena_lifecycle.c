/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Arenas made with arenas.create: custom memory sources (extent_hooks_t), arena.<i>.reset,
 * arena.<i>.destroy and index reuse, and the refusals: automatic arenas cannot be reset or
 * destroyed (EFAULT), a destroyed arena's chunks go back to its source.
 */
#include "../test.h"

#include <allocator.h>
#include <sys/mman.h>

static int nalloc, ndalloc, ndestroy, npurge, nsplit;

static void *src_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
                       bool *commit, unsigned arena_ind) {
    (void)h, (void)arena_ind;
    if (new_addr != NULL)
        return NULL;
    char *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    nalloc++;
    *zero = true;
    *commit = true;
    return (void *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
}

static bool src_dalloc(extent_hooks_t *h, void *a, size_t s, bool c, unsigned ai) {
    (void)h, (void)a, (void)s, (void)c, (void)ai;
    ndalloc++;
    return true; /* decline: destroy is called instead */
}

static void src_destroy(extent_hooks_t *h, void *a, size_t s, bool c, unsigned ai) {
    (void)h, (void)c, (void)ai;
    ndestroy++;
    memset(a, 0, s < 4096 ? s : 4096); /* the memory is still ours to touch */
}

static bool src_purge(extent_hooks_t *h, void *a, size_t s, size_t off, size_t len, unsigned ai) {
    (void)h, (void)s, (void)ai;
    npurge++;
    return madvise((char *)a + off, len, MADV_DONTNEED) != 0;
}

static bool src_split(extent_hooks_t *h, void *a, size_t s, size_t sa, size_t sb, bool c,
                      unsigned ai) {
    (void)h, (void)a, (void)s, (void)sa, (void)sb, (void)c, (void)ai;
    nsplit++;
    return false;
}

static bool src_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool c,
                      unsigned ai) {
    (void)h, (void)a, (void)sa, (void)b, (void)sb, (void)c, (void)ai;
    return false;
}

static int ctl_arena(const char *what, unsigned ind) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.%s", ind, what);
    return mallctl(name, NULL, NULL, NULL, 0);
}

/*
 * The size of block i: 64 bytes and up in steps of 97, small and (past 4 pages) large; every
 * eighth block is made large whatever the build's page size, so that freeing every other block
 * leaves whole free extents to purge even when 64 KiB pages make all the others small.
 */
static size_t block_size(int i) {
    static size_t large_min;
    if (large_min == 0) {
        size_t sz = sizeof(large_min);
        require_true(mallctl("arenas.lextent.0.size", &large_min, &sz, NULL, 0) == 0);
    }
    size_t size = 64 + (size_t)i * 97;
    return i % 8 == 0 ? large_min + size : size;
}

static void test_custom_source(bool can_split) {
    static extent_hooks_t hooks;
    hooks = (extent_hooks_t){src_alloc, src_dalloc, src_destroy, NULL, NULL, NULL, src_purge,
                             can_split ? src_split : NULL, can_split ? src_merge : NULL};
    extent_hooks_t *hp = &hooks;
    unsigned ai;
    size_t sz = sizeof(ai);
    nalloc = ndalloc = ndestroy = npurge = nsplit = 0;
    require_true(mallctl("arenas.create", &ai, &sz, &hp, sizeof(hp)) == 0);

    /* The arena reports the hooks it was given. */
    extent_hooks_t *cur = NULL;
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.extent_hooks", ai);
    sz = sizeof(cur);
    expect_d_eq(mallctl(name, &cur, &sz, NULL, 0), 0);
    expect_ptr_eq(cur, &hooks);

    enum { N = 400 };
    void *ps[N];
    int flags = MALLOCX_ARENA(ai) | MALLOCX_TCACHE_NONE;
    for (int i = 0; i < N; i++) {
        size_t size = block_size(i);
        ps[i] = mallocx(size, flags);
        require_ptr_not_null(ps[i]);
        memset(ps[i], 0x5c, size);
        expect_d_eq((int)test_arena_of(ps[i]), (int)ai);
    }
    expect_d_gt(nalloc, 0);
    if (can_split)
        expect_d_gt(nsplit, 0);

    /*
     * Reset discards everything; the memory is reused (dirty extents much larger than a request
     * are passed over, as lg_extent_max_active_fit says, so one more chunk may be needed).
     */
    int before = nalloc;
    expect_d_eq(ctl_arena("reset", ai), 0);
    for (int i = 0; i < N; i++) {
        size_t size = block_size(i);
        ps[i] = mallocx(size, flags);
        require_ptr_not_null(ps[i]);
        memset(ps[i], 0x3a, size);
    }
    expect_d_le(nalloc, before + 1);

    /* Purging goes through the source's purge hook. */
    for (int i = 0; i < N; i += 2)
        dallocx(ps[i], MALLOCX_TCACHE_NONE);
    expect_d_eq(ctl_arena("purge", ai), 0);
    expect_d_gt(npurge, 0);

    /* Destroy returns every chunk (dalloc declined, so destroy is called for each). */
    expect_d_eq(ctl_arena("destroy", ai), 0);
    expect_d_eq(ndalloc, nalloc);
    expect_d_eq(ndestroy, nalloc);
    /* The index is gone, then reused by the next arenas.create. */
    expect_d_eq(ctl_arena("purge", ai), 0); /* a missing arena in range: nothing to do */
    unsigned again;
    sz = sizeof(again);
    expect_d_eq(mallctl("arenas.create", &again, &sz, NULL, 0), 0);
    expect_d_eq((int)again, (int)ai);
    void *p = mallocx(5000, MALLOCX_ARENA(again) | MALLOCX_TCACHE_NONE);
    require_ptr_not_null(p);
    expect_d_eq((int)test_arena_of(p), (int)again);
    dallocx(p, MALLOCX_TCACHE_NONE);
    /* Its hooks are the default source, whose functions can be called by a user's wrapper. */
    snprintf(name, sizeof(name), "arena.%u.extent_hooks", again);
    sz = sizeof(cur);
    expect_d_eq(mallctl(name, &cur, &sz, NULL, 0), 0);
    expect_true(cur != &hooks && cur->alloc != NULL && cur->dalloc != NULL);
    expect_d_eq(ctl_arena("destroy", again), 0);
}

int main(void) {
    test_custom_source(true);
    test_custom_source(false); /* a source that cannot split is asked for exact sizes */

    /* Automatic arenas cannot be reset or destroyed. */
    expect_d_eq(ctl_arena("reset", 0), EFAULT);
    expect_d_eq(ctl_arena("destroy", 0), EFAULT);
    /* An arena a thread is bound to cannot be destroyed. */
    unsigned ai, old;
    size_t sz = sizeof(ai);
    require_true(mallctl("arenas.create", &ai, &sz, NULL, 0) == 0);
    sz = sizeof(old);
    expect_d_eq(mallctl("thread.arena", &old, &sz, &ai, sizeof(ai)), 0);
    expect_d_eq(ctl_arena("destroy", ai), EFAULT);
    expect_d_eq(mallctl("thread.arena", NULL, NULL, &old, sizeof(old)), 0);
    expect_d_eq(ctl_arena("destroy", ai), 0);
    return test_done();
}
