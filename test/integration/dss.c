/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dss: chunks from the program break (dss.conf sets dss:primary). Blocks live between the end of
 * the program's data (the break starts above it) and the current break; a break blocked by a
 * mapping placed right after it makes the allocator use mmap for that chunk and take the break
 * again once it is free; arena.<i>.dss switches an arena at run time and arena.<all>.dss sets
 * new arenas' setting; purging works on break memory (mincore), which stays counted as retained;
 * a forked child keeps taking chunks from the break; and once the program moves the break
 * itself, the allocator takes nothing more from it and uses mmap. Every block, and the
 * program's own pages, hold a pattern checked at the end: nothing overlaps. With retain:false
 * (dss_retain_off.c) a freed chunk at the top of the break is given back by lowering it.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef RETAIN_OFF
#define RETAIN_OFF 0
#endif

#define MIB ((size_t)1 << 20)
#define CHUNK_SIZE (2 * MIB)

extern char end; /* the end of the program's data: the break starts above it */

static bool in_break(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)&end && a + n <= (uintptr_t)sbrk(0);
}

/* Every block made here, with its pattern's seed, checked at the end. */
#define NBLOCKS 64
static struct {
    void *p;
    size_t n;
} blocks[NBLOCKS];
static unsigned nblocks;

static void *keep(void *p, size_t n) {
    require_ptr_not_null(p);
    require_true(nblocks < NBLOCKS);
    test_fill(p, n, 1000 + nblocks);
    blocks[nblocks].p = p;
    blocks[nblocks].n = n;
    nblocks++;
    return p;
}

static void check_all(void) {
    for (unsigned i = 0; i < nblocks; i++)
        expect_fill(blocks[i].p, blocks[i].n, 1000 + i);
}

static const char *arena_dss(unsigned a) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.dss", a);
    const char *v = NULL;
    size_t sz = sizeof(v);
    expect_d_eq(mallctl(name, &v, &sz, NULL, 0), 0);
    return v != NULL ? v : "(null)";
}

static void set_dss(unsigned a, const char *v) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.dss", a);
    expect_d_eq(mallctl(name, NULL, NULL, &v, sizeof(v)), 0);
}

static unsigned arena_new(void) {
    unsigned a = 0;
    size_t sz = sizeof(a);
    require_(expect_d_eq(mallctl("arenas.create", &a, &sz, NULL, 0), 0));
    return a;
}

/* A block of n bytes of arena a that takes a chunk of its own. */
static void *huge_in(unsigned a, size_t n) {
    return mallocx(n, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
}

static size_t arena_stat(unsigned a, const char *what) {
    uint64_t e = 1;
    expect_d_eq(mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
    char name[96];
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", a, what);
    size_t v = 0, sz = sizeof(v);
    expect_d_eq(mallctl(name, &v, &sz, NULL, 0), 0);
    return v;
}

static void purge(unsigned a) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", a);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
}

/* Small, large and huge blocks all come from the break; huge ones aligned like any chunk. */
static void test_from_break(void) {
    const char *opt = NULL;
    size_t sz = sizeof(opt);
    expect_d_eq(mallctl("opt.dss", &opt, &sz, NULL, 0), 0);
    expect_true(opt != NULL && strcmp(opt, "primary") == 0);
    expect_true(strcmp(arena_dss(0), "primary") == 0);
    unsigned a = arena_new();
    expect_true(strcmp(arena_dss(a), "primary") == 0);
    sz = sizeof(opt);
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.dss", a);
    expect_d_eq(mallctl(name, &opt, &sz, NULL, 0), 0);
    expect_true(opt != NULL && strcmp(opt, "primary") == 0);
    size_t sizes[] = {16, 1000, 64 << 10, 5 * MIB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = keep(mallocx(sizes[i], MALLOCX_ARENA(a)), sizes[i]);
        if (!test_check_(in_break(p, sizes[i])))
            test_fail("%zu bytes at %p, not in [%p, %p)", sizes[i], p, (void *)&end, sbrk(0));
        void *q = keep(malloc(sizes[i]), sizes[i]); /* the thread's automatic arena too */
        if (!test_check_(in_break(q, sizes[i])))
            test_fail("malloc(%zu) = %p, not in [%p, %p)", sizes[i], q, (void *)&end, sbrk(0));
    }
    expect_ptr_aligned(blocks[nblocks - 1].p, CHUNK_SIZE);
    /* Break memory is mapped, and counted: active while used. */
    expect_zu_ge(arena_stat(a, "mapped"), 5 * MIB);
}

/*
 * Purging break memory: a freed huge block's pages leave memory (mincore) and count as retained;
 * the address space stays the arena's, and the next block of that size reuses it, zeroed. With
 * retain:false the chunk, the top of the break, is given back by lowering the break.
 */
static void test_purge(void) {
    unsigned a = arena_new();
    size_t n = 6 * MIB;
    char *p = huge_in(a, n);
    require_ptr_not_null(p);
    require_true(in_break(p, n));
    memset(p, 7, n);
    size_t pages = n / test_page_size();
    unsigned char *vec = malloc(pages);
    require_ptr_not_null(vec);
    require_(expect_d_eq(mincore(p, n, vec), 0));
    for (size_t i = 0; i < pages; i++)
        expect_true(vec[i] & 1);
    size_t retained = arena_stat(a, "retained");
    void *top = sbrk(0);
    expect_ptr_eq(p + n, top); /* the newest chunk is the top of the break */
    dallocx(p, MALLOCX_TCACHE_NONE);
    purge(a);
    if (RETAIN_OFF) {
        /* Given back: the break came down over it (nothing else took a chunk since). */
        expect_ptr_eq(sbrk(0), (void *)p);
        expect_zu_lt(arena_stat(a, "retained"), retained + n);
    } else {
        require_(expect_d_eq(mincore(p, n, vec), 0));
        size_t resident = 0;
        for (size_t i = 0; i < pages; i++)
            resident += vec[i] & 1;
        expect_zu_eq(resident, 0);
        expect_zu_ge(arena_stat(a, "retained"), retained + n);
        char *q = huge_in(a, n);
        expect_ptr_eq(q, p);
        expect_all_bytes(q, n, 0);
        dallocx(q, MALLOCX_TCACHE_NONE);
    }
    free(vec);
}

/* arena.<i>.dss at run time, and arena.<all>.dss for the arenas created afterwards. */
static void test_switch(void) {
    unsigned a = arena_new();
    set_dss(a, "disabled");
    expect_true(strcmp(arena_dss(a), "disabled") == 0);
    void *p = keep(huge_in(a, 3 * MIB), 3 * MIB);
    expect_false(in_break(p, 3 * MIB));
    expect_ptr_aligned(p, CHUNK_SIZE);
    set_dss(a, "primary");
    void *q = keep(huge_in(a, 3 * MIB), 3 * MIB);
    expect_true(in_break(q, 3 * MIB));
    set_dss(a, "secondary"); /* mmap first */
    void *r = keep(huge_in(a, 3 * MIB), 3 * MIB);
    expect_false(in_break(r, 3 * MIB));

    set_dss(MALLCTL_ARENAS_ALL, "disabled");
    expect_true(strcmp(arena_dss(MALLCTL_ARENAS_ALL), "disabled") == 0);
    expect_true(strcmp(arena_dss(0), "primary") == 0); /* existing arenas keep theirs */
    unsigned b = arena_new();
    expect_true(strcmp(arena_dss(b), "disabled") == 0);
    void *s = keep(huge_in(b, 3 * MIB), 3 * MIB);
    expect_false(in_break(s, 3 * MIB));
    set_dss(MALLCTL_ARENAS_ALL, "primary");
    unsigned c = arena_new();
    expect_true(strcmp(arena_dss(c), "primary") == 0);
    void *t = keep(huge_in(c, 3 * MIB), 3 * MIB);
    expect_true(in_break(t, 3 * MIB));
}

/* Threads taking chunks at once: the break moves under one lock, so nothing overlaps. */
#define NTHREADS 4
#define PER_THREAD 6
static void *thread_main(void *arg) {
    void **out = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        out[i] = malloc(3 * MIB);
        if (out[i] != NULL)
            memset(out[i], 0, 3 * MIB);
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t th[NTHREADS];
    void *got[NTHREADS][PER_THREAD];
    for (int i = 0; i < NTHREADS; i++)
        require_(expect_d_eq(pthread_create(&th[i], NULL, thread_main, got[i]), 0));
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < PER_THREAD; j++) {
            keep(got[i][j], 3 * MIB);
            expect_true(in_break(got[i][j], 3 * MIB));
        }
}

/* A mapping right after the break: the chunk comes from mmap; once it is gone, from the break. */
static void test_blocked(void) {
    size_t page = test_page_size();
    uintptr_t brk_now = ((uintptr_t)sbrk(0) + page - 1) & ~(uintptr_t)(page - 1);
    char *wall = mmap((void *)brk_now, page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (wall == MAP_FAILED || (uintptr_t)wall != brk_now)
        test_skip("cannot map a page right after the break (%p)", (void *)brk_now);
    memset(wall, 0x5a, page);
    unsigned a = arena_new();
    void *before = sbrk(0);
    char *p = keep(huge_in(a, 4 * MIB), 4 * MIB);
    expect_ptr_eq(sbrk(0), before);
    expect_false(in_break(p, 4 * MIB));
    expect_ptr_aligned(p, CHUNK_SIZE);
    expect_true(p + 4 * MIB <= wall || p >= wall + page);
    expect_all_bytes(wall, page, 0x5a);
    munmap(wall, page);
    /* Not lost: the break was only blocked. */
    void *q = keep(huge_in(a, 4 * MIB), 4 * MIB);
    expect_true(in_break(q, 4 * MIB));
}

/* A forked child takes chunks from the break as its parent does. */
static void test_fork(void) {
    void *p = keep(malloc(3 * MIB), 3 * MIB);
    expect_true(in_break(p, 3 * MIB));
    unsigned long failed = test_nfailed_;
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        check_all();
        void *q = malloc(3 * MIB);
        if (q != NULL && in_break(q, 3 * MIB)) {
            memset(q, 3, 3 * MIB);
            check_all();
        } else {
            test_fail("child: malloc = %p, not in [%p, %p)", q, (void *)&end, sbrk(0));
        }
        _exit(test_nfailed_ == failed ? 0 : 1);
    }
    int status = 0;
    expect_d_eq(waitpid(pid, &status, 0), pid);
    expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    void *r = keep(malloc(3 * MIB), 3 * MIB);
    expect_true(in_break(r, 3 * MIB));
}

/*
 * The program moves the break itself: the allocator notices at its next chunk and from then on
 * uses mmap, never the program's pages or any beyond them, even when the program gives its
 * pages back and takes them again.
 */
static void test_moved(void) {
    size_t page = test_page_size();
    char *mine = sbrk((intptr_t)(4 * page));
    require_true(mine != (void *)-1);
    memset(mine, 0xa5, 4 * page);
    unsigned a = arena_new();
    for (int i = 0; i < 3; i++) {
        char *p = keep(huge_in(a, 3 * MIB), 3 * MIB);
        expect_false(in_break(p, 3 * MIB));
        expect_true(p + 3 * MIB <= mine || p >= mine + 4 * page);
        void *q = keep(malloc(3 * MIB), 3 * MIB);
        expect_false(in_break(q, 3 * MIB));
    }
    expect_all_bytes(mine, 4 * page, 0xa5);
    /* Lowering the break back to where the allocator left it does not make it the allocator's. */
    require_true(sbrk(-(intptr_t)(4 * page)) != (void *)-1);
    void *p = keep(huge_in(a, 3 * MIB), 3 * MIB);
    expect_false(in_break(p, 3 * MIB));
    mine = sbrk((intptr_t)page);
    require_true(mine != (void *)-1);
    memset(mine, 0x3c, page);
    check_all();
    expect_all_bytes(mine, page, 0x3c);
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    bool retain = true;
    size_t sz = sizeof(retain);
    expect_d_eq(mallctl("opt.retain", &retain, &sz, NULL, 0), 0);
    expect_true(retain == !RETAIN_OFF);
    test_from_break();
    test_purge();
    test_switch();
    test_threads();
    test_fork();
    test_blocked();
    check_all();
    test_moved(); /* last: the break is the program's from here on */
    check_all();
    return test_done();
}
